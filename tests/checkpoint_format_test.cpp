// State-dict files in safetensors and HDF5 (issue #7): round trips of every dtype, format by
// extension and by content, map_location, a file recording cuda:0 loading on the CPU (E6),
// module. prefixes and partial loads reported alike from both formats (E4), and bad input as a
// FormatError naming file and field.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "test_util.h"

using namespace hearth;
using hearth::test::contains;
using hearth::test::message_of;
namespace fs = std::filesystem;

namespace {

class CkptFormat : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_ / name; }
  test::TempDir dir_{"hearth_ckpt_fmt"};
};

/// A small model with a parameter, a persistent buffer of another dtype and a child.
std::shared_ptr<nn::SequentialImpl> small_model() {
  manual_seed(3);
  return std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::LinearImpl>(4, 3), std::make_shared<nn::BatchNorm1dImpl>(3), std::make_shared<nn::ReLUImpl>(),
      std::make_shared<nn::LinearImpl>(3, 2)});
}

/// One tensor of each dtype with distinct values.
TensorList every_dtype() {
  TensorList out;
  const ScalarType types[] = {kFloat32, kFloat64, kFloat16, kBFloat16, kInt64, kInt32, kInt16, kInt8, kUInt8, kBool};
  int i = 0;
  for (ScalarType t : types) {
    Tensor v = arange(0, 12, 1, TensorOptions(kFloat64)).reshape({3, 4}) * (i % 2 ? -0.5 : 1.5);
    if (t == kBool) v = arange(0, 12, 1, TensorOptions(kFloat64)).reshape({3, 4}) > 5;
    if (t == kUInt8) v = v.abs();
    out.emplace_back(std::string("t.") + dtype_name(t), v.to(t));
    ++i;
  }
  out.emplace_back("scalar", scalar_tensor(2.5, TensorOptions(kFloat32)));
  out.emplace_back("empty", zeros({0, 5}, TensorOptions(kFloat32)));
  return out;
}

void expect_same(const TensorList& a, const TensorList& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.dtype(), b[i].second.dtype()) << a[i].first;
    EXPECT_EQ(a[i].second.sizes(), b[i].second.sizes()) << a[i].first;
    EXPECT_TRUE(equal(a[i].second, b[i].second.to(a[i].second.device()))) << a[i].first;
  }
}

}  // namespace

TEST_F(CkptFormat, EveryDtypeRoundTripsInBothFormats) {
  const TensorList t = every_dtype();
  for (const std::string name : {"a.safetensors", "a.h5", "a.hdf5", "a.bin"}) {
    save_state_dict(path(name), t, {{"note", "hello"}});
    auto c = load_tensors(path(name));
    expect_same(t, c.tensors);
    EXPECT_EQ(c.metadata.at("note"), "hello") << name;
    EXPECT_EQ(c.saved_devices.at("t.float32"), "cpu") << name;
  }
  // Extension picks the format when writing; content when reading.
  EXPECT_EQ(tensor_file_format_for_writing(path("x.H5")).name(), "hdf5");
  EXPECT_EQ(tensor_file_format_for_writing(path("x.pt")).name(), "safetensors");
  EXPECT_EQ(tensor_file_format_for_reading(path("a.h5")).name(), "hdf5");
  EXPECT_EQ(tensor_file_format_for_reading(path("a.bin")).name(), "safetensors");
  fs::copy_file(path("a.h5"), path("renamed.safetensors"));
  EXPECT_EQ(tensor_file_format_for_reading(path("renamed.safetensors")).name(), "hdf5");
  expect_same(t, load_tensors(path("renamed.safetensors")).tensors);
}

