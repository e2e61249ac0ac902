// safetensors header validation and atomic writing (see safetensors_format.h for the decisions).
#include "serialize/safetensors_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "hearth/error.h"

namespace hearth::safetensors {
namespace {

using json = nlohmann::json;

struct DtypeInfo {
  std::string_view name;
  size_t size;
};
constexpr DtypeInfo kDtypes[] = {{"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                 {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};

std::string supported_dtypes() {
  std::string s;
  for (const auto& d : kDtypes) {
    if (!s.empty()) s += ", ";
    s += d.name;
  }
  return s;
}

const DtypeInfo* find_dtype(std::string_view name) {
  for (const auto& d : kDtypes)
    if (d.name == name) return &d;
  return nullptr;
}

// Names and dtype strings come from the file: escape control bytes and cap the length so a hostile
// header cannot fill a terminal or log.
std::string printable(std::string_view s, size_t max_len = 200) {
  std::string out;
  size_t n = s.size();
  bool cut = false;
  if (n > max_len) {
    n = max_len;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // keep UTF-8 whole
    cut = true;
  }
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (cut) out += "...";
  return out;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw FormatError("safetensors file '" + path + "': " + what);
}

// Callers pass errno saved right after the failing call, before building the message.
[[noreturn]] void fail_errno(const std::string& path, const std::string& what, int err) {
  fail(path, what + ": " + std::strerror(err));
}

std::string tensor_field(std::string_view name, std::string_view field) {
  return "tensor '" + printable(name) + "' field '" + std::string(field) + "': ";
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Short description of an untrusted JSON value: numbers verbatim, anything else by type only.
std::string describe(const json& v) {
  if (v.is_number()) return v.dump();
  return std::string("a JSON ") + v.type_name();
}

// Bytes of a tensor of `shape` (all dims >= 0) and `elem_size`-byte elements, overflow-checked.
// The product of the non-zero dims must fit in int64 so that strides computed later cannot
// overflow, even for an empty tensor.
uint64_t checked_nbytes(const std::vector<int64_t>& shape, const DtypeInfo& dt,
                        std::string_view name, const std::string& path) {
  uint64_t nonzero_product = 1;
  bool has_zero = false;
  for (int64_t d : shape) {
    if (d == 0) {
      has_zero = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero_product, static_cast<uint64_t>(d), &nonzero_product) ||
        nonzero_product > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(path, tensor_field(name, "shape") + "element count of " + shape_str(shape) +
                     " overflows int64");
  }
  const uint64_t numel = has_zero ? 0 : nonzero_product;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dt.size), &bytes))
    fail(path, tensor_field(name, "shape") + shape_str(shape) + " of " + std::string(dt.name) +
                   " (" + std::to_string(dt.size) + " bytes each) overflows a 64-bit byte count");
  return bytes;
}

// The header is parsed as a stream (nlohmann's SAX interface), one top-level member at a time:
// each tensor entry (or the metadata map) is built as a small JSON value, validated, and dropped.
// A DOM parse of the whole header was quadratic in the number of entries (nlohmann's callback
// parser rescans the parent object at every object end: 25k zero-size tensors took 42 s) and let
// a hostile header nest 50M arrays deep. Here time is linear in the header, nesting stops at what
// the format has (object > entry > field value), and a field value holds at most kMaxRank values,
// so memory per entry is bounded by the format, not by what the file claims (issue 16).
class HeaderSax final : public nlohmann::json_sax<json> {
 public:
  using Member = std::function<void(const std::string& key, json& value)>;
  HeaderSax(const std::string& path, Member on_member) : path_(path), on_member_(std::move(on_member)) {}

