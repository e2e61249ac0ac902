// Python-style indexing (SEED B12): integers, slices, None, Ellipsis and bools give views;
// index tensors and masks give copies (advanced indexing, with NumPy's placement rule).
#include <algorithm>

#include "autograd/functions.h"
#include "hearth/op_attrs.h"
#include "ops/op_utils.h"

namespace hearth {
namespace {

/// index_put_ (in place; edge 0 is self's history before the write). `pos` holds, shaped like
/// self.index(indices), the flat position in self that each written element went to. self's
/// gradient is g with those positions zeroed; value's is g at those positions (each write
/// counts, also repeated ones), summed to value's shape where value was broadcast.
class IndexPutBackward final : public autograd::SavingNode<1> {
 public:
  IndexPutBackward(IntArrayRef self_sizes, IntArrayRef value_sizes)
      : self_sizes_(self_sizes.begin(), self_sizes.end()), value_sizes_(value_sizes.begin(), value_sizes.end()) {}
  std::string name() const override { return "IndexPutBackward"; }
  autograd::tensor_list apply(autograd::tensor_list&& grads) override {
    const Tensor pos = saved(0);
    const Tensor flat = pos.reshape({-1});
    const Tensor g = grads[0].reshape({-1});
    autograd::tensor_list r(2);
    if (needs_input_grad(0)) r[0] = scatter(g, 0, flat, zeros({flat.numel()}, g.options())).reshape(self_sizes_);
    if (needs_input_grad(1))
      r[1] = autograd::internal::sum_to(index_select(g, 0, flat).view(pos.sizes()), value_sizes_);
    return r;
  }