TEST_F(CkptFormat, Hdf5LayoutIsFlatDatasetsWithDtypeAttributes) {
  save_state_dict(path("m.h5"), every_dtype());
  hid_t f = H5Fopen(path("m.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_GT(H5Lexists(f, "t.float32", H5P_DEFAULT), 0);
  hid_t d = H5Dopen2(f, "t.bfloat16", H5P_DEFAULT);
  hid_t ty = H5Dget_type(d);
  EXPECT_EQ(H5Tget_class(ty), H5T_INTEGER);
  EXPECT_EQ(H5Tget_size(ty), 2u);
  EXPECT_GT(H5Aexists(d, "dtype"), 0);
  H5Tclose(ty);
  H5Dclose(d);
  EXPECT_GT(H5Aexists(f, kDevicesMetadataKey), 0);
  H5Fclose(f);
}

TEST_F(CkptFormat, ModuleRoundTripAndMapLocation) {  // SEED E6
  auto a = small_model();
  auto b = std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::LinearImpl>(4, 3), std::make_shared<nn::BatchNorm1dImpl>(3), std::make_shared<nn::ReLUImpl>(),
      std::make_shared<nn::LinearImpl>(3, 2)});
  for (const std::string name : {"m.safetensors", "m.h5"}) {
    save_state_dict(path(name), *a);
    auto r = load_state_dict(path(name), *b);
    EXPECT_TRUE(r.ok());
    expect_same(a->state_dict(), b->state_dict());
    // Without a model: the host by default, a device string, or a function of the key.
    for (auto& [k, v] : load_tensors(path(name)).tensors) EXPECT_TRUE(v.device().is_cpu()) << k;
    for (auto& [k, v] : load_tensors(path(name), "testdev:1").tensors) EXPECT_EQ(v.device(), Device("testdev:1"));
    auto c = load_tensors(path(name), MapLocation([](const std::string& key, const std::string& saved) {
                            EXPECT_EQ(saved, "cpu");
                            return key.rfind("0.", 0) == 0 ? Device("testdev:0") : Device("cpu");
                          }));
    for (auto& [k, v] : c.tensors) EXPECT_EQ(v.device(), k.rfind("0.", 0) == 0 ? Device("testdev:0") : Device("cpu")) << k;
    expect_same(a->state_dict(), c.tensors);
  }
}

TEST_F(CkptFormat, FileRecordingCudaLoadsIntoCpuModel) {  // SEED E6
  auto a = small_model();
  nlohmann::json devices = nlohmann::json::object();
  for (auto& [k, v] : a->state_dict()) devices[k] = "cuda:0";
  // Written as a machine with a GPU would: every tensor recorded on cuda:0.
  TensorList host = a->state_dict();
  for (const std::string name : {"cuda.safetensors", "cuda.h5"}) {
    tensor_file_format_for_writing(path(name)).save(path(name), host, {{kDevicesMetadataKey, devices.dump()}});
    auto b = small_model();
    for (auto& p : b->parameters()) {
      NoGradGuard ng;
      p.zero_();
    }
    EXPECT_TRUE(load_state_dict(path(name), *b).ok());
    expect_same(a->state_dict(), b->state_dict());
    auto c = load_tensors(path(name));
    EXPECT_EQ(c.saved_devices.at("0.weight"), "cuda:0");
    for (auto& [k, v] : c.tensors) EXPECT_TRUE(v.device().is_cpu());
  }
}

