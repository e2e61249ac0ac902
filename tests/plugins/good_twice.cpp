// Test plugin (h), the good one among bad files: declares op "test_twice" (y = 2x, float32) with a
// cpu kernel and a testdev kernel. testdev comes from a plugin scanned after this directory, so it
// also proves that such a kernel still registers (the loader retries it).
#include <vector>

#include "hearth/plugin.h"
#include "hearth/tensor.h"

namespace {

using namespace hearth;

void check_args(const KernelArgs& a) {
  const Tensor& x = a.inputs[0];
  const Tensor& y = a.outputs[0];
  HEARTH_CHECK(x.dtype() == kFloat32 && y.dtype() == kFloat32, DTypeError, "test_twice: float32 only, got ",
               x.dtype(), " -> ", y.dtype());
  HEARTH_CHECK(x.is_contiguous() && y.is_contiguous() && x.numel() == y.numel(), ShapeError,
               "test_twice: contiguous operands of equal size only");
}

void twice_cpu(const KernelArgs& a) {
  check_args(a);
  const float* x = a.inputs[0].data_ptr<float>();
  float* y = a.outputs[0].data_ptr<float>();
  for (int64_t i = 0, n = a.inputs[0].numel(); i < n; ++i) y[i] = 2.0f * x[i];
}

// testdev memory is scrambled: go through the device's copy functions, as a real backend would.
void twice_testdev(const KernelArgs& a) {
  check_args(a);
  const size_t n = static_cast<size_t>(a.inputs[0].numel());
  std::vector<float> buf(n);
  DeviceInterface& dev = device_interface(a.device.type());
  dev.copy_to_host(buf.data(), a.inputs[0].data_ptr(), n * sizeof(float), a.inputs[0].device().index());
  for (float& v : buf) v *= 2.0f;
  dev.copy_from_host(a.outputs[0].data_ptr(), buf.data(), n * sizeof(float), a.outputs[0].device().index());
}

void register_twice(PluginRegistrar& r) {
  r.def({"test_twice", "test_twice(Tensor x) -> Tensor y", 1, 1});
  r.kernel("test_twice", "cpu", &twice_cpu);
  r.kernel("test_twice", "testdev", &twice_testdev);
}

}  // namespace

HEARTH_PLUGIN("hearth-test-twice", "1.2.3", register_twice)
