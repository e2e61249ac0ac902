// Tests of the safetensors format layer. DESIGN Files: validating reader, atomic writes.
// Round trips, the reference byte layout, and one FormatError per kind of bad input.
#include "serialize/safetensors_format.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "hearth/error.h"

namespace {

namespace fs = std::filesystem;
namespace st = hearth::safetensors;

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("hearth_st_test_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(counter++) + "_" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A file with the given header text (not padded) followed by data_size bytes.
std::string file_bytes(const std::string& header, uint64_t data_size) {
  return le64(header.size()) + header + std::string(static_cast<size_t>(data_size), '\x5a');
}

// Leftover temporary files from the atomic writer (".<name>.tmp.<pid>.<n>").
int count_temp_files(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  return n;
}

// Runs f, which must throw hearth::FormatError whose message contains `path` and every part.
void expect_format_error(const std::function<void()>& f, const std::string& path,
                         const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no FormatError thrown (expected one mentioning '" << path << "')";
  } catch (const hearth::FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << "path missing from: " << msg;
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' missing from: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type, message: " << e.what();
  }
}

std::vector<uint8_t> iota_bytes(size_t n, uint8_t start) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(start + i * 7);
  return v;
}

TEST(SafetensorsFormat, DtypeSizes) {
  EXPECT_EQ(st::dtype_size("F32"), 4u);
  EXPECT_EQ(st::dtype_size("F64"), 8u);
  EXPECT_EQ(st::dtype_size("F16"), 2u);
  EXPECT_EQ(st::dtype_size("BF16"), 2u);
  EXPECT_EQ(st::dtype_size("I64"), 8u);
  EXPECT_EQ(st::dtype_size("I32"), 4u);
  EXPECT_EQ(st::dtype_size("I16"), 2u);
  EXPECT_EQ(st::dtype_size("I8"), 1u);
  EXPECT_EQ(st::dtype_size("U8"), 1u);
  EXPECT_EQ(st::dtype_size("BOOL"), 1u);
  for (const char* bad : {"F8_E4M3", "U16", "f32", "", "U64"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(st::is_known_dtype(bad));
    try {
      st::dtype_size(bad);
      ADD_FAILURE() << "no throw";
    } catch (const hearth::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("supported: F32"), std::string::npos) << e.what();
    }
  }
}

TEST(SafetensorsFormat, RoundTrip) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  auto w = iota_bytes(2 * 3 * 4, 1);  // F32 [2,3]
  auto b = iota_bytes(5 * 2, 3);      // BF16 [5]
  auto s = iota_bytes(8, 9);          // I64 scalar
  auto m = iota_bytes(3, 0);          // BOOL [3]
  auto u = iota_bytes(4 * 1 * 2, 5);  // U8 [4,1,2]
  const std::vector<st::WriteEntry> entries = {
      {"layer.0.weight", "F32", {2, 3}, w.data(), w.size()},
      {"b", "BF16", {5}, b.data(), b.size()},
      {"step", "I64", {}, s.data(), s.size()},
      {"empty", "F64", {0, 4}, nullptr, 0},
      {"mask", "BOOL", {3}, m.data(), m.size()},
      {"u", "U8", {4, 1, 2}, u.data(), u.size()},
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"},
                                                   {"quote\"and\\slash", "line\nbreak"},
                                                   {"unicode", "h\xC3\xA9llo \xE2\x9C\x93"}};
  st::write_file(path, entries, meta);
  EXPECT_EQ(count_temp_files(dir.path()), 0);

  const st::Header h = st::read_header_file(path);
  EXPECT_EQ(h.metadata, meta);
  EXPECT_EQ(h.file_size, fs::file_size(path));
  EXPECT_EQ(h.data_start % 8, 0u) << "header must be padded to a multiple of 8";
  ASSERT_EQ(h.entries.size(), entries.size());
  // Data is laid out in entry order, and entries come back sorted by offset: the same order.
  const std::string all = read_bytes(path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  uint64_t offset = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    SCOPED_TRACE(entries[i].name);
    const st::Entry& e = h.entries[i];
    EXPECT_EQ(e.name, entries[i].name);
    EXPECT_EQ(e.dtype, entries[i].dtype);
    EXPECT_EQ(e.shape, entries[i].shape);
    EXPECT_EQ(e.begin, offset);
    EXPECT_EQ(e.nbytes(), entries[i].nbytes);
    offset = e.end;
    std::vector<uint8_t> got(e.nbytes());
    st::read_entry_data(fd, h, e, got.data(), path);
    const auto* want = static_cast<const uint8_t*>(entries[i].data);
    EXPECT_TRUE(e.nbytes() == 0 || std::memcmp(got.data(), want, e.nbytes()) == 0);
    EXPECT_TRUE(e.nbytes() == 0 ||
                std::memcmp(all.data() + h.data_start + e.begin, want, e.nbytes()) == 0);
  }
  EXPECT_EQ(h.data_start + offset, h.file_size);

  // The fd variant reads the same and does not move the file position.
  const st::Header h2 = st::read_header(fd, h.file_size, path);
  EXPECT_EQ(h2.entries.size(), h.entries.size());
  EXPECT_EQ(::lseek(fd, 0, SEEK_CUR), 0);
  ::close(fd);

  // Overwriting an existing file replaces it.
  auto w2 = iota_bytes(4, 42);
  st::write_file(path, {{"only", "I32", {1}, w2.data(), w2.size()}}, {});
  const st::Header h3 = st::read_header_file(path);
  ASSERT_EQ(h3.entries.size(), 1u);
  EXPECT_EQ(h3.entries[0].name, "only");
  EXPECT_TRUE(h3.metadata.empty());
  EXPECT_EQ(count_temp_files(dir.path()), 0);
}

