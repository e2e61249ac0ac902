// Test plugin: linked against a library named like an older hearth kernel (libhearth.so.0.2), as a
// plugin built against a previous SDK is. The loader must refuse it from its DT_NEEDED entries,
// before dlopen would pull that second kernel into the process.
#include "hearth/plugin.h"

extern "C" int hearth_test_old_sdk_marker();

namespace {
void register_old(hearth::PluginRegistrar&) { (void)hearth_test_old_sdk_marker(); }
}  // namespace

HEARTH_PLUGIN("hearth-test-old-sdk", "0.0.1", register_old)
