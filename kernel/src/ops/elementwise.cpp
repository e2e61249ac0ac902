// Elementwise ops: dtype promotion, broadcasting and in-place rules in front of the backends'
// unary and binary kernels (SEED B3, G1).
#include <cmath>

#include "../autograd/functions.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth {
namespace {

using autograd::SavingNode;
using autograd::tensor_list;
using autograd::internal::ForwardGuard;

// ---- backward formulas (written with ops, so they differentiate again under create_graph) ----

/// add/sub: d/da = 1, d/db = alpha (negated for sub). The engine sums broadcast dims away.
class AddBackward final : public autograd::Node {
 public:
  AddBackward(const char* name, Scalar b_scale) : name_(name), b_scale_(b_scale) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(2);
    if (needs_input_grad(0)) r[0] = g[0];
    if (needs_input_grad(1)) r[1] = b_scale_.equal(1) ? g[0] : g[0].mul(b_scale_);
    return r;
  }

 private:
  const char* name_;
  Scalar b_scale_;
};

class MulBackward final : public SavingNode<2> {
 public:
  std::string name() const override { return "MulBackward"; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(2);
    if (needs_input_grad(0)) r[0] = g[0] * saved(1);
    if (needs_input_grad(1)) r[1] = g[0] * saved(0);
    return r;
  }
};

class DivBackward final : public SavingNode<2> {
 public:
  std::string name() const override { return "DivBackward"; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(2);
    const Tensor b = saved(1);
    if (needs_input_grad(0)) r[0] = g[0] / b;
    if (needs_input_grad(1)) r[1] = -g[0] * saved(0) / (b * b);
    return r;
  }
};

/// Rounding divisions are piecewise constant: a zero gradient, as PyTorch (zeros, not none, so
/// the inputs' .grad is filled).
class ZeroBackward final : public autograd::Node {
 public:
  explicit ZeroBackward(const char* name) : name_(name) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(num_outputs());
    for (size_t i = 0; i < r.size(); ++i)
      if (needs_input_grad(i)) r[i] = zeros_like(g[0]);
    return r;
  }

 private:
  const char* name_;
};

/// x * scalar, x / scalar, x + scalar...: the gradient is g times a constant.
class ScaleBackward final : public autograd::Node {
 public:
  ScaleBackward(const char* name, Scalar scale) : name_(name), scale_(scale) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& g) override { return {scale_.equal(1) ? g[0] : g[0].mul(scale_)}; }

 private:
  const char* name_;
  Scalar scale_;
};

class PowBackward final : public SavingNode<3> {
 public:
  std::string name() const override { return "PowBackward"; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(2);
    const Tensor a = saved(0), b = saved(1);
    if (needs_input_grad(0)) {
      // b * a^(b-1), defined as 0 where b == 0 (PyTorch)
      Tensor d = b * pow(a, b - Scalar(1));
      r[0] = g[0] * where(b.eq(Scalar(0)), zeros({}, d.options()), d);
    }
    if (needs_input_grad(1)) {
      // a^b * log(a), defined as 0 where a == 0 and b >= 0
      Tensor d = saved(2) * log(a);
      r[1] = g[0] * where(a.eq(Scalar(0)).logical_and(b.ge(Scalar(0))), zeros({}, d.options()), d);
    }
    return r;
  }
};

class PowScalarBackward final : public SavingNode<1> {
 public:
  explicit PowScalarBackward(Scalar e) : e_(e) {}
  std::string name() const override { return "PowBackward"; }
  tensor_list apply(tensor_list&& g) override {
    const Tensor a = saved(0);
    if (e_.equal(0)) return {zeros_like(g[0])};
    return {g[0] * pow(a, Scalar(e_.to_double() - 1)).mul(e_)};
  }

 private:
  Scalar e_;
};