TEST(SafetensorsFormat, MatchesReferenceLayout) {
  // What the reference writer produces for {"a": float32 [2]} without metadata: compact JSON,
  // fields dtype/shape/data_offsets, space padding to a multiple of 8.
  TempDir dir;
  const std::string path = dir.file("ref.safetensors");
  const float a[2] = {1.0f, -2.5f};
  st::write_file(path, {{"a", "F32", {2}, a, sizeof a}}, {});
  std::string json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string want = le64(json.size()) + json + std::string(reinterpret_cast<const char*>(a), 8);
  EXPECT_EQ(read_bytes(path), want);

  // Metadata comes first, keys sorted.
  st::write_file(path, {{"a", "F32", {2}, a, sizeof a}}, {{"z", "1"}, {"b", "2"}});
  const std::string bytes = read_bytes(path);
  const std::string head = R"({"__metadata__":{"b":"2","z":"1"},"a":{"dtype")";
  EXPECT_EQ(bytes.substr(8, head.size()), head);
}

TEST(SafetensorsFormat, EmptyFileRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("empty.safetensors");
  st::write_file(path, {}, {});
  EXPECT_EQ(read_bytes(path), le64(8) + "{}      ");
  const st::Header h = st::read_header_file(path);
  EXPECT_TRUE(h.entries.empty());
  EXPECT_TRUE(h.metadata.empty());
  EXPECT_EQ(h.data_start, 16u);
  EXPECT_EQ(h.file_size, 16u);
}

TEST(SafetensorsFormat, AcceptsValidVariants) {
  TempDir dir;
  const std::string path = dir.file("ok.safetensors");
  // Keys out of offset order, zero-size tensors at shared offsets, a scalar, trailing whitespace,
  // null metadata: all valid for the reference implementation.
  const std::string header = R"({"z":{"dtype":"I8","shape":[3],"data_offsets":[12,15]},)"
                             R"("e1":{"dtype":"F32","shape":[0],"data_offsets":[12,12]},)"
                             R"("e0":{"dtype":"F32","shape":[4,0],"data_offsets":[0,0]},)"
                             R"("a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
                             R"("b":{"data_offsets":[8,12],"shape":[2],"dtype":"F16"},)"
                             R"("__metadata__":null} )"
                             "\n\t ";
  write_bytes(path, file_bytes(header, 15));
  const st::Header h = st::read_header_file(path);
  std::vector<std::string> names;
  for (const auto& e : h.entries) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"e0", "a", "b", "e1", "z"}));
  EXPECT_TRUE(h.metadata.empty());
  EXPECT_EQ(h.data_start, 8 + header.size());
  EXPECT_EQ(h.file_size, 8 + header.size() + 15);

  const st::Header hb = st::parse_header_bytes("{}", 0, "mem");
  EXPECT_EQ(hb.data_start, 10u);
  EXPECT_EQ(hb.file_size, 10u);
}

