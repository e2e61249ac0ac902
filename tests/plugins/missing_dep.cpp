// Test plugin: links a library that is not on the loader's search path at run time (as
// hearth-cuda without a CUDA driver); dlopen fails and the loader records why.
#include "hearth/plugin.h"

extern "C" int hearth_test_missing_helper();

namespace {
void register_missing(hearth::PluginRegistrar&) { (void)hearth_test_missing_helper(); }
}  // namespace

HEARTH_PLUGIN("hearth-test-missing-dep", "0.0.1", register_missing)
