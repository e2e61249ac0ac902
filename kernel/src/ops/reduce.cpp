// Reductions over dims with keepdim: output dtypes, empty-dim rules, then the backend kernel,
// which always writes the keepdim shape (squeezed here when keepdim is false).
#include <algorithm>
#include <cmath>
#include <limits>

#include "../autograd/functions.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth {
namespace {

using autograd::tensor_list;
using autograd::internal::ForwardGuard;
using ops::new_tensor;

/// Puts back the reduced dims (size 1) a keepdim=false reduction removed, so g broadcasts
/// against the input.
Tensor unsqueeze_reduced(const Tensor& g, IntArrayRef dims, bool keepdim, int64_t in_dim) {
  if (keepdim || in_dim == 0) return g;
  Tensor r = g;
  for (int64_t d : dims) r = r.unsqueeze(d);  // dims are sorted ascending
  return r;
}

/// sum and mean: every input element gets g (divided by the count for mean).
class SumBackward final : public autograd::Node {
 public:
  SumBackward(const char* name, IntArrayRef in_sizes, IntArrayRef dims, bool keepdim, double scale)
      : name_(name), in_sizes_(in_sizes.begin(), in_sizes.end()), dims_(dims.begin(), dims.end()),
        keepdim_(keepdim), scale_(scale) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& g) override {
    Tensor r = unsqueeze_reduced(g[0], dims_, keepdim_, static_cast<int64_t>(in_sizes_.size())).expand(in_sizes_);
    return {scale_ == 1.0 ? r : r.mul(Scalar(scale_))};
  }

 private:
  const char* name_;
  DimVector in_sizes_, dims_;
  bool keepdim_;
  double scale_;
};

/// t.sum(dims, keepdim=true); a 0-dim t is its own sum.
Tensor sum_keep(const Tensor& t, IntArrayRef dims) { return t.dim() == 0 ? t : t.sum(dims, /*keepdim=*/true); }

/// -1, 0 or 1 in x's dtype (a constant: its derivative is zero almost everywhere).
Tensor sign_const(const Tensor& x) { return x.gt(Scalar(0)).to(x.dtype()) - x.lt(Scalar(0)).to(x.dtype()); }

/// 1 where t == 0, else 0, in t's dtype: lets formulas replace zeros by arithmetic (t + z) instead
/// of where(), so they stay differentiable under create_graph.
Tensor zero_mask(const Tensor& t) { return t.eq(Scalar(0)).to(t.dtype()); }

/// amax/amin (and max()/min()): the gradient is split evenly among the elements equal to the
/// result (PyTorch's evenly-distributed subgradient); NaN results select the NaN elements.
class AmaxBackward final : public autograd::SavingNode<2> {
 public:
  AmaxBackward(const char* name, IntArrayRef dims, bool keepdim)
      : name_(name), dims_(dims.begin(), dims.end()), keepdim_(keepdim) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& g) override {
    const Tensor x = saved(0);
    const Tensor r = unsqueeze_reduced(saved(1), dims_, keepdim_, x.dim());
    const Tensor gk = unsqueeze_reduced(g[0], dims_, keepdim_, x.dim());
    const Tensor mask = x.eq(r).logical_or(x.ne(x).logical_and(r.ne(r))).to(gk.dtype());
    return {gk * mask / sum_keep(mask, dims_)};
  }

 private:
  const char* name_;
  DimVector dims_;
  bool keepdim_;
};

/// prod over all elements (dim_ empty) or one dim. Each element's gradient is the product of
/// the others: result / x where x != 0. At a zero that is the only one of its slice, the
/// product of the rest (the slice with its zero replaced by 1); where a slice has two or more
/// zeros, every product of others contains a zero. No division by zero happens, and the terms
/// are masked so that their own derivatives (create_graph) are right too.
class ProdBackward final : public autograd::SavingNode<2> {
 public:
  ProdBackward(std::optional<int64_t> dim, bool keepdim) : dim_(dim), keepdim_(keepdim) {}
  std::string name() const override { return "ProdBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor r = saved(1), &g = grads[0];
    Tensor x = saved(0);
    if (x.dtype() != r.dtype()) x = x.to(r.dtype());  // prod(x, dtype=...)
    // A keepdim view over one dim d: the flattened input, or the reduced dim.
    Tensor xk = x, rk = r, gk = g;
    int64_t d = 0;
    if (!dim_ || x.dim() == 0) {
      xk = x.reshape({-1});
      rk = r.reshape({1});
      gk = g.reshape({1});
    } else {
      d = *dim_;
      if (!keepdim_) {
        rk = r.unsqueeze(d);
        gk = g.unsqueeze(d);
      }
    }
    return {(gk * others(xk, rk, d)).reshape(x.sizes())};
  }

