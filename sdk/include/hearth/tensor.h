// Tensor: the cheap, refcounted handle users work with. Names and semantics follow LibTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "hearth/array_ref.h"
#include "hearth/error.h"
#include "hearth/scalar.h"
#include "hearth/tensor_impl.h"

namespace hearth {

class Tensor;
class Generator;
namespace autograd {
class Node;
}

/// dtype / device / requires_grad for factories: zeros({2,3}, kFloat64), ones({2}, Device("testdev")).
class TensorOptions {
 public:
  TensorOptions() = default;
  TensorOptions(ScalarType t) : dtype_(t) {}          // NOLINT
  TensorOptions(Device d) : device_(d) {}             // NOLINT
  TensorOptions(const char* device) : device_(Device(device)) {}  // NOLINT
  TensorOptions dtype(ScalarType t) const { auto o = *this; o.dtype_ = t; return o; }
  TensorOptions device(Device d) const { auto o = *this; o.device_ = d; return o; }
  TensorOptions requires_grad(bool r) const { auto o = *this; o.requires_grad_ = r; return o; }
  std::optional<ScalarType> dtype_opt() const { return dtype_; }
  ScalarType dtype() const { return dtype_ ? *dtype_ : default_dtype(); }
  Device device() const { return device_ ? *device_ : Device(kCPUType); }
  bool has_device() const { return device_.has_value(); }
  bool requires_grad() const { return requires_grad_; }

