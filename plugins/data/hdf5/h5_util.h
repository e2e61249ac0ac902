// Shared pieces of the hearth-hdf5 plugin: the one mutex every HDF5 call holds (Debian's serial
// build is not thread-safe), RAII ids and HDF5's error stack as text.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "isolate.h"

namespace hearth_hdf5 {

// Debian's libhdf5 is the serial build, which is not thread-safe: every HDF5 call in this plugin
// holds this mutex. Worker threads still decode, transform and collate in parallel; only the
// reads themselves take turns. (Code outside hearth that calls HDF5 from other threads at the same
// time is not covered by it.)
inline std::mutex& h5_mutex() {
  static std::mutex m;
  return m;
}

/// Holds the HDF5 mutex, with HDF5's automatic error printing off (it would print a stack trace on
/// stderr for every failed call; we report errors as FormatError instead). The previous printing
/// setting comes back on release, so an application's own HDF5 use keeps its setting.
class H5Lock {
 public:
  H5Lock() {
    // In the reader child (isolate.h) the parent holds the mutex and nothing else runs.
    if (!in_isolated_child()) lk_ = std::unique_lock<std::mutex>(h5_mutex());
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~H5Lock() {
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, func_, data_);
  }
  H5Lock(const H5Lock&) = delete;
  H5Lock& operator=(const H5Lock&) = delete;

 private:
  std::unique_lock<std::mutex> lk_;
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

/// An HDF5 id closed on scope exit (under the H5Lock that must outlive it).
class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Hid(Hid&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
      close_ = o.close_;
    }
    return *this;
  }
  ~Hid() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  /// Gives up ownership without closing.
  hid_t release() { return std::exchange(id_, -1); }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

/// The innermost description on HDF5's error stack (the most specific one), then clears it.
inline std::string h5_error() {
  std::string msg;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
        auto* s = static_cast<std::string*>(out);
        if (s->empty() && e->desc && *e->desc) *s = e->desc;
        return 0;
      },
      &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? std::string("unknown HDF5 error") : "HDF5: " + msg;
}

/// Largest expansion hearth accepts from HDF5's compression filters (deflate's own maximum is about
/// 1032:1): a dataset declaring more bytes than this times what it stores is refused unread.
inline constexpr uint64_t kMaxCompressionRatio = 1032;

/// Why dataset `d` (of `nbytes` bytes, in a file of `file_size` bytes) cannot back its data, or ""
/// when it can: storage allocated, inside the file, and as large as the data (uncompressed) or no
/// smaller than a kMaxCompressionRatio share of it (filtered). Checked before any H5Dread, so a
/// declared size the file cannot hold is never allocated (issue 16).
inline std::string storage_problem(hid_t d, uint64_t nbytes, uint64_t file_size) {
  if (nbytes == 0) return "";
  const uint64_t stored = H5Dget_storage_size(d);
  if (stored == 0)
    return "no data stored: the dataset declares " + std::to_string(nbytes) + " bytes but was never written";
  if (stored > file_size)
    return "claims " + std::to_string(stored) + " stored bytes in a file of " + std::to_string(file_size);
  hid_t dcpl = H5Dget_create_plist(d);
  if (dcpl < 0) return "cannot read the storage properties";
  const H5D_layout_t layout = H5Pget_layout(dcpl);
  const int nfilters = H5Pget_nfilters(dcpl);
  H5Pclose(dcpl);
  if (nfilters > 0) {
    if (nbytes / kMaxCompressionRatio > stored)
      return "declares " + std::to_string(nbytes) + " bytes but stores " + std::to_string(stored) +
             " compressed, beyond the " + std::to_string(kMaxCompressionRatio) + ":1 hearth accepts";
    return "";
  }
  if (stored < nbytes)
    return "truncated: " + std::to_string(stored) + " bytes stored for " + std::to_string(nbytes) +
           " bytes of data (unwritten or partial)";
  if (layout == H5D_CONTIGUOUS) {
    const haddr_t off = H5Dget_offset(d);
    if (off != HADDR_UNDEF && (off > file_size || nbytes > file_size - off))
      return "truncated: the data ends at byte " + std::to_string(off + nbytes) + " but the file has " +
             std::to_string(file_size) + " bytes";
  }
  return "";
}

inline std::string dims_str(const std::vector<hsize_t>& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "×" : "") + std::to_string(d[i]);
  return s.empty() ? "scalar" : s;
}

}  // namespace hearth_hdf5