 private:
  static Tensor others(const Tensor& x, const Tensor& r, int64_t d) {
    const Tensor z = zero_mask(x), nz = Scalar(1) - z;
    const Tensor masked = x * nz + z;  // zeros replaced by a constant 1
    const Tensor zc = z.sum({d}, /*keepdim=*/true);
    // Under create_graph the masks above are constants, which would lose the second
    // derivatives between two zeros of a slice: use the exact (quadratic) form there.
    if (is_grad_enabled() && x.numel() > 0 && zc.max().item<double>() >= 2) return exclusive(x, d);
    const Tensor at_zero = masked.prod(d, /*keepdim=*/true) * zc.eq(Scalar(1)).to(x.dtype());
    // r / x is 0 at a zero too, but its derivative is not: mask it out there.
    return r / masked * nz + z * at_zero;
  }
  /// prod_{j != i} x_j for every i along d, as the product over j of X[i, j] = (i == j ? 1 : x_j).
  static Tensor exclusive(const Tensor& x, int64_t d) {
    const int64_t n = x.size(d);
    DimVector es(x.sizes().begin(), x.sizes().end());
    es.insert(static_cast<size_t>(d), n);
    const Tensor X = x.unsqueeze(d).expand(es);
    DimVector eshape(static_cast<size_t>(x.dim() + 1), 1);
    eshape[static_cast<size_t>(d)] = n;
    eshape[static_cast<size_t>(d + 1)] = n;
    const Tensor E = eye(n, n, TensorOptions(x.dtype()).device(x.device())).view(eshape);
    return (X - X * E + E).prod(d + 1);
  }

  std::optional<int64_t> dim_;
  bool keepdim_;
};

/// max(dim)/min(dim): the gradient goes to the chosen index (the indices get none).
class MaxDimBackward final : public autograd::SavingNode<1> {
 public:
  MaxDimBackward(const char* name, IntArrayRef in_sizes, int64_t dim, bool keepdim)
      : name_(name), in_sizes_(in_sizes.begin(), in_sizes.end()), dim_(dim), keepdim_(keepdim) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor& g = grads[0];
    if (in_sizes_.empty()) return {g};  // 0-dim input: the value is the input
    const Tensor idx = saved(0);
    const Tensor gk = keepdim_ ? g : g.unsqueeze(dim_), ik = keepdim_ ? idx : idx.unsqueeze(dim_);
    return {scatter(zeros(in_sizes_, g.options()), dim_, ik, gk)};
  }

 private:
  const char* name_;
  DimVector in_sizes_;
  int64_t dim_;
  bool keepdim_;
};

