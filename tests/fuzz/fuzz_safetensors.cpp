// Fuzz target: a safetensors file, loaded (header validation, then the tensors).
#include "fuzz_util.h"
#include "hearth/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string p = hearth::fuzz::scratch("in.safetensors");
  hearth::fuzz::write_file(p, data, size);
  hearth::fuzz::expect_clean([&] { (void)hearth::load_safetensors(p); });
  return 0;
}