// Header text that is syntactically a file but semantically bad, with the parts the message
// must contain (besides the path).
struct BadHeader {
  const char* what;
  std::string header;
  uint64_t data_size;
  std::vector<std::string> parts;
};

std::string one(const std::string& fields) { return R"({"w":{)" + fields + "}}"; }

TEST(SafetensorsFormat, RejectsBadHeaders) {
  const std::vector<BadHeader> cases = {
      {"offsets out of bounds",
       one(R"("dtype":"F32","shape":[100],"data_offsets":[0,400])"),
       320,
       {"tensor 'w' field 'data_offsets'", "end 400 past data section size 320"}},
      {"overlapping offsets",
       R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
       R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
       24,
       {"tensor 'b' field 'data_offsets'", "overlaps tensor 'a' [0, 16)"}},
      {"identical offsets",
       R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
       R"("b":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})",
       4,
       {"tensor 'b' field 'data_offsets'", "overlaps tensor 'a'"}},
      {"gap between tensors",
       R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
       R"("b":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}})",
       40,
       {"tensor 'b' field 'data_offsets'", "gap of 8 bytes after tensor 'a'"}},
      {"gap at start",
       one(R"("dtype":"F32","shape":[4],"data_offsets":[8,24])"),
       24,
       {"tensor 'w' field 'data_offsets'", "gap of 8 bytes after the start"}},
      {"trailing bytes",
       one(R"("dtype":"F32","shape":[4],"data_offsets":[0,16])"),
       20,
       {"field 'data_offsets'", "4 trailing bytes"}},
      {"begin after end",
       one(R"("dtype":"F32","shape":[2],"data_offsets":[16,8])"),
       16,
       {"tensor 'w' field 'data_offsets'", "begin 16 greater than end 8"}},
      {"shape x dtype size != byte range",
       one(R"("dtype":"F32","shape":[2,3],"data_offsets":[0,16])"),
       16,
       {"tensor 'w' field 'data_offsets'", "16 bytes", "shape [2, 3] of F32", "needs 24"}},
      {"overflowing element count",
       one(R"("dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,0])"),
       0,
       {"tensor 'w' field 'shape'", "overflows"}},
      {"overflowing element count beside a zero dim",
       one(R"("dtype":"F32","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0])"),
       0,
       {"tensor 'w' field 'shape'", "overflows"}},
      {"overflowing byte count",
       one(R"("dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0])"),
       0,
       {"tensor 'w' field 'shape'", "overflows a 64-bit byte count"}},
      {"dim beyond int64",
       one(R"("dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,0])"),
       0,
       {"tensor 'w' field 'shape'", "does not fit int64"}},
      {"invalid JSON", R"({"w": {"dtype": )", 0, {"field 'header'", "not valid JSON"}},
      {"trailing garbage", R"({} x)", 0, {"field 'header'", "not valid JSON"}},
      {"invalid UTF-8", "{\"w\xff\":1}", 0, {"field 'header'", "not valid JSON"}},
      {"array JSON", "[1,2,3]", 0, {"field 'header'", "starting with '{'"}},
      {"string JSON", "\"{}\"", 0, {"field 'header'", "starting with '{'"}},
      {"leading whitespace", " {}", 0, {"field 'header'", "starting with '{'"}},
      {"unknown dtype F8_E4M3",
       one(R"("dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1])"),
       1,
       {"tensor 'w' field 'dtype'", "unsupported dtype 'F8_E4M3'", "supported: F32"}},
      {"unknown dtype U16",
       one(R"("dtype":"U16","shape":[1],"data_offsets":[0,2])"),
       2,
       {"tensor 'w' field 'dtype'", "'U16'"}},
      {"lower-case dtype",
       one(R"("dtype":"f32","shape":[1],"data_offsets":[0,4])"),
       4,
       {"tensor 'w' field 'dtype'", "'f32'"}},
      {"non-string dtype",
       one(R"("dtype":4,"shape":[1],"data_offsets":[0,4])"),
       4,
       {"tensor 'w' field 'dtype'", "must be a string"}},
      {"negative shape entry",
       one(R"("dtype":"F32","shape":[2,-3],"data_offsets":[0,0])"),
       0,
       {"tensor 'w' field 'shape'", "shape[1] is -3, negative"}},
      {"fractional shape entry",
       one(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,0])"),
       0,
       {"tensor 'w' field 'shape'", "shape[0] must be a non-negative integer"}},
      {"string shape entry",
       one(R"("dtype":"F32","shape":["3"],"data_offsets":[0,0])"),
       0,
       {"tensor 'w' field 'shape'", "shape[0]"}},
      {"shape not an array",
       one(R"("dtype":"F32","shape":3,"data_offsets":[0,12])"),
       12,
       {"tensor 'w' field 'shape'", "must be an array"}},
      {"missing dtype",
       one(R"("shape":[1],"data_offsets":[0,4])"),
       4,
       {"tensor 'w' field 'dtype'", "missing"}},
      {"missing shape",
       one(R"("dtype":"F32","data_offsets":[0,4])"),
       4,
       {"tensor 'w' field 'shape'", "missing"}},
      {"missing data_offsets",
       one(R"("dtype":"F32","shape":[1])"),
       4,
       {"tensor 'w' field 'data_offsets'", "missing"}},
      {"extra unknown field",
       one(R"("dtype":"F32","shape":[1],"data_offsets":[0,4],"foo":1)"),
       4,
       {"tensor 'w' field 'foo'", "unknown field"}},
      {"one offset",
       one(R"("dtype":"F32","shape":[1],"data_offsets":[0])"),
       4,
       {"tensor 'w' field 'data_offsets'", "two unsigned integers"}},
      {"three offsets",
       one(R"("dtype":"F32","shape":[1],"data_offsets":[0,4,8])"),
       4,
       {"tensor 'w' field 'data_offsets'", "two unsigned integers"}},
      {"negative offset",
       one(R"("dtype":"F32","shape":[1],"data_offsets":[-4,0])"),
       4,
       {"tensor 'w' field 'data_offsets'", "data_offsets[0] must be an unsigned integer"}},
      {"fractional offset",
       one(R"("dtype":"F32","shape":[1],"data_offsets":[0,4.0])"),
       4,
       {"tensor 'w' field 'data_offsets'", "data_offsets[1]"}},
      {"offset beyond uint64",
       one(R"("dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616])"),
       4,
       {"tensor 'w' field 'data_offsets'", "data_offsets[1]"}},
      {"entry not an object", R"({"w":[1,2]})", 0, {"tensor 'w'", "must be an object"}},
      {"duplicate tensor name",
       R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
       R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
       2,
       {"tensor 'w'", "duplicate tensor name"}},
      {"duplicate field",
       one(R"("dtype":"I8","dtype":"U8","shape":[1],"data_offsets":[0,1])"),
       1,
       {"tensor 'w' field 'dtype'", "more than once"}},
      {"metadata not an object",
       R"({"__metadata__":"x"})",
       0,
       {"field '__metadata__'", "object of string to string"}},
      {"metadata array", R"({"__metadata__":["a","b"]})", 0, {"field '__metadata__'"}},
      {"metadata non-string value",
       R"({"__metadata__":{"epoch":3}})",
       0,
       {"field '__metadata__'", "key 'epoch' must be a string"}},
      {"metadata nested object",
       R"({"__metadata__":{"dev":{"w":"cpu"}}})",
       0,
       {"field '__metadata__'", "key 'dev'"}},
      {"metadata duplicate key",
       R"({"__metadata__":{"k":"a","k":"b"}})",
       0,
       {"field '__metadata__'", "key 'k' appears more than once"}},
      {"metadata twice",
       R"({"__metadata__":{},"__metadata__":{}})",
       0,
       {"field '__metadata__'", "more than once"}},
  };
  TempDir dir;
  int i = 0;
  for (const BadHeader& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = dir.file("bad" + std::to_string(i++) + ".safetensors");
    write_bytes(path, file_bytes(c.header, c.data_size));
    expect_format_error([&] { st::read_header_file(path); }, path, c.parts);
    // The in-memory entry point agrees.
    expect_format_error([&] { st::parse_header_bytes(c.header, c.data_size, "mem:x"); }, "mem:x",
                        c.parts);
  }
}

