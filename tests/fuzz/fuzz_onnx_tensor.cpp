// Fuzz target: an ONNX TensorProto file (a test's input_0.pb), read into a tensor.
#include "fuzz_util.h"
#include "hearth/onnx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string p = hearth::fuzz::scratch("t.pb");
  hearth::fuzz::write_file(p, data, size);
  hearth::fuzz::expect_clean([&] { (void)hearth::onnx::load_tensor_pb(p); });
  return 0;
}
