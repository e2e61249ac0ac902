// Free functions: tensor factories and the ops in LibTorch's spelling (hearth::add, hearth::cat).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hearth/generator.h"
#include "hearth/tensor.h"

namespace hearth {

// ---- factories ----
Tensor empty(IntArrayRef sizes, const TensorOptions& options = {});
Tensor empty_strided(IntArrayRef sizes, IntArrayRef strides, const TensorOptions& options = {});
Tensor zeros(IntArrayRef sizes, const TensorOptions& options = {});
Tensor ones(IntArrayRef sizes, const TensorOptions& options = {});
Tensor full(IntArrayRef sizes, const Scalar& value, const TensorOptions& options = {});
Tensor empty_like(const Tensor& t, const TensorOptions& options = {});
Tensor zeros_like(const Tensor& t, const TensorOptions& options = {});
Tensor ones_like(const Tensor& t, const TensorOptions& options = {});
Tensor full_like(const Tensor& t, const Scalar& value, const TensorOptions& options = {});
/// [start, end) in steps; dtype int64 if all three are integers, else the default float.
Tensor arange(const Scalar& end, const TensorOptions& options = {});
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step = 1, const TensorOptions& options = {});
Tensor linspace(double start, double end, int64_t steps, const TensorOptions& options = {});
Tensor eye(int64_t n, std::optional<int64_t> m = std::nullopt, const TensorOptions& options = {});
/// Uniform [0,1), standard normal, integers in [low, high), a permutation of 0..n-1.
Tensor rand(IntArrayRef sizes, const TensorOptions& options = {}, Generator* gen = nullptr);
Tensor randn(IntArrayRef sizes, const TensorOptions& options = {}, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, const TensorOptions& options = kInt64,
               Generator* gen = nullptr);