TEST(SafetensorsFormat, RejectsBadFiles) {
  TempDir dir;
  struct Case {
    const char* what;
    std::string bytes;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"empty file", "", {"field 'header_length'", "file is 0 bytes"}},
      {"file shorter than 8 bytes",
       std::string("\x02\0\0\0\0", 5),
       {"field 'header_length'", "file is 5 bytes"}},
      {"header length past end of file",
       le64(1000) + "{}",
       {"field 'header_length'", "1000 bytes past end of file"}},
      {"header length one past end", le64(3) + "{}", {"field 'header_length'", "past end of file"}},
      {"header length huge",
       le64(uint64_t{1} << 63) + "{}",
       {"field 'header_length'", "exceeds the limit of 100000000"}},
      {"header length all ones", le64(~uint64_t{0}) + "{}", {"field 'header_length'", "exceeds"}},
      {"header length just over cap",
       le64(100'000'001) + "{}",
       {"field 'header_length'", "exceeds"}},
      {"header length zero", le64(0) + "{}", {"field 'header'", "header is empty"}},
  };
  int i = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = dir.file("badfile" + std::to_string(i++) + ".safetensors");
    write_bytes(path, c.bytes);
    expect_format_error([&] { st::read_header_file(path); }, path, c.parts);
  }
  expect_format_error([&] { st::read_header_file(dir.file("missing.safetensors")); },
                      dir.file("missing.safetensors"), {"cannot open"});
  expect_format_error([&] { st::read_header_file(dir.path().string()); }, dir.path().string(),
                      {"not a regular file"});
}