/// var: 2/(N - correction) * g * (x - mean). std: the var gradient of g / (2 std), with 0
/// where std == 0 (current PyTorch: a constant input gets a zero gradient, not NaN). Over all
/// elements with N <= correction PyTorch gives NaN where x == mean and inf elsewhere.
class VarStdBackward final : public autograd::SavingNode<2> {
 public:
  VarStdBackward(bool is_std, IntArrayRef dims, bool all, int64_t correction, bool keepdim)
      : is_std_(is_std), dims_(dims.begin(), dims.end()), all_(all), correction_(correction), keepdim_(keepdim) {}
  std::string name() const override { return is_std_ ? "StdBackward" : "VarBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor x = saved(0);
    Tensor gk = unsqueeze_reduced(grads[0], dims_, keepdim_, x.dim());
    if (is_std_) {
      const Tensor s = unsqueeze_reduced(saved(1), dims_, keepdim_, x.dim());
      const Tensor z = zero_mask(s);
      gk = gk / (s * Scalar(2) + z) * (Scalar(1) - z);
    }
    int64_t n = 1;
    if (x.dim() > 0)
      for (int64_t d : dims_) n *= x.size(d);
    const double dof = static_cast<double>(n) - static_cast<double>(correction_);
    const Tensor centered = x - x.mean(dims_, /*keepdim=*/true);
    if (all_ && dof <= 0) {
      Tensor c;
      {
        NoGradGuard ng;
        const TensorOptions o = TensorOptions(x.dtype()).device(x.device());
        c = where(centered.eq(Scalar(0)), scalar_tensor(std::numeric_limits<double>::quiet_NaN(), o),
                  scalar_tensor(std::numeric_limits<double>::infinity(), o));
      }
      return {gk * c};
    }
    return {gk * centered * Scalar(dof == 0 ? std::numeric_limits<double>::infinity() : 2.0 / dof)};
  }

 private:
  bool is_std_;
  DimVector dims_;
  bool all_;
  int64_t correction_;
  bool keepdim_;
};

/// Vector p-norm (PyTorch's norm_backward). SEED G7: for p = 2 the gradient x / norm is 0/0 at
/// norm 0; hearth (like PyTorch) takes the zero subgradient there, so norm(x) at x = 0 gives a
/// zero gradient, not NaN (unlike sqrt(sum(x*x)), whose sqrt has an infinite derivative at 0).
/// Other p follow the same rule: where the norm or |x| is 0, the term is 0.
class NormBackward final : public autograd::SavingNode<2> {
 public:
  NormBackward(double p, IntArrayRef dims, bool keepdim) : p_(p), dims_(dims.begin(), dims.end()), keepdim_(keepdim) {}
  std::string name() const override { return "NormBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor x = saved(0);
    const Tensor nk = unsqueeze_reduced(saved(1), dims_, keepdim_, x.dim());
    const Tensor gk = unsqueeze_reduced(grads[0], dims_, keepdim_, x.dim());
    const double p = p_;
    if (p == 0.0) return {zeros_like(x)};  // counts non-zeros: piecewise constant
    if (p == 1.0) return {gk * sign_const(x)};
    if (p == 2.0) return {gk * x / (nk + zero_mask(nk))};  // x == 0 wherever nk == 0 (SEED G7)
    if (std::isinf(p)) {
      // max (or min) of |x|: split among the tied elements, NaNs selected like amax.
      const Tensor ax = x.abs();
      const Tensor mask = ax.eq(nk).logical_or(ax.ne(ax)).to(x.dtype());
      return {sign_const(x) * gk * mask / sum_keep(mask, dims_)};
    }
    if (p < 1.0) {
      // |x|^(p-1) is infinite at x == 0, where sign(x) is 0: use |x| + 1 there.
      const Tensor scaled = sign_const(x) * (x.abs() + zero_mask(x)).pow(Scalar(p - 1));
      return {scaled * gk * nk.pow(Scalar(1 - p))};
    }
    // The numerator is 0 wherever nk == 0, so dividing by 1 there gives the zero subgradient.
    const Tensor scaled = p < 2.0 ? sign_const(x) * x.abs().pow(Scalar(p - 1)) : x * x.abs().pow(Scalar(p - 2));
    return {scaled * (gk / (nk + zero_mask(nk)).pow(Scalar(p - 1)))};
  }

 private:
  double p_;
  DimVector dims_;
  bool keepdim_;
};