TEST_F(CkptFormat, PrefixesAndPartialLoadsAreReportedAlikeFromEveryFormat) {  // SEED E4
  auto a = small_model();
  TensorList prefixed;
  for (auto& [k, v] : a->state_dict()) prefixed.emplace_back("module." + k, v);
  TensorList partial;  // one key missing, one unexpected, one of the wrong shape
  for (auto& [k, v] : a->state_dict()) {
    if (k == "0.bias") continue;
    partial.emplace_back(k, k == "3.weight" ? zeros({2, 5}) : v);
  }
  partial.emplace_back("extra.thing", ones({1}));
  for (const TensorList* sd : {&prefixed, &partial}) {
    auto ref = small_model();
    for (auto& p : ref->parameters()) {
      NoGradGuard ng;
      p.fill_(7);
    }
    const nn::LoadStateDictResult want = ref->load_state_dict(*sd, /*strict=*/false);
    for (const std::string name : {"p.safetensors", "p.h5"}) {
      save_state_dict(path(name), *sd);
      auto m = small_model();
      for (auto& p : m->parameters()) {
        NoGradGuard ng;
        p.fill_(7);
      }
      const nn::LoadStateDictResult got = load_state_dict(path(name), *m, /*strict=*/false);
      EXPECT_EQ(got.missing_keys, want.missing_keys) << name;
      EXPECT_EQ(got.unexpected_keys, want.unexpected_keys) << name;
      ASSERT_EQ(got.shape_mismatches.size(), want.shape_mismatches.size()) << name;
      for (size_t i = 0; i < got.shape_mismatches.size(); ++i) EXPECT_EQ(got.shape_mismatches[i].key, want.shape_mismatches[i].key);
      EXPECT_EQ(got.stripped_prefix, want.stripped_prefix) << name;
      expect_same(ref->state_dict(), m->state_dict());
      if (sd == &partial) {
        // strict: one FormatError naming the file and every problem; nothing loaded.
        auto n = small_model();
        const TensorList before = n->state_dict();
        std::vector<Tensor> copies;
        for (auto& [k, v] : before) copies.push_back(v.clone());
        const std::string msg = message_of([&] { load_state_dict(path(name), *n); });
        EXPECT_TRUE(contains(msg, path(name))) << msg;
        EXPECT_TRUE(contains(msg, "missing key(s): 0.bias")) << msg;
        EXPECT_TRUE(contains(msg, "unexpected key(s): extra.thing")) << msg;
        EXPECT_TRUE(contains(msg, "field '3.weight': wrong shape [2, 5]")) << msg;
        EXPECT_THROW(load_state_dict(path(name), *n), FormatError);
        for (size_t i = 0; i < copies.size(); ++i) EXPECT_TRUE(equal(copies[i], n->state_dict()[i].second));
      }
    }
  }
}

TEST_F(CkptFormat, DtypesConvertWithinTheirKindOnly) {
  auto a = small_model();
  TensorList half;
  for (auto& [k, v] : a->state_dict()) half.emplace_back(k, v.is_floating_point() ? v.to(kFloat16) : v);
  save_state_dict(path("h.h5"), half);
  auto b = small_model();
  EXPECT_TRUE(load_state_dict(path("h.h5"), *b).ok());
  EXPECT_EQ(b->state_dict()[0].second.dtype(), kFloat32);
  EXPECT_TRUE(allclose(b->state_dict()[0].second, a->state_dict()[0].second, 1e-2, 1e-2));
  TensorList ints;
  for (auto& [k, v] : a->state_dict()) ints.emplace_back(k, k == "0.weight" ? v.to(kInt32) : v);
  for (const std::string name : {"i.safetensors", "i.h5"}) {
    save_state_dict(path(name), ints);
    const std::string msg = message_of([&] { load_state_dict(path(name), *b); });
    EXPECT_TRUE(contains(msg, path(name)) && contains(msg, "field '0.weight': wrong dtype int32") &&
                contains(msg, "float32"))
        << msg;
  }
}

// ---- bad input: each a FormatError naming the file and the field ----

namespace {
/// Writes an HDF5 file of the given float32 datasets plus one bespoke dataset written by `extra`.
void write_h5(const std::string& path, const TensorList& tensors, const std::function<void(hid_t)>& extra = {}) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  for (const auto& [k, v] : tensors) {
    Tensor c = v.contiguous();
    std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
    hid_t sp = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t d = H5Dcreate2(f, k.c_str(), H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr());
    H5Dclose(d);
    H5Sclose(sp);
  }
  if (extra) extra(f);
  H5Fclose(f);
}
}  // namespace