Tensor randperm(int64_t n, const TensorOptions& options = kInt64, Generator* gen = nullptr);
Tensor& uniform_(Tensor& t, double from = 0.0, double to = 1.0, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
/// Wraps caller memory without copying (SEED B5, like torch.from_numpy): writes show on both
/// sides. The memory must outlive the tensor, or pass a deleter. Contiguous strides if omitted.
Tensor from_blob(void* data, IntArrayRef sizes, const TensorOptions& options = {});
Tensor from_blob(void* data, IntArrayRef sizes, IntArrayRef strides, const TensorOptions& options = {});
Tensor from_blob(void* data, IntArrayRef sizes, std::function<void(void*)> deleter,
                 const TensorOptions& options = {});
/// A 0-dim tensor holding a value (dtype from the value unless given).
Tensor scalar_tensor(const Scalar& s, const TensorOptions& options = {});

/// Nested braced lists of values, copied (SEED B5): tensor({{1.f, 2.f}, {3.f, 4.f}}).
/// Integer literals give int64, floating ones the default float, bools bool.
class NestedList;
Tensor tensor(const NestedList& values, const TensorOptions& options = {});
template <typename T>
Tensor tensor(const std::vector<T>& values, const TensorOptions& options = {});

class NestedList {
 public:
  NestedList(double v) : scalar_(v), kind_(Scalar::Kind::Double) {}     // NOLINT
  NestedList(float v) : scalar_(v), kind_(Scalar::Kind::Double) {}      // NOLINT
  NestedList(int v) : scalar_(v), kind_(Scalar::Kind::Int) {}           // NOLINT
  NestedList(int64_t v) : scalar_(v), kind_(Scalar::Kind::Int) {}       // NOLINT
  NestedList(bool v) : scalar_(v), kind_(Scalar::Kind::Bool) {}         // NOLINT
  NestedList(std::initializer_list<NestedList> l) : children_(l), is_list_(true) {}  // NOLINT
  bool is_list() const { return is_list_; }
  const std::vector<NestedList>& children() const { return children_; }
  const Scalar& scalar() const { return scalar_; }
  Scalar::Kind kind() const { return kind_; }

 private:
  Scalar scalar_;
  Scalar::Kind kind_ = Scalar::Kind::Int;
  std::vector<NestedList> children_;
  bool is_list_ = false;
};

// ---- type promotion (SEED B3) ----
/// PyTorch's torch.result_type: dimensioned tensors outrank 0-dim tensors, which outrank
/// plain numbers, unless a lower rank has a higher category (bool < integer < floating).
ScalarType result_type(const Tensor& a, const Tensor& b);
ScalarType result_type(const Tensor& a, const Scalar& b);
ScalarType result_type(const std::vector<Tensor>& tensors);

/// Broadcast shape of two shapes (throws ShapeError naming both).
DimVector broadcast_shapes(IntArrayRef a, IntArrayRef b);

// ---- elementwise ----
Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
/// rounding_mode: "" (true division), "trunc" or "floor".
Tensor div(const Tensor& a, const Tensor& b, const std::string& rounding_mode);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Scalar& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
/// approximate: "none" (erf) or "tanh".
Tensor gelu(const Tensor& a, const std::string& approximate = "none");
Tensor clamp(const Tensor& a, std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// True if all elements are close: |a - b| <= atol + rtol * |b| (NaNs equal if equal_nan).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
bool equal(const Tensor& a, const Tensor& b);

// ---- reductions ----
Tensor sum(const Tensor& a, IntArrayRef dims = {}, bool keepdim = false, std::optional<ScalarType> dtype = std::nullopt);
Tensor mean(const Tensor& a, IntArrayRef dims = {}, bool keepdim = false, std::optional<ScalarType> dtype = std::nullopt);
Tensor amax(const Tensor& a, IntArrayRef dims = {}, bool keepdim = false);
Tensor amin(const Tensor& a, IntArrayRef dims = {}, bool keepdim = false);

// ---- linear algebra ----
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
/// beta*self + alpha*(m1 @ m2)
Tensor addmm(const Tensor& self, const Tensor& m1, const Tensor& m2, const Scalar& beta = 1, const Scalar& alpha = 1);

// ---- joining and indexing ----
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor masked_select(const Tensor& a, const Tensor& mask);
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
Tensor scatter(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);
/// Indices of non-zero elements, shape (n, ndim), int64.
Tensor nonzero(const Tensor& a);

/// Grad-mode guard (LibTorch's torch::NoGradGuard); thread-local. Ops run inside it build no
/// autograd graph (SEED E2).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

/// LibTorch's InferenceMode: no autograd graph inside (hearth implements it as grad mode off; it
/// has no separate inference tensors, see docs/libtorch.md). InferenceMode(false) leaves grad mode on.
class InferenceMode {
 public:
  explicit InferenceMode(bool enabled = true) : prev_(is_grad_enabled()) {
    if (enabled) set_grad_enabled(false);
  }
  ~InferenceMode() { set_grad_enabled(prev_); }
  InferenceMode(const InferenceMode&) = delete;
  InferenceMode& operator=(const InferenceMode&) = delete;
  /// True inside an enabled InferenceMode (approximated as grad mode off).
  static bool is_enabled() { return !is_grad_enabled(); }

 private:
  bool prev_;
};

// ---- LibTorch's free-function spellings of tensor methods (torch::masked_fill(x, m, v), ...);
// torch::softmax / log_softmax and the other nn ops are in hearth/nn/toplevel.h ----
Tensor rand_like(const Tensor& t, const TensorOptions& options = {});
Tensor randn_like(const Tensor& t, const TensorOptions& options = {});
Tensor randint_like(const Tensor& t, int64_t low, int64_t high, const TensorOptions& options = {});
inline Tensor randint_like(const Tensor& t, int64_t high, const TensorOptions& options = {}) {
  return randint_like(t, 0, high, options);
}
inline Tensor masked_fill(const Tensor& t, const Tensor& mask, const Scalar& value) {
  return t.masked_fill(mask, value);
}
inline Tensor clamp_min(const Tensor& t, const Scalar& min) { return t.clamp_min(min); }
inline Tensor clamp_max(const Tensor& t, const Scalar& max) { return t.clamp_max(max); }
inline Tensor square(const Tensor& t) { return t.square(); }
inline Tensor reciprocal(const Tensor& t) { return t.reciprocal(); }
inline Tensor sign(const Tensor& t) { return t.sign(); }
inline Tensor log1p(const Tensor& t) { return t.log1p(); }
inline Tensor flatten(const Tensor& t, int64_t start_dim = 0, int64_t end_dim = -1) {
  return t.flatten(start_dim, end_dim);
}
inline Tensor reshape(const Tensor& t, IntArrayRef sizes) { return t.reshape(sizes); }
inline Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) { return t.transpose(dim0, dim1); }
inline Tensor argmax(const Tensor& t, std::optional<int64_t> dim = std::nullopt, bool keepdim = false) {
  return t.argmax(dim, keepdim);
}
inline Tensor argmin(const Tensor& t, std::optional<int64_t> dim = std::nullopt, bool keepdim = false) {
  return t.argmin(dim, keepdim);
}
inline Tensor max(const Tensor& t) { return t.max(); }
inline Tensor min(const Tensor& t) { return t.min(); }
inline std::tuple<Tensor, Tensor> max(const Tensor& t, int64_t dim, bool keepdim = false) { return t.max(dim, keepdim); }
inline std::tuple<Tensor, Tensor> min(const Tensor& t, int64_t dim, bool keepdim = false) { return t.min(dim, keepdim); }
inline Tensor repeat(const Tensor& t, IntArrayRef repeats) { return t.repeat(repeats); }
inline Tensor unsqueeze(const Tensor& t, int64_t dim) { return t.unsqueeze(dim); }
inline Tensor squeeze(const Tensor& t) { return t.squeeze(); }
inline Tensor squeeze(const Tensor& t, int64_t dim) { return t.squeeze(dim); }
inline Tensor pow(const Scalar& base, const Tensor& exponent) { return full_like(exponent, base).pow(exponent); }

}  // namespace hearth

namespace hearth {
template <typename T>
Tensor tensor(const std::vector<T>& values, const TensorOptions& options) {
  auto opts = options.dtype_opt() ? options : options.dtype(CppTypeToScalarType<T>::value);
  Tensor host = from_blob(const_cast<T*>(values.data()), {static_cast<int64_t>(values.size())},
                          TensorOptions(CppTypeToScalarType<T>::value));
  return host.to(opts.device(), opts.dtype(), /*copy=*/true);
}
}  // namespace hearth