  bool null() override { return put(json(nullptr)); }
  bool boolean(bool v) override { return put(json(v)); }
  bool number_integer(number_integer_t v) override { return put(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return put(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return put(json(v)); }
  bool string(string_t& v) override { return put(json(std::move(v))); }
  bool binary(binary_t&) override { return put(json(nullptr)); }  // JSON text has no binary values

  bool start_object(std::size_t) override {
    if (depth_ == 0) {  // the header object itself
      depth_ = 1;
      return true;
    }
    open(json::object());
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) {
      if (!top_keys_.insert(k).second) {
        if (k == kMetadataKey) fail(path_, "field '__metadata__': appears more than once");
        fail(path_, "tensor '" + printable(k) + "': duplicate tensor name in the header");
      }
      top_key_ = std::move(k);
      return true;
    }
    Frame& f = frames_.back();
    if (depth_ == 2 && !f.keys.insert(k).second) {  // entry fields and metadata keys
      if (top_key_ == kMetadataKey)
        fail(path_, "field '__metadata__': key '" + printable(k) + "' appears more than once");
      fail(path_, tensor_field(top_key_, k) + "appears more than once");
    }
    if (depth_ == 3 && f.value->size() >= kMaxRank) too_many();
    f.key = std::move(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override {
    if (depth_ == 0) fail(path_, "field 'header': must be a JSON object, got a JSON array");
    open(json::array());
    return true;
  }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    fail(path_, "field 'header': not valid JSON: " + printable(ex.what(), 300));
  }

 private:
  struct Frame {
    json* value;
    std::string key;             // the pending key of an object
    std::set<std::string> keys;  // seen keys (duplicates matter at depth 2 only)
  };

  // depth_: 1 inside the header object, 2 inside a member's value, 3 inside a field's value.
  // The member being parsed, and the field within it, for messages.
  std::string where() const {
    if (top_key_ == kMetadataKey) return "field '__metadata__': ";
    // Inside an entry object: the field; an entry that is itself an array has none.
    if (frames_.empty() || !frames_.front().value->is_object() || frames_.front().key.empty())
      return "tensor '" + printable(top_key_) + "': ";
    return tensor_field(top_key_, frames_.front().key);
  }
  void open(json v) {
    if (depth_ >= 3) fail(path_, where() + "nested deeper than a safetensors header allows");
    json* slot = place(std::move(v));
    frames_.push_back({slot, {}, {}});
    ++depth_;
  }
  bool close() {
    if (depth_ == 1) {  // end of the header object
      depth_ = 0;
      return true;
    }
    frames_.pop_back();
    if (--depth_ == 1) emit();
    return true;
  }
  bool put(json v) {
    if (depth_ == 0) fail(path_, "field 'header': must be a JSON object, got " + describe(v));
    place(std::move(v));
    if (depth_ == 1) emit();
    return true;
  }
  // Stores v where the parse is, returning its address (stable: containers only grow at the top).
  json* place(json v) {
    if (depth_ == 1) {
      member_ = std::move(v);
      return &member_;
    }
    Frame& f = frames_.back();
    if (f.value->is_array()) {
      // Field values (shape, data_offsets) and stray arrays: never more values than a shape's rank.
      if (f.value->size() >= kMaxRank) too_many();
      f.value->push_back(std::move(v));
      return &f.value->back();
    }
    json& slot = (*f.value)[f.key];
    slot = std::move(v);
    return &slot;
  }
  [[noreturn]] void too_many() {
    fail(path_, where() + "has more than " + std::to_string(kMaxRank) + " values (a tensor's rank is limited to " +
                    std::to_string(kMaxRank) + ")");
  }
  void emit() {
    on_member_(top_key_, member_);
    member_ = json();
  }

  const std::string& path_;
  Member on_member_;
  int depth_ = 0;
  std::set<std::string> top_keys_;
  std::string top_key_;
  json member_;
  std::vector<Frame> frames_;
};

void parse_metadata(const json& v, std::map<std::string, std::string>& out,
                    const std::string& path) {
  const std::string field = "field '" + std::string(kMetadataKey) + "': ";
  if (v.is_null()) return;  // the reference reads null as "no metadata"
  if (!v.is_object())
    fail(path, field + "must be an object of string to string, got " + describe(v));
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_string())
      fail(path, field + "value of key '" + printable(it.key()) + "' must be a string, got " +
                     describe(it.value()));
    out.emplace(it.key(), it.value().get<std::string>());
  }
}

Entry parse_entry(const std::string& name, const json& v, uint64_t data_size,
                  const std::string& path) {
  if (!v.is_object())
    fail(path, "tensor '" + printable(name) + "': entry must be an object with dtype, shape and " +
                   "data_offsets, got " + describe(v));
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      fail(path, tensor_field(name, k) +
                     "unknown field (an entry has exactly dtype, shape, data_offsets)");
  }
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!v.contains(k)) fail(path, tensor_field(name, k) + "missing");

