// hearth-example-square: a custom op plugin. Declares the op "example_square" (y = x * x) and its
// CPU kernel for float32 and float64; any strides (views) are fine.
#include "hearth/plugin.h"
#include "hearth/tensor.h"
#include "hearth/tensor_iter.h"

namespace {

using namespace hearth;

template <typename T>
void square(const Tensor& x, const Tensor& y) {
  // StridedIter walks both operands in runs of the innermost dim, whatever their strides.
  const Tensor* operands[] = {&y, &x};  // the output comes first
  StridedIter<2> it(operands, 2);
  it.for_range(0, it.numel(), [](char** p, const int64_t* stride, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const T v = *reinterpret_cast<const T*>(p[1] + i * stride[1]);
      *reinterpret_cast<T*>(p[0] + i * stride[0]) = v * v;
    }
  });
}

/// The kernel: the caller passes one input and an output of the same shape and dtype.
void square_cpu(const KernelArgs& a) {
  const Tensor& x = a.inputs[0];
  const Tensor& y = a.outputs[0];
  HEARTH_CHECK(x.sizes() == y.sizes(), ShapeError, "input of shape ", x.sizes(), " but output of shape ", y.sizes());
  HEARTH_CHECK(x.dtype() == y.dtype(), DTypeError, "input of dtype ", x.dtype(), " but output of dtype ", y.dtype());
  switch (x.dtype()) {
    case kFloat32: square<float>(x, y); break;
    case kFloat64: square<double>(x, y); break;
    default: HEARTH_CHECK(false, DTypeError, "supports float32 and float64, got ", x.dtype());
  }
}

/// Called once by the loader; nothing is registered unless it returns normally.
void register_square(PluginRegistrar& r) {
  r.def({"example_square", "example_square(Tensor x) -> Tensor y", /*num_inputs=*/1, /*num_outputs=*/1});
  r.kernel("example_square", "cpu", &square_cpu);
}

}  // namespace

HEARTH_PLUGIN("hearth-example-square", "1.0.0", register_square)