/// maximum/minimum: the gradient goes to the chosen input, split evenly on ties. As PyTorch's
/// `where(a == b, g / 2, g).masked_fill_(a < b, 0)`: an input only loses the gradient where the
/// other one strictly wins, so a NaN comparison passes it to both.
class MaxMinBackward final : public SavingNode<2> {
 public:
  explicit MaxMinBackward(bool is_max) : is_max_(is_max) {}
  std::string name() const override { return is_max_ ? "MaximumBackward" : "MinimumBackward"; }
  tensor_list apply(tensor_list&& g) override {
    const Tensor a = saved(0), b = saved(1);
    // where, not a multiplication by a mask: an infinite gradient stays out of the loser's.
    const Tensor shared = where(a.eq(b), g[0].mul(Scalar(0.5)), g[0]);
    const Tensor zero = zeros({}, g[0].options());
    tensor_list r(2);
    if (needs_input_grad(0)) r[0] = where(is_max_ ? a.lt(b) : a.gt(b), zero, shared);
    if (needs_input_grad(1)) r[1] = where(is_max_ ? a.gt(b) : a.lt(b), zero, shared);
    return r;
  }

 private:
  bool is_max_;
};

/// One-input elementwise ops: grad = formula(g, input, result).
class UnaryBackward final : public SavingNode<2> {
 public:
  using Formula = Tensor (*)(const Tensor& g, const Tensor& x, const Tensor& y);
  UnaryBackward(const char* name, Formula f) : name_(name), f_(f) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& g) override { return {f_(g[0], saved(0), saved(1))}; }

 private:
  const char* name_;
  Formula f_;
};

Tensor sign_of(const Tensor& x, ScalarType dt) { return x.gt(Scalar(0)).to(dt) - x.lt(Scalar(0)).to(dt); }


/// Records a one-input op. save_x / save_y: which of input and result the formula reads.
void record_unary(const char* name, UnaryBackward::Formula f, const Tensor& x, const Tensor& y, bool save_x,
                  bool save_y) {
  auto n = std::make_shared<UnaryBackward>(name, f);
  autograd::record(n, {&x}, {&y});
  if (save_x) n->save(0, x);
  if (save_y) n->save(1, y, /*is_output=*/true);
}

Tensor gelu_backward(const Tensor& grad, const Tensor& self, int approximate);

/// gelu: the derivative needs erf, so it is a kernel (gelu_backward), differentiable itself.
class GeluBackward final : public SavingNode<1> {
 public:
  explicit GeluBackward(int approximate) : approximate_(approximate) {}
  std::string name() const override { return "GeluBackward"; }
  tensor_list apply(tensor_list&& g) override { return {gelu_backward(g[0], saved(0), approximate_)}; }

 private:
  int approximate_;
};

/// gelu_backward(g, x) = g * gelu'(x): d/dg = gelu'(x) (the same kernel again); d/dx = g * gelu''(x),
/// written with ops so that third derivatives work too.
class GeluBackwardBackward final : public SavingNode<2> {
 public:
  explicit GeluBackwardBackward(int approximate) : approximate_(approximate) {}
  std::string name() const override { return "GeluBackwardBackward"; }
  tensor_list apply(tensor_list&& gg) override {
    const Tensor grad = saved(0), x = saved(1);
    tensor_list r(2);
    if (needs_input_grad(0)) r[0] = gelu_backward(gg[0], x, approximate_);
    if (needs_input_grad(1)) r[1] = gg[0] * grad * second_derivative(x);
    return r;
  }

