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
  return t.view(shape);
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
  if (a.dim() == 0) return out.reshape({});
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
  const bool rec = autograd::any_requires_grad({&a});
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

Tensor amax(const Tensor& a, IntArrayRef dims, bool keepdim) {
  static const OpHandle op = find_op("amax");
  attrs::Reduce at;
  return reduce(op, a, dims, keepdim, a.dtype(), at, true);
}

Tensor amin(const Tensor& a, IntArrayRef dims, bool keepdim) {
  static const OpHandle op = find_op("amin");
  attrs::Reduce at;
  return reduce(op, a, dims, keepdim, a.dtype(), at, true);
}

Tensor Tensor::sum(std::optional<ScalarType> dtype) const { return hearth::sum(*this, {}, false, dtype); }
Tensor Tensor::sum(IntArrayRef dims, bool keepdim, std::optional<ScalarType> dtype) const {
  return hearth::sum(*this, dims, keepdim, dtype);
}
Tensor Tensor::mean(std::optional<ScalarType> dtype) const { return hearth::mean(*this, {}, false, dtype); }
Tensor Tensor::mean(IntArrayRef dims, bool keepdim, std::optional<ScalarType> dtype) const {
  return hearth::mean(*this, dims, keepdim, dtype);
}

Tensor Tensor::prod(std::optional<ScalarType> dtype) const {
  static const OpHandle op = find_op("prod");
  Tensor in = dtype ? to(*dtype) : *this;
  attrs::Reduce at;
  return reduce(op, in, {}, false, dtype ? *dtype : sum_dtype(this->dtype()), at, false);
}
Tensor Tensor::prod(int64_t dim, bool keepdim, std::optional<ScalarType> dtype) const {
  static const OpHandle op = find_op("prod");
  Tensor in = dtype ? to(*dtype) : *this;
  attrs::Reduce at;
  return reduce(op, in, IntArrayRef(dim), keepdim, dtype ? *dtype : sum_dtype(this->dtype()), at, false);
}

Tensor Tensor::max() const {
  HEARTH_CHECK(numel() > 0, IndexError,
               "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
               "with the 'dim' argument.");
  return amax(*this);
}
Tensor Tensor::min() const {
  HEARTH_CHECK(numel() > 0, IndexError,
               "min(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
               "with the 'dim' argument.");
  return amin(*this);
}

namespace {
std::tuple<Tensor, Tensor> minmax_dim(const char* name, const Tensor& a, int64_t dim, bool keepdim) {
  OpHandle op = find_op(name);
  Tensor in = a.dim() == 0 ? a.reshape({1}) : a;
  const int64_t d = ops::wrap_dim(dim, a.dim());
  HEARTH_CHECK(in.size(d) != 0, IndexError, name, "(): Expected reduction dim ", d, " to have non-zero size");
  DimVector dims{d};
  Tensor values = new_tensor(keep_shape(in, dims), a.dtype(), a.device());
  Tensor indices = new_tensor(keep_shape(in, dims), kInt64, a.device());
  attrs::Reduce at;
  at.dims = dims;
  ops::call(op, a.device(), {in}, {values, indices}, &at);
  if (a.dim() == 0) return {values.reshape({}), indices.reshape({})};
  return {squeeze_dims(values, dims, keepdim, a.dim()), squeeze_dims(indices, dims, keepdim, a.dim())};
}

Tensor arg_reduce(const char* name, const Tensor& a, std::optional<int64_t> dim, bool keepdim) {
  OpHandle op = find_op(name);
  attrs::Reduce at;
  if (!dim) {
    HEARTH_CHECK(a.numel() > 0, IndexError, name, "(): Expected reduction dim to be specified for input.numel() == 0.");
    Tensor flat = a.reshape({-1});
    Tensor r = reduce(op, flat, {0}, false, kInt64, at, true);
    if (keepdim) return r.reshape(DimVector(a.dim(), 1));
    return r;
  }
  return reduce(op, a, IntArrayRef(*dim), keepdim, kInt64, at, true);
}
}  // namespace

std::tuple<Tensor, Tensor> Tensor::max(int64_t dim, bool keepdim) const { return minmax_dim("max_dim", *this, dim, keepdim); }
std::tuple<Tensor, Tensor> Tensor::min(int64_t dim, bool keepdim) const { return minmax_dim("min_dim", *this, dim, keepdim); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const { return arg_reduce("argmax", *this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const { return arg_reduce("argmin", *this, dim, keepdim); }

Tensor Tensor::var(IntArrayRef dims, int64_t correction, bool keepdim) const {
  static const OpHandle op = find_op("var");
  Tensor in = float_only(*this, "var", std::nullopt);
  attrs::Reduce at;
  at.correction = correction;
  return reduce(op, in, dims, keepdim, in.dtype(), at, false);
}

Tensor Tensor::std(IntArrayRef dims, int64_t correction, bool keepdim) const {
  static const OpHandle op = find_op("std");
  Tensor in = float_only(*this, "std", std::nullopt);
  attrs::Reduce at;
  at.correction = correction;
  return reduce(op, in, dims, keepdim, in.dtype(), at, false);
}

Tensor Tensor::norm(const Scalar& p, IntArrayRef dims, bool keepdim) const {
  static const OpHandle op = find_op("norm");
  Tensor in = float_only(*this, "norm", std::nullopt);
  attrs::Reduce at;
  at.p = p.to_double();
  return reduce(op, in, dims, keepdim, in.dtype(), at, false);
}

}  // namespace hearth