/// Normalized, sorted, de-duplicated dims; empty input = all dims.
DimVector reduce_dims(const Tensor& a, IntArrayRef dims, const char* op) {
  DimVector out;
  if (dims.empty()) {
    for (int64_t d = 0; d < a.dim(); ++d) out.push_back(d);
    return out;
  }
  for (auto d : dims) {
    int64_t w = ops::wrap_dim(d, a.dim());
    HEARTH_CHECK(std::find(out.begin(), out.end(), w) == out.end(), ValueError, op, ": dim ", w,
                 " appears multiple times in the list of dims ", dims);
    out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  return out;
}

DimVector keep_shape(const Tensor& a, const DimVector& dims) {
  DimVector s(a.sizes().begin(), a.sizes().end());
  for (auto d : dims)
    if (d < a.dim()) s[d] = 1;
  return s;
}

Tensor squeeze_dims(const Tensor& t, const DimVector& dims, bool keepdim, int64_t in_dim) {
  if (keepdim || in_dim == 0) return t;
  DimVector shape;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) shape.push_back(t.size(d));
  return ops::own_view(t.view(shape));  // t is a reduction's fresh result
}

/// Runs a reduction kernel. 0-dim inputs are reduced as shape [1].
Tensor reduce(const OpHandle& op, const Tensor& a, IntArrayRef dims_in, bool keepdim, ScalarType out_dt,
              attrs::Reduce& at, bool needs_nonempty) {
  DimVector dims = reduce_dims(a, dims_in, op.name().c_str());
  Tensor in = a.dim() == 0 ? a.reshape({1}) : a;
  if (a.dim() == 0) dims = {0};
  if (needs_nonempty) {
    for (auto d : dims)
      HEARTH_CHECK(in.size(d) != 0, IndexError, op.name(), "(): Expected reduction dim ", d,
                   " to have non-zero size (input shape ", a.sizes(), ")");
  }
  Tensor out = new_tensor(keep_shape(in, dims), out_dt, a.device());
  at.dims = dims;
  ops::call(op, a.device(), {in}, {out}, &at);
  if (a.dim() == 0) return ops::own_view(out.reshape({}));
  return squeeze_dims(out, dims, keepdim, a.dim());
}

ScalarType sum_dtype(ScalarType t) { return is_integral(t, true) ? kInt64 : t; }

Tensor float_only(const Tensor& a, const char* op, std::optional<ScalarType> dtype) {
  const ScalarType dt = dtype ? *dtype : a.dtype();
  HEARTH_CHECK(is_floating_point(dt), DTypeError, op,
               "(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
               "Got: ", dt);
  return dt == a.dtype() ? a : a.to(dt);
}

}  // namespace

Tensor sum(const Tensor& a, IntArrayRef dims, bool keepdim, std::optional<ScalarType> dtype) {
  static const OpHandle op = find_op("sum");
  // sum(x, dtype=int64) is not differentiable (integer outputs never require grad).
  const bool rec = autograd::any_requires_grad({&a}) && (!dtype || is_floating_point(*dtype));
  Tensor out;
  {
    ForwardGuard fg(rec);
    Tensor in = dtype ? a.to(*dtype) : a;
    attrs::Reduce at;
    out = reduce(op, in, dims, keepdim, dtype ? *dtype : sum_dtype(a.dtype()), at, false);
  }
  if (rec)
    autograd::record(std::make_shared<SumBackward>("SumBackward", a.sizes(), reduce_dims(a, dims, "sum"), keepdim, 1.0),
                     {&a}, {&out});
  return out;
}

Tensor mean(const Tensor& a, IntArrayRef dims, bool keepdim, std::optional<ScalarType> dtype) {
  static const OpHandle op = find_op("mean");
  const bool rec = autograd::any_requires_grad({&a});
  Tensor out;
  {
    ForwardGuard fg(rec);
    Tensor in = float_only(a, "mean", dtype);
    attrs::Reduce at;
    out = reduce(op, in, dims, keepdim, in.dtype(), at, false);
  }
  if (rec) {
    const DimVector rd = reduce_dims(a, dims, "mean");
    int64_t count = 1;
    for (auto d : rd) count *= a.size(d);
    autograd::record(std::make_shared<SumBackward>("MeanBackward", a.sizes(), rd, keepdim,
                                                   count == 0 ? std::nan("") : 1.0 / static_cast<double>(count)),
                     {&a}, {&out});
  }
  return out;
}