 private:
  Tensor second_derivative(const Tensor& x) const {
    if (approximate_ == 0) {
      // gelu = x*Phi(x): gelu'' = phi(x) * (2 - x^2), phi the standard normal density.
      const Tensor x2 = x * x;
      const Tensor pdf = x2.mul(Scalar(-0.5)).exp().mul(Scalar(M_2_SQRTPI * M_SQRT1_2 * 0.5));
      return pdf * x2.neg().add(Scalar(2));
    }
    // gelu = x/2 * (1 + tanh(u)), u = b*(x + k*x^3):
    // gelu'' = (1 - t^2) * (u' + x/2 * (u'' - 2*t*u'^2)), t = tanh(u).
    const double kBeta = M_SQRT2 * M_2_SQRTPI * 0.5, kKappa = 0.044715;
    const Tensor x2 = x * x;
    const Tensor t = (x + x2 * x * Scalar(kKappa)).mul(Scalar(kBeta)).tanh();
    const Tensor du = x2.mul(Scalar(3 * kKappa)).add(Scalar(1)).mul(Scalar(kBeta));
    const Tensor ddu = x.mul(Scalar(6 * kKappa * kBeta));
    const Tensor sech2 = (t * t).neg().add(Scalar(1));
    return sech2 * (du + x.mul(Scalar(0.5)) * (ddu - t * du * du * Scalar(2)));
  }
  int approximate_;
};

/// clamp: the gradient passes where min <= x <= max, bounds included (PyTorch), else 0.
class ClampBackward final : public SavingNode<1> {
 public:
  ClampBackward(std::optional<Scalar> min, std::optional<Scalar> max) : min_(min), max_(max) {}
  std::string name() const override { return "ClampBackward"; }
  tensor_list apply(tensor_list&& g) override {
    const Tensor x = saved(0);
    Tensor pass;
    if (min_) pass = x.ge(*min_);
    if (max_) pass = pass.defined() ? pass.logical_and(x.le(*max_)) : x.le(*max_);
    return {where(pass, g[0], zeros({}, g[0].options()))};
  }

 private:
  std::optional<Scalar> min_, max_;
};

/// where(c, a, b): a gets the gradient where c holds, b elsewhere; c gets none.
class WhereBackward final : public SavingNode<1> {
 public:
  std::string name() const override { return "WhereBackward"; }
  tensor_list apply(tensor_list&& g) override {
    const Tensor c = saved(0);
    const Tensor zero = zeros({}, g[0].options());
    tensor_list r(3);
    if (needs_input_grad(1)) r[1] = where(c, g[0], zero);
    if (needs_input_grad(2)) r[2] = where(c, zero, g[0]);
    return r;
  }
};

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

// Each unary op with its backward: (name, float_only, save input, save result, formula).
#define HEARTH_UNARY(fn, node_name, float_only, save_x, save_y, ...)                     \
  Tensor fn##_impl(const Tensor& a) {                                                    \
    static const OpHandle op = handle(#fn);                                              \
    const bool rec = autograd::any_requires_grad({&a});                                  \
    Tensor out;                                                                          \
    {                                                                                    \
      ForwardGuard fg(rec);                                                              \
      out = unary(op, a, float_only);                                                    \
    }                                                                                    \
    if (rec)                                                                             \
      record_unary(node_name,                                                            \
                   [](const Tensor& g, const Tensor& x, const Tensor& y) -> Tensor {     \
                     (void)x;                                                            \
                     (void)y;                                                            \
                     return __VA_ARGS__;                                                 \
                   },                                                                    \
                   a, out, save_x, save_y);                                              \
    return out;                                                                          \
  }
HEARTH_UNARY(neg, "NegBackward", false, false, false, -g)
HEARTH_UNARY(abs, "AbsBackward", false, true, false, g * sign_of(x, g.dtype()))
HEARTH_UNARY(exp, "ExpBackward", true, false, true, g * y)
HEARTH_UNARY(log, "LogBackward", true, true, false, g / x)
HEARTH_UNARY(sqrt, "SqrtBackward", true, false, true, g / (y * Scalar(2)))
HEARTH_UNARY(rsqrt, "RsqrtBackward", true, false, true, g * (y * y * y).mul(Scalar(-0.5)))
HEARTH_UNARY(relu, "ReluBackward", false, false, true, ops::relu_backward(g, y))
HEARTH_UNARY(sigmoid, "SigmoidBackward", true, false, true, g * y * (Scalar(1) - y))
HEARTH_UNARY(tanh, "TanhBackward", true, false, true, g * (Scalar(1) - y * y))
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
HEARTH_BINARY(eq, BinKind::Compare)
HEARTH_BINARY(ne, BinKind::Compare)
HEARTH_BINARY(lt, BinKind::Compare)
HEARTH_BINARY(le, BinKind::Compare)
HEARTH_BINARY(gt, BinKind::Compare)
HEARTH_BINARY(ge, BinKind::Compare)
HEARTH_BINARY(logical_and, BinKind::Logical)
HEARTH_BINARY(logical_or, BinKind::Logical)
HEARTH_BINARY(logical_xor, BinKind::Logical)
#undef HEARTH_BINARY