TEST(SafetensorsFormat, RejectsTruncatedFile) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  auto a = iota_bytes(64, 1);
  auto b = iota_bytes(256, 2);
  st::write_file(
      path, {{"a", "F32", {16}, a.data(), a.size()}, {"b", "F64", {4, 8}, b.data(), b.size()}}, {});
  ASSERT_EQ(st::read_header_file(path).entries.size(), 2u);
  const uint64_t size = fs::file_size(path);

  // Cut inside the last tensor: the header is intact, its offsets point past the end.
  fs::resize_file(path, size - 10);
  expect_format_error([&] { st::read_header_file(path); }, path,
                      {"tensor 'b' field 'data_offsets'", "end 320 past data section size 310"});
  // Cut inside the header.
  fs::resize_file(path, 20);
  expect_format_error([&] { st::read_header_file(path); }, path,
                      {"field 'header_length'", "past end of file"});

  // A file that shrinks after its header was read: read_entry_data notices.
  st::write_file(
      path, {{"a", "F32", {16}, a.data(), a.size()}, {"b", "F64", {4, 8}, b.data(), b.size()}}, {});
  const st::Header h2 = st::read_header_file(path);
  fs::resize_file(path, size - 10);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> buf(256);
  expect_format_error([&] { st::read_entry_data(fd, h2, h2.entries[1], buf.data(), path); }, path,
                      {"tensor 'b' field 'data_offsets'", "file ended after 246 of 256 bytes"});
  ::close(fd);
}