namespace {
/// amax/amin, and max()/min() over all elements (node_name tells them apart in graphs).
Tensor amax_amin(const char* op_name, const char* node_name, const Tensor& a, IntArrayRef dims, bool keepdim) {
  const OpHandle op = find_op(op_name);
  const bool rec = autograd::any_requires_grad({&a});
  Tensor out;
  {
    ForwardGuard fg(rec);
    attrs::Reduce at;
    out = reduce(op, a, dims, keepdim, a.dtype(), at, true);
  }
  if (rec) {
    auto n = std::make_shared<AmaxBackward>(node_name, reduce_dims(a, dims, op_name), keepdim);
    autograd::record(n, {&a}, {&out});
    n->save(0, a);
    n->save(1, out, /*is_output=*/true);
  }
  return out;
}

Tensor prod_impl(const Tensor& a, std::optional<int64_t> dim, bool keepdim, std::optional<ScalarType> dtype) {
  static const OpHandle op = find_op("prod");
  const bool rec = autograd::any_requires_grad({&a}) && (!dtype || is_floating_point(*dtype));
  Tensor out;
  {
    ForwardGuard fg(rec);
    Tensor in = dtype ? a.to(*dtype) : a;
    attrs::Reduce at;
    const ScalarType out_dt = dtype ? *dtype : sum_dtype(a.dtype());
    out = dim ? reduce(op, in, IntArrayRef(*dim), keepdim, out_dt, at, false)
              : reduce(op, in, {}, false, out_dt, at, false);
  }
  if (rec) {
    auto n = std::make_shared<ProdBackward>(
        dim ? std::optional<int64_t>(a.dim() == 0 ? 0 : ops::wrap_dim(*dim, a.dim())) : std::nullopt, keepdim);
    autograd::record(n, {&a}, {&out});
    n->save(0, a);
    n->save(1, out, /*is_output=*/true);
  }
  return out;
}
}  // namespace

Tensor amax(const Tensor& a, IntArrayRef dims, bool keepdim) {
  return amax_amin("amax", "AmaxBackward", a, dims, keepdim);
}
Tensor amin(const Tensor& a, IntArrayRef dims, bool keepdim) {
  return amax_amin("amin", "AminBackward", a, dims, keepdim);
}

Tensor Tensor::sum(std::optional<ScalarType> dtype) const { return hearth::sum(*this, {}, false, dtype); }
Tensor Tensor::sum(IntArrayRef dims, bool keepdim, std::optional<ScalarType> dtype) const {
  return hearth::sum(*this, dims, keepdim, dtype);
}
Tensor Tensor::mean(std::optional<ScalarType> dtype) const { return hearth::mean(*this, {}, false, dtype); }
Tensor Tensor::mean(IntArrayRef dims, bool keepdim, std::optional<ScalarType> dtype) const {
  return hearth::mean(*this, dims, keepdim, dtype);
}

Tensor Tensor::prod(std::optional<ScalarType> dtype) const { return prod_impl(*this, std::nullopt, false, dtype); }
Tensor Tensor::prod(int64_t dim, bool keepdim, std::optional<ScalarType> dtype) const {
  return prod_impl(*this, dim, keepdim, dtype);
}

Tensor Tensor::max() const {
  HEARTH_CHECK(numel() > 0, IndexError,
               "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
               "with the 'dim' argument.");
  return amax_amin("amax", "MaxBackward", *this, {}, false);
}
Tensor Tensor::min() const {
  HEARTH_CHECK(numel() > 0, IndexError,
               "min(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
               "with the 'dim' argument.");
  return amax_amin("amin", "MinBackward", *this, {}, false);
}