 private:
  DimVector self_sizes_, value_sizes_;
};

struct Parsed {
  Tensor view;                                   // after basic indexing
  std::vector<std::pair<int64_t, Tensor>> adv;   // (dim in view, int64 index tensor)
};

Parsed apply_basic(const Tensor& self, const std::vector<TensorIndex>& indices) {
  // Count dims consumed, to expand the ellipsis.
  int64_t consumed = 0;
  int ellipses = 0;
  for (const auto& ix : indices) {
    switch (ix.kind()) {
      case TensorIndex::Kind::Integer: case TensorIndex::Kind::Slice: ++consumed; break;
      case TensorIndex::Kind::Tensor:
        consumed += ix.tensor().dtype() == kBool || ix.tensor().dtype() == kUInt8 ? ix.tensor().dim() : 1;
        break;
      case TensorIndex::Kind::Ellipsis: ++ellipses; break;
      default: break;
    }
  }
  HEARTH_CHECK(ellipses <= 1, IndexError, "an index can only have a single ellipsis ('...')");
  HEARTH_CHECK(consumed <= self.dim(), IndexError, "too many indices for tensor of dimension ", self.dim(),
               " (got ", consumed, ")");
  Parsed p;
  Tensor t = self;
  int64_t d = 0;
  for (const auto& ix : indices) {
    switch (ix.kind()) {
      case TensorIndex::Kind::Integer:
        t = t.select(d, ix.integer());
        break;
      case TensorIndex::Kind::Slice: {
        const auto& s = ix.slice();
        t = t.slice(d, s.start, s.stop, s.step.value_or(1));
        ++d;
        break;
      }
      case TensorIndex::Kind::None:
        t = t.unsqueeze(d);
        ++d;
        break;
      case TensorIndex::Kind::Ellipsis:
        d += self.dim() - consumed;
        break;
      case TensorIndex::Kind::Boolean:
        // x[True] adds a dim of size 1; x[False] adds a dim of size 0.
        t = t.unsqueeze(d);
        if (!ix.integer()) t = t.slice(d, 0, 0);
        ++d;
        break;
      case TensorIndex::Kind::Tensor: {
        const Tensor& it = ix.tensor();
        if (it.dtype() == kBool || it.dtype() == kUInt8) {
          Tensor mask = it.dtype() == kBool ? it : it.to(kBool);
          for (int64_t k = 0; k < mask.dim(); ++k)
            HEARTH_CHECK(mask.size(k) == t.size(d + k), IndexError, "The shape of the mask ", mask.sizes(),
                         " at index ", k, " does not match the shape of the indexed tensor ", t.sizes(),
                         " at index ", d + k);
          if (mask.dim() == 0) {  // a 0-dim mask behaves like a bool index
            t = t.unsqueeze(d);
            Tensor nz = nonzero(mask.reshape({1})).view({-1});
            p.adv.emplace_back(d, nz);
            ++d;
            break;
          }
          Tensor nz = nonzero(mask);  // (n, mask.dim())
          for (int64_t k = 0; k < mask.dim(); ++k) p.adv.emplace_back(d + k, nz.select(1, k));
          d += mask.dim();
        } else {
          HEARTH_CHECK(it.dtype() == kInt64 || it.dtype() == kInt32, IndexError,
                       "tensors used as indices must be long, int, byte or bool tensors, got ", it.dtype());
          p.adv.emplace_back(d, it.dtype() == kInt64 ? it : it.to(kInt64));
          ++d;
        }
        break;
      }
    }
  }
  p.view = t;
  return p;
}

/// Advanced indexing layout: permutes the view so the indexed dims come first (in order) and
/// returns the flat row-major index into those dims, broadcast to the indices' common shape.
struct Advanced {
  Tensor perm;        // view with indexed dims first
  Tensor flat;        // int64, broadcast shape, indexes the flattened leading dims
  DimVector bshape;   // broadcast shape of the index tensors
  int64_t lead = 0;   // number of indexed dims
  int64_t place = 0;  // where the result dims go (NumPy rule)
};

Advanced prepare(const Parsed& p) {
  Advanced a;
  const Tensor& v = p.view;
  std::vector<int64_t> order;
  for (const auto& [d, t] : p.adv) order.push_back(d);
  bool adjacent = true;
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i] != order[i - 1] + 1) adjacent = false;
  a.place = adjacent ? order[0] : 0;
  std::vector<int64_t> perm(order);
  for (int64_t d = 0; d < v.dim(); ++d)
    if (std::find(order.begin(), order.end(), d) == order.end()) perm.push_back(d);
  a.perm = v.permute(perm);
  a.lead = static_cast<int64_t>(order.size());
  // Broadcast the index tensors and combine into one flat index.
  DimVector bs = DimVector(p.adv[0].second.sizes().begin(), p.adv[0].second.sizes().end());
  for (const auto& [d, t] : p.adv) bs = broadcast_shapes(bs, t.sizes());
  a.bshape = bs;
  Tensor flat;
  for (size_t i = 0; i < p.adv.size(); ++i) {
    const int64_t n = v.size(p.adv[i].first);
    Tensor idx = p.adv[i].second;
    HEARTH_CHECK(idx.device() == v.device(), DeviceError, "indices should be on the same device as the indexed "
                 "tensor (", v.device().str(), "), got ", idx.device().str());
    // Bounds (negative indices count from the end, like Python).
    if (idx.numel() > 0) {
      const int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
      HEARTH_CHECK(lo >= -n && hi < n, IndexError, "index ", (lo < -n ? lo : hi),
                   " is out of bounds for dimension ", p.adv[i].first, " with size ", n);
    }
    idx = where(idx.lt(Scalar(0)), idx.add(Scalar(n)), idx);
    flat = flat.defined() ? flat.mul(Scalar(n)).add(idx) : idx;
  }
  a.flat = flat.expand(bs);
  return a;
}

}  // namespace

Tensor Tensor::index(std::initializer_list<TensorIndex> indices) const {
  return index(std::vector<TensorIndex>(indices));
}

Tensor Tensor::index(const std::vector<TensorIndex>& indices) const {
  Parsed p = apply_basic(*this, indices);
  if (p.adv.empty()) return p.view;  // a view (shares storage)
  Advanced a = prepare(p);
  DimVector rest(a.perm.sizes().begin() + a.lead, a.perm.sizes().end());
  Tensor src = a.perm.flatten(0, a.lead - 1);  // may copy; reads only
  if (a.lead == 0) src = a.perm;
  Tensor got = hearth::index_select(src, 0, a.flat.reshape({-1}));
  DimVector shape(a.bshape.begin(), a.bshape.end());
  for (auto r : rest) shape.push_back(r);
  Tensor out = got.view(shape);
  if (a.place > 0) {
    // Move the broadcast dims from the front to where the indexed dims were.
    const int64_t nb = static_cast<int64_t>(a.bshape.size());
    std::vector<int64_t> src_dims, dst_dims;
    for (int64_t i = 0; i < nb; ++i) { src_dims.push_back(i); dst_dims.push_back(a.place + i); }
    out = out.movedim(src_dims, dst_dims).contiguous();
  }
  return ops::own_view(out);  // advanced indexing copies: a fresh tensor, as in PyTorch
}