  Entry e;
  e.name = name;

  const json& dt = v["dtype"];
  if (!dt.is_string())
    fail(path, tensor_field(name, "dtype") + "must be a string, got " + describe(dt));
  const DtypeInfo* info = find_dtype(dt.get_ref<const std::string&>());
  if (!info)
    fail(path, tensor_field(name, "dtype") + "unsupported dtype '" +
                   printable(dt.get_ref<const std::string&>()) +
                   "' (supported: " + supported_dtypes() + ")");
  e.dtype = std::string(info->name);

  const json& sh = v["shape"];
  if (!sh.is_array())
    fail(path, tensor_field(name, "shape") + "must be an array of non-negative integers, got " +
                   describe(sh));
  e.shape.reserve(sh.size());  // bounded by the header, which is already in memory
  for (size_t i = 0; i < sh.size(); ++i) {
    const json& d = sh[i];
    const std::string at = "shape[" + std::to_string(i) + "] ";
    if (d.is_number_unsigned()) {
      const uint64_t u = d.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(path, tensor_field(name, "shape") + at + std::to_string(u) + " does not fit int64");
      e.shape.push_back(static_cast<int64_t>(u));
    } else if (d.is_number_integer()) {
      fail(path, tensor_field(name, "shape") + at + "is " + d.dump() + ", negative");
    } else {
      fail(path,
           tensor_field(name, "shape") + at + "must be a non-negative integer, got " + describe(d));
    }
  }

  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2)
    fail(path, tensor_field(name, "data_offsets") +
                   "must be an array of two unsigned integers [begin, end], got " +
                   (off.is_array() ? "an array of " + std::to_string(off.size()) : describe(off)));
  for (size_t i = 0; i < 2; ++i)
    if (!off[i].is_number_unsigned())
      fail(path, tensor_field(name, "data_offsets") + "data_offsets[" + std::to_string(i) +
                     "] must be an unsigned integer, got " + describe(off[i]));
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.begin > e.end)
    fail(path, tensor_field(name, "data_offsets") + "begin " + std::to_string(e.begin) +
                   " greater than end " + std::to_string(e.end));

  const uint64_t want = checked_nbytes(e.shape, *info, name, path);
  if (e.end - e.begin != want)
    fail(path, tensor_field(name, "data_offsets") + "byte range [" + std::to_string(e.begin) +
                   ", " + std::to_string(e.end) + ") is " + std::to_string(e.end - e.begin) +
                   " bytes but shape " + shape_str(e.shape) + " of " + e.dtype + " (" +
                   std::to_string(info->size) + " bytes each) needs " + std::to_string(want));
  if (e.end > data_size)
    fail(path, tensor_field(name, "data_offsets") + "end " + std::to_string(e.end) +
                   " past data section size " + std::to_string(data_size) +
                   " (the file is truncated or the offsets are wrong)");
  return e;
}

