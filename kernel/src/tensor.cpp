// Tensor metadata accessors, element access and conversions (contiguous, to, clone, copy_, fill_).
#include "hearth/tensor.h"

#include <cstring>

#include "autograd/functions.h"
#include "hearth/functions.h"
#include "hearth/nn/norm.h"
#include "hearth/onnx_math.h"
#include "hearth/plugin.h"
#include "hearth/op_attrs.h"
#include "ops/op_utils.h"

namespace hearth {

namespace {
/// clone / to(dtype) / to(device) / copy_'s source: the gradient is g, moved back to the
/// source's device (the engine casts the dtype).
class CopyBackward final : public autograd::Node {
 public:
  CopyBackward(const char* name, Device src_device, size_t src_input)
      : name_(name), src_device_(src_device), src_input_(src_input) {}
  std::string name() const override { return name_; }
  autograd::tensor_list apply(autograd::tensor_list&& g) override {
    autograd::tensor_list r(num_outputs());
    if (needs_input_grad(src_input_)) r[src_input_] = g[0].device() == src_device_ ? g[0] : g[0].to(src_device_);
    return r;
  }

 private:
  const char* name_;
  Device src_device_;
  size_t src_input_;
};

Tensor record_copy(const Tensor& src, const Tensor& out, const char* name) {
  if (autograd::any_requires_grad({&src}))
    autograd::record(std::make_shared<CopyBackward>(name, src.device(), 0), {&src}, {&out});
  return out;
}
}  // namespace

void Tensor::throw_undefined() {
  HEARTH_CHECK(false, ValueError, "the tensor is undefined (default-constructed); assign a tensor to it first");
}

IntArrayRef Tensor::strides() const {
  ti()->ensure_strided();
  return impl_->strides();
}
int64_t Tensor::size(int64_t dim) const { return ti()->size(static_cast<size_t>(ops::wrap_dim(dim, this->dim()))); }
int64_t Tensor::stride(int64_t dim) const { return strides()[static_cast<size_t>(ops::wrap_dim(dim, this->dim()))]; }
int64_t Tensor::storage_offset() const {
  ti()->ensure_strided();
  return impl_->storage_offset();
}
bool Tensor::is_contiguous() const {
  ti()->ensure_strided();
  return impl_->is_contiguous();
}

void* Tensor::data_ptr() const {
  ti()->ensure_strided();
  return impl_->data();
}

template <typename T>
T* Tensor::data_ptr() const {
  HEARTH_CHECK(dtype() == CppTypeToScalarType<T>::value, DTypeError, "data_ptr<", CppTypeToScalarType<T>::value,
               ">() called on a tensor of dtype ", dtype());
  return static_cast<T*>(data_ptr());
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template Half* Tensor::data_ptr<Half>() const;
template BFloat16* Tensor::data_ptr<BFloat16>() const;
template int64_t* Tensor::data_ptr<int64_t>() const;
template int32_t* Tensor::data_ptr<int32_t>() const;
template int16_t* Tensor::data_ptr<int16_t>() const;
template int8_t* Tensor::data_ptr<int8_t>() const;
template uint8_t* Tensor::data_ptr<uint8_t>() const;
template bool* Tensor::data_ptr<bool>() const;

Scalar Tensor::item() const {
  HEARTH_CHECK(numel() == 1, ValueError, "item(): a Tensor with ", numel(),
               " elements cannot be converted to a scalar (shape ", sizes(), ")");
  Tensor host = is_cpu() ? *this : to(Device(kCPUType));
  const void* p = host.data_ptr();
  return visit_dtype(dtype(), [&](auto v) -> Scalar {
    using T = decltype(v);
    T x;
    std::memcpy(&x, p, sizeof(T));
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) return Scalar(static_cast<float>(x));
    else return Scalar(x);
  });
}

template <typename T>
T Tensor::item() const {
  return item().to<T>();
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;
template int32_t Tensor::item<int32_t>() const;
template int16_t Tensor::item<int16_t>() const;
template int8_t Tensor::item<int8_t>() const;
template uint8_t Tensor::item<uint8_t>() const;
template bool Tensor::item<bool>() const;

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  // New memory with a fresh version counter (0), so no copy_() and its version bump.
  Tensor out = ops::new_tensor(sizes(), dtype(), device());
  static const OpHandle op = ops::op_handle("copy_");
  ops::call(op, device(), {*this}, {out});
  return record_copy(*this, out, "CloneBackward");
}

Tensor Tensor::to(ScalarType dt, bool copy) const {
  if (dt == dtype() && !copy) return *this;
  Tensor out = ops::new_tensor(sizes(), dt, device());
  static const OpHandle op = ops::op_handle("copy_");
  ops::call(op, device(), {*this}, {out});
  return record_copy(*this, out, "ToCopyBackward");
}

namespace {
/// Moves a contiguous tensor's bytes to another device through the devices' copy functions;
/// no code of one device touches the other's memory.
Tensor transfer(const Tensor& src, Device dst) {
  Tensor s = src.contiguous();
  Tensor out = ops::new_tensor(s.sizes(), s.dtype(), dst);
  const size_t n = s.nbytes();
  if (n == 0) return out;
  Device from = s.device();
  if (from.is_cpu()) {
    device_interface(dst.type()).copy_from_host(out.data_ptr(), s.data_ptr(), n, dst.index());
  } else if (dst.is_cpu()) {
    device_interface(from.type()).copy_to_host(out.data_ptr(), s.data_ptr(), n, from.index());
  } else if (from.type() == dst.type()) {
    device_interface(dst.type()).copy_within(out.data_ptr(), dst.index(), s.data_ptr(), from.index(), n);
  } else {  // two different device types: stage through host memory
    Tensor host = transfer(s, Device(kCPUType));
    device_interface(dst.type()).copy_from_host(out.data_ptr(), host.data_ptr(), n, dst.index());
  }
  return out;
}
}  // namespace

Tensor Tensor::to(Device dev, bool copy) const {
  if (dev == device()) return copy ? clone() : *this;
  const bool rec = autograd::any_requires_grad({this});
  Tensor out;
  {
    autograd::internal::ForwardGuard fg(rec);
    out = transfer(*this, dev);  // SEED B8: a new tensor; *this is unchanged
  }
  return rec ? record_copy(*this, out, "ToCopyBackward") : out;
}

Tensor Tensor::to(Device dev, ScalarType dt, bool copy) const {
  if (dev == device()) return to(dt, copy);
  // Move the smaller representation: convert before the transfer when narrowing, after it
  // when widening.
  if (hearth::element_size(dt) <= hearth::element_size(dtype())) return to(dt).to(dev);
  return to(dev).to(dt);
}

Tensor Tensor::to(const TensorOptions& o, bool copy) const {
  Device dev = o.has_device() ? o.device() : device();
  ScalarType dt = o.dtype_opt() ? *o.dtype_opt() : dtype();
  return to(dev, dt, copy);
}

Tensor& Tensor::copy_(const Tensor& src) {
  HEARTH_CHECK(defined() && src.defined(), ValueError, "copy_: undefined tensor");
  if (is_same(src)) return *this;
  ops::check_no_internal_overlap(*this, "copy_");
  DimVector b = broadcast_shapes(sizes(), src.sizes());
  HEARTH_CHECK(IntArrayRef(b) == sizes(), ShapeError, "copy_: source of shape ", src.sizes(),
               " cannot be broadcast to the destination's shape ", sizes());
  ops::check_no_partial_overlap(*this, src, "copy_");
  const bool rec = autograd::any_requires_grad({this, &src});
  if (rec) autograd::check_inplace(*this, src.requires_grad(), "copy_");
  Tensor s;
  {
    autograd::internal::ForwardGuard fg(rec);
    s = src.device() == device() ? src : src.to(device());
  }
  static const OpHandle op = ops::op_handle("copy_");
  ops::call(op, device(), {s}, {*this});
  impl_->bump_version();
  if (rec) {
    // SEED B4: the gradient goes to the source; self's old value was overwritten (none).
    auto n = std::make_shared<CopyBackward>("CopyBackward", src.device(), 1);
    autograd::make_node(n, {nullptr, &src});
    autograd::rebase_history(*this, n);
  }
  return *this;
}

namespace autograd::internal {
void rebase_constant(const Tensor& self, const char* op) {
  if (!any_requires_grad({&self})) return;  // callers ran check_inplace before writing
  // A non-leaf overwritten with values that depend on nothing: its history ends here.
  rebase_history(self, std::make_shared<CopyBackward>(op, self.device(), 0));
}
}  // namespace autograd::internal

Tensor& Tensor::fill_(const Scalar& value) {
  ops::check_no_internal_overlap(*this, "fill_");
  if (is_grad_enabled()) autograd::check_inplace(*this, false, "fill_");
  attrs::Fill a{value};
  static const OpHandle op = ops::op_handle("fill_");
  ops::call(op, device(), {}, {*this}, &a);
  impl_->bump_version();
  autograd::internal::rebase_constant(*this, "FillBackward");
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0); }

}  // namespace hearth

