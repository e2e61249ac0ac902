// Test plugin: `hearth_plugin_entry` itself throws something that is not a std::exception; the
// loader must record it, not let it escape load_plugins().
#include "hearth/plugin.h"

extern "C" __attribute__((visibility("default"))) const HearthPluginInfo* hearth_plugin_entry() {
  throw 42;
}
