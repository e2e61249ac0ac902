// Test plugin (c): a valid shared library that exports a misspelt entry point instead of
// `hearth_plugin_entry`; the loader must reject it without calling anything.
#include "hearth/plugin.h"

extern "C" __attribute__((visibility("default"))) const HearthPluginInfo* hearth_plugin_entry_v0() {
  return nullptr;
}
