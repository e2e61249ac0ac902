// Test plugin (e): right ABI version, but an ABI tag of another compiler / C++ ABI / SDK. register()
// declares a marker op, so a test can tell that the loader never called it.
#include "hearth/plugin.h"

namespace {
void register_marker(hearth::PluginRegistrar* r) { r->def({"test_wrong_abi_tag_op", "marker", 1, 1}); }
}  // namespace

extern "C" __attribute__((visibility("default"))) const HearthPluginInfo* hearth_plugin_entry() {
  static const HearthPluginInfo info = {HEARTH_PLUGIN_ABI_VERSION, "msvc-19/oldabi/sdk-99.0", "test-wrong-abi-tag",
                                        "0.0.1", &register_marker};
  return &info;
}
