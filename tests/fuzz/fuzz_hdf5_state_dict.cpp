// Fuzz target: an HDF5 state dict (as `hearth ckpt inspect` / `eval --weights` read one). libhdf5
// runs in hearth-hdf5's reader child process, so a libhdf5 crash there is a FormatError here.
#include "fuzz_util.h"
#include "hearth/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string p = hearth::fuzz::scratch("in.h5");
  hearth::fuzz::write_file(p, data, size);
  hearth::fuzz::expect_clean([&] { (void)hearth::load_tensors(p); });
  return 0;
}
