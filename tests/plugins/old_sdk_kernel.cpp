// Stand-in for an older hearth kernel: built as libhearth.so.0.2 in its own directory, so
// old_sdk.so can name it as DT_NEEDED. It defines one marker function and nothing else.
extern "C" __attribute__((visibility("default"))) int hearth_test_old_sdk_marker() { return 2; }