// pread until n bytes or end of file; returns the bytes read. Retries EINTR and short reads.
uint64_t pread_full(int fd, void* dst, uint64_t n, uint64_t offset, const std::string& path) {
  auto* p = static_cast<char*>(dst);
  uint64_t got = 0;
  while (got < n) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n - got, 1u << 30));
    const ssize_t r = ::pread(fd, p + got, chunk, static_cast<off_t>(offset + got));
    if (r < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      fail_errno(
          path,
          "read of " + std::to_string(n) + " bytes at offset " + std::to_string(offset) + " failed",
          err);
    }
    if (r == 0) break;
    got += static_cast<uint64_t>(r);
  }
  return got;
}

void write_all(int fd, const void* src, uint64_t n, const std::string& path) {
  const auto* p = static_cast<const char*>(src);
  uint64_t done = 0;
  while (done < n) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n - done, 1u << 30));
    const ssize_t w = ::write(fd, p + done, chunk);
    if (w < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      fail_errno(path, "write to temporary file failed", err);
    }
    if (w == 0) fail(path, "write to temporary file made no progress");
    done += static_cast<uint64_t>(w);
  }
}

struct FdCloser {
  int fd = -1;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Until committed, closing and unlinking the temporary file is the cleanup of every failure path.
struct TempFileGuard {
  int fd = -1;
  std::string tmp;
  bool committed = false;
  ~TempFileGuard() {
    if (fd >= 0) ::close(fd);
    if (!committed && !tmp.empty()) ::unlink(tmp.c_str());
  }
};

}  // namespace

size_t dtype_size(const std::string& st_dtype) {
  if (const DtypeInfo* d = find_dtype(st_dtype)) return d->size;
  throw FormatError("unsupported safetensors dtype '" + printable(st_dtype) +
                    "' (supported: " + supported_dtypes() + ")");
}

bool is_known_dtype(std::string_view st_dtype) { return find_dtype(st_dtype) != nullptr; }

Header parse_header_bytes(std::string_view text, uint64_t data_size, const std::string& path) {
  // The reference requires '{' as the very first byte (no leading whitespace).
  if (text.empty() || text.front() != '{')
    fail(path, "field 'header': must be a JSON object starting with '{'" +
                   std::string(text.empty() ? " (header is empty)" : ""));
  if (text.size() > kMaxHeaderSize)
    fail(path, "field 'header_length': " + std::to_string(text.size()) +
                   " bytes exceeds the limit of " + std::to_string(kMaxHeaderSize));

  Header h;
  h.data_start = 8 + text.size();
  if (__builtin_add_overflow(h.data_start, data_size, &h.file_size))
    fail(path, "field 'header_length': data section size " + std::to_string(data_size) +
                   " overflows the file size");
  HeaderSax sax(path, [&](const std::string& key, json& value) {
    if (key == kMetadataKey)
      parse_metadata(value, h.metadata, path);
    else
      h.entries.push_back(parse_entry(key, value, data_size, path));
  });
  json::sax_parse(text.data(), text.data() + text.size(), &sax, json::input_format_t::json,
                  /*strict=*/true, /*ignore_comments=*/false);

  // Tile check: sorted by offset, each tensor starts exactly where the previous one ended.
  std::sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : h.entries) {
    const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
    if (e.begin < cursor)
      fail(path, tensor_field(e.name, "data_offsets") + range + " overlaps tensor '" +
                     printable(prev->name) + "' [" + std::to_string(prev->begin) + ", " +
                     std::to_string(prev->end) + ")");
    if (e.begin > cursor)
      fail(path, tensor_field(e.name, "data_offsets") + range + " leaves a gap of " +
                     std::to_string(e.begin - cursor) + " bytes after " +
                     (prev ? "tensor '" + printable(prev->name) + "' (ends at " +
                                 std::to_string(cursor) + ")"
                           : std::string("the start of the data section")) +
                     "; safetensors requires tensors to cover the data section contiguously");
    cursor = e.end;
    prev = &e;
  }
  if (cursor != data_size)
    fail(path, "field 'data_offsets': tensors end at byte " + std::to_string(cursor) +
                   " of the data section but it has " + std::to_string(data_size) + " bytes (" +
                   std::to_string(data_size - cursor) +
                   " trailing bytes); safetensors requires tensors to cover it exactly");
  return h;
}

