// Tensor-level safetensors: round trip of every dtype, device recording and mapping on load,
// and bad files surfacing as FormatError through the public API (DESIGN "Files").
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hearth/hearth.h"

using namespace hearth;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("hearth-serialize-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

/// Rewrites a saved file's hearth.devices metadata entry, keeping the data section as it is.
void set_devices_metadata(const std::string& path, const std::string& value) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  header["__metadata__"][kDevicesMetadataKey] = value;
  std::string h = header.dump();
  while ((h.size() % 8) != 0) h += ' ';
  const uint64_t hn = h.size();
  std::string out(reinterpret_cast<const char*>(&hn), 8);
  out += h + bytes.substr(8 + n);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << out;
}

const ScalarType kAll[] = {kFloat32, kFloat64, kFloat16, kBFloat16, kInt64, kInt32, kInt16, kInt8, kUInt8, kBool};
}  // namespace

TEST(Safetensors, RoundTripEveryDtype) {
  TempDir dir;
  TensorList tensors;
  for (ScalarType dt : kAll) {
    // Values every dtype represents exactly; a transposed view checks non-contiguous saving.
    Tensor t = arange(12).reshape({3, 4}).to(dt).t();
    tensors.emplace_back(std::string("t_") + dtype_name(dt), t);
  }
  tensors.emplace_back("scalar", scalar_tensor(3.5));
  tensors.emplace_back("empty", zeros({0, 3}));
  const std::string path = (dir.path / "all.safetensors").string();
  save_safetensors(path, tensors, {{"note", "hello"}});
  SafetensorsContents c = load_safetensors(path);
  ASSERT_EQ(c.tensors.size(), tensors.size());
  EXPECT_EQ(c.metadata.at("note"), "hello");
  for (size_t i = 0; i < tensors.size(); ++i) {
    SCOPED_TRACE(tensors[i].first);
    EXPECT_EQ(c.tensors[i].first, tensors[i].first);
    EXPECT_EQ(c.tensors[i].second.dtype(), tensors[i].second.dtype());
    EXPECT_EQ(c.tensors[i].second.sizes(), tensors[i].second.sizes());
    EXPECT_TRUE(equal(c.tensors[i].second, tensors[i].second));
    EXPECT_EQ(c.saved_devices.at(tensors[i].first), "cpu");
  }
}

TEST(Safetensors, RecordsDevicesAndMapsOnLoad) {  // DESIGN "Files": device in __metadata__
  TempDir dir;
  const std::string path = (dir.path / "dev.safetensors").string();
  Tensor a = arange(6, kFloat32).to(Device("testdev:1"));
  save_safetensors(path, {{"a", a}, {"b", ones({2})}});
  SafetensorsContents c = load_safetensors(path);
  EXPECT_EQ(c.saved_devices.at("a"), "testdev:1");
  EXPECT_EQ(c.saved_devices.at("b"), "cpu");
  EXPECT_TRUE(c.tensors[0].second.is_cpu());  // read into host memory by default
  SafetensorsContents m = load_safetensors(path, Device("testdev:0"));
  EXPECT_EQ(m.tensors[0].second.device().str(), "testdev:0");
  EXPECT_TRUE(equal(m.tensors[0].second.cpu(), arange(6, kFloat32)));
}

TEST(Safetensors, UnknownRecordedDeviceIsNoError) {
  TempDir dir;
  const std::string path = (dir.path / "cuda.safetensors").string();
  save_safetensors(path, {{"w", ones({2})}});
  // As if saved on a machine with CUDA.
  set_devices_metadata(path, R"({"w": "cuda:3"})");
  SafetensorsContents c = load_safetensors(path);
  EXPECT_EQ(c.saved_devices.at("w"), "cuda:3");
  EXPECT_TRUE(c.tensors[0].second.is_cpu());
  EXPECT_TRUE(equal(c.tensors[0].second, ones({2})));
}

TEST(Safetensors, BadFilesAreFormatErrors) {
  TempDir dir;
  const std::string missing = (dir.path / "nope.safetensors").string();
  try {
    load_safetensors(missing);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
  }
  const std::string junk = (dir.path / "junk.safetensors").string();
  std::ofstream(junk) << "this is not a safetensors file at all";
  EXPECT_THROW(load_safetensors(junk), FormatError);
  // A bad hearth.devices entry names the field.
  const std::string path = (dir.path / "meta.safetensors").string();
  save_safetensors(path, {{"w", ones({1})}}, {});
  set_devices_metadata(path, "[1, 2]");
  try {
    load_safetensors(path);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(kDevicesMetadataKey), std::string::npos) << e.what();
  }
}

TEST(Safetensors, FailedSaveKeepsPreviousFile) {
  TempDir dir;
  const std::string path = (dir.path / "keep.safetensors").string();
  save_safetensors(path, {{"w", ones({3})}});
  EXPECT_THROW(save_safetensors((dir.path / "no" / "such" / "dir.st").string(), {{"w", ones({3})}}), FormatError);
  TensorList bad = {{"w", ones({3})}, {"w", zeros({3})}};  // duplicate names
  EXPECT_THROW(save_safetensors(path, bad), FormatError);
  EXPECT_TRUE(equal(load_safetensors(path).tensors[0].second, ones({3})));
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) { (void)e; ++files; }
  EXPECT_EQ(files, 1u);  // no temporary left behind
}