namespace {
/// Runs a binary op's forward and records `node` (with inputs a, b) when autograd is on.
template <typename MakeNode>
Tensor binary_recorded(const OpHandle& op, BinKind kind, const Tensor& a, const Tensor& b, attrs::Binary& at,
                       MakeNode&& make_node) {
  const bool rec = autograd::any_requires_grad({&a, &b});
  if (!rec) [[likely]] return binary(op, kind, a, b, at);
  Tensor out;
  {
    ForwardGuard fg(true);
    out = binary(op, kind, a, b, at);
  }
  auto n = make_node();
  autograd::record(n, {&a, &b}, {&out});
  return out;
}
/// The same for a tensor-scalar op with a constant-factor gradient.
Tensor scalar_recorded(const OpHandle& op, BinKind kind, const Tensor& a, const Scalar& s, attrs::Binary& at,
                       const char* name, const Scalar& grad_scale) {
  const bool rec = autograd::any_requires_grad({&a});
  if (!rec) [[likely]] return binary_scalar(op, kind, a, s, at);
  Tensor out;
  {
    ForwardGuard fg(true);
    out = binary_scalar(op, kind, a, s, at);
  }
  autograd::record(std::make_shared<ScaleBackward>(name, grad_scale), {&a}, {&out});
  return out;
}
}  // namespace

Tensor mul(const Tensor& a, const Tensor& b) {
  static const OpHandle op = handle("mul");
  attrs::Binary at;
  std::shared_ptr<MulBackward> n;
  Tensor out = binary_recorded(op, BinKind::Arith, a, b, at, [&] { return n = std::make_shared<MulBackward>(); });
  if (n) {
    if (n->needs_input_grad(0)) n->save(1, b);
    if (n->needs_input_grad(1)) n->save(0, a);
  }
  return out;
}
Tensor Tensor::mul(const Tensor& o) const { return hearth::mul(*this, o); }

Tensor pow(const Tensor& a, const Tensor& b) {
  static const OpHandle op = handle("pow");
  attrs::Binary at;
  std::shared_ptr<PowBackward> n;
  Tensor out = binary_recorded(op, BinKind::Arith, a, b, at, [&] { return n = std::make_shared<PowBackward>(); });
  if (n) {
    n->save(0, a);
    n->save(1, b);
    n->save(2, out, /*is_output=*/true);
  }
  return out;
}
Tensor Tensor::pow(const Tensor& o) const { return hearth::pow(*this, o); }

Tensor div(const Tensor& a, const Tensor& b) {
  static const OpHandle op = handle("div");
  attrs::Binary at;
  std::shared_ptr<DivBackward> n;
  Tensor out = binary_recorded(op, BinKind::TrueDiv, a, b, at, [&] { return n = std::make_shared<DivBackward>(); });
  if (n) {
    n->save(1, b);
    if (n->needs_input_grad(1)) n->save(0, a);
  }
  return out;
}
Tensor Tensor::div(const Tensor& o) const { return hearth::div(*this, o); }

