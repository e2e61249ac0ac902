// Fuzz target: IDX image or label files, raw or gzip (the first byte picks which file the rest
// replaces, and whether it is gzipped), loaded through load_dataset("idx:DIR").
#include <zlib.h>

#include <filesystem>

#include "fuzz_util.h"
#include "hearth/data.h"

namespace {
const uint8_t kImages[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
const uint8_t kLabels[] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 7};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  namespace fs = std::filesystem;
  const bool labels = data[0] & 1, gz = data[0] & 2;
  const std::string dir = hearth::fuzz::scratch("idx");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string img = dir + "/train-images-idx3-ubyte", lab = dir + "/train-labels-idx1-ubyte";
  const std::string target = (labels ? lab : img) + (gz ? ".gz" : "");
  if (gz) {
    gzFile f = gzopen(target.c_str(), "wb");
    if (size > 1) gzwrite(f, data + 1, static_cast<unsigned>(size - 1));
    gzclose(f);
  } else {
    hearth::fuzz::write_file(target, data + 1, size - 1);
  }
  if (labels) hearth::fuzz::write_file(img, kImages, sizeof kImages);
  else hearth::fuzz::write_file(lab, kLabels, sizeof kLabels);
  hearth::fuzz::expect_clean([&] {
    auto ds = hearth::data::load_dataset("idx:" + dir, true);
    if (ds->size() > 0) (void)ds->get_batch({0, static_cast<int64_t>(ds->size() - 1)});
  });
  return 0;
}
