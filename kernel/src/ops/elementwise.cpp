// Elementwise ops: dtype promotion, broadcasting and in-place rules in front of the backends'
// unary and binary kernels (SEED B3, G1).
#include <cmath>

#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth {
namespace {

using ops::call;
using ops::new_tensor;

enum class BinKind { Arith, TrueDiv, Compare, Logical };

struct BinOp {
  const char* name;
  BinKind kind;
};

ScalarType out_dtype_for(BinKind k, ScalarType compute) {
  return (k == BinKind::Compare || k == BinKind::Logical) ? kBool : compute;
}

ScalarType compute_dtype_for(BinKind k, ScalarType common) {
  // True division of integers computes in the default float (PyTorch).
  if (k == BinKind::TrueDiv && !is_floating_point(common)) return default_dtype();
  return common;
}

OpHandle handle(const char* name) { return find_op(name); }

Tensor binary(const OpHandle& op, BinKind kind, const Tensor& a, const Tensor& b, attrs::Binary& at) {
  Device dev = ops::common_device(op.name().c_str(), {&a, &b});
  const ScalarType compute = compute_dtype_for(kind, result_type(a, b));
  DimVector shape = broadcast_shapes(a.sizes(), b.sizes());
  Tensor out = new_tensor(shape, out_dtype_for(kind, compute), dev);
  // References, not copies, on the common path: each handle copy is an atomic inc/dec pair.
  Tensor conv_a, conv_b;
  const Tensor& ac = a.dtype() == compute ? a : (conv_a = a.to(compute));
  const Tensor& bc = b.dtype() == compute ? b : (conv_b = b.to(compute));
  call(op, dev, {ac, bc}, {out}, &at);
  return out;
}

Tensor binary_scalar(const OpHandle& op, BinKind kind, const Tensor& a, const Scalar& s, attrs::Binary& at) {
  const ScalarType compute = compute_dtype_for(kind, result_type(a, s));
  Tensor out = new_tensor(a.sizes(), out_dtype_for(kind, compute), a.device());
  Tensor conv_a;
  const Tensor& ac = a.dtype() == compute ? a : (conv_a = a.to(compute));
  at.rhs_is_scalar = true;
  at.scalar = s;
  call(op, a.device(), {ac}, {out}, &at);
  return out;
}

/// In-place: the result must be castable into self's dtype (SEED B3) and broadcast to self's
/// shape; self must not overlap itself (SEED G1).
template <typename Other>
Tensor& binary_inplace(const OpHandle& op, BinKind kind, Tensor& self, const Other& other, attrs::Binary& at) {
  ops::check_no_internal_overlap(self, op.name().c_str());
  ScalarType common;
  if constexpr (std::is_same_v<Other, Tensor>) {
    ops::common_device(op.name().c_str(), {&self, &other});
    ops::check_no_partial_overlap(self, other, op.name().c_str());
    DimVector shape = broadcast_shapes(self.sizes(), other.sizes());
    HEARTH_CHECK(IntArrayRef(shape) == self.sizes(), ShapeError, "output with shape ", self.sizes(),
                 " doesn't match the broadcast shape ", IntArrayRef(shape));
    common = result_type(self, other);
  } else {
    common = result_type(self, other);
  }
  const ScalarType compute = compute_dtype_for(kind, common);
  const ScalarType out_dt = out_dtype_for(kind, compute);
  HEARTH_CHECK(can_cast(out_dt, self.dtype()), DTypeError, "result type ", out_dt,
               " can't be cast to the desired output type ", self.dtype(), " (in-place ", op.name(),
               " would lose information; use an out-of-place op or convert with to())");
  if (out_dt == self.dtype()) {
    const Tensor sc = self;  // self already has the compute dtype
    if constexpr (std::is_same_v<Other, Tensor>) {
      const Tensor oc = other.dtype() == compute ? other : other.to(compute);
      call(op, self.device(), {sc, oc}, {self}, &at);
    } else {
      at.rhs_is_scalar = true;
      at.scalar = other;
      call(op, self.device(), {sc}, {self}, &at);
    }
    self.impl()->bump_version();
  } else {
    Tensor r;
    if constexpr (std::is_same_v<Other, Tensor>) r = binary(op, kind, self, other, at);
    else r = binary_scalar(op, kind, self, other, at);
    self.copy_(r);
  }
  return self;
}

Tensor unary(const OpHandle& op, const Tensor& a, bool float_only, const attrs::Unary* at = nullptr) {
  ScalarType dt = a.dtype();
  if (float_only && !is_floating_point(dt)) dt = default_dtype();
  const Tensor ac = dt == a.dtype() ? a : a.to(dt);
  Tensor out = new_tensor(a.sizes(), dt, a.device());
  call(op, a.device(), {ac}, {out}, at);
  return out;
}

#define HEARTH_UNARY(fn, float_only)                                     \
  Tensor fn##_impl(const Tensor& a) {                                    \
    static const OpHandle op = handle(#fn);                              \
    return unary(op, a, float_only);                                     \
  }
HEARTH_UNARY(neg, false)
HEARTH_UNARY(abs, false)
HEARTH_UNARY(exp, true)
HEARTH_UNARY(log, true)
HEARTH_UNARY(sqrt, true)
HEARTH_UNARY(rsqrt, true)
HEARTH_UNARY(relu, false)
HEARTH_UNARY(sigmoid, true)
HEARTH_UNARY(tanh, true)
#undef HEARTH_UNARY

}  // namespace

