// Storage (device memory with a shared version counter) and TensorImpl (sizes, strides, offset,
// dtype, device, optional backend-opaque layout, optional autograd metadata).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "hearth/array_ref.h"
#include "hearth/detail/intrusive_ptr.h"
#include "hearth/device.h"
#include "hearth/dtype.h"

namespace hearth {

class TensorImpl;
class OpaqueLayout;
struct AutogradMeta;

/// A block of memory on one device. All views of it share its version counter (SEED B6):
/// every in-place write bumps it, and autograd compares it with the version it saved.
class StorageImpl : public detail::RefCounted {
 public:
  /// Allocates nbytes from the device's allocator.
  StorageImpl(size_t nbytes, Device device);
  /// Wraps memory owned elsewhere (from_blob); `deleter` runs when the storage dies (may be empty).
  StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~StorageImpl() override;

  void* data() const { return data_.load(std::memory_order_acquire); }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }
  void set_version(uint32_t v) { version_.store(v, std::memory_order_relaxed); }
  bool owns_memory() const { return owned_; }

 private:
  friend class TensorImpl;
  // A backend's private layout of the bytes (TensorImpl::opaque_layout). It belongs to the
  // storage, not to one TensorImpl, so every alias (saved tensors, set_data) sees one conversion
  // and shares one version counter. Set once on a fresh output; conversion sets `converted_`
  // and swaps `data_` (the layout pointer itself never changes again). The opaque bytes stay at
  // `layout_data_` until the storage dies, so a kernel that saw the layout reads them safely even
  // while another thread converts.
  std::shared_ptr<const OpaqueLayout> layout_;
  std::atomic<bool> converted_{false};
  void* layout_data_ = nullptr;
  std::atomic<void*> data_{nullptr};
  size_t nbytes_ = 0;
  Device device_;
  bool owned_ = true;
  std::function<void(void*)> deleter_;
  std::atomic<uint32_t> version_{0};
};

/// A backend's private element layout (e.g. oneDNN's nChw16c). A tensor with one holds its
/// elements in that layout; anything that needs strided memory converts it first (DESIGN
/// "Tensors"). Implementations live in the backend plugin that created the tensor.
class OpaqueLayout {
 public:
  virtual ~OpaqueLayout() = default;
  /// Name for messages and printing ("onednn:nChw16c").
  virtual std::string name() const = 0;
  /// The device type whose code understands this layout.
  virtual DeviceTypeId device_type() const = 0;
  /// Bytes of storage the layout needs for a tensor of these sizes and dtype.
  virtual size_t nbytes(IntArrayRef sizes, ScalarType dtype) const = 0;
  /// Writes the elements as a contiguous row-major array into `dst` (memory of the same device).
  virtual void to_strided(const void* src, void* dst, IntArrayRef sizes, ScalarType dtype) const = 0;
};

/// The state behind a Tensor handle. Plugin kernels read it; users go through Tensor.
class TensorImpl : public detail::RefCounted {
 public:
  TensorImpl(detail::intrusive_ptr<StorageImpl> storage, ScalarType dtype, IntArrayRef sizes,
             IntArrayRef strides, int64_t storage_offset);
  ~TensorImpl() override;

  IntArrayRef sizes() const { return sizes_; }
  IntArrayRef strides() const { return strides_; }
  int64_t size(size_t d) const { return sizes_[d]; }
  int64_t stride(size_t d) const { return strides_[d]; }
  int64_t dim() const { return static_cast<int64_t>(sizes_.size()); }
  int64_t numel() const { return numel_; }
  int64_t storage_offset() const { return storage_offset_; }
  ScalarType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_contiguous() const { return contiguous_; }
  const detail::intrusive_ptr<StorageImpl>& storage() const { return storage_; }

  /// First element's address (device memory for non-cpu tensors). Requires strided layout.
  void* data() const {
    return static_cast<char*>(storage_->data()) + storage_offset_ * static_cast<int64_t>(element_size(dtype_));
  }

  /// Non-null when the elements are in a backend's private layout (a property of the storage).
  const std::shared_ptr<const OpaqueLayout>& opaque_layout() const {
    const StorageImpl& st = *storage_;
    if (!st.layout_ || st.converted_.load(std::memory_order_acquire)) [[likely]]
      return no_layout();
    return st.layout_;
  }
  /// The elements in the opaque layout, for the backend that owns it. Read this, not data(),
  /// after opaque_layout() returned non-null: a conversion by another thread in between
  /// repoints data() at the strided copy, while these bytes stay unchanged until the storage dies.
  void* opaque_data() const { return storage_->layout_data_; }
  /// Marks the storage as holding this tensor's elements in `layout`. Only for a tensor with
  /// contiguous geometry that covers a storage of at least layout->nbytes() bytes (a kernel's
  /// fresh output); every TensorImpl on that storage must have this geometry.
  void set_opaque_layout(std::shared_ptr<const OpaqueLayout> layout);
  /// Converts an opaque-layout tensor to contiguous strided form in place (no-op otherwise):
  /// the storage gets strided memory, so all its aliases are converted at once. Safe to call
  /// from several threads at once (one converts, the others wait for it).
  void ensure_strided() {
    if (opaque_layout()) [[unlikely]]
      convert_to_strided();
  }

  /// Changes the geometry (views are new TensorImpls; this is for in-place resize and set).
  void set_sizes_and_strides(IntArrayRef sizes, IntArrayRef strides, int64_t storage_offset);
  void set_storage(detail::intrusive_ptr<StorageImpl> storage) { storage_ = std::move(storage); }
  /// Takes over another tensor's memory, geometry, dtype and device, keeping this TensorImpl
  /// (and its autograd state): how module.to(device) moves parameters in place (SEED B8).
  void set_data(const TensorImpl& other);

  AutogradMeta* autograd_meta() const { return autograd_.get(); }
  void set_autograd_meta(std::unique_ptr<AutogradMeta> meta);

  /// True for tensors made by a view op (they share another tensor's memory; not detach()).
  /// Autograd rebases the base's history after in-place ops on them (docs/autograd.md).
  bool is_view() const { return is_view_; }
  void set_is_view(bool v) { is_view_ = v; }

  uint32_t version() const { return storage_->version(); }
  void bump_version() { storage_->bump_version(); }

 private:
  void refresh();
  void convert_to_strided();
  static const std::shared_ptr<const OpaqueLayout>& no_layout();

  DimVector sizes_, strides_;
  int64_t storage_offset_ = 0;
  int64_t numel_ = 1;
  ScalarType dtype_;
  Device device_;
  bool contiguous_ = true;
  bool is_view_ = false;
  detail::intrusive_ptr<StorageImpl> storage_;
  std::unique_ptr<AutogradMeta> autograd_;
};

/// Row-major contiguous strides for `sizes`.
DimVector contiguous_strides(IntArrayRef sizes);
/// Product of sizes with overflow checking (throws ShapeError on overflow or negative sizes).
int64_t checked_numel(IntArrayRef sizes);

}  // namespace hearth
