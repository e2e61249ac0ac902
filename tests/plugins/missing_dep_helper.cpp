// The dependency of missing_dep.so; built where the plugin's run-time search path does not look.
extern "C" __attribute__((visibility("default"))) int hearth_test_missing_helper() { return 1; }