namespace {
std::tuple<Tensor, Tensor> minmax_dim(const char* name, const char* node_name, const Tensor& a, int64_t dim,
                                      bool keepdim) {
  OpHandle op = find_op(name);
  const bool rec = autograd::any_requires_grad({&a});
  const int64_t d = ops::wrap_dim(dim, a.dim());
  Tensor values, indices;
  {
    ForwardGuard fg(rec);
    Tensor in = a.dim() == 0 ? a.reshape({1}) : a;
    HEARTH_CHECK(in.size(d) != 0, IndexError, name, "(): Expected reduction dim ", d, " to have non-zero size");
    DimVector dims{d};
    values = new_tensor(keep_shape(in, dims), a.dtype(), a.device());
    indices = new_tensor(keep_shape(in, dims), kInt64, a.device());
    attrs::Reduce at;
    at.dims = dims;
    ops::call(op, a.device(), {in}, {values, indices}, &at);
    if (a.dim() == 0) {
      values = ops::own_view(values.reshape({}));
      indices = ops::own_view(indices.reshape({}));
    } else {
      values = squeeze_dims(values, dims, keepdim, a.dim());
      indices = squeeze_dims(indices, dims, keepdim, a.dim());
    }
  }
  if (rec) {
    // Only the values are differentiable; the indices are integers.
    auto n = std::make_shared<MaxDimBackward>(node_name, a.sizes(), d, keepdim);
    autograd::record(n, {&a}, {&values});
    n->save(0, indices);
  }
  return {values, indices};
}

Tensor arg_reduce(const char* name, const Tensor& a, std::optional<int64_t> dim, bool keepdim) {
  OpHandle op = find_op(name);
  attrs::Reduce at;
  if (!dim) {
    HEARTH_CHECK(a.numel() > 0, IndexError, name, "(): Expected reduction dim to be specified for input.numel() == 0.");
    Tensor flat = a.reshape({-1});
    Tensor r = reduce(op, flat, {0}, false, kInt64, at, true);
    if (keepdim) return ops::own_view(r.reshape(DimVector(a.dim(), 1)));
    return r;
  }
  return reduce(op, a, IntArrayRef(*dim), keepdim, kInt64, at, true);
}
}  // namespace

std::tuple<Tensor, Tensor> Tensor::max(int64_t dim, bool keepdim) const {
  return minmax_dim("max_dim", "MaxBackward", *this, dim, keepdim);
}
std::tuple<Tensor, Tensor> Tensor::min(int64_t dim, bool keepdim) const {
  return minmax_dim("min_dim", "MinBackward", *this, dim, keepdim);
}
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const { return arg_reduce("argmax", *this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const { return arg_reduce("argmin", *this, dim, keepdim); }

namespace {
Tensor var_std(const char* name, const Tensor& a, IntArrayRef dims, int64_t correction, bool keepdim) {
  const OpHandle op = find_op(name);
  const bool is_std = name[0] == 's';
  const bool rec = autograd::any_requires_grad({&a});
  Tensor out;
  {
    ForwardGuard fg(rec);
    Tensor in = float_only(a, name, std::nullopt);
    attrs::Reduce at;
    at.correction = correction;
    out = reduce(op, in, dims, keepdim, in.dtype(), at, false);
  }
  if (rec) {
    auto n = std::make_shared<VarStdBackward>(is_std, reduce_dims(a, dims, name), dims.empty() || a.dim() == 0,
                                              correction, keepdim);
    autograd::record(n, {&a}, {&out});
    n->save(0, a);
    if (is_std) n->save(1, out, /*is_output=*/true);
  }
  return out;
}
}  // namespace

Tensor Tensor::var(IntArrayRef dims, int64_t correction, bool keepdim) const {
  return var_std("var", *this, dims, correction, keepdim);
}

Tensor Tensor::std(IntArrayRef dims, int64_t correction, bool keepdim) const {
  return var_std("std", *this, dims, correction, keepdim);
}

Tensor Tensor::norm(const Scalar& p, IntArrayRef dims, bool keepdim) const {
  static const OpHandle op = find_op("norm");
  const bool rec = autograd::any_requires_grad({this});
  Tensor out;
  {
    ForwardGuard fg(rec);
    Tensor in = float_only(*this, "norm", std::nullopt);
    attrs::Reduce at;
    at.p = p.to_double();
    out = reduce(op, in, dims, keepdim, in.dtype(), at, false);
  }
  if (rec) {
    auto n = std::make_shared<NormBackward>(p.to_double(), reduce_dims(*this, dims, "norm"), keepdim);
    autograd::record(n, {this}, {&out});
    n->save(0, *this);
    n->save(1, out, /*is_output=*/true);
  }
  return out;
}

}  // namespace hearth
