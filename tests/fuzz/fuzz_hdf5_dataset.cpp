// Fuzz target: an HDF5 dataset file (hdf5:FILE with train/images and train/labels), opened and
// read by batch. Opening reads it through once in hearth-hdf5's reader child process.
#include "fuzz_util.h"
#include "hearth/data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string p = hearth::fuzz::scratch("data.h5");
  hearth::fuzz::write_file(p, data, size);
  hearth::fuzz::expect_clean([&] {
    auto ds = hearth::data::load_dataset("hdf5:" + p, true);
    if (ds->size() > 0) (void)ds->get_batch({0, static_cast<int64_t>(ds->size() - 1)});
  });
  return 0;
}
