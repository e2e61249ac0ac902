// View ops (SEED B1, B12): new geometry over the same storage, so views share memory and the
// version counter. reshape/flatten copy only when no view can express the result.
#include <algorithm>
#include <mutex>
#include <numeric>
#include <optional>

#include "autograd/functions.h"
#include "hearth/functions.h"
#include "hearth/tensor.h"
#include "ops/op_utils.h"

namespace hearth {

namespace autograd {

namespace {

/// The backward of view_region_backward (create_graph): scattering into zeros is linear, and
/// its adjoint is the view itself, so second derivatives need no index op's backward.
class RegionScatterBackward final : public Node {
 public:
  explicit RegionScatterBackward(std::function<Tensor(const Tensor&)> view_fn) : view_fn_(std::move(view_fn)) {}
  std::string name() const override { return "ViewScatterBackward"; }
  tensor_list apply(tensor_list&& grads) override { return {view_fn_(grads[0])}; }

 private:
  std::function<Tensor(const Tensor&)> view_fn_;
};

}  // namespace

Tensor view_region_backward(const Tensor& g, IntArrayRef in_sizes, const std::function<Tensor(const Tensor&)>& view_fn,
                            bool overlapping) {
  const bool rec = any_requires_grad({&g});
  Tensor r;
  {
    NoGradGuard ng;
    if (!overlapping) {
      // Write g through the same view of a zero tensor.
      r = zeros(in_sizes, g.options());
      view_fn(r).copy_(g);
    } else {
      // Where each view element comes from, as flat input positions; repeated positions add up.
      const int64_t n = checked_numel(in_sizes);
      Tensor pos = view_fn(arange(n, TensorOptions(kInt64).device(g.device())).view(in_sizes)).reshape({-1});
      r = scatter_add(zeros({n}, g.options()), 0, pos, g.reshape({-1})).view(in_sizes);
    }
  }
  if (rec) record(std::make_shared<RegionScatterBackward>(view_fn), {&g}, {&r});
  return r;
}

namespace {

/// as_strided's index map: result element j reads input element idx[j] where valid[j] (the
/// input covers that storage position), else no input element.
struct StridedMap {
  Tensor idx, valid;  // int64 / bool, flat over the result
  DimVector in_sizes, out_sizes;
};

Tensor strided_gather(const Tensor& x, const std::shared_ptr<const StridedMap>& m);
Tensor strided_scatter(const Tensor& g, const std::shared_ptr<const StridedMap>& m);

// The two are adjoint linear maps; each records the other as its backward (create_graph), so
// as_strided differentiates to any order without index ops' backwards.
class StridedGatherNode final : public Node {
 public:
  explicit StridedGatherNode(std::shared_ptr<const StridedMap> m) : m_(std::move(m)) {}
  std::string name() const override { return "AsStridedScatterBackward"; }
  tensor_list apply(tensor_list&& grads) override { return {strided_gather(grads[0], m_)}; }

 private:
  std::shared_ptr<const StridedMap> m_;
};

class StridedScatterNode final : public Node {
 public:
  explicit StridedScatterNode(std::shared_ptr<const StridedMap> m) : m_(std::move(m)) {}
  std::string name() const override { return "AsStridedGatherBackward"; }
  tensor_list apply(tensor_list&& grads) override { return {strided_scatter(grads[0], m_)}; }