Tensor maximum(const Tensor& a, const Tensor& b) {
  static const OpHandle op = handle("maximum");
  attrs::Binary at;
  std::shared_ptr<MaxMinBackward> n;
  Tensor out = binary_recorded(op, BinKind::Arith, a, b, at, [&] { return n = std::make_shared<MaxMinBackward>(true); });
  if (n) {
    n->save(0, a);
    n->save(1, b);
  }
  return out;
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  static const OpHandle op = handle("minimum");
  attrs::Binary at;
  std::shared_ptr<MaxMinBackward> n;
  Tensor out = binary_recorded(op, BinKind::Arith, a, b, at, [&] { return n = std::make_shared<MaxMinBackward>(false); });
  if (n) {
    n->save(0, a);
    n->save(1, b);
  }
  return out;
}

Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  static const OpHandle op = handle("add");
  attrs::Binary at;
  at.alpha = alpha;
  return binary_recorded(op, BinKind::Arith, a, b, at, [&] { return std::make_shared<AddBackward>("AddBackward", alpha); });
}
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  HEARTH_CHECK(a.dtype() != kBool || b.dtype() != kBool, DTypeError,
               "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
               "`logical_xor()` operator instead.");
  static const OpHandle op = handle("sub");
  attrs::Binary at;
  at.alpha = alpha;
  return binary_recorded(op, BinKind::Arith, a, b, at, [&] {
    return std::make_shared<AddBackward>("SubBackward", Scalar(-alpha.to_double()));
  });
}

Tensor div(const Tensor& a, const Tensor& b, const std::string& mode) {
  if (mode.empty()) return div(a, b);
  static const OpHandle op = handle("div");
  attrs::Binary at;
  HEARTH_CHECK(mode == "trunc" || mode == "floor", ValueError,
               "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '", mode, "'");
  at.rounding_mode = mode == "trunc" ? 1 : 2;
  return binary_recorded(op, BinKind::Arith, a, b, at, [] { return std::make_shared<ZeroBackward>("DivBackward"); });
}

Tensor pow(const Tensor& a, const Scalar& b) {
  static const OpHandle op = handle("pow");
  attrs::Binary at;
  const bool rec = autograd::any_requires_grad({&a});
  Tensor out;
  {
    ForwardGuard fg(rec);
    out = binary_scalar(op, BinKind::Arith, a, b, at);
  }
  if (rec) {
    auto n = std::make_shared<PowScalarBackward>(b);
    autograd::record(n, {&a}, {&out});
    n->save(0, a);
  }
  return out;
}

Tensor Tensor::add(const Tensor& o, const Scalar& alpha) const { return hearth::add(*this, o, alpha); }
Tensor Tensor::sub(const Tensor& o, const Scalar& alpha) const { return hearth::sub(*this, o, alpha); }

