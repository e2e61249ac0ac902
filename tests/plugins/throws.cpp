// Test plugin (f): register() declares an op, registers a kernel, a device type and a component,
// then throws. None of it may remain registered.
#include <stdexcept>

#include "hearth/plugin.h"

namespace {

using namespace hearth;

void noop_kernel(const KernelArgs&) {}

/// A device type that would work if it got registered (all-or-nothing must still drop it).
class ThrowDevice final : public DeviceInterface {
 public:
  int device_count() const override { return 1; }
  void* allocate(size_t, int) override { return nullptr; }
  void deallocate(void*, size_t, int) noexcept override {}
  void copy_from_host(void*, const void*, size_t, int) override {}
  void copy_to_host(void*, const void*, size_t, int) override {}
  void copy_within(void*, int, const void*, int, size_t) override {}
  void synchronize(int) override {}
  MemoryStats memory_stats(int) const override { return {}; }
};
ThrowDevice g_device;
const int g_factory = 0;

void register_then_throw(PluginRegistrar& r) {
  r.def({"test_throws_op", "test_throws_op(Tensor x) -> Tensor y", 1, 1});
  r.kernel("test_throws_op", "cpu", &noop_kernel);
  r.device_type("throwdev", &g_device);
  r.component("optimizer", "test_throws_optimizer", &g_factory);
  throw std::runtime_error("deliberate failure in register() after registering a kernel");
}

}  // namespace

HEARTH_PLUGIN("hearth-test-throws", "0.0.1", register_then_throw)