 private:
  std::shared_ptr<const StridedMap> m_;
};

/// Input gradient from the result gradient g: per input element, the sum of g over the result
/// elements that read it.
Tensor strided_scatter(const Tensor& g, const std::shared_ptr<const StridedMap>& m) {
  const bool rec = any_requires_grad({&g});
  Tensor r;
  {
    NoGradGuard ng;
    const int64_t n = checked_numel(m->in_sizes);
    Tensor src = where(m->valid, g.reshape({-1}), zeros({}, g.options()));
    r = scatter_add(zeros({n}, g.options()), 0, m->idx, src).view(m->in_sizes);
  }
  if (rec) record(std::make_shared<StridedGatherNode>(m), {&g}, {&r});
  return r;
}

/// The forward map on any input-shaped tensor: result element j = x[idx[j]] where valid, else 0.
Tensor strided_gather(const Tensor& x, const std::shared_ptr<const StridedMap>& m) {
  const bool rec = any_requires_grad({&x});
  Tensor r;
  {
    NoGradGuard ng;
    if (x.numel() == 0) {
      r = zeros(m->out_sizes, x.options());
    } else {
      Tensor picked = index_select(x.reshape({-1}), 0, m->idx);
      r = where(m->valid, picked, zeros({}, x.options())).view(m->out_sizes);
    }
  }
  if (rec) record(std::make_shared<StridedScatterNode>(m), {&x}, {&r});
  return r;
}

}  // namespace

namespace {

/// Backward of the view ops. Views only move or pick elements, so each gradient is the same
/// movement undone.
class ViewBackward final : public Node {
 public:
  enum class Kind { Reshape, Expand, Permute, Region };
  ViewBackward(const char* name, Kind kind, IntArrayRef in_sizes) : name_(name), kind_(kind), in_sizes_(in_sizes.begin(), in_sizes.end()) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor& g = grads[0];
    switch (kind_) {
      case Kind::Reshape: return {g.reshape(in_sizes_)};
      case Kind::Expand: return {internal::sum_to(g, in_sizes_)};
      case Kind::Permute: {
        DimVector inv(perm_.size());
        for (size_t i = 0; i < perm_.size(); ++i) inv[static_cast<size_t>(perm_[i])] = static_cast<int64_t>(i);
        return {g.permute(inv)};
      }
      case Kind::Region: return {view_region_backward(g, in_sizes_, view_fn_, overlapping_)};
    }
    return {Tensor()};
  }
  DimVector perm_;
  std::function<Tensor(const Tensor&)> view_fn_;
  bool overlapping_ = false;

 private:
  const char* name_;
  Kind kind_;
  DimVector in_sizes_;
};

/// as_strided addresses storage, not the input's elements: map each result element to the
/// input element at the same storage position (none if the input does not cover it).
class AsStridedBackward final : public Node {
 public:
  AsStridedBackward(const Tensor& in, IntArrayRef sizes, IntArrayRef strides, int64_t offset)
      : in_sizes_(in.sizes().begin(), in.sizes().end()),
        in_strides_(in.strides().begin(), in.strides().end()),
        in_offset_(in.storage_offset()),
        sizes_(sizes.begin(), sizes.end()),
        strides_(strides.begin(), strides.end()),
        offset_(offset) {}
  std::string name() const override { return "AsStridedBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    std::call_once(map_once_, [&] { map_ = build_map(grads[0].device()); });
    return {strided_scatter(grads[0], map_)};
  }

 private:
  std::shared_ptr<const StridedMap> build_map(Device dev) const {
    auto m = std::make_shared<StridedMap>();
    m->in_sizes = in_sizes_;
    m->out_sizes = sizes_;
    NoGradGuard ng;
    const int64_t n = checked_numel(in_sizes_);
    // Storage positions [0, extent) that either geometry touches.
    int64_t a = in_offset_, b = offset_;
    for (size_t i = 0; i < in_sizes_.size(); ++i) a += std::max<int64_t>(in_sizes_[i] - 1, 0) * in_strides_[i];
    for (size_t i = 0; i < sizes_.size(); ++i) b += std::max<int64_t>(sizes_[i] - 1, 0) * strides_[i];
    const int64_t extent = std::max(a, b) + 1;
    const TensorOptions lopts = TensorOptions(kInt64).device(dev);
    // owner[p]: the input element stored at position p, or -1.
    Tensor owner = full({extent}, -1, lopts);
    Tensor in_view = owner.as_strided(in_sizes_, in_strides_, in_offset_);
    HEARTH_CHECK(n == 0 || !ops::has_internal_overlap(in_view), NotImplementedError,
                 "as_strided backward: the input (shape [", IntArrayRef(in_sizes_), "], strides [",
                 IntArrayRef(in_strides_), "]) has elements that share memory (e.g. after expand); call "
                 "contiguous() on it before as_strided");
    in_view.copy_(arange(n, lopts).view(in_sizes_));
    Tensor idx = owner.as_strided(sizes_, strides_, offset_).reshape({-1});
    m->valid = idx.ge(Scalar(0));
    m->idx = idx.clamp(Scalar(0));
    return m;
  }

