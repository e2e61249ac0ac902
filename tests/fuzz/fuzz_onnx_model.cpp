// Fuzz target: an ONNX model, parsed and (when it parses) run on zero inputs of its declared
// shapes, capped in size so that a valid but huge model is not a finding.
#include "fuzz_util.h"
#include "hearth/hearth.h"
#include "hearth/onnx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  hearth::fuzz::expect_clean([&] {
    hearth::onnx::Model m = hearth::onnx::Model::parse(bytes, "fuzz.onnx");
    std::map<std::string, hearth::Tensor> in;
    for (const auto& v : m.inputs()) {
      if (v.dtype == hearth::ScalarType::Undefined) return;
      std::vector<int64_t> dims;
      int64_t n = 1;
      for (int64_t d : v.dims) {
        dims.push_back(d < 0 ? 1 : std::min<int64_t>(d, 64));
        n *= dims.back();
      }
      if (n > (1 << 16)) return;
      in[v.name] = hearth::zeros(dims, hearth::TensorOptions(v.dtype));
    }
    (void)m.run(in);
  });
  return 0;
}