// ---- LibTorch's method spellings (issue #15; docs/libtorch.md) ----
namespace hearth {

bool Tensor::is_cuda() const { return std::string_view(device().type_name()) == "cuda"; }

Tensor Tensor::sin() const { return hearth::sin(*this); }
Tensor Tensor::cos() const { return hearth::cos(*this); }
Tensor Tensor::tan() const { return hearth::tan(*this); }
Tensor Tensor::asin() const { return hearth::asin(*this); }
Tensor Tensor::acos() const { return hearth::acos(*this); }
Tensor Tensor::atan() const { return hearth::atan(*this); }
Tensor Tensor::sinh() const { return hearth::sinh(*this); }
Tensor Tensor::cosh() const { return hearth::cosh(*this); }
Tensor Tensor::asinh() const { return hearth::asinh(*this); }
Tensor Tensor::acosh() const { return hearth::acosh(*this); }
Tensor Tensor::atanh() const { return hearth::atanh(*this); }
Tensor Tensor::erf() const { return hearth::erf(*this); }
Tensor Tensor::reciprocal() const { return Scalar(1.0) / *this; }
// Composites: no kernels of their own (log1p/expm1 lose precision for |x| << 1, see docs/libtorch.md).
Tensor Tensor::log1p() const { return add(Scalar(1.0)).log(); }
Tensor Tensor::expm1() const { return exp().sub(Scalar(1.0)); }
Tensor Tensor::log2() const { return log().div(Scalar(0.69314718055994530942)); }
Tensor Tensor::log10() const { return log().div(Scalar(2.30258509299404568402)); }
Tensor Tensor::sign() const { return gt(Scalar(0)).to(dtype()) - lt(Scalar(0)).to(dtype()); }
Tensor Tensor::maximum(const Tensor& other) const { return hearth::maximum(*this, other); }
Tensor Tensor::minimum(const Tensor& other) const { return hearth::minimum(*this, other); }
Tensor Tensor::gelu(const std::string& approximate) const { return hearth::gelu(*this, approximate); }

Tensor Tensor::softmax(int64_t dim, std::optional<ScalarType> dt) const {
  return nn::functional::softmax(*this, dim, dt);
}
Tensor Tensor::log_softmax(int64_t dim, std::optional<ScalarType> dt) const {
  return nn::functional::log_softmax(*this, dim, dt);
}

namespace {
void check_mask(const Tensor& self, const Tensor& mask, const char* op) {
  HEARTH_CHECK(mask.dtype() == kBool, DTypeError, op, " only supports boolean masks, but got mask with dtype ",
               mask.dtype());
  DimVector b = broadcast_shapes(self.sizes(), mask.sizes());
  HEARTH_CHECK(IntArrayRef(b) == self.sizes(), ShapeError, op, ": mask of shape ", mask.sizes(),
               " does not broadcast to the tensor's shape ", self.sizes());
}
}  // namespace

Tensor Tensor::masked_fill(const Tensor& mask, const Scalar& value) const {
  check_mask(*this, mask, "masked_fill");
  return where(mask, scalar_tensor(value, TensorOptions(dtype()).device(device())), *this);
}
Tensor Tensor::masked_fill(const Tensor& mask, const Tensor& value) const {
  check_mask(*this, mask, "masked_fill");
  HEARTH_CHECK(value.dim() == 0, ShapeError,
               "masked_fill only supports a 0-dimensional value tensor, but got one with sizes ", value.sizes());
  return where(mask, value.to(dtype()), *this);
}
Tensor& Tensor::masked_fill_(const Tensor& mask, const Scalar& value) { return copy_(masked_fill(mask, value)); }
Tensor& Tensor::masked_fill_(const Tensor& mask, const Tensor& value) { return copy_(masked_fill(mask, value)); }

Tensor Tensor::repeat(IntArrayRef repeats) const {
  HEARTH_CHECK(static_cast<int64_t>(repeats.size()) >= dim(), ShapeError,
               "repeat: number of repeat dims (", repeats.size(), ") can not be smaller than the tensor's dims (",
               dim(), ")");
  const size_t n = repeats.size(), lead = n - static_cast<size_t>(dim());
  // View as [1, s0, 1, s1, ...], expand to [r0, s0, r1, s1, ...], then merge each pair: one copy,
  // and the gradient comes from expand's (a sum over the copies).
  DimVector pairs, expanded, out;
  for (size_t i = 0; i < n; ++i) {
    HEARTH_CHECK(repeats[i] >= 0, ValueError, "repeat: repeats must be non-negative, got ", repeats[i]);
    const int64_t s = i < lead ? 1 : size(static_cast<int64_t>(i - lead));
    pairs.push_back(1);
    pairs.push_back(s);
    expanded.push_back(repeats[i]);
    expanded.push_back(s);
    out.push_back(repeats[i] * s);
  }
  return reshape(pairs).expand(expanded).reshape(out);
}

namespace {
/// The options of a *_like factory: t's dtype and device unless given.
TensorOptions like_options(const Tensor& t, const TensorOptions& o) {
  return TensorOptions(o.dtype_opt() ? *o.dtype_opt() : t.dtype())
      .device(o.has_device() ? o.device() : t.device())
      .requires_grad(o.requires_grad());
}
}  // namespace

Tensor rand_like(const Tensor& t, const TensorOptions& o) { return rand(t.sizes(), like_options(t, o)); }
Tensor randn_like(const Tensor& t, const TensorOptions& o) { return randn(t.sizes(), like_options(t, o)); }
Tensor randint_like(const Tensor& t, int64_t low, int64_t high, const TensorOptions& o) {
  return randint(low, high, t.sizes(), like_options(t, o));
}

namespace cuda {
bool is_available() { return device_count() > 0; }
int64_t device_count() {
  DeviceTypeId id = find_device_type("cuda");
  if (id < 0) {
    load_plugins();  // hearth-cuda registers "cuda" when it loads
    id = find_device_type("cuda");
  }
  return id < 0 ? 0 : device_interface(id).device_count();
}
}  // namespace cuda

Tensor Tensor::all() const { return (dtype() == kBool ? *this : ne(Scalar(0))).logical_not().sum().eq(Scalar(0)); }
Tensor Tensor::any() const { return (dtype() == kBool ? *this : ne(Scalar(0))).sum().gt(Scalar(0)); }

namespace {
void check_bool_operands(const Tensor& a, const Tensor& b, const char* op) {
  HEARTH_CHECK(a.dtype() == kBool && b.dtype() == kBool, DTypeError, "operator", op,
               " is implemented for bool tensors only, got ", a.dtype(), " and ", b.dtype(),
               " (use logical_and / logical_or / logical_xor)");
}
}  // namespace
Tensor operator&(const Tensor& a, const Tensor& b) {
  check_bool_operands(a, b, "&");
  return logical_and(a, b);
}
Tensor operator|(const Tensor& a, const Tensor& b) {
  check_bool_operands(a, b, "|");
  return logical_or(a, b);
}
Tensor operator^(const Tensor& a, const Tensor& b) {
  check_bool_operands(a, b, "^");
  return logical_xor(a, b);
}

}  // namespace hearth