  DimVector in_sizes_, in_strides_;
  int64_t in_offset_;
  DimVector sizes_, strides_;
  int64_t offset_;
  // Built by the first backward (not at every forward); retain_graph reuses it.
  std::once_flag map_once_;
  std::shared_ptr<const StridedMap> map_;
};

}  // namespace
}  // namespace autograd

namespace {

using ops::wrap_dim;
using autograd::ViewBackward;

using ViewFn = std::function<Tensor(const Tensor&)>;

Tensor make_view(const Tensor& base, IntArrayRef sizes, IntArrayRef strides, int64_t offset) {
  (void)base.strides();  // opaque layouts convert before anyone shares their memory
  Tensor v(detail::make_intrusive<TensorImpl>(base.impl()->storage(), base.dtype(), sizes, strides, offset));
  v.impl()->set_is_view(true);
  return v;
}

/// Links the view to its base for in-place ops (`fn` replays it on the base), then records its
/// backward when autograd is on for `base`. Tracking comes first: recording a fresh output
/// that is an untracked view makes it an ordinary tensor (set_history).
std::shared_ptr<ViewBackward> record_view(const Tensor& base, const Tensor& out, const char* name,
                                          ViewBackward::Kind kind, ViewFn fn) {
  autograd::internal::track_view(base, out, std::move(fn));
  if (!autograd::any_requires_grad({&base})) return nullptr;
  auto n = std::make_shared<ViewBackward>(name, kind, base.sizes());
  autograd::record(n, {&base}, {&out});
  return n;
}

/// A view op whose result picks elements: records `fn` (the same view, for the backward).
Tensor region_view(const Tensor& base, Tensor out, const char* name, ViewFn fn, bool overlapping = false) {
  if (auto n = record_view(base, out, name, ViewBackward::Kind::Region, fn)) {
    n->view_fn_ = std::move(fn);
    n->overlapping_ = overlapping;
  }
  return out;
}

Tensor reshape_view(const Tensor& base, Tensor out, const char* name, ViewFn fn) {
  record_view(base, out, name, ViewBackward::Kind::Reshape, std::move(fn));
  return out;
}

/// unbind/split/chunk: their outputs refuse in-place ops under autograd, as in PyTorch.
void mark_multi_output(std::vector<Tensor>& views, const char* creator) {
  for (Tensor& v : views) {
    AutogradMeta* m = v.impl()->autograd_meta();
    if (m && m->view && m->view->creation != ViewInfo::Creation::NoGradMode) {
      m->view->creation = ViewInfo::Creation::MultiOutput;
      m->view->creator = creator;
    }
  }
}

/// Resolves one -1 in a requested shape against numel.
DimVector infer_size(IntArrayRef shape, int64_t numel, const char* op) {
  DimVector out(shape.begin(), shape.end());
  int64_t known = 1;
  std::optional<size_t> infer;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      HEARTH_CHECK(!infer, ShapeError, op, ": only one dimension can be inferred (-1) in shape ", shape);
      infer = i;
    } else {
      HEARTH_CHECK(shape[i] >= 0, ShapeError, op, ": invalid shape dimension ", shape[i], " in ", shape);
      HEARTH_CHECK(!__builtin_mul_overflow(known, shape[i], &known), ShapeError, op, ": shape ", shape,
                   " overflows");
    }
  }
  if (infer) {
    HEARTH_CHECK(known != 0 && numel % known == 0, ShapeError, op, ": shape ", shape,
                 " is invalid for input of size ", numel);
    out[*infer] = numel / known;
  } else {
    HEARTH_CHECK(known == numel, ShapeError, op, ": shape ", shape, " is invalid for input of size ", numel);
  }
  return out;
}