// ---- binary: free functions ----
#define HEARTH_BINARY(fn, kindv)                                                         \
  Tensor fn(const Tensor& a, const Tensor& b) {                                          \
    static const OpHandle op = handle(#fn);                                              \
    attrs::Binary at;                                                                    \
    return binary(op, kindv, a, b, at);                                                  \
  }                                                                                      \
  Tensor Tensor::fn(const Tensor& o) const { return hearth::fn(*this, o); }
HEARTH_BINARY(mul, BinKind::Arith)
HEARTH_BINARY(pow, BinKind::Arith)
HEARTH_BINARY(eq, BinKind::Compare)
HEARTH_BINARY(ne, BinKind::Compare)
HEARTH_BINARY(lt, BinKind::Compare)
HEARTH_BINARY(le, BinKind::Compare)
HEARTH_BINARY(gt, BinKind::Compare)
HEARTH_BINARY(ge, BinKind::Compare)
HEARTH_BINARY(logical_and, BinKind::Logical)
HEARTH_BINARY(logical_or, BinKind::Logical)
HEARTH_BINARY(logical_xor, BinKind::Logical)
HEARTH_BINARY(div, BinKind::TrueDiv)
#undef HEARTH_BINARY

Tensor maximum(const Tensor& a, const Tensor& b) {
  static const OpHandle op = handle("maximum");
  attrs::Binary at;
  return binary(op, BinKind::Arith, a, b, at);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  static const OpHandle op = handle("minimum");
  attrs::Binary at;
  return binary(op, BinKind::Arith, a, b, at);
}

Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  static const OpHandle op = handle("add");
  attrs::Binary at;
  at.alpha = alpha;
  return binary(op, BinKind::Arith, a, b, at);
}
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  HEARTH_CHECK(a.dtype() != kBool || b.dtype() != kBool, DTypeError,
               "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
               "`logical_xor()` operator instead.");
  static const OpHandle op = handle("sub");
  attrs::Binary at;
  at.alpha = alpha;
  return binary(op, BinKind::Arith, a, b, at);
}

Tensor div(const Tensor& a, const Tensor& b, const std::string& mode) {
  static const OpHandle op = handle("div");
  attrs::Binary at;
  if (mode.empty()) return binary(op, BinKind::TrueDiv, a, b, at);
  HEARTH_CHECK(mode == "trunc" || mode == "floor", ValueError,
               "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '", mode, "'");
  at.rounding_mode = mode == "trunc" ? 1 : 2;
  return binary(op, BinKind::Arith, a, b, at);
}

Tensor pow(const Tensor& a, const Scalar& b) {
  static const OpHandle op = handle("pow");
  attrs::Binary at;
  return binary_scalar(op, BinKind::Arith, a, b, at);
}

Tensor Tensor::add(const Tensor& o, const Scalar& alpha) const { return hearth::add(*this, o, alpha); }
Tensor Tensor::sub(const Tensor& o, const Scalar& alpha) const { return hearth::sub(*this, o, alpha); }

Tensor Tensor::add(const Scalar& o, const Scalar& alpha) const {
  static const OpHandle op = handle("add");
  attrs::Binary at;
  at.alpha = alpha;
  return binary_scalar(op, BinKind::Arith, *this, o, at);
}
Tensor Tensor::sub(const Scalar& o, const Scalar& alpha) const {
  static const OpHandle op = handle("sub");
  attrs::Binary at;
  at.alpha = alpha;
  return binary_scalar(op, BinKind::Arith, *this, o, at);
}
Tensor Tensor::mul(const Scalar& o) const {
  static const OpHandle op = handle("mul");
  attrs::Binary at;
  return binary_scalar(op, BinKind::Arith, *this, o, at);
}
Tensor Tensor::div(const Scalar& o) const {
  static const OpHandle op = handle("div");
  attrs::Binary at;
  return binary_scalar(op, BinKind::TrueDiv, *this, o, at);
}
Tensor Tensor::pow(const Scalar& e) const { return hearth::pow(*this, e); }