TEST_F(CkptFormat, Hdf5BadInputIsFormatErrorNamingFileAndField) {
  auto m = small_model();
  TensorList sd = m->state_dict();
  auto expect_error = [&](const std::string& file, const std::vector<std::string>& parts) {
    auto n = small_model();
    std::string msg;
    try {
      load_state_dict(file, *n);
    } catch (const FormatError& e) {
      msg = e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a FormatError: " << e.what();
    }
    EXPECT_TRUE(contains(msg, file)) << msg;
    for (const auto& p : parts) EXPECT_TRUE(contains(msg, p)) << "'" << p << "' not in: " << msg;
  };
  // A missing key.
  TensorList missing;
  for (auto& [k, v] : sd)
    if (k != "1.running_var" && k != "1.num_batches_tracked") missing.emplace_back(k, v.to(kFloat32));
  write_h5(path("missing.h5"), missing, [&](hid_t f) {
    int64_t n = 0;
    hsize_t one = 1;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, "1.num_batches_tracked", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &n);
    (void)one;
    H5Dclose(d);
    H5Sclose(sp);
  });
  expect_error(path("missing.h5"), {"missing key(s): 1.running_var"});
  // A wrong shape.
  TensorList shaped;
  for (auto& [k, v] : sd) shaped.emplace_back(k, k == "3.bias" ? zeros({7}) : v);
  save_state_dict(path("shape.h5"), shaped);
  expect_error(path("shape.h5"), {"field '3.bias': wrong shape [7]", "[2]"});
  // A wrong dtype: strings where a tensor should be; a dtype attribute that disagrees with the data.
  TensorList no_bias;
  for (auto& [k, v] : sd)
    if (k != "0.bias" && k != "1.num_batches_tracked") no_bias.emplace_back(k, v.to(kFloat32));
  write_h5(path("dtype.h5"), no_bias, [](hid_t f) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 4);
    hsize_t n = 3;
    hid_t sp = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(f, "0.bias", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, "abcdefghijkl");
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
  });
  expect_error(path("dtype.h5"), {"field '0.bias'", "wrong dtype", "string"});
  write_h5(path("dtype2.h5"), no_bias, [](hid_t f) {
    float v[3] = {1, 2, 3};
    hsize_t n = 3;
    hid_t sp = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(f, "0.bias", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 8);
    hid_t asp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(d, "dtype", st, asp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "bfloat16");
    H5Aclose(a);
    H5Sclose(asp);
    H5Tclose(st);
    H5Dclose(d);
    H5Sclose(sp);
  });
  expect_error(path("dtype2.h5"), {"field '0.bias.dtype'", "wrong dtype", "bfloat16", "float32"});
  // Truncated, at several lengths (the signature kept or not).
  save_state_dict(path("full.h5"), sd);
  const auto size = fs::file_size(path("full.h5"));
  for (uintmax_t keep : {uintmax_t{4}, uintmax_t{600}, size / 2, size - 8}) {
    const std::string p = path("trunc" + std::to_string(keep) + ".h5");
    fs::copy_file(path("full.h5"), p);
    fs::resize_file(p, keep);
    expect_error(p, {"field '"});
    EXPECT_THROW(load_tensors(p), FormatError) << keep;
  }
  // Not a tensor file at all, and no file.
  { std::ofstream(path("text.h5")) << "just some text, not HDF5 at all"; }
  expect_error(path("text.h5"), {"field 'file'", "not an HDF5 file"});
  expect_error(path("nonexistent.h5"), {"cannot open"});
}

TEST_F(CkptFormat, MissingFormatPluginIsAClearError) {
  const std::string msg = message_of([] { tensor_file_format("zarr"); });
  EXPECT_TRUE(contains(msg, "no state-dict file format 'zarr'")) << msg;
  EXPECT_TRUE(contains(msg, "state_dict_format:zarr")) << msg;
  EXPECT_TRUE(contains(msg, "available formats: safetensors, hdf5")) << msg;
}

TEST_F(CkptFormat, AtomicWriteLeavesPreviousFileOnFailure) {
  save_state_dict(path("a.h5"), every_dtype());
  // A name HDF5 cannot hold fails before the rename: the old file stays, no temporary is left.
  TensorList bad = {{"a/b", ones({2})}};
  EXPECT_THROW(save_state_dict(path("a.h5"), bad), FormatError);
  expect_same(every_dtype(), load_tensors(path("a.h5")).tensors);
  EXPECT_THROW(write_file_atomically(path("b.bin"), [](const std::string&) { throw ValueError("boom"); }), ValueError);
  EXPECT_FALSE(fs::exists(path("b.bin")));
  int n = 0;
  for (auto& e : fs::directory_iterator(dir_.str())) n += e.path().filename().string()[0] == '.';
  EXPECT_EQ(n, 0);
}

