// hearth-hdf5: files written here with the HDF5 C API, read through load_dataset("hdf5:...") with
// 0, 2 and 4 workers (SEED C2), every malformed-input case as a FormatError naming file and
// field, the ?key= spec form, uint8 and float32 images, per-thread handles closed with their threads.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "hearth/data/label_source.h"
#include "hearth/hearth.h"

using namespace hearth;
using namespace hearth::data;
namespace fs = std::filesystem;

namespace {

/// One dataset to write: its path in the file, dims, HDF5 file and memory types, raw data.
struct Ds {
  std::string key;
  std::vector<hsize_t> dims;
  hid_t file_type, mem_type;
  const void* data;
};

/// Writes an HDF5 file with the given datasets (intermediate groups created); `groups` adds
/// empty groups.
void write_h5(const std::string& path, const std::vector<Ds>& sets, const std::vector<std::string>& groups = {}) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  for (const std::string& g : groups) {
    hid_t gid = H5Gcreate2(f, g.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(gid, 0);
    H5Gclose(gid);
  }
  for (const Ds& d : sets) {
    hid_t sp = H5Screate_simple(static_cast<int>(d.dims.size()), d.dims.data(), nullptr);
    hid_t id = H5Dcreate2(f, d.key.c_str(), d.file_type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(id, 0) << d.key;
    ASSERT_GE(H5Dwrite(id, d.mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.data), 0) << d.key;
    H5Dclose(id);
    H5Sclose(sp);
  }
  H5Pclose(lcpl);
  H5Fclose(f);
}

/// Pixel j of sample i in the uint8 files.
uint8_t pix(int64_t i, int64_t j) { return static_cast<uint8_t>((i * 7 + j * 3) % 251); }
/// Label of sample i (stored as int32; read as int64).
int32_t label(int64_t i) { return static_cast<int32_t>(i * 3 + 1); }

class Hdf5Test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hearth_hdf5_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  /// N uint8 images of H×W (+ labels) under train/ and M under test/.
  void write_good(const std::string& file, int64_t n = 37, int64_t h = 5, int64_t w = 4, int64_t m = 6) {
    img_ = std::vector<uint8_t>(static_cast<size_t>(n * h * w));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < h * w; ++j) img_[i * h * w + j] = pix(i, j);
    lab_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) lab_[i] = label(i);
    std::vector<uint8_t> timg(static_cast<size_t>(m * h * w), 9);
    std::vector<int64_t> tlab(static_cast<size_t>(m), 2);
    const hsize_t N = n, H = h, W = w, M = m;
    write_h5(path(file), {{"train/images", {N, H, W}, H5T_STD_U8LE, H5T_NATIVE_UINT8, img_.data()},
                          {"train/labels", {N}, H5T_STD_I32LE, H5T_NATIVE_INT32, lab_.data()},
                          {"test/images", {M, H, W}, H5T_STD_U8LE, H5T_NATIVE_UINT8, timg.data()},
                          {"test/labels", {M}, H5T_STD_I64LE, H5T_NATIVE_INT64, tlab.data()}});
  }
  std::string spec(const std::string& file) const { return "hdf5:" + path(file); }

  /// Loading (and reading every sample) must throw FormatError naming `file` and `field`.
  void expect_format_error(const std::string& spec_str, const std::string& file, const std::string& field,
                           const std::string& also = "") {
    try {
      auto ds = load_dataset(spec_str, true);
      std::vector<int64_t> all;
      for (size_t i = 0; i < ds->size(); ++i) all.push_back(static_cast<int64_t>(i));
      ds->get_batch(all);
      ADD_FAILURE() << "no error; expected one naming " << file << " / " << field;
    } catch (const FormatError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(file), std::string::npos) << m;
      EXPECT_NE(m.find("field " + field), std::string::npos) << m;
      if (!also.empty()) {
        EXPECT_NE(m.find(also), std::string::npos) << m;
      }
    }
  }

  std::vector<Batch> run(const std::string& spec_str, size_t workers, int epochs, bool shuffle) {
    DataLoaderOptions o;
    o.batch_size = 5;
    o.shuffle = shuffle;
    o.num_workers = workers;
    o.seed = 3;
    DataLoader dl(load_dataset(spec_str, true), o);
    std::vector<Batch> out;
    for (int e = 0; e < epochs; ++e)
      for (const Batch& b : dl) out.push_back(b);
    return out;
  }

  fs::path dir_;
  std::vector<uint8_t> img_;
  std::vector<int32_t> lab_;
};

