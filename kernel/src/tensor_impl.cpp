// StorageImpl and TensorImpl: memory ownership, geometry, and conversion out of opaque layouts.
#include "hearth/tensor_impl.h"

#include "hearth/autograd_meta.h"
#include "hearth/error.h"

namespace hearth {

StorageImpl::StorageImpl(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  DeviceInterface& iface = device_interface(device.type());
  HEARTH_CHECK(device.index() < iface.device_count(), DeviceError, "device ", device.str(),
               " does not exist (", iface.device_count(), " ", device.type_name(), " device(s) present)");
  data_ = iface.allocate(nbytes, device.index());
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), owned_(false), deleter_(std::move(deleter)) {}

StorageImpl::~StorageImpl() {
  if (owned_) {
    device_interface(device_.type()).deallocate(data_, nbytes_, device_.index());
  } else if (deleter_) {
    deleter_(data_);
  }
}

DimVector contiguous_strides(IntArrayRef sizes) {
  DimVector st(sizes.size());
  int64_t s = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    st[i] = s;
    s *= std::max<int64_t>(sizes[i], 1);
  }
  return st;
}

int64_t checked_numel(IntArrayRef sizes) {
  int64_t n = 1;
  for (size_t i = 0; i < sizes.size(); ++i) {
    HEARTH_CHECK(sizes[i] >= 0, ShapeError, "negative dimension ", sizes[i], " in shape ", sizes);
    HEARTH_CHECK(!__builtin_mul_overflow(n, sizes[i], &n), ShapeError, "shape ", sizes,
                 " has too many elements (overflows int64)");
  }
  return n;
}

TensorImpl::TensorImpl(detail::intrusive_ptr<StorageImpl> storage, ScalarType dtype, IntArrayRef sizes,
                       IntArrayRef strides, int64_t storage_offset)
    : sizes_(sizes.begin(), sizes.end()),
      strides_(strides.begin(), strides.end()),
      storage_offset_(storage_offset),
      dtype_(dtype),
      device_(storage->device()),
      storage_(std::move(storage)) {
  refresh();
}

TensorImpl::~TensorImpl() = default;

void TensorImpl::set_autograd_meta(std::unique_ptr<AutogradMeta> meta) { autograd_ = std::move(meta); }

void TensorImpl::set_data(const TensorImpl& other) {
  storage_ = other.storage_;
  sizes_ = other.sizes_;
  strides_ = other.strides_;
  storage_offset_ = other.storage_offset_;
  dtype_ = other.dtype_;
  device_ = other.device_;
  layout_ = other.layout_;
  is_view_ = other.is_view_;
  refresh();
}

void TensorImpl::set_sizes_and_strides(IntArrayRef sizes, IntArrayRef strides, int64_t storage_offset) {
  sizes_.assign(sizes.begin(), sizes.end());
  strides_.assign(strides.begin(), strides.end());
  storage_offset_ = storage_offset;
  refresh();
}

void TensorImpl::refresh() {
  int64_t n = 1;
  bool contig = true;
  int64_t expected = 1;
  for (size_t i = sizes_.size(); i-- > 0;) {
    n *= sizes_[i];
    if (sizes_[i] != 1) {
      if (strides_[i] != expected) contig = false;
      expected *= sizes_[i];
    }
  }
  numel_ = n;
  contiguous_ = contig || n == 0;
}

void TensorImpl::ensure_strided() {
  if (!layout_) return;
  // SEED: the opaque form is a cache of the same values; converting keeps the version count so
  // autograd's checks still hold.
  const uint32_t version = storage_->version();
  auto fresh = detail::make_intrusive<StorageImpl>(static_cast<size_t>(numel_) * element_size(dtype_), device_);
  layout_->to_strided(static_cast<const char*>(storage_->data()), fresh->data(), sizes_, dtype_);
  fresh->set_version(version);
  storage_ = std::move(fresh);
  strides_ = contiguous_strides(sizes_);
  storage_offset_ = 0;
  layout_.reset();
  refresh();
}

}  // namespace hearth