Tensor Tensor::add(const Scalar& o, const Scalar& alpha) const {
  static const OpHandle op = handle("add");
  attrs::Binary at;
  at.alpha = alpha;
  return scalar_recorded(op, BinKind::Arith, *this, o, at, "AddBackward", 1);
}
Tensor Tensor::sub(const Scalar& o, const Scalar& alpha) const {
  static const OpHandle op = handle("sub");
  attrs::Binary at;
  at.alpha = alpha;
  return scalar_recorded(op, BinKind::Arith, *this, o, at, "SubBackward", 1);
}
Tensor Tensor::mul(const Scalar& o) const {
  static const OpHandle op = handle("mul");
  attrs::Binary at;
  return scalar_recorded(op, BinKind::Arith, *this, o, at, "MulBackward", o);
}
Tensor Tensor::div(const Scalar& o) const {
  static const OpHandle op = handle("div");
  attrs::Binary at;
  return scalar_recorded(op, BinKind::TrueDiv, *this, o, at, "DivBackward", Scalar(1.0 / o.to_double()));
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
namespace {
/// An in-place op while autograd records (F1): `result` was computed out of place (with its
/// node, whose edge 0 is self's old history); self takes its values and its history.
Tensor& inplace_via(Tensor& self, const Tensor& result, const char* op) {
  HEARTH_CHECK(can_cast(result.dtype(), self.dtype()), DTypeError, "result type ", result.dtype(),
               " can't be cast to the desired output type ", self.dtype(), " (in-place ", op,
               " would lose information; use an out-of-place op or convert with to())");
  HEARTH_CHECK(result.sizes() == self.sizes(), ShapeError, "output with shape ", self.sizes(),
               " doesn't match the broadcast shape ", result.sizes());
  {
    NoGradGuard ng;
    self.copy_(result);
  }
  if (result.grad_fn()) autograd::rebase_history(self, result.grad_fn());
  return self;
}
/// mul_/div_: the other operand's gradient reads self's value before the op.
bool other_needs_old_self(const Tensor& o) { return o.requires_grad(); }
bool other_needs_old_self(const Scalar&) { return false; }
}  // namespace

// In-place arithmetic. Under autograd the result is computed out of place first; ops whose
// backward reads self's old value (mul_, div_) compute it from a clone of self, since self's
// memory is about to change. An overlapping self (after expand) is refused first, also under
// autograd, so the error names the real problem (SEED G1).
#define HEARTH_INPLACE(method, opname, kindv, grad_expr, ...)                           \
  Tensor& Tensor::method(const Tensor& o __VA_OPT__(, ) __VA_ARGS__) {                  \
    if (autograd::any_requires_grad({this, &o})) [[unlikely]] {                         \
      ops::check_no_internal_overlap(*this, #method);                                   \
      autograd::check_inplace(*this, o.requires_grad(), #method);                       \
      const Tensor& other = o;                                                          \
      return inplace_via(*this, grad_expr, #method);                                    \
    }                                                                                   \
    static const OpHandle op = handle(opname);                                          \
    attrs::Binary at;                                                                   \
    __VA_OPT__(at.alpha = alpha;)                                                       \
    return binary_inplace(op, kindv, *this, o, at);                                     \
  }                                                                                     \
  Tensor& Tensor::method(const Scalar& o __VA_OPT__(, ) __VA_ARGS__) {                  \
    if (autograd::any_requires_grad({this})) [[unlikely]] {                             \
      ops::check_no_internal_overlap(*this, #method);                                   \
      autograd::check_inplace(*this, false, #method);                                   \
      const Scalar& other = o;                                                          \
      return inplace_via(*this, grad_expr, #method);                                    \
    }                                                                                   \
    static const OpHandle op = handle(opname);                                          \
    attrs::Binary at;                                                                   \
    __VA_OPT__(at.alpha = alpha;)                                                       \
    return binary_inplace(op, kindv, *this, o, at);                                     \
  }
HEARTH_INPLACE(add_, "add", BinKind::Arith, this->add(other, alpha), const Scalar& alpha)
HEARTH_INPLACE(sub_, "sub", BinKind::Arith, this->sub(other, alpha), const Scalar& alpha)
HEARTH_INPLACE(mul_, "mul", BinKind::Arith, (other_needs_old_self(other) ? clone() : *this).mul(other))
HEARTH_INPLACE(div_, "div", BinKind::TrueDiv, (other_needs_old_self(other) ? clone() : *this).div(other))
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
  const bool rec = autograd::any_requires_grad({&a});
  Tensor out;
  {
    ForwardGuard fg(rec);
    out = unary(op, a, true, &at);
  }
  if (rec) {
    auto n = std::make_shared<GeluBackward>(at.approximate);
    autograd::record(n, {&a}, {&out});
    n->save(0, a);
  }
  return out;
}

namespace {
Tensor gelu_backward(const Tensor& grad, const Tensor& self, int approximate) {
  static const OpHandle op = handle("gelu_backward");
  const Device dev = ops::common_device("gelu_backward", {&grad, &self});
  const ScalarType dt = promote_types(grad.dtype(), self.dtype());
  HEARTH_CHECK(is_floating_point(dt), DTypeError, "gelu_backward: expected floating point tensors, got grad ",
               grad.dtype(), " and input ", self.dtype());
  const bool rec = autograd::any_requires_grad({&grad, &self});
  Tensor out;
  {
    ForwardGuard fg(rec);
    out = new_tensor(broadcast_shapes(grad.sizes(), self.sizes()), dt, dev);
    attrs::Unary at;
    at.approximate = approximate;
    call(op, dev, {grad.dtype() == dt ? grad : grad.to(dt), self.dtype() == dt ? self : self.to(dt)}, {out}, &at);
  }
  if (rec) {
    auto n = std::make_shared<GeluBackwardBackward>(approximate);
    autograd::record(n, {&grad, &self}, {&out});
    if (n->needs_input_grad(1)) n->save(0, grad);
    n->save(1, self);
  }
  return out;
}
}  // namespace
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
  const bool rec = autograd::any_requires_grad({&a});
  Tensor out;
  {
    ForwardGuard fg(rec);
    const Tensor ac = dt == a.dtype() ? a : a.to(dt);
    out = new_tensor(a.sizes(), dt, a.device());
    attrs::Clamp at{min, max};
    call(op, a.device(), {ac}, {out}, &at);
  }
  if (rec) {
    auto n = std::make_shared<ClampBackward>(min, max);
    autograd::record(n, {&a}, {&out});
    n->save(0, a);
  }
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  static const OpHandle op = handle("where");
  Device dev = ops::common_device("where", {&cond, &a, &b});
  HEARTH_CHECK(cond.dtype() == kBool || cond.dtype() == kUInt8, DTypeError,
               "where expected condition to be a boolean tensor, but got a tensor with dtype ", cond.dtype());
  const ScalarType dt = result_type(a, b);
  DimVector shape = broadcast_shapes(broadcast_shapes(cond.sizes(), a.sizes()), b.sizes());
  const bool rec = autograd::any_requires_grad({&a, &b});
  Tensor out, c;
  {
    ForwardGuard fg(rec);
    out = new_tensor(shape, dt, dev);
    c = cond.dtype() == kBool ? cond : cond.to(kBool);
    call(op, dev, {c, a.dtype() == dt ? a : a.to(dt), b.dtype() == dt ? b : b.to(dt)}, {out});
  }
  if (rec) {
    auto n = std::make_shared<WhereBackward>();
    autograd::record(n, {nullptr, &a, &b}, {&out});
    n->save(0, c);
  }
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
  const bool rec = autograd::any_requires_grad({this});
  if (rec) autograd::check_inplace(*this, false, "relu_");
  // Truly in place also under autograd (SEED F1): the backward reads the result, which is
  // saved after the write, so only a later in-place change is an error.
  static const OpHandle op = handle("relu");
  ops::call(op, device(), {*this}, {*this});
  impl_->bump_version();
  if (rec) {
    auto n = std::make_shared<UnaryBackward>(
        "ReluBackward", [](const Tensor& g, const Tensor&, const Tensor& y) { return ops::relu_backward(g, y); });
    autograd::make_node(n, {this});
    autograd::rebase_history(*this, n);
    // On a view, n is wrapped in the base's CopySlices and the view's grad_fn is replayed from the
    // base: the result is then saved as an ordinary input would be (with the view's own node).
    n->save(1, *this, /*is_output=*/!autograd::internal::is_rebasing_view(*this));
  }
  return *this;
}
Tensor Tensor::sigmoid() const { return hearth::sigmoid(*this); }
Tensor Tensor::tanh() const { return hearth::tanh(*this); }
Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const { return hearth::clamp(*this, min, max); }
Tensor& Tensor::clamp_(std::optional<Scalar> min, std::optional<Scalar> max) {
  ops::check_no_internal_overlap(*this, "clamp_");
  if (autograd::any_requires_grad({this})) {
    autograd::check_inplace(*this, false, "clamp_");
    return inplace_via(*this, hearth::clamp(clone(), min, max), "clamp_");
  }
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