namespace {
/// index_put_'s forward, without autograd.
void index_put_impl(Tensor& self, const std::vector<TensorIndex>& indices, const Tensor& value) {
  Parsed p = apply_basic(self, indices);
  if (p.adv.empty()) {
    p.view.copy_(value);  // bumps the shared version counter
    return;
  }
  const Device device = self.device();
  const ScalarType dtype = self.dtype();
  ops::check_no_internal_overlap(self, "index_put_");
  Advanced a = prepare(p);
  // Element (n, r) of the indexed region is flat[n] * R + r in the permuted view's row-major order.
  int64_t R = 1;
  for (int64_t d = a.lead; d < a.perm.dim(); ++d) R *= a.perm.size(d);
  Tensor flat =
      a.flat.reshape({-1, 1}).mul(Scalar(R)).add(arange(R, TensorOptions(kInt64).device(device)).view({1, -1}));
  // The values, shaped like the result of index() (broadcast dims placed as there).
  DimVector shape(a.bshape.begin(), a.bshape.end());
  for (int64_t d = a.lead; d < a.perm.dim(); ++d) shape.push_back(a.perm.size(d));
  Tensor vals = value.to(device, dtype);
  if (a.place > 0) {
    DimVector res_shape;  // index() result shape for this placement
    const int64_t nb = static_cast<int64_t>(a.bshape.size());
    for (int64_t i = 0; i < a.place; ++i) res_shape.push_back(shape[nb + i]);
    for (int64_t i = 0; i < nb; ++i) res_shape.push_back(shape[i]);
    for (size_t i = nb + a.place; i < shape.size(); ++i) res_shape.push_back(shape[i]);
    std::vector<int64_t> src_dims, dst_dims;
    for (int64_t i = 0; i < nb; ++i) { src_dims.push_back(a.place + i); dst_dims.push_back(i); }
    vals = vals.expand(res_shape).movedim(src_dims, dst_dims);
  }
  vals = vals.expand(shape).contiguous().reshape({-1});
  static const OpHandle op = find_op("put_");
  attrs::DimIndex at{0, 0};
  Tensor target = a.perm;
  ops::call(op, device, {flat.reshape({-1}), vals}, {target}, &at);
  self.impl()->bump_version();
}
}  // namespace

Tensor& Tensor::index_put_(const std::vector<TensorIndex>& indices, const Tensor& value) {
  const bool rec = autograd::any_requires_grad({this, &value}) && is_floating_point();
  if (!rec) {
    index_put_impl(*this, indices, value);
    return *this;
  }
  autograd::check_inplace(*this, value.requires_grad(), "index_put_");
  Tensor pos;
  {
    // Where each written element lands: the same indexing applied to the positions 0..n-1.
    NoGradGuard ng;
    pos = arange(numel(), TensorOptions(kInt64).device(device())).view(sizes()).index(indices);
  }
  auto node = autograd::make_node(std::make_shared<IndexPutBackward>(sizes(), value.sizes()), {this, &value});
  {
    autograd::internal::ForwardGuard fg(true);  // the copies into views inside must not record
    index_put_impl(*this, indices, value);
  }
  node->save(0, pos);
  autograd::rebase_history(*this, node);
  return *this;
}

Tensor& Tensor::index_put_(const std::vector<TensorIndex>& indices, const Scalar& value) {
  // Under autograd the tensor overload records the write (fill_ on a view would be refused).
  if (autograd::any_requires_grad({this}))
    return index_put_(indices, scalar_tensor(value, TensorOptions(dtype()).device(device())));
  Parsed p = apply_basic(*this, indices);
  if (p.adv.empty()) {
    p.view.fill_(value);
    return *this;
  }
  return index_put_(indices, scalar_tensor(value, TensorOptions(dtype()).device(device())));
}

}  // namespace hearth