#define HEARTH_CMP_SCALAR(fn)                               \
  Tensor Tensor::fn(const Scalar& o) const {                \
    static const OpHandle op = handle(#fn);                 \
    attrs::Binary at;                                       \
    return binary_scalar(op, BinKind::Compare, *this, o, at); \
  }
HEARTH_CMP_SCALAR(eq)
HEARTH_CMP_SCALAR(ne)
HEARTH_CMP_SCALAR(lt)
HEARTH_CMP_SCALAR(le)
HEARTH_CMP_SCALAR(gt)
HEARTH_CMP_SCALAR(ge)
#undef HEARTH_CMP_SCALAR

// ---- in-place ----
#define HEARTH_INPLACE(method, opname, kindv, ...)                    \
  Tensor& Tensor::method(const Tensor& o __VA_OPT__(, ) __VA_ARGS__) { \
    static const OpHandle op = handle(opname);                        \
    attrs::Binary at;                                                 \
    __VA_OPT__(at.alpha = alpha;)                                     \
    return binary_inplace(op, kindv, *this, o, at);                   \
  }                                                                   \
  Tensor& Tensor::method(const Scalar& o __VA_OPT__(, ) __VA_ARGS__) { \
    static const OpHandle op = handle(opname);                        \
    attrs::Binary at;                                                 \
    __VA_OPT__(at.alpha = alpha;)                                     \
    return binary_inplace(op, kindv, *this, o, at);                   \
  }
HEARTH_INPLACE(add_, "add", BinKind::Arith, const Scalar& alpha)
HEARTH_INPLACE(sub_, "sub", BinKind::Arith, const Scalar& alpha)
HEARTH_INPLACE(mul_, "mul", BinKind::Arith)
HEARTH_INPLACE(div_, "div", BinKind::TrueDiv)
#undef HEARTH_INPLACE

// ---- unary ----
Tensor neg(const Tensor& a) {
  HEARTH_CHECK(a.dtype() != kBool, DTypeError,
               "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, "
               "use the `~` or `logical_not()` operator instead.");
  return neg_impl(a);
}
Tensor abs(const Tensor& a) { return abs_impl(a); }
Tensor exp(const Tensor& a) { return exp_impl(a); }
Tensor log(const Tensor& a) { return log_impl(a); }
Tensor sqrt(const Tensor& a) { return sqrt_impl(a); }
Tensor rsqrt(const Tensor& a) { return rsqrt_impl(a); }
Tensor relu(const Tensor& a) {
  HEARTH_CHECK(a.dtype() != kBool, DTypeError, "relu: not implemented for 'bool'");
  return relu_impl(a);
}
Tensor sigmoid(const Tensor& a) { return sigmoid_impl(a); }
Tensor tanh(const Tensor& a) { return tanh_impl(a); }
Tensor gelu(const Tensor& a, const std::string& approximate) {
  HEARTH_CHECK(approximate == "none" || approximate == "tanh", ValueError,
               "gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
  HEARTH_CHECK(a.is_floating_point(), DTypeError, "gelu: expected a floating point tensor, got ", a.dtype());
  attrs::Unary at;
  at.approximate = approximate == "tanh" ? 1 : 0;
  static const OpHandle op = handle("gelu");
  return unary(op, a, true, &at);
}
Tensor logical_not(const Tensor& a) {
  static const OpHandle op = handle("logical_not");
  Tensor out = new_tensor(a.sizes(), kBool, a.device());
  call(op, a.device(), {a}, {out});
  return out;
}

Tensor clamp(const Tensor& a, std::optional<Scalar> min, std::optional<Scalar> max) {
  HEARTH_CHECK(min || max, ValueError, "clamp: at least one of 'min' or 'max' must not be None");
  HEARTH_CHECK(a.dtype() != kBool, DTypeError, "clamp: not implemented for 'bool'");
  static const OpHandle op = handle("clamp");
  // PyTorch: a float bound on an integer tensor promotes the result.
  ScalarType dt = a.dtype();
  if (min) dt = result_type(a.dtype() == dt ? a : a.to(dt), *min);
  if (max) dt = promote_types(dt, result_type(a, *max));
  const Tensor ac = dt == a.dtype() ? a : a.to(dt);
  Tensor out = new_tensor(a.sizes(), dt, a.device());
  attrs::Clamp at{min, max};
  call(op, a.device(), {ac}, {out}, &at);
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  static const OpHandle op = handle("where");
  Device dev = ops::common_device("where", {&cond, &a, &b});
  HEARTH_CHECK(cond.dtype() == kBool || cond.dtype() == kUInt8, DTypeError,
               "where expected condition to be a boolean tensor, but got a tensor with dtype ", cond.dtype());
  const ScalarType dt = result_type(a, b);
  DimVector shape = broadcast_shapes(broadcast_shapes(cond.sizes(), a.sizes()), b.sizes());
  Tensor out = new_tensor(shape, dt, dev);
  const Tensor c = cond.dtype() == kBool ? cond : cond.to(kBool);
  call(op, dev, {c, a.dtype() == dt ? a : a.to(dt), b.dtype() == dt ? b : b.to(dt)}, {out});
  return out;
}

bool equal(const Tensor& a, const Tensor& b) {
  if (!a.sizes().equals(b.sizes())) return false;
  if (a.numel() == 0) return true;
  return eq(a, b).logical_not().sum().item<int64_t>() == 0;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  HEARTH_CHECK(rtol >= 0 && atol >= 0, ValueError, "allclose: rtol and atol must be non-negative");
  const ScalarType dt = promote_types(promote_types(a.dtype(), b.dtype()), kFloat64);
  Tensor x = a.to(dt), y = b.to(dt);
  Tensor diff = abs(sub(x, y));
  Tensor tol = abs(y).mul(Scalar(rtol)).add(Scalar(atol));
  Tensor ok = le(diff, tol);
  // Equal infinities are close; NaNs only with equal_nan.
  ok = logical_or(ok, eq(x, y));
  if (equal_nan) ok = logical_or(ok, logical_and(ne(x, x), ne(y, y)));
  return logical_not(ok).sum().item<int64_t>() == 0;
}

Tensor Tensor::neg() const { return hearth::neg(*this); }
Tensor Tensor::abs() const { return hearth::abs(*this); }
Tensor Tensor::exp() const { return hearth::exp(*this); }
Tensor Tensor::log() const { return hearth::log(*this); }
Tensor Tensor::sqrt() const { return hearth::sqrt(*this); }
Tensor Tensor::rsqrt() const { return hearth::rsqrt(*this); }
Tensor Tensor::relu() const { return hearth::relu(*this); }
Tensor& Tensor::relu_() {
  ops::check_no_internal_overlap(*this, "relu_");
  HEARTH_CHECK(dtype() != kBool, DTypeError, "relu_: not implemented for 'bool'");
  static const OpHandle op = handle("relu");
  ops::call(op, device(), {*this}, {*this});
  impl_->bump_version();
  return *this;
}
Tensor Tensor::sigmoid() const { return hearth::sigmoid(*this); }
Tensor Tensor::tanh() const { return hearth::tanh(*this); }
Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const { return hearth::clamp(*this, min, max); }
Tensor& Tensor::clamp_(std::optional<Scalar> min, std::optional<Scalar> max) {
  ops::check_no_internal_overlap(*this, "clamp_");
  Tensor r = hearth::clamp(*this, min, max);
  HEARTH_CHECK(can_cast(r.dtype(), dtype()), DTypeError, "clamp_: result type ", r.dtype(),
               " can't be cast to the desired output type ", dtype());
  return copy_(r);
}
Tensor Tensor::logical_not() const { return hearth::logical_not(*this); }

// ---- operators ----
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, const Scalar& b) { return a.add(b); }
Tensor operator-(const Tensor& a, const Scalar& b) { return a.sub(b); }
Tensor operator*(const Tensor& a, const Scalar& b) { return a.mul(b); }
Tensor operator/(const Tensor& a, const Scalar& b) { return a.div(b); }
Tensor operator+(const Scalar& a, const Tensor& b) { return b.add(a); }
Tensor operator-(const Scalar& a, const Tensor& b) { return neg(b).add(a); }
Tensor operator*(const Scalar& a, const Tensor& b) { return b.mul(a); }
Tensor operator/(const Scalar& a, const Tensor& b) { return div(full_like(b, a, TensorOptions(result_type(b, a))), b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, const Scalar& b) { return a.eq(b); }
Tensor operator!=(const Tensor& a, const Scalar& b) { return a.ne(b); }
Tensor operator<(const Tensor& a, const Scalar& b) { return a.lt(b); }
Tensor operator<=(const Tensor& a, const Scalar& b) { return a.le(b); }
Tensor operator>(const Tensor& a, const Scalar& b) { return a.gt(b); }
Tensor operator>=(const Tensor& a, const Scalar& b) { return a.ge(b); }
Tensor operator&&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
Tensor operator||(const Tensor& a, const Tensor& b) { return logical_or(a, b); }
Tensor operator!(const Tensor& a) { return logical_not(a); }
Tensor& operator+=(Tensor& a, const Tensor& b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return a.div_(b); }
Tensor& operator+=(Tensor& a, const Scalar& b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Scalar& b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Scalar& b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Scalar& b) { return a.div_(b); }

}  // namespace hearth