/// Every sample of the batch holds the values written for its index.
void check_batch(const Batch& b, int64_t h, int64_t w) {
  ASSERT_EQ(b.data.dim(), 4);
  EXPECT_EQ(b.data.dtype(), kUInt8);
  EXPECT_EQ(b.target.dtype(), kInt64);
  Tensor d = b.data.contiguous();
  const uint8_t* p = d.data_ptr<uint8_t>();
  const int64_t* t = b.target.contiguous().data_ptr<int64_t>();
  for (size_t k = 0; k < b.indices.size(); ++k) {
    const int64_t i = b.indices[k];
    EXPECT_EQ(t[k], label(i)) << "sample " << i;
    for (int64_t j = 0; j < h * w; ++j) ASSERT_EQ(p[k * h * w + j], pix(i, j)) << "sample " << i << " pixel " << j;
  }
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].indices, b[i].indices) << "batch " << i;
    EXPECT_TRUE(equal(a[i].data, b[i].data)) << "batch " << i;
    EXPECT_TRUE(equal(a[i].target, b[i].target)) << "batch " << i;
  }
}

/// Open HDF5 file ids in this process (each reading thread holds its own).
ssize_t open_files() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE); }

}  // namespace

TEST_F(Hdf5Test, SameBatchesFor0_2_4WorkersEverySampleOncePerEpoch) {  // SEED C2
  write_good("a.h5");
  const int epochs = 3;
  auto ref = run(spec("a.h5"), 0, epochs, true);
  ASSERT_EQ(ref.size(), static_cast<size_t>(epochs * 8));  // ceil(37 / 5) batches per epoch
  for (const Batch& b : ref) check_batch(b, 5, 4);
  for (int e = 0; e < epochs; ++e) {
    std::multiset<int64_t> seen;
    for (int b = 0; b < 8; ++b) seen.insert(ref[e * 8 + b].indices.begin(), ref[e * 8 + b].indices.end());
    EXPECT_EQ(seen.size(), 37u);
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 37u) << "epoch " << e;
  }
  EXPECT_NE(ref[0].indices, ref[8].indices) << "a new order each epoch";
  expect_same(ref, run(spec("a.h5"), 2, epochs, true));
  expect_same(ref, run(spec("a.h5"), 4, epochs, true));
  // Sequential batches are runs of consecutive indices: one hyperslab each.
  auto seq = run(spec("a.h5"), 4, 1, false);
  ASSERT_EQ(seq.size(), 8u);
  for (const Batch& b : seq) check_batch(b, 5, 4);
  EXPECT_EQ(seq[7].indices, (std::vector<int64_t>{35, 36}));
}

TEST_F(Hdf5Test, GetBatchAnyOrderWithRepeatsAndShapes) {
  write_good("a.h5");
  auto ds = load_dataset(spec("a.h5"), true);
  ASSERT_EQ(ds->size(), 37u);
  // Unordered, repeated, with runs and gaps: each example is its own index's sample.
  std::vector<int64_t> idx = {30, 2, 3, 4, 36, 2, 0, 17, 18, 5};
  auto ex = ds->get_batch(idx);
  ASSERT_EQ(ex.size(), idx.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    EXPECT_EQ(ex[k].data.sizes(), (IntArrayRef{1, 5, 4})) << "N×H×W is stored as N×1×H×W";
    EXPECT_EQ(ex[k].target.dim(), 0);
    EXPECT_EQ(ex[k].target.item<int64_t>(), label(idx[k]));
    EXPECT_EQ(ex[k].data[0][3][2].item<uint8_t>(), pix(idx[k], 3 * 4 + 2));
  }
  Example one = ds->get(36);
  EXPECT_EQ(one.data[0][4][3].item<uint8_t>(), pix(36, 19));
  EXPECT_TRUE(ds->get_batch({}).empty());
  EXPECT_THROW(ds->get(37), IndexError);
  auto test = load_dataset(spec("a.h5"), false);
  EXPECT_EQ(test->size(), 6u);
  EXPECT_EQ(test->get(5).target.item<int64_t>(), 2);
  // ToFloat scales the stored uint8 to [0, 1], as for IDX.
  Generator g(0);
  EXPECT_FLOAT_EQ(ToFloat()(ds->get(1).data, g)[0][0][1].item<float>(), pix(1, 1) / 255.0f);
}