Header read_header(int fd, uint64_t file_size, const std::string& path) {
  if (file_size < 8)
    fail(path, "field 'header_length': file is " + std::to_string(file_size) +
                   " bytes, too short for the 8-byte header length");
  unsigned char prefix[8];
  if (pread_full(fd, prefix, 8, 0, path) != 8)
    fail(path, "field 'header_length': file ended before its 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[i];  // little-endian on every host
  // Both limits are checked before the header buffer is allocated.
  if (n > kMaxHeaderSize)
    fail(path, "field 'header_length': " + std::to_string(n) + " bytes exceeds the limit of " +
                   std::to_string(kMaxHeaderSize));
  if (n > file_size - 8)
    fail(path, "field 'header_length': " + std::to_string(n) + " bytes past end of file (file is " +
                   std::to_string(file_size) + " bytes, " + std::to_string(file_size - 8) +
                   " after the length)");
  std::string text(static_cast<size_t>(n), '\0');
  if (pread_full(fd, text.data(), n, 8, path) != n)
    fail(path, "field 'header': file ended inside the " + std::to_string(n) +
                   "-byte header (it is shorter than its reported size)");
  return parse_header_bytes(text, file_size - 8 - n, path);
}

Header read_header_file(const std::string& path) {
  FdCloser f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) {
    const int err = errno;
    fail_errno(path, "cannot open", err);
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    const int err = errno;
    fail_errno(path, "cannot stat", err);
  }
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  return read_header(f.fd, static_cast<uint64_t>(st.st_size), path);
}

void read_entry_data(int fd, const Header& header, const Entry& entry, void* dst,
                     const std::string& path) {
  if (entry.begin > entry.end || header.data_start > header.file_size ||
      entry.end > header.file_size - header.data_start)
    fail(path, tensor_field(entry.name, "data_offsets") + "[" + std::to_string(entry.begin) + ", " +
                   std::to_string(entry.end) + ") is not inside the data section");
  const uint64_t n = entry.end - entry.begin;
  const uint64_t got = pread_full(fd, dst, n, header.data_start + entry.begin, path);
  if (got != n)
    fail(path, tensor_field(entry.name, "data_offsets") + "file ended after " +
                   std::to_string(got) + " of " + std::to_string(n) +
                   " bytes (it changed after its header was read)");
}

std::string build_header(const std::vector<WriteEntry>& entries,
                         const std::map<std::string, std::string>& metadata,
                         const std::string& path) {
  // ordered_json keeps insertion order: metadata first, then tensors in entry (= data) order.
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    doc[std::string(kMetadataKey)] = std::move(m);
  }
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const WriteEntry& e : entries) {
    if (e.name == kMetadataKey)
      fail(path, "tensor '__metadata__': the name is reserved for the metadata map");
    if (!names.insert(e.name).second)
      fail(path, "tensor '" + printable(e.name) + "': duplicate tensor name");
    const DtypeInfo* info = find_dtype(e.dtype);
    if (!info)
      fail(path, tensor_field(e.name, "dtype") + "unsupported dtype '" + printable(e.dtype) +
                     "' (supported: " + supported_dtypes() + ")");
    for (size_t i = 0; i < e.shape.size(); ++i)
      if (e.shape[i] < 0)
        fail(path, tensor_field(e.name, "shape") + "shape[" + std::to_string(i) + "] is " +
                       std::to_string(e.shape[i]) + ", negative");
    const uint64_t want = checked_nbytes(e.shape, *info, e.name, path);
    if (want != e.nbytes)
      fail(path, tensor_field(e.name, "nbytes") + std::to_string(e.nbytes) +
                     " bytes given but shape " + shape_str(e.shape) + " of " + e.dtype + " needs " +
                     std::to_string(want));
    if (e.nbytes > 0 && e.data == nullptr)
      fail(path, tensor_field(e.name, "data") + "null pointer for " + std::to_string(e.nbytes) +
                     " bytes");
    uint64_t end = 0;
    if (__builtin_add_overflow(offset, e.nbytes, &end))
      fail(path, tensor_field(e.name, "data_offsets") + "total data size overflows 64 bits");
    nlohmann::ordered_json obj = nlohmann::ordered_json::object();
    obj["dtype"] = e.dtype;
    obj["shape"] = e.shape;
    obj["data_offsets"] = nlohmann::ordered_json::array({offset, end});
    doc[e.name] = std::move(obj);
    offset = end;
  }
  std::string text;
  try {
    text = doc.dump();
  } catch (const nlohmann::json::exception& ex) {
    fail(path,
         "field 'header': cannot encode as JSON (tensor names and metadata must be valid "
         "UTF-8): " +
             printable(ex.what(), 300));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > kMaxHeaderSize)
    fail(path, "field 'header_length': header of " + std::to_string(text.size()) +
                   " bytes exceeds the limit of " + std::to_string(kMaxHeaderSize) +
                   " that readers accept");
  return text;
}