/// PyTorch's computeStride: strides for viewing (old sizes, strides) as new sizes without a
/// copy, or nullopt when the memory layout does not allow it.
std::optional<DimVector> view_strides(IntArrayRef old_sizes, IntArrayRef old_strides, IntArrayRef new_sizes) {
  DimVector ns(new_sizes.size());
  if (old_sizes.empty()) {
    std::fill(ns.begin(), ns.end(), 1);
    return ns;
  }
  int64_t numel = 1;
  for (auto s : old_sizes) numel *= s;
  if (numel == 0) {
    if (old_sizes == new_sizes) return DimVector(old_strides.begin(), old_strides.end());
    return contiguous_strides(new_sizes);
  }
  int64_t view_d = static_cast<int64_t>(new_sizes.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t td = static_cast<int64_t>(old_sizes.size()) - 1; td >= 0; --td) {
    tensor_numel *= old_sizes[td];
    if (td == 0 || (old_sizes[td - 1] != 1 && old_strides[td - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[view_d] == 1)) {
        ns[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_sizes[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (td > 0) {
        chunk_base_stride = old_strides[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return ns;
}

}  // namespace

Tensor Tensor::view(IntArrayRef sizes) const {
  DimVector shape = infer_size(sizes, numel(), "view");
  auto st = view_strides(this->sizes(), strides(), shape);
  HEARTH_CHECK(st.has_value(), ShapeError, "view size ", sizes, " is not compatible with input tensor's size ",
               this->sizes(), " and strides ", strides(),
               " (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead, "
               "or call .contiguous() first");
  return reshape_view(*this, make_view(*this, shape, *st, storage_offset()), "ViewBackward",
                      [shape](const Tensor& x) { return x.view(shape); });
}

Tensor Tensor::reshape(IntArrayRef sizes) const {
  DimVector shape = infer_size(sizes, numel(), "reshape");
  if (auto st = view_strides(this->sizes(), strides(), shape))
    return reshape_view(*this, make_view(*this, shape, *st, storage_offset()), "ReshapeBackward",
                        [shape](const Tensor& x) { return x.view(shape); });
  return clone().view(shape);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int64_t s = wrap_dim(start_dim, dim()), e = wrap_dim(end_dim, dim());
  HEARTH_CHECK(s <= e, ShapeError, "flatten() has invalid args: start_dim (", start_dim,
               ") cannot come after end_dim (", end_dim, ")");
  if (s == e) return *this;
  DimVector shape;
  for (int64_t d = 0; d < s; ++d) shape.push_back(size(d));
  int64_t m = 1;
  for (int64_t d = s; d <= e; ++d) m *= size(d);
  shape.push_back(m);
  for (int64_t d = e + 1; d < dim(); ++d) shape.push_back(size(d));
  return reshape(shape);
}

Tensor Tensor::unflatten(int64_t d, IntArrayRef sizes_in) const {
  d = wrap_dim(d, dim());
  HEARTH_CHECK(!sizes_in.empty(), ShapeError, "unflatten: sizes must be non-empty");
  DimVector inner = infer_size(sizes_in, size(d), "unflatten");
  DimVector shape;
  for (int64_t i = 0; i < d; ++i) shape.push_back(size(i));
  for (auto v : inner) shape.push_back(v);
  for (int64_t i = d + 1; i < dim(); ++i) shape.push_back(size(i));
  return view(shape);
}

Tensor Tensor::as_strided(IntArrayRef sizes, IntArrayRef strides_in, std::optional<int64_t> offset) const {
  HEARTH_CHECK(sizes.size() == strides_in.size(), ShapeError, "as_strided: sizes ", sizes, " and strides ",
               strides_in, " differ in length");
  const int64_t off = offset ? *offset : storage_offset();
  HEARTH_CHECK(off >= 0, ShapeError, "as_strided: negative storage offset ", off);
  int64_t max_index = off;
  bool empty = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    HEARTH_CHECK(sizes[i] >= 0 && strides_in[i] >= 0, ShapeError, "as_strided: negative size or stride in ",
                 sizes, " / ", strides_in);
    if (sizes[i] == 0) empty = true;
    max_index += (sizes[i] - 1) * strides_in[i];
  }
  const int64_t avail = static_cast<int64_t>(impl()->storage()->nbytes() / element_size());
  HEARTH_CHECK(empty || max_index < avail, ShapeError, "as_strided: size ", sizes, ", stride ", strides_in,
               " and offset ", off, " reach element ", max_index, " but the storage holds ", avail);
  (void)this->strides();
  Tensor out = make_view(*this, sizes, strides_in, off);
  // Replayed relative to the input's offset (CopySlices replays it on a fresh tensor).
  autograd::internal::track_view(*this, out, [sz = DimVector(sizes.begin(), sizes.end()),
                                              st = DimVector(strides_in.begin(), strides_in.end()),
                                              rel = off - storage_offset()](const Tensor& x) {
    return x.as_strided(sz, st, x.storage_offset() + rel);
  });
  if (autograd::any_requires_grad({this})) {
    auto n = std::make_shared<autograd::AsStridedBackward>(*this, sizes, strides_in, off);
    autograd::record(n, {this}, {&out});
  }
  return out;
}

Tensor Tensor::detach() const {
  // SEED B6: same storage and the same version counter (it lives in the storage). Not a view for
  // autograd (PyTorch's non-differentiable view): in-place ops on it leave the base's history.
  Tensor out = make_view(*this, sizes(), strides(), storage_offset());
  out.impl()->set_is_view(false);
  return out;
}

Tensor Tensor::diagonal(int64_t offset, int64_t dim1, int64_t dim2) const {
  HEARTH_CHECK(dim() >= 2, ShapeError, "diagonal: needs at least 2 dims, got shape ", sizes());
  const int64_t d1 = wrap_dim(dim1, dim()), d2 = wrap_dim(dim2, dim());
  HEARTH_CHECK(d1 != d2, ShapeError, "diagonal dimensions cannot be identical ", dim1, ", ", dim2);
  int64_t off = storage_offset();
  int64_t len;
  if (offset >= 0) {
    len = std::max<int64_t>(std::min(size(d1), size(d2) - offset), 0);
    if (len > 0) off += offset * stride(d2);
  } else {
    len = std::max<int64_t>(std::min(size(d1) + offset, size(d2)), 0);
    if (len > 0) off -= offset * stride(d1);
  }
  DimVector sz, st;
  for (int64_t d = 0; d < dim(); ++d)
    if (d != d1 && d != d2) { sz.push_back(size(d)); st.push_back(stride(d)); }
  sz.push_back(len);
  st.push_back(stride(d1) + stride(d2));
  return region_view(*this, make_view(*this, sz, st, off), "DiagonalBackward",
                     [offset, d1, d2](const Tensor& x) { return x.diagonal(offset, d1, d2); });
}

Tensor Tensor::expand(IntArrayRef sizes_in) const {
  const int64_t nd = static_cast<int64_t>(sizes_in.size());
  HEARTH_CHECK(nd >= dim(), ShapeError, "expand: the number of sizes provided (", nd,
               ") must be greater or equal to the number of dimensions in the tensor (", dim(), ")");
  DimVector sz(nd), st(nd);
  for (int64_t i = nd - 1; i >= 0; --i) {
    const int64_t off = nd - 1 - i;
    const int64_t d = dim() - 1 - off;
    const int64_t have = d >= 0 ? size(d) : 1;
    const int64_t hstride = d >= 0 ? stride(d) : 0;
    int64_t want = sizes_in[i];
    if (want == -1) {
      HEARTH_CHECK(d >= 0, ShapeError, "expand: -1 is not allowed in a leading, non-existing dimension (", sizes_in,
                   ")");
      want = have;
    }
    HEARTH_CHECK(have == want || have == 1, ShapeError, "expand: the expanded size of the tensor (", want,
                 ") must match the existing size (", have, ") at non-singleton dimension ", i,
                 ". Target sizes: ", sizes_in, ". Tensor sizes: ", sizes());
    sz[i] = want;
    st[i] = (have == want) ? hstride : 0;
  }
  Tensor out = make_view(*this, sz, st, storage_offset());
  record_view(*this, out, "ExpandBackward", ViewBackward::Kind::Expand,
              [sz](const Tensor& x) { return x.expand(sz); });
  return out;
}

Tensor Tensor::movedim(IntArrayRef src, IntArrayRef dst) const {
  HEARTH_CHECK(src.size() == dst.size(), ShapeError, "movedim: Invalid source or destination dims: source (", src,
               ") and destination (", dst, ") must have the same number of elements");
  const int64_t nd = dim();
  std::vector<int64_t> order(nd, -1);
  std::vector<bool> used_src(nd, false);
  for (size_t i = 0; i < src.size(); ++i) {
    int64_t s = wrap_dim(src[i], nd), d = wrap_dim(dst[i], nd);
    HEARTH_CHECK(order[d] == -1 && !used_src[s], ShapeError, "movedim: repeated dim in source ", src,
                 " or destination ", dst);
    order[d] = s;
    used_src[s] = true;
  }
  int64_t next = 0;
  for (int64_t d = 0; d < nd; ++d) {
    if (order[d] != -1) continue;
    while (used_src[next]) ++next;
    order[d] = next++;
  }
  return permute(order);
}
Tensor Tensor::movedim(int64_t s, int64_t d) const { return movedim(IntArrayRef(s), IntArrayRef(d)); }

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  HEARTH_CHECK(dim() > 0, ShapeError, "narrow() cannot be applied to a 0-dim tensor");
  d = wrap_dim(d, dim());
  const int64_t n = size(d);
  HEARTH_CHECK(start >= -n && start <= n, IndexError, "narrow(): start (", start, ") is out of bounds for dim ",
               d, " of size ", n);
  if (start < 0) start += n;
  HEARTH_CHECK(length >= 0 && start + length <= n, IndexError, "narrow(): start (", start, ") + length (", length,
               ") exceeds dimension size (", n, ")");
  return slice(d, start, start + length, 1);
}

Tensor Tensor::permute(IntArrayRef dims) const {
  const int64_t nd = dim();
  HEARTH_CHECK(static_cast<int64_t>(dims.size()) == nd, ShapeError, "permute(): number of dimensions ",
               "in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = ",
               nd, " is not equal to len(dims) = ", dims.size());
  DimVector sz(nd), st(nd);
  std::vector<bool> seen(nd, false);
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = wrap_dim(dims[i], nd);
    HEARTH_CHECK(!seen[d], ShapeError, "permute(): duplicate dims are not allowed (", dims, ")");
    seen[d] = true;
    sz[i] = size(d);
    st[i] = stride(d);
  }
  Tensor out = make_view(*this, sz, st, storage_offset());
  DimVector perm;
  for (int64_t i = 0; i < nd; ++i) perm.push_back(wrap_dim(dims[i], nd));
  if (auto n = record_view(*this, out, "PermuteBackward", ViewBackward::Kind::Permute,
                           [perm](const Tensor& x) { return x.permute(perm); }))
    n->perm_ = perm;
  return out;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  HEARTH_CHECK(dim() > 0, IndexError, "select() cannot be applied to a 0-dim tensor");
  d = wrap_dim(d, dim());
  const int64_t n = size(d);
  HEARTH_CHECK(index >= -n && index < n, IndexError, "select(): index ", index, " out of range for tensor of size ",
               sizes(), " at dimension ", d);
  if (index < 0) index += n;
  DimVector sz, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (i != d) { sz.push_back(size(i)); st.push_back(stride(i)); }
  return region_view(*this, make_view(*this, sz, st, storage_offset() + index * stride(d)), "SelectBackward",
                     [d, index](const Tensor& x) { return x.select(d, index); });
}

Tensor Tensor::slice(int64_t d, std::optional<int64_t> start_opt, std::optional<int64_t> end_opt, int64_t step) const {
  HEARTH_CHECK(dim() > 0, IndexError, "slice() cannot be applied to a 0-dim tensor");
  d = wrap_dim(d, dim());
  HEARTH_CHECK(step > 0, ValueError, "slice step must be positive, got ", step);
  const int64_t n = size(d);
  int64_t start = start_opt.value_or(0), end = end_opt.value_or(n);
  // Python semantics: negative counts from the end, out-of-range clamps.
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  const int64_t len = (end - start + step - 1) / step;
  DimVector sz(sizes().begin(), sizes().end()), st(strides().begin(), strides().end());
  sz[d] = len;
  st[d] = stride(d) * step;
  return region_view(*this, make_view(*this, sz, st, storage_offset() + (len > 0 ? start * stride(d) : 0)),
                     "SliceBackward", [d, start, end, step](const Tensor& x) { return x.slice(d, start, end, step); });
}

Tensor Tensor::squeeze() const {
  DimVector sz, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (size(i) != 1) { sz.push_back(size(i)); st.push_back(stride(i)); }
  return reshape_view(*this, make_view(*this, sz, st, storage_offset()), "SqueezeBackward",
                      [](const Tensor& x) { return x.squeeze(); });
}

Tensor Tensor::squeeze(int64_t d) const {
  auto replay = [d](const Tensor& x) { return x.squeeze(d); };
  if (dim() == 0)
    return reshape_view(*this, make_view(*this, sizes(), strides(), storage_offset()), "SqueezeBackward", replay);
  d = wrap_dim(d, dim());
  if (size(d) != 1)
    return reshape_view(*this, make_view(*this, sizes(), strides(), storage_offset()), "SqueezeBackward", replay);
  DimVector sz, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (i != d) { sz.push_back(size(i)); st.push_back(stride(i)); }
  return reshape_view(*this, make_view(*this, sz, st, storage_offset()), "SqueezeBackward", replay);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1);
  DimVector sz(sizes().begin(), sizes().end()), st(strides().begin(), strides().end());
  const int64_t new_stride = d < dim() ? stride(d) * size(d) : 1;
  sz.insert(static_cast<size_t>(d), 1);
  st.insert(static_cast<size_t>(d), new_stride);
  return reshape_view(*this, make_view(*this, sz, st, storage_offset()), "UnsqueezeBackward",
                      [d](const Tensor& x) { return x.unsqueeze(d); });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  if (dim() == 0)
    return reshape_view(*this, make_view(*this, sizes(), strides(), storage_offset()), "TransposeBackward",
                        [](const Tensor& x) { return x.transpose(0, 0); });
  d0 = wrap_dim(d0, dim());
  d1 = wrap_dim(d1, dim());
  DimVector sz(sizes().begin(), sizes().end()), st(strides().begin(), strides().end());
  std::swap(sz[d0], sz[d1]);
  std::swap(st[d0], st[d1]);
  Tensor out = make_view(*this, sz, st, storage_offset());
  if (auto n = record_view(*this, out, "TransposeBackward", ViewBackward::Kind::Permute,
                           [d0, d1](const Tensor& x) { return x.transpose(d0, d1); })) {
    for (int64_t i = 0; i < dim(); ++i) n->perm_.push_back(i);
    std::swap(n->perm_[d0], n->perm_[d1]);
  }
  return out;
}

Tensor Tensor::t() const {
  HEARTH_CHECK(dim() <= 2, ShapeError, "t() expects a tensor with <= 2 dimensions, but self is ", dim(), "D");
  return dim() < 2 ? transpose(0, 0) : transpose(0, 1);
}

Tensor Tensor::unfold(int64_t d, int64_t sz, int64_t step) const {
  d = dim() == 0 ? 0 : wrap_dim(d, dim());
  const int64_t n = dim() == 0 ? 1 : size(d);
  HEARTH_CHECK(sz >= 0 && sz <= n, ShapeError, "unfold: maximum size for tensor at dimension ", d, " is ", n,
               " but size is ", sz);
  HEARTH_CHECK(step > 0, ShapeError, "unfold: step is ", step, " but must be > 0");
  DimVector nsz(sizes().begin(), sizes().end()), nst(strides().begin(), strides().end());
  if (dim() == 0) {
    nsz.push_back(sz);
    nst.push_back(1);
    // sz is 0 or 1: a region (an empty window takes no gradient), not a reshape.
    return region_view(*this, make_view(*this, nsz, nst, storage_offset()), "UnfoldBackward",
                       [sz, step](const Tensor& x) { return x.unfold(0, sz, step); });
  }
  nsz[d] = (n - sz) / step + 1;
  nst[d] = stride(d) * step;
  nsz.push_back(sz);
  nst.push_back(stride(d));
  return region_view(*this, make_view(*this, nsz, nst, storage_offset()), "UnfoldBackward",
                     [d, sz, step](const Tensor& x) { return x.unfold(d, sz, step); }, /*overlapping=*/step < sz);
}

namespace ops {
Tensor own_view(const Tensor& v) {
  if (!v.impl()->is_view()) return v;
  Tensor out(detail::make_intrusive<TensorImpl>(v.impl()->storage(), v.dtype(), v.sizes(), v.strides(),
                                                v.storage_offset()));
  // Nodes refer to their outputs only by shape, so the view's history fits the new tensor as is.
  if (const AutogradMeta* m = v.impl()->autograd_meta(); m && m->grad_fn) {
    AutogradMeta& om = autograd::internal::materialize(out);
    om.grad_fn = m->grad_fn;
    om.output_nr = m->output_nr;
  }
  return out;
}
}  // namespace ops

std::vector<Tensor> Tensor::unbind(int64_t d) const {
  HEARTH_CHECK(dim() > 0, ShapeError, "unbind: dimension specified as ", d, " but tensor has no dimensions");
  d = wrap_dim(d, dim());
  std::vector<Tensor> out;
  for (int64_t i = 0; i < size(d); ++i) out.push_back(select(d, i));
  mark_multi_output(out, "unbind");
  return out;
}

std::vector<Tensor> Tensor::split(int64_t split_size, int64_t d) const {
  HEARTH_CHECK(dim() > 0, ShapeError, "split expects at least a 1-dimensional tensor");
  d = wrap_dim(d, dim());
  HEARTH_CHECK(split_size >= 0, ValueError, "split expects split_size be non-negative, but got split_size=",
               split_size);
  const int64_t n = size(d);
  HEARTH_CHECK(split_size > 0 || n == 0, ValueError, "split_size can only be 0 if dimension size is 0, but got ",
               "dimension size of ", n);
  std::vector<Tensor> out;
  if (n == 0) { out.push_back(*this); return out; }
  for (int64_t s = 0; s < n; s += split_size) out.push_back(narrow(d, s, std::min(split_size, n - s)));
  mark_multi_output(out, "split");
  return out;
}

std::vector<Tensor> Tensor::split_with_sizes(IntArrayRef split_sizes, int64_t d) const {
  HEARTH_CHECK(dim() > 0, ShapeError, "split_with_sizes expects at least a 1-dimensional tensor");
  d = wrap_dim(d, dim());
  int64_t total = 0;
  for (auto s : split_sizes) {
    HEARTH_CHECK(s >= 0, ValueError, "split_with_sizes expects split_sizes have only non-negative entries, but got ",
                 split_sizes);
    total += s;
  }
  HEARTH_CHECK(total == size(d), ShapeError, "split_with_sizes expects split_sizes to sum exactly to ", size(d),
               " (input tensor's size at dimension ", d, "), but got split_sizes=", split_sizes);
  std::vector<Tensor> out;
  int64_t start = 0;
  for (auto s : split_sizes) {
    out.push_back(narrow(d, start, s));
    start += s;
  }
  mark_multi_output(out, "split_with_sizes");
  return out;
}

std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t d) const {
  HEARTH_CHECK(dim() > 0, ShapeError, "chunk expects at least a 1-dimensional tensor");
  HEARTH_CHECK(chunks > 0, ValueError, "chunk expects `chunks` to be greater than 0, got: ", chunks);
  d = wrap_dim(d, dim());
  const int64_t n = size(d);
  const int64_t split_size = (n + chunks - 1) / chunks;
  if (split_size == 0 && n == 0) {
    std::vector<int64_t> sizes_v(chunks, 0);
    std::vector<Tensor> out = split_with_sizes(sizes_v, d);
    mark_multi_output(out, "chunk");
    return out;
  }
  std::vector<Tensor> out = split(split_size, d);
  mark_multi_output(out, "chunk");
  return out;
}

}  // namespace hearth