TEST_F(Hdf5Test, Float32NCHWImagesAndKeySpec) {
  const hsize_t n = 9, c = 3, h = 2, w = 2;
  std::vector<float> img(n * c * h * w);
  for (size_t i = 0; i < img.size(); ++i) img[i] = 0.25f * static_cast<float>(i) - 3.0f;
  std::vector<uint16_t> lab(n);
  for (size_t i = 0; i < n; ++i) lab[i] = static_cast<uint16_t>(60000 + i);
  // Big-endian float on disk: HDF5 converts to native on read.
  write_h5(path("f.h5"), {{"x/img", {n, c, h, w}, H5T_IEEE_F32BE, H5T_NATIVE_FLOAT, img.data()},
                          {"lab", {n}, H5T_STD_U16LE, H5T_NATIVE_UINT16, lab.data()}});
  const std::string s = spec("f.h5") + "?train_images=x/img&train_labels=lab&test_images=x/img&test_labels=/lab";
  for (bool train : {true, false}) {
    auto ds = load_dataset(s, train);
    ASSERT_EQ(ds->size(), n);
    Example e = ds->get(4);
    EXPECT_EQ(e.data.dtype(), kFloat32);
    EXPECT_EQ(e.data.sizes(), (IntArrayRef{3, 2, 2}));
    EXPECT_FLOAT_EQ(e.data[2][1][0].item<float>(), img[4 * 12 + 2 * 4 + 1 * 2 + 0]);
    EXPECT_EQ(e.target.dtype(), kInt64);
    EXPECT_EQ(e.target.item<int64_t>(), 60004);
  }
  DataLoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 2;
  DataLoader dl(load_dataset(s, true), o);
  size_t got = 0;
  for (const Batch& b : dl) {
    EXPECT_EQ(b.data.size(1), 3);
    got += b.indices.size();
  }
  EXPECT_EQ(got, n);
  // Default names are absent in this file; unknown options and empty keys are ValueErrors.
  expect_format_error(spec("f.h5"), "f.h5", "train/images", "missing key");
  EXPECT_THROW(load_dataset(spec("f.h5") + "?train_imgs=x/img", true), ValueError);
  EXPECT_THROW(load_dataset(spec("f.h5") + "?train_images=", true), ValueError);
  EXPECT_THROW(load_dataset("hdf5:", true), ValueError);
  EXPECT_THROW(load_dataset("hdf5:" + path("none.h5"), true), ValueError);
}

TEST_F(Hdf5Test, NotHdf5) {
  std::ofstream(path("t.h5")) << "this is not an HDF5 file, just some text\n";
  expect_format_error(spec("t.h5"), "t.h5", "file", "not an HDF5 file");
  std::ofstream(path("e.h5")).close();  // empty
  expect_format_error(spec("e.h5"), "e.h5", "file");
}

TEST_F(Hdf5Test, TruncatedAtSeveralPoints) {
  write_good("a.h5", 200, 28, 28);
  const auto size = fs::file_size(path("a.h5"));
  ASSERT_GT(size, 160000u);
  for (uintmax_t keep : {size - 1, size - 100, size / 2, uintmax_t{4096}, uintmax_t{2048}, uintmax_t{600},
                         uintmax_t{100}, uintmax_t{9}}) {
    fs::copy_file(path("a.h5"), path("cut.h5"), fs::copy_options::overwrite_existing);
    fs::resize_file(path("cut.h5"), keep);
    SCOPED_TRACE("cut to " + std::to_string(keep) + " of " + std::to_string(size) + " bytes");
    expect_format_error(spec("cut.h5"), "cut.h5", "file");
  }
}