TEST(SafetensorsFormat, WriterRejectsBadEntries) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  const std::string before = "previous contents";
  write_bytes(path, before);
  const uint8_t bytes[16] = {};
  struct Case {
    const char* what;
    std::vector<st::WriteEntry> entries;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"nbytes mismatch",
       {{"w", "F32", {2, 3}, bytes, 16}},
       {"tensor 'w' field 'nbytes'", "needs 24"}},
      {"unknown dtype", {{"w", "F8_E4M3", {1}, bytes, 1}}, {"tensor 'w' field 'dtype'", "F8_E4M3"}},
      {"negative dim", {{"w", "F32", {-1}, bytes, 0}}, {"tensor 'w' field 'shape'", "negative"}},
      {"overflowing shape",
       {{"w", "F32", {int64_t{1} << 40, int64_t{1} << 40}, bytes, 0}},
       {"tensor 'w' field 'shape'", "overflows"}},
      {"duplicate name",
       {{"w", "U8", {1}, bytes, 1}, {"w", "U8", {1}, bytes, 1}},
       {"tensor 'w'", "duplicate tensor name"}},
      {"reserved name",
       {{"__metadata__", "U8", {1}, bytes, 1}},
       {"tensor '__metadata__'", "reserved"}},
      {"null data", {{"w", "U8", {4}, nullptr, 4}}, {"tensor 'w' field 'data'", "null"}},
      {"invalid UTF-8 name", {{"w\xff", "U8", {1}, bytes, 1}}, {"field 'header'", "UTF-8"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    expect_format_error([&] { st::write_file(path, c.entries, {}); }, path, c.parts);
    EXPECT_EQ(read_bytes(path), before);
    EXPECT_EQ(count_temp_files(dir.path()), 0);
  }
}

TEST(SafetensorsFormat, WriteIntoMissingDirectoryLeavesNothing) {
  TempDir dir;
  const fs::path missing = dir.path() / "no" / "such";
  const std::string path = (missing / "x.safetensors").string();
  const uint8_t bytes[4] = {1, 2, 3, 4};
  expect_format_error(
      [&] {
        st::write_file(path, {{"w", "U8", {4}, bytes, 4}}, {});
      },
      path, {"cannot create temporary file", "No such file or directory"});
  EXPECT_FALSE(fs::exists(dir.path() / "no"));
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(SafetensorsFormat, FailedWriteKeepsPreviousFile) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  auto small = iota_bytes(16, 1);
  st::write_file(path, {{"w", "F32", {4}, small.data(), small.size()}}, {{"epoch", "1"}});
  const std::string before = read_bytes(path);

  // A write that fails halfway: the process may not grow files past 4 KiB, and the new file is
  // 64 KiB, so write() fails with EFBIG (SIGXFSZ ignored) after the temporary file exists.
  std::vector<uint8_t> big(64 * 1024, 7);
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit low = old_limit;
  low.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &low), 0);
  bool threw = false;
  std::string msg;
  try {
    st::write_file(path, {{"w", "U8", {static_cast<int64_t>(big.size())}, big.data(), big.size()}},
                   {{"epoch", "2"}});
  } catch (const hearth::FormatError& e) {
    threw = true;
    msg = e.what();
  }
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_EQ(::sigaction(SIGXFSZ, &old_action, nullptr), 0);
  EXPECT_TRUE(threw);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("write to temporary file failed"), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(count_temp_files(dir.path()), 0);
  EXPECT_EQ(st::read_header_file(path).metadata.at("epoch"), "1");

  // A rename that fails (the target is a non-empty directory): the temporary file is removed.
  const fs::path blocker = dir.path() / "blocker.safetensors";
  fs::create_directories(blocker / "inside");
  expect_format_error(
      [&] {
        st::write_file(blocker.string(), {{"w", "F32", {4}, small.data(), small.size()}}, {});
      },
      blocker.string(), {"cannot rename temporary file"});
  EXPECT_TRUE(fs::is_directory(blocker / "inside"));
  EXPECT_EQ(count_temp_files(dir.path()), 0);
  EXPECT_EQ(read_bytes(path), before);
}

TEST(SafetensorsFormat, WriteRelativePath) {
  // A bare file name writes into the current directory (the directory fsync uses ".").
  TempDir dir;
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir.path());
  const uint8_t bytes[2] = {9, 8};
  st::write_file("rel.safetensors", {{"x", "I16", {1}, bytes, 2}}, {});
  const st::Header h = st::read_header_file("rel.safetensors");
  fs::current_path(old_cwd);
  ASSERT_EQ(h.entries.size(), 1u);
  EXPECT_EQ(h.entries[0].dtype, "I16");
  EXPECT_TRUE(fs::exists(dir.path() / "rel.safetensors"));
}

}  // namespace
