// StorageImpl and TensorImpl: memory ownership, geometry, and conversion out of opaque layouts.
#include "hearth/tensor_impl.h"

#include <mutex>

#include "hearth/autograd_meta.h"
#include "hearth/error.h"

namespace hearth {

StorageImpl::StorageImpl(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  DeviceInterface& iface = device_interface(device.type());
  HEARTH_CHECK(device.index() < iface.device_count(), DeviceError, "device ", device.str(),
               " does not exist (", iface.device_count(), " ", device.type_name(), " device(s) present)");
  data_.store(iface.allocate(nbytes, device.index()), std::memory_order_relaxed);
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), owned_(false), deleter_(std::move(deleter)) {}

StorageImpl::~StorageImpl() {
  void* data = data_.load(std::memory_order_relaxed);
  if (owned_) {
    device_interface(device_.type()).deallocate(data, nbytes_, device_.index());
    if (converted_.load(std::memory_order_relaxed))  // the opaque bytes, kept past the conversion
      device_interface(device_.type()).deallocate(layout_data_, nbytes_, device_.index());
  } else if (deleter_) {
    deleter_(data);
  }
}

DimVector contiguous_strides(IntArrayRef sizes) {
  DimVector st(sizes.size());
  int64_t s = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    st[i] = s;
    // Zero-size dims count as 1 here, so [0, 2^40, 2^40] has no elements yet unrepresentable
    // strides: refused, not left to signed overflow (issue 16).
    HEARTH_CHECK(!__builtin_mul_overflow(s, std::max<int64_t>(sizes[i], 1), &s), ShapeError, "shape ", sizes,
                 " has strides that overflow int64");
  }
  return st;
}

int64_t checked_numel(IntArrayRef sizes) {
  int64_t n = 1, strided = 1;  // strided: the product with zero dims as 1, which strides need
  for (size_t i = 0; i < sizes.size(); ++i) {
    HEARTH_CHECK(sizes[i] >= 0, ShapeError, "negative dimension ", sizes[i], " in shape ", sizes);
    HEARTH_CHECK(!__builtin_mul_overflow(n, sizes[i], &n) &&
                     !__builtin_mul_overflow(strided, std::max<int64_t>(sizes[i], 1), &strided),
                 ShapeError, "shape ", sizes, " has too many elements (overflows int64)");
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

void TensorImpl::set_opaque_layout(std::shared_ptr<const OpaqueLayout> layout) {
  StorageImpl& st = *storage_;
  if (st.layout_ == layout) return;  // an alias of a storage that has it already (converted or not)
  HEARTH_CHECK(layout != nullptr, InternalError, "set_opaque_layout(nullptr): use ensure_strided() to convert");
  HEARTH_CHECK(contiguous_ && storage_offset_ == 0 && st.owned_ && !st.layout_ &&
                   st.nbytes() >= layout->nbytes(sizes_, dtype_) &&
                   st.nbytes() >= static_cast<size_t>(numel_) * element_size(dtype_),
               InternalError, "set_opaque_layout(", layout->name(), "): the tensor of shape ", sizes_,
               " must be contiguous at offset 0 in a fresh storage of its own of at least ",
               layout->nbytes(sizes_, dtype_), " bytes (has ", st.nbytes(), ")");
  st.layout_data_ = st.data_.load(std::memory_order_relaxed);
  st.layout_ = std::move(layout);
}

const std::shared_ptr<const OpaqueLayout>& TensorImpl::no_layout() {
  static const std::shared_ptr<const OpaqueLayout> none;
  return none;
}

namespace {
std::mutex& conversion_mutex() {
  static std::mutex mu;  // conversions are rare (a flatten, a user access): one lock is enough
  return mu;
}
}  // namespace

void TensorImpl::convert_to_strided() {
  // SEED B6: the opaque form is another encoding of the same values, so converting is not a
  // write: the storage object (and with it the version counter every alias shares) stays, only
  // its memory is replaced. Aliases (saved tensors) have this geometry (set_opaque_layout made
  // sure of it: contiguous, offset 0), so they read the strided bytes from then on too.
  StorageImpl& st = *storage_;
  std::lock_guard<std::mutex> lk(conversion_mutex());
  if (st.converted_.load(std::memory_order_acquire)) return;  // another thread did it
  const OpaqueLayout& layout = *st.layout_;
  DeviceInterface& iface = device_interface(device_.type());
  // Same size as the opaque block, so anything that reads nbytes() bytes stays inside.
  void* fresh = iface.allocate(st.nbytes_, device_.index());
  try {
    layout.to_strided(st.layout_data_, fresh, sizes_, dtype_);
  } catch (...) {
    iface.deallocate(fresh, st.nbytes_, device_.index());
    throw;
  }
  // The opaque bytes (layout_data_) stay allocated until the storage dies: another thread may be
  // reading them through a layout-aware kernel right now.
  st.data_.store(fresh, std::memory_order_release);
  st.converted_.store(true, std::memory_order_release);
}

}  // namespace hearth