TEST_F(Hdf5Test, MissingKeyOrGroupNotDataset) {
  std::vector<uint8_t> img(4 * 3 * 3, 1);
  write_h5(path("m.h5"), {{"train/images", {4, 3, 3}, H5T_STD_U8LE, H5T_NATIVE_UINT8, img.data()}});
  expect_format_error(spec("m.h5"), "m.h5", "train/labels", "missing key");
  try {
    load_dataset(spec("m.h5"), false);
    ADD_FAILURE();
  } catch (const FormatError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("field test/images"), std::string::npos) << m;
    EXPECT_NE(m.find("it has: train"), std::string::npos) << "lists what is there: " << m;
  }
  write_h5(path("g.h5"), {{"train/images", {4, 3, 3}, H5T_STD_U8LE, H5T_NATIVE_UINT8, img.data()}},
           {"train/labels"});
  expect_format_error(spec("g.h5"), "g.h5", "train/labels", "not a dataset");
}

TEST_F(Hdf5Test, WrongRank) {
  std::vector<uint8_t> img(4 * 3 * 3, 1);
  std::vector<int64_t> lab(4, 1);
  write_h5(path("r.h5"), {{"train/images", {4, 9}, H5T_STD_U8LE, H5T_NATIVE_UINT8, img.data()},
                          {"train/labels", {4}, H5T_STD_I64LE, H5T_NATIVE_INT64, lab.data()}});
  expect_format_error(spec("r.h5"), "r.h5", "train/images", "wrong rank");
  write_h5(path("r.h5"), {{"train/images", {4, 1, 1, 3, 3}, H5T_STD_U8LE, H5T_NATIVE_UINT8, img.data()},
                          {"train/labels", {4}, H5T_STD_I64LE, H5T_NATIVE_INT64, lab.data()}});
  expect_format_error(spec("r.h5"), "r.h5", "train/images", "wrong rank");
  write_h5(path("r.h5"), {{"train/images", {4, 3, 3}, H5T_STD_U8LE, H5T_NATIVE_UINT8, img.data()},
                          {"train/labels", {2, 2}, H5T_STD_I64LE, H5T_NATIVE_INT64, lab.data()}});
  expect_format_error(spec("r.h5"), "r.h5", "train/labels", "wrong rank");
}

TEST_F(Hdf5Test, UnsupportedElementTypes) {
  std::vector<double> dimg(4 * 3 * 3, 0.5);
  std::vector<int16_t> simg(4 * 3 * 3, 1);
  std::vector<int64_t> lab(4, 1);
  std::vector<float> flab(4, 1.0f);
  std::vector<uint8_t> img(4 * 3 * 3, 1);
  write_h5(path("u.h5"), {{"train/images", {4, 3, 3}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dimg.data()},
                          {"train/labels", {4}, H5T_STD_I64LE, H5T_NATIVE_INT64, lab.data()}});
  expect_format_error(spec("u.h5"), "u.h5", "train/images", "float64");
  write_h5(path("u.h5"), {{"train/images", {4, 3, 3}, H5T_STD_I16LE, H5T_NATIVE_INT16, simg.data()},
                          {"train/labels", {4}, H5T_STD_I64LE, H5T_NATIVE_INT64, lab.data()}});
  expect_format_error(spec("u.h5"), "u.h5", "train/images", "int16");
  write_h5(path("u.h5"), {{"train/images", {4, 3, 3}, H5T_STD_U8LE, H5T_NATIVE_UINT8, img.data()},
                          {"train/labels", {4}, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, flab.data()}});
  expect_format_error(spec("u.h5"), "u.h5", "train/labels", "float32");
}

