// CPU kernels of the float math ops added for ONNX import: sin ... atanh, erf (std:: functions
// on opmath values: float for float/half/bfloat16, double for double).
#include <cmath>

#include "elementwise.h"

namespace hearth::cpu {
namespace {

constexpr int64_t kMathGrain = 4096;  // transcendental: threads pay off early

template <typename F>
void math_kernel(const char* op, const KernelArgs& a, F f) {
  const Tensor& in = a.inputs[0];
  const Tensor& out = a.outputs[0];
  HEARTH_CHECK(in.dtype() == out.dtype(), DTypeError, op, ": input dtype ", in.dtype(), " and output dtype ",
               out.dtype(), " differ (the op layer should have cast)");
  HEARTH_CPU_DISPATCH_FLOATING(in.dtype(), op, {
    using M = opmath_t<scalar_t>;
    unary_apply<scalar_t, scalar_t>(out, in, [f](M x) -> M { return static_cast<M>(f(x)); }, kMathGrain);
  });
}

#define HEARTH_MATH_KERNEL(fn) \
  void fn##_kernel(const KernelArgs& a) { math_kernel(#fn, a, [](auto x) { return std::fn(x); }); }
HEARTH_MATH_KERNEL(sin)
HEARTH_MATH_KERNEL(cos)
HEARTH_MATH_KERNEL(tan)
HEARTH_MATH_KERNEL(asin)
HEARTH_MATH_KERNEL(acos)
HEARTH_MATH_KERNEL(atan)
HEARTH_MATH_KERNEL(sinh)
HEARTH_MATH_KERNEL(cosh)
HEARTH_MATH_KERNEL(asinh)
HEARTH_MATH_KERNEL(acosh)
HEARTH_MATH_KERNEL(atanh)
HEARTH_MATH_KERNEL(erf)
#undef HEARTH_MATH_KERNEL

}  // namespace

void register_onnx_math(PluginRegistrar& r) {
  r.kernel("sin", "cpu", sin_kernel);
  r.kernel("cos", "cpu", cos_kernel);
  r.kernel("tan", "cpu", tan_kernel);
  r.kernel("asin", "cpu", asin_kernel);
  r.kernel("acos", "cpu", acos_kernel);
  r.kernel("atan", "cpu", atan_kernel);
  r.kernel("sinh", "cpu", sinh_kernel);
  r.kernel("cosh", "cpu", cosh_kernel);
  r.kernel("asinh", "cpu", asinh_kernel);
  r.kernel("acosh", "cpu", acosh_kernel);
  r.kernel("atanh", "cpu", atanh_kernel);
  r.kernel("erf", "cpu", erf_kernel);
}

}  // namespace hearth::cpu
