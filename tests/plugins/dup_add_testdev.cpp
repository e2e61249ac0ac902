// Test plugin (g): registers a kernel for ("add", testdev), which hearth-testdev already provides,
// without declaring an override. The error must name both plugin files.
#include "hearth/plugin.h"

namespace {
void noop_kernel(const hearth::KernelArgs&) {}
void register_dup(hearth::PluginRegistrar& r) { r.kernel("add", "testdev", &noop_kernel); }
}  // namespace

HEARTH_PLUGIN("hearth-test-dup-add", "0.0.1", register_dup)
