// Test plugin (g, second form): a cpu kernel for the custom op "test_twice" of good_twice.so,
// registered again without an override. The error must name both plugin files.
#include "hearth/plugin.h"

namespace {
void noop_kernel(const hearth::KernelArgs&) {}
void register_again(hearth::PluginRegistrar& r) { r.kernel("test_twice", "cpu", &noop_kernel); }
}  // namespace

HEARTH_PLUGIN("hearth-test-twice-again", "0.0.1", register_again)