TEST_F(Hdf5Test, LabelAndImageLengthsDiffer) {
  std::vector<uint8_t> img(5 * 3 * 3, 1);
  std::vector<int64_t> lab(4, 1);
  write_h5(path("l.h5"), {{"train/images", {5, 3, 3}, H5T_STD_U8LE, H5T_NATIVE_UINT8, img.data()},
                          {"train/labels", {4}, H5T_STD_I64LE, H5T_NATIVE_INT64, lab.data()}});
  expect_format_error(spec("l.h5"), "l.h5", "train/labels", "4 labels but 'train/images' has 5 images");
}

TEST_F(Hdf5Test, EachReaderThreadKeepsItsHandleUntilItEnds) {  // SEED C2
  write_good("a.h5");
  const ssize_t base = open_files();
  {
    auto ds = load_dataset(spec("a.h5"), true);
    EXPECT_EQ(open_files(), base) << "load reads metadata only; readers open lazily";
    {
      DataLoaderOptions o;
      o.batch_size = 5;
      o.num_workers = 4;
      o.persistent_workers = true;
      DataLoader dl(ds, o);
      for (int e = 0; e < 2; ++e)
        for (const Batch& b : dl) check_batch(b, 5, 4);
      // Persistent workers keep their handles between epochs: at most one per worker, at least one.
      // (Counting is safe now: the workers wait for the next epoch and make no HDF5 calls.)
      EXPECT_GE(open_files(), base + 1);
      EXPECT_LE(open_files(), base + 4);
    }
    EXPECT_EQ(open_files(), base) << "worker threads ended: their handles are closed";
    ds->get(3);  // this thread now holds one
    EXPECT_EQ(open_files(), base + 1);
    ds->get(4);
    EXPECT_EQ(open_files(), base + 1) << "and reuses it";
  }
  EXPECT_EQ(open_files(), base) << "the dataset is gone: every thread's handles are closed";
}

TEST_F(Hdf5Test, ReadThroughput) {
  // Fashion-MNIST-sized: 60000 × 28 × 28 uint8 + int32 labels (47 MB). Figures only, no bound;
  // a tenth of it under the sanitizers.
#ifdef HEARTH_SANITIZED
  const int64_t n = 6000;
#else
  const int64_t n = 60000;
#endif
  write_good("big.h5", n, 28, 28, 1);
  auto ds = load_dataset(spec("big.h5"), true);
  for (bool shuffle : {false, true}) {
    for (size_t workers : {0u, 2u}) {
      DataLoaderOptions o;
      o.batch_size = 64;
      o.shuffle = shuffle;
      o.num_workers = workers;
      DataLoader dl(ds, o);
      auto t0 = std::chrono::steady_clock::now();
      size_t got = 0;
      for (const Batch& b : dl) got += b.indices.size();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      EXPECT_EQ(got, static_cast<size_t>(n));
      std::printf("hdf5 %lld×28×28 uint8, batch 64, %s, %zu workers: %.3f s, %.0f samples/s\n",
                  static_cast<long long>(n), shuffle ? "shuffled" : "sequential", workers, s, n / s);
    }
  }
}

// Issue #15: the trainer checks labels against the model's classes before training and names
// their file; hearth-hdf5 tells it where they are and reads them without the images.
TEST_F(Hdf5Test, LabelSourceNamesTheFileAndReadsOnlyLabels) {
  write_good("d.h5");
  for (bool train : {true, false}) {
    auto ds = load_dataset(spec("d.h5"), train);
    auto* ls = dynamic_cast<const hearth::data::LabelSource*>(ds.get());
    ASSERT_NE(ls, nullptr);
    EXPECT_EQ(ls->labels_origin(),
              "HDF5 file '" + path("d.h5") + "', dataset '" + (train ? "train" : "test") + "/labels'");
    const hearth::Tensor l = ls->labels(5);
    ASSERT_EQ(l.numel(), 5);
    EXPECT_EQ(l.dtype(), hearth::kInt64);
    for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(l.data_ptr<int64_t>()[i], train ? label(i) : 2) << i;
  }
}