// ---- hearth ckpt (docs/cli.md) ----

namespace {
/// Runs `hearth ARGS` and returns its exit code; stdout+stderr into `out`.
int hearth_cli(const std::string& args, std::string& out) {
  const std::string cmd = std::string(HEARTH_BUILD_DIR) + "/bin/hearth " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  out.clear();
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
}  // namespace

TEST_F(CkptFormat, CliInspectConvertDiffAndExitCodes) {  // SEED E4
  auto a = small_model();
  TensorList prefixed;
  for (auto& [k, v] : a->state_dict()) prefixed.emplace_back("module." + k, v);
  save_state_dict(path("p.safetensors"), prefixed, {{"note", "hi"}});
  std::string out;
  ASSERT_EQ(hearth_cli("ckpt inspect " + path("p.safetensors"), out), 0) << out;
  EXPECT_TRUE(contains(out, "module.0.weight") && contains(out, "float32") && contains(out, "[3, 4]") &&
              contains(out, "note: hi") && contains(out, "cpu"))
      << out;
  // safetensors -> HDF5 without the prefix, then back: the same tensors as the model's own.
  ASSERT_EQ(hearth_cli("ckpt convert " + path("p.safetensors") + " " + path("q.h5") + " --strip-prefix module.", out), 0)
      << out;
  EXPECT_EQ(tensor_file_format_for_reading(path("q.h5")).name(), "hdf5");
  auto b = small_model();
  EXPECT_TRUE(load_state_dict(path("q.h5"), *b).ok());
  expect_same(a->state_dict(), b->state_dict());
  EXPECT_EQ(load_tensors(path("q.h5")).metadata.at("note"), "hi");
  ASSERT_EQ(hearth_cli("ckpt inspect --json " + path("q.h5"), out), 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["format"], "hdf5");
  EXPECT_EQ(j["tensors"][0]["key"], "0.weight");
  EXPECT_EQ(j["tensors"][0]["device"], "cpu");
  // diff: per key max |a - b|, keys in one only.
  TensorList changed = a->state_dict();
  changed[0].second = changed[0].second + 0.5;
  changed.pop_back();
  changed.emplace_back("new.key", ones({1}));
  save_state_dict(path("c.safetensors"), changed);
  ASSERT_EQ(hearth_cli("ckpt diff --json " + path("q.h5") + " " + path("c.safetensors"), out), 0) << out;
  j = nlohmann::json::parse(out);
  EXPECT_DOUBLE_EQ(j["tensors"][0]["max_abs_diff"].get<double>(), 0.5);
  EXPECT_EQ(j["tensors"][1]["max_abs_diff"].get<double>(), 0.0);
  EXPECT_EQ(j["only_in_a"], nlohmann::json::array({"3.bias"}));
  EXPECT_EQ(j["only_in_b"], nlohmann::json::array({"new.key"}));
  ASSERT_EQ(hearth_cli("ckpt diff " + path("q.h5") + " " + path("c.safetensors"), out), 0) << out;
  EXPECT_TRUE(contains(out, "only in B: new.key") && contains(out, "0.5")) << out;
  // Exit codes: 2 for a malformed command line, 1 for a bad file (one line naming it).
  EXPECT_EQ(hearth_cli("ckpt", out), 2) << out;
  EXPECT_EQ(hearth_cli("ckpt inspect", out), 2) << out;
  EXPECT_EQ(hearth_cli("ckpt frobnicate x", out), 2) << out;
  EXPECT_EQ(hearth_cli("ckpt convert " + path("p.safetensors"), out), 2) << out;
  fs::copy_file(path("q.h5"), path("t.h5"));
  fs::resize_file(path("t.h5"), 900);
  EXPECT_EQ(hearth_cli("ckpt inspect " + path("t.h5"), out), 1) << out;
  EXPECT_TRUE(contains(out, "t.h5") && contains(out, "field")) << out;
  EXPECT_EQ(hearth_cli("ckpt diff " + path("t.h5") + " " + path("q.h5"), out), 1) << out;
}
