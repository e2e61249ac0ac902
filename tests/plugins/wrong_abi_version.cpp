// Test plugin (d): its entry reports an ABI version hearth does not have. register() declares a
// marker op, so a test can tell that the loader never called it.
#include "hearth/plugin.h"

namespace {
void register_marker(hearth::PluginRegistrar* r) { r->def({"test_wrong_abi_version_op", "marker", 1, 1}); }
}  // namespace

extern "C" __attribute__((visibility("default"))) const HearthPluginInfo* hearth_plugin_entry() {
  static const HearthPluginInfo info = {HEARTH_PLUGIN_ABI_VERSION + 100, HEARTH_ABI_TAG, "test-wrong-abi-version",
                                        "0.0.1", &register_marker};
  return &info;
}
