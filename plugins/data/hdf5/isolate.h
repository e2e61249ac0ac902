// Reading untrusted HDF5 in a child process: libhdf5 (Debian's 1.10) crashes, hangs and overreads
// on hostile files in ways no check from outside prevents, so hearth-hdf5 runs it where a crash or
// a hang becomes an error naming the file (issue 16; docs/formats.md "HDF5 from strangers").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace hearth_hdf5 {

/// True inside the child run_isolated forks. H5Lock does not lock there: the parent holds the
/// mutex across the fork, and the child is single-threaded.
bool in_isolated_child();

/// Whether files are read in a child (HEARTH_HDF5_ISOLATE=0 reads them in-process: trusted files,
/// debugging, or a platform without fork).
bool isolation_enabled();

/// What the child hands back: a manifest (bytes the caller defines) and a data block.
struct ChildIO {
  virtual ~ChildIO() = default;
  /// Sets the manifest (small: names, shapes, metadata).
  virtual void manifest(const std::string& bytes) = 0;
  /// A zeroed block of `n` bytes shared with the parent, for tensor data; call at most once.
  virtual void* data(uint64_t n) = 0;
};

struct IsolatedResult {
  std::string manifest;
  std::shared_ptr<const unsigned char> data;  ///< the child's data block, mapped read-only
  uint64_t data_size = 0;
};

/// Runs fn in a forked child on `file` (the caller holds the H5Lock, so no other thread is inside
/// libhdf5 when it forks). fn's hearth::Error becomes the same error here. The child's memory is
/// capped at the parent's address space plus `budget_bytes` plus 1 GiB (an allocation libhdf5 makes
/// from a hostile size fails there, not here); a child that dies by a signal, runs out of memory or
/// runs past the timeout (HEARTH_HDF5_TIMEOUT seconds, default 60 + 1 s per 20 MB of file) is a
/// FormatError naming the file.
IsolatedResult run_isolated(const std::string& file, uint64_t file_size, uint64_t budget_bytes,
                            const std::function<void(ChildIO&)>& fn);

/// Manifest helpers: length-prefixed fields, read back with bounds checks.
class ManifestWriter {
 public:
  void u64(uint64_t v);
  void str(const std::string& s);
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};
class ManifestReader {
 public:
  explicit ManifestReader(const std::string& in) : in_(in) {}
  uint64_t u64();
  std::string str();

 private:
  const std::string& in_;
  size_t at_ = 0;
};

}  // namespace hearth_hdf5