 private:
  std::optional<ScalarType> dtype_;
  std::optional<Device> device_;
  bool requires_grad_ = false;
};
inline TensorOptions dtype(ScalarType t) { return TensorOptions(t); }
inline TensorOptions device(Device d) { return TensorOptions(d); }
inline TensorOptions requires_grad(bool r = true) { return TensorOptions().requires_grad(r); }

namespace indexing {
/// Python's None: in an index it inserts a dimension of size 1; in a Slice it is an open end
/// (like LibTorch, where None is c10::nullopt).
constexpr std::nullopt_t None = std::nullopt;
/// Python's `...`.
struct EllipsisIndex {};
constexpr EllipsisIndex Ellipsis{};
/// start:stop:step; missing ends are open like Python's.
struct Slice {
  Slice(std::optional<int64_t> start = std::nullopt, std::optional<int64_t> stop = std::nullopt,
        std::optional<int64_t> step = std::nullopt)
      : start(start), stop(stop), step(step) {}
  std::optional<int64_t> start, stop, step;
};
}  // namespace indexing

/// One entry of t.index({...}): an integer, a Slice, None, Ellipsis, a bool, or a tensor.
class TensorIndex;

/// The tensor handle. Copying shares the TensorImpl (like LibTorch's Tensor).
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(detail::intrusive_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return static_cast<bool>(impl_); }
  TensorImpl* unsafeGetTensorImpl() const { return impl_.get(); }
  const detail::intrusive_ptr<TensorImpl>& impl() const { return impl_; }
  /// True if both handles refer to the same TensorImpl.
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // ---- metadata (SEED B12) ----
  IntArrayRef sizes() const { return ti()->sizes(); }
  IntArrayRef strides() const;
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return ti()->dim(); }
  int64_t ndimension() const { return dim(); }
  int64_t numel() const { return ti()->numel(); }
  int64_t storage_offset() const;
  ScalarType dtype() const { return ti()->dtype(); }
  ScalarType scalar_type() const { return dtype(); }
  size_t element_size() const { return hearth::element_size(dtype()); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(); }
  Device device() const { return ti()->device(); }
  bool is_cpu() const { return device().is_cpu(); }
  bool is_contiguous() const;
  bool is_floating_point() const { return hearth::is_floating_point(dtype()); }
  bool has_opaque_layout() const { return ti()->opaque_layout() != nullptr; }
  TensorOptions options() const { return TensorOptions(dtype()).device(device()); }
  /// Version counter shared by all views of the storage (SEED B6).
  uint32_t _version() const { return ti()->version(); }

  /// Address of the first element. For non-cpu tensors this is device memory: hand it only to
  /// that device's code. Converts an opaque layout to strided form first.
  void* data_ptr() const;
  template <typename T>
  T* data_ptr() const;
  /// The value of a one-element tensor (copied to the host if needed).
  template <typename T>
  T item() const;
  Scalar item() const;

  // ---- conversions ----
  Tensor contiguous() const;
  Tensor to(ScalarType dtype, bool copy = false) const;
  Tensor to(Device device, bool copy = false) const;
  Tensor to(Device device, ScalarType dtype, bool copy = false) const;
  Tensor to(const TensorOptions& options, bool copy = false) const;
  Tensor cpu() const { return to(Device(kCPUType)); }
  /// LibTorch's spellings of to(dtype): toType(kFloat), type(kLong) is not provided (see docs/libtorch.md).
  Tensor toType(ScalarType dtype) const { return to(dtype); }
  /// LibTorch's (..., non_blocking, copy) forms: hearth's copies are synchronous, so non_blocking
  /// changes nothing. (With two arguments, hearth's second bool is `copy`, as in to() above.)
  Tensor to(Device device, bool non_blocking, bool copy) const {
    (void)non_blocking;
    return to(device, copy);
  }
  Tensor to(ScalarType dtype, bool non_blocking, bool copy) const {
    (void)non_blocking;
    return to(dtype, copy);
  }
  Tensor to(Device device, ScalarType dtype, bool non_blocking, bool copy) const {
    (void)non_blocking;
    return to(device, dtype, copy);
  }
  bool is_cuda() const;
  Tensor clone() const;
  /// Writes src (broadcast, cast) into *this; bumps the version counter (SEED B4).
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(const Scalar& value);
  Tensor& zero_();

  // ---- views (SEED B1, B12): share storage and version counter ----
  Tensor view(IntArrayRef sizes) const;
  Tensor view_as(const Tensor& other) const { return view(other.sizes()); }
  Tensor reshape(IntArrayRef sizes) const;
  Tensor reshape_as(const Tensor& other) const { return reshape(other.sizes()); }
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unflatten(int64_t dim, IntArrayRef sizes) const;
  Tensor as_strided(IntArrayRef sizes, IntArrayRef strides, std::optional<int64_t> storage_offset = std::nullopt) const;
  Tensor detach() const;
  Tensor diagonal(int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1) const;
  Tensor expand(IntArrayRef sizes) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.sizes()); }
  Tensor movedim(IntArrayRef source, IntArrayRef destination) const;
  Tensor movedim(int64_t source, int64_t destination) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor permute(IntArrayRef dims) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor slice(int64_t dim = 0, std::optional<int64_t> start = std::nullopt,
               std::optional<int64_t> end = std::nullopt, int64_t step = 1) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;
  Tensor unfold(int64_t dim, int64_t size, int64_t step) const;
  std::vector<Tensor> unbind(int64_t dim = 0) const;
  std::vector<Tensor> split(int64_t split_size, int64_t dim = 0) const;
  std::vector<Tensor> split_with_sizes(IntArrayRef split_sizes, int64_t dim = 0) const;
  std::vector<Tensor> chunk(int64_t chunks, int64_t dim = 0) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  /// Python-style indexing: integers and slices give views, tensors and masks give copies.
  Tensor index(std::initializer_list<TensorIndex> indices) const;
  Tensor index(const std::vector<TensorIndex>& indices) const;
  /// t.index_put_({...}, value): writes through the same indexing rules.
  Tensor& index_put_(const std::vector<TensorIndex>& indices, const Tensor& value);
  Tensor& index_put_(const std::vector<TensorIndex>& indices, const Scalar& value);

  // ---- elementwise ----
  Tensor add(const Tensor& other, const Scalar& alpha = 1) const;
  Tensor add(const Scalar& other, const Scalar& alpha = 1) const;
  Tensor sub(const Tensor& other, const Scalar& alpha = 1) const;
  Tensor sub(const Scalar& other, const Scalar& alpha = 1) const;
  Tensor mul(const Tensor& other) const;
  Tensor mul(const Scalar& other) const;
  Tensor div(const Tensor& other) const;
  Tensor div(const Scalar& other) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor pow(const Scalar& exponent) const;
  Tensor& add_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& add_(const Scalar& other, const Scalar& alpha = 1);
  Tensor& sub_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& sub_(const Scalar& other, const Scalar& alpha = 1);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(const Scalar& other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(const Scalar& other);
  Tensor neg() const;
  Tensor abs() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor relu() const;
  Tensor& relu_();
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  Tensor& clamp_(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
  Tensor clamp_min(const Scalar& min) const { return clamp(min, std::nullopt); }
  Tensor clamp_max(const Scalar& max) const { return clamp(std::nullopt, max); }
  Tensor& clamp_min_(const Scalar& min) { return clamp_(min, std::nullopt); }
  Tensor& clamp_max_(const Scalar& max) { return clamp_(std::nullopt, max); }
  // More math (LibTorch's method spellings of hearth's free functions; float-only like PyTorch).
  Tensor sin() const;
  Tensor cos() const;
  Tensor tan() const;
  Tensor asin() const;
  Tensor acos() const;
  Tensor atan() const;
  Tensor sinh() const;
  Tensor cosh() const;
  Tensor asinh() const;
  Tensor acosh() const;
  Tensor atanh() const;
  Tensor erf() const;
  Tensor square() const { return mul(*this); }
  Tensor reciprocal() const;
  Tensor log1p() const;
  Tensor expm1() const;
  Tensor log2() const;
  Tensor log10() const;
  Tensor sign() const;
  Tensor maximum(const Tensor& other) const;
  Tensor minimum(const Tensor& other) const;
  Tensor gelu(const std::string& approximate = "none") const;
  Tensor& sigmoid_() { return copy_(sigmoid()); }
  Tensor& tanh_() { return copy_(tanh()); }
  Tensor& exp_() { return copy_(exp()); }
  Tensor& log_() { return copy_(log()); }
  Tensor& sqrt_() { return copy_(sqrt()); }
  Tensor& abs_() { return copy_(abs()); }
  Tensor& neg_() { return copy_(neg()); }
  Tensor& pow_(const Scalar& exponent) { return copy_(pow(exponent)); }
  /// softmax / log_softmax over dim (nn::functional's, as methods).
  Tensor softmax(int64_t dim, std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor log_softmax(int64_t dim, std::optional<ScalarType> dtype = std::nullopt) const;
  /// Where mask (bool, broadcast to this shape) is true, value; elsewhere this tensor.
  Tensor masked_fill(const Tensor& mask, const Scalar& value) const;
  Tensor masked_fill(const Tensor& mask, const Tensor& value) const;
  Tensor& masked_fill_(const Tensor& mask, const Scalar& value);
  Tensor& masked_fill_(const Tensor& mask, const Tensor& value);
  /// Tiles the tensor: repeats[i] copies along dim i (leading repeats add dims), as torch.repeat.
  Tensor repeat(IntArrayRef repeats) const;
  Tensor eq(const Tensor& o) const;
  Tensor ne(const Tensor& o) const;
  Tensor lt(const Tensor& o) const;
  Tensor le(const Tensor& o) const;
  Tensor gt(const Tensor& o) const;
  Tensor ge(const Tensor& o) const;
  Tensor eq(const Scalar& o) const;
  Tensor ne(const Scalar& o) const;
  Tensor lt(const Scalar& o) const;
  Tensor le(const Scalar& o) const;
  Tensor gt(const Scalar& o) const;
  Tensor ge(const Scalar& o) const;
  Tensor logical_not() const;
  Tensor logical_and(const Tensor& o) const;
  Tensor logical_or(const Tensor& o) const;
  Tensor logical_xor(const Tensor& o) const;
  /// True (a 0-dim bool tensor) if every / any element is non-zero.
  Tensor all() const;
  Tensor any() const;

  // ---- reductions: dims empty = all ----
  Tensor sum(std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor sum(IntArrayRef dims, bool keepdim = false, std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor mean(std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor mean(IntArrayRef dims, bool keepdim = false, std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor prod(std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor prod(int64_t dim, bool keepdim = false, std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor max() const;
  Tensor min() const;
  std::tuple<Tensor, Tensor> max(int64_t dim, bool keepdim = false) const;
  std::tuple<Tensor, Tensor> min(int64_t dim, bool keepdim = false) const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor var(IntArrayRef dims = {}, int64_t correction = 1, bool keepdim = false) const;
  Tensor std(IntArrayRef dims = {}, int64_t correction = 1, bool keepdim = false) const;
  Tensor norm(const Scalar& p = 2, IntArrayRef dims = {}, bool keepdim = false) const;

  // ---- linear algebra and indexing ----
  Tensor matmul(const Tensor& other) const;
  Tensor mm(const Tensor& other) const;
  Tensor bmm(const Tensor& other) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor masked_select(const Tensor& mask) const;
  Tensor gather(int64_t dim, const Tensor& index) const;
  Tensor scatter(int64_t dim, const Tensor& index, const Tensor& src) const;
  Tensor scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const;
  Tensor& scatter_(int64_t dim, const Tensor& index, const Tensor& src);
  Tensor& scatter_add_(int64_t dim, const Tensor& index, const Tensor& src);

  // ---- autograd (SEED B2, B6; docs/autograd.md) ----
  /// True for leaves marked requires_grad and for results of ops on such tensors.
  bool requires_grad() const;
  /// Marks a leaf (floating point only) as needing gradients.
  Tensor& requires_grad_(bool requires_grad = true);
  Tensor& set_requires_grad(bool requires_grad) { return requires_grad_(requires_grad); }
  /// The accumulated gradient (undefined until a backward reaches this tensor).
  const Tensor& grad() const;
  /// Assignable gradient: t.mutable_grad() = Tensor() clears it.
  Tensor& mutable_grad();
  /// The node that computed this tensor; null for leaves.
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  bool is_leaf() const;
  uint32_t output_nr() const;
  /// Backpropagates from this tensor (a one-element tensor needs no gradient argument).
  void backward(const Tensor& gradient = {}, std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false, const std::vector<Tensor>& inputs = {}) const;
  /// Calls hook(grad) when this tensor's gradient is computed; a defined return value replaces
  /// the gradient. Returns an id for remove_hook.
  template <typename F>
  unsigned register_hook(F&& hook) const {
    if constexpr (std::is_void_v<std::invoke_result_t<F, const Tensor&>>) {
      return register_hook_impl([h = std::forward<F>(hook)](const Tensor& g) { h(g); return Tensor(); });
    } else {
      return register_hook_impl(std::function<Tensor(const Tensor&)>(std::forward<F>(hook)));
    }
  }
  void remove_hook(unsigned id) const;
  /// Keeps the gradient of a non-leaf in grad() after backward.
  void retain_grad() const;
  bool retains_grad() const;

  std::string toString() const;

 private:
  unsigned register_hook_impl(std::function<Tensor(const Tensor&)> hook) const;
  /// The impl, or a ValueError for an undefined (default-constructed) tensor.
  TensorImpl* ti() const {
    if (!impl_) [[unlikely]] throw_undefined();
    return impl_.get();
  }
  [[noreturn]] static void throw_undefined();
  detail::intrusive_ptr<TensorImpl> impl_;
};

class TensorIndex {
 public:
  TensorIndex(int64_t i) : kind_(Kind::Integer), integer_(i) {}  // NOLINT
  TensorIndex(int i) : kind_(Kind::Integer), integer_(i) {}      // NOLINT
  TensorIndex(bool b) : kind_(Kind::Boolean), integer_(b) {}     // NOLINT
  TensorIndex(indexing::Slice s) : kind_(Kind::Slice), slice_(s) {}  // NOLINT
  TensorIndex(std::nullopt_t) : kind_(Kind::None) {}                 // NOLINT
  TensorIndex(indexing::EllipsisIndex) : kind_(Kind::Ellipsis) {}    // NOLINT
  TensorIndex(Tensor t) : kind_(Kind::Tensor), tensor_(std::move(t)) {}  // NOLINT
  enum class Kind { Integer, Boolean, Slice, None, Ellipsis, Tensor };
  Kind kind() const { return kind_; }
  int64_t integer() const { return integer_; }
  const indexing::Slice& slice() const { return slice_; }
  const Tensor& tensor() const { return tensor_; }

 private:
  Kind kind_;
  int64_t integer_ = 0;
  indexing::Slice slice_;
  Tensor tensor_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Operators follow PyTorch.
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, const Scalar& b);
Tensor operator-(const Tensor& a, const Scalar& b);
Tensor operator*(const Tensor& a, const Scalar& b);
Tensor operator/(const Tensor& a, const Scalar& b);
Tensor operator+(const Scalar& a, const Tensor& b);
Tensor operator-(const Scalar& a, const Tensor& b);
Tensor operator*(const Scalar& a, const Tensor& b);
Tensor operator/(const Scalar& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, const Scalar& b);
Tensor operator!=(const Tensor& a, const Scalar& b);
Tensor operator<(const Tensor& a, const Scalar& b);
Tensor operator<=(const Tensor& a, const Scalar& b);
Tensor operator>(const Tensor& a, const Scalar& b);
Tensor operator>=(const Tensor& a, const Scalar& b);
Tensor operator&&(const Tensor& a, const Tensor& b);
Tensor operator||(const Tensor& a, const Tensor& b);
Tensor operator!(const Tensor& a);
/// Elementwise and / or / xor of bool tensors (LibTorch's bitwise operators; hearth has no
/// integer bitwise kernels, so other dtypes are a DTypeError).
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, const Tensor& b);
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, const Scalar& b);
Tensor& operator-=(Tensor& a, const Scalar& b);
Tensor& operator*=(Tensor& a, const Scalar& b);
Tensor& operator/=(Tensor& a, const Scalar& b);

}  // namespace hearth
