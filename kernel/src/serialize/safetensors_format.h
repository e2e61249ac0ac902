// The safetensors file format on its own (no Tensor): validating header reader, atomic writer.
// Everything sized by the file is validated before anything of that size is allocated.
//
// File layout (https://github.com/huggingface/safetensors): 8-byte little-endian header length N,
// N bytes of UTF-8 JSON (padded with spaces), then the data section. Every reader failure throws
// hearth::FormatError naming the file and the field, e.g.
//   safetensors file '/x/y.st': tensor 'w' field 'data_offsets': end 400 past data section size 320
//
// Decisions a reader may question:
// - Like the reference implementation, the tensors must tile the data section exactly: sorted by
//   offset, each starts where the previous ended, the first at 0, the last at the end of the file.
//   Gaps and trailing bytes are rejected (a file with them is not one the reference would read).
// - Duplicate JSON keys (nlohmann would silently keep the last) are detected during parsing and
//   rejected: duplicate tensor names, duplicate fields inside an entry, duplicate metadata keys.
// - A tensor entry must have exactly "dtype", "shape", "data_offsets"; unknown fields are rejected.
// - "__metadata__": null is read as empty metadata (the reference accepts it); anything else that
//   is not a string->string object is rejected.
// - The element count is the product of the dims; the product of the non-zero dims must fit in
//   int64 even when another dim is 0, so downstream stride arithmetic can never overflow.
// - Tensor bytes are stored as-is (little-endian per the format); this layer never interprets them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::safetensors {

/// Largest accepted JSON header, in bytes (the reference implementation's limit).
inline constexpr uint64_t kMaxHeaderSize = 100'000'000;

/// Most values in one field of an entry, i.e. the largest rank a tensor may have (PyTorch's
/// TensorIterator stops at 25 dims; 64 leaves room). Bounds the memory a header entry can take.
inline constexpr size_t kMaxRank = 64;

/// Key of the string->string metadata map inside the JSON header.
inline constexpr std::string_view kMetadataKey = "__metadata__";

/// One tensor as described by the header.
struct Entry {
  std::string name;
  /// safetensors dtype string: "F32","F64","F16","BF16","I64","I32","I16","I8","U8","BOOL".
  std::string dtype;
  std::vector<int64_t> shape;
  /// Byte range [begin, end) relative to the start of the data section.
  uint64_t begin = 0;
  uint64_t end = 0;

  uint64_t nbytes() const { return end - begin; }
};

/// A validated header.
struct Header {
  /// Sorted by data offset (the order of the bytes in the file), not by JSON key order.
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  /// Absolute file offset of the data section: 8 + header length.
  uint64_t data_start = 0;
  /// Total file size; the data section is [data_start, file_size).
  uint64_t file_size = 0;
};

/// Bytes per element of a safetensors dtype string; throws FormatError for unknown ones
/// (the message lists the supported dtypes).
size_t dtype_size(const std::string& st_dtype);

/// True for the dtype strings hearth supports (the ten listed at Entry::dtype).
bool is_known_dtype(std::string_view st_dtype);

/// Validates a JSON header already in memory. `data_size` is the length of the data section that
/// follows it in the file; `path` is used only in messages. The result's data_start is
/// 8 + json.size() and file_size is data_start + data_size.
Header parse_header_bytes(std::string_view json, uint64_t data_size, const std::string& path);

/// Reads and validates the header of an open file of `file_size` bytes with pread (the fd's file
/// position is untouched, so concurrent readers may share it). Reads only the 8-byte prefix and
/// the header, never the data section.
Header read_header(int fd, uint64_t file_size, const std::string& path);

/// Opens `path`, reads and validates its header, closes it.
Header read_header_file(const std::string& path);

/// Reads the bytes of `entry` (entry.nbytes() of them) into `dst` with pread. Throws FormatError
/// if the file is shorter than the header promised (it changed since the header was read).
void read_entry_data(int fd, const Header& header, const Entry& entry, void* dst,
                     const std::string& path);

/// One tensor to write. `data` points at nbytes bytes in safetensors (little-endian, row-major
/// contiguous) layout; it may be null only when nbytes is 0.
struct WriteEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t nbytes = 0;
};

/// Builds the padded JSON header for `entries` (data laid out contiguously in entry order) as
/// write_file writes it. Tensor keys appear in the given entry order after "__metadata__" (omitted
/// when empty), each as {"dtype","shape","data_offsets"}, the field order of the reference writer;
/// metadata keys are sorted (std::map). Padded with spaces to a multiple of 8 bytes, so the data
/// section starts 8-byte aligned. Validates the entries like write_file.
std::string build_header(const std::vector<WriteEntry>& entries,
                         const std::map<std::string, std::string>& metadata,
                         const std::string& path);

/// Writes a safetensors file atomically: the bytes go to a unique temporary file in the same
/// directory (".<name>.tmp.<pid>.<counter>"), which is fsynced, renamed over `path`, and then the
/// directory is fsynced. On any failure the temporary file is removed, a previous file at `path`
/// is left untouched, and FormatError is thrown naming the path and the cause (bad entry or
/// failing system call with its errno text). Entries are validated (known dtype, non-negative
/// shape, shape x dtype size == nbytes, unique names, none named "__metadata__") before any I/O.
void write_file(const std::string& path, const std::vector<WriteEntry>& entries,
                const std::map<std::string, std::string>& metadata);

}  // namespace hearth::safetensors