void write_file(const std::string& path, const std::vector<WriteEntry>& entries,
                const std::map<std::string, std::string>& metadata) {
  namespace fs = std::filesystem;
  const std::string header = build_header(entries, metadata, path);  // validates before any I/O

  const fs::path target(path);
  const std::string fname = target.filename().string();
  if (fname.empty() || fname == "." || fname == "..") fail(path, "path does not name a file");
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";

  // Unique in the process (counter) and across processes (pid); O_EXCL guards against a stale
  // file left by a crashed process whose pid was reused. The name is cut to stay under NAME_MAX.
  static std::atomic<uint64_t> counter{0};
  TempFileGuard tmp;
  for (int attempt = 0;; ++attempt) {
    const std::string candidate =
        (dir / ("." + fname.substr(0, 200) + ".tmp." + std::to_string(::getpid()) + "." +
                std::to_string(counter.fetch_add(1))))
            .string();
    tmp.fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (tmp.fd >= 0) {
      tmp.tmp = candidate;
      break;
    }
    const int err = errno;
    if (err != EEXIST || attempt >= 100)
      fail_errno(path, "cannot create temporary file '" + candidate + "'", err);
  }

  unsigned char prefix[8];
  uint64_t n = header.size();
  for (unsigned char& b : prefix) {  // little-endian on every host
    b = static_cast<unsigned char>(n & 0xFF);
    n >>= 8;
  }
  write_all(tmp.fd, prefix, 8, path);
  write_all(tmp.fd, header.data(), header.size(), path);
  for (const WriteEntry& e : entries) write_all(tmp.fd, e.data, e.nbytes, path);

  if (::fsync(tmp.fd) != 0) {
    const int err = errno;
    fail_errno(path, "fsync of temporary file '" + tmp.tmp + "'", err);
  }
  const int rc = ::close(tmp.fd);
  const int close_err = errno;
  tmp.fd = -1;
  if (rc != 0) fail_errno(path, "close of temporary file '" + tmp.tmp + "'", close_err);
  if (::rename(tmp.tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    fail_errno(path, "cannot rename temporary file '" + tmp.tmp + "' over it", err);
  }
  tmp.committed = true;

  // Make the rename itself durable. EINVAL: the file system cannot sync directories.
  FdCloser d;
  d.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd < 0) {
    const int err = errno;
    fail_errno(path, "cannot open directory '" + dir.string() + "' to fsync it", err);
  }
  if (::fsync(d.fd) != 0) {
    const int err = errno;
    if (err != EINVAL) fail_errno(path, "fsync of directory '" + dir.string() + "'", err);
  }
}

}  // namespace hearth::safetensors
