// Joining (cat, stack) and indexing ops (index_select, gather, scatter, masked_select,
// nonzero). cat uses the backend's kernel if it has one, else copies into narrow() views.
// cat, index_select, gather and scatter_/scatter_add_ record their backward; stack,
// masked_select and the out-of-place scatters are composite.
#include "../autograd/functions.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth {
namespace {

using autograd::tensor_list;
using autograd::internal::ForwardGuard;

/// cat: each input gets its slice of g (legacy 1-D empty inputs, which cat skips, get zeros).
class CatBackward final : public autograd::Node {
 public:
  struct Part {
    int64_t offset = -1;  // -1: skipped by cat
    int64_t length = 0;
  };
  CatBackward(int64_t dim, std::vector<Part> parts) : dim_(dim), parts_(std::move(parts)) {}
  std::string name() const override { return "CatBackward"; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(num_outputs());
    for (size_t i = 0; i < parts_.size(); ++i) {
      if (!needs_input_grad(i)) continue;
      r[i] = parts_[i].offset < 0 ? zeros({0}, g[0].options()) : g[0].narrow(dim_, parts_[i].offset, parts_[i].length);
    }
    return r;
  }

 private:
  int64_t dim_;
  std::vector<Part> parts_;
};

/// index_select: g goes back to the selected rows; repeated indices add up.
class IndexSelectBackward final : public autograd::SavingNode<1> {
 public:
  IndexSelectBackward(IntArrayRef in_sizes, int64_t dim) : in_sizes_(in_sizes.begin(), in_sizes.end()), dim_(dim) {}
  std::string name() const override { return "IndexSelectBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor index = saved(0).reshape({-1});
    Tensor g = grads[0];
    DimVector sizes = in_sizes_;
    if (sizes.empty()) {  // 0-dim input: selected as shape [1]
      sizes = {1};
      g = g.reshape({index.numel()});
    }
    // scatter_add wants an index shaped like its source: the index along dim, broadcast.
    DimVector ishape(sizes.size(), 1);
    ishape[static_cast<size_t>(dim_)] = index.numel();
    const Tensor idx = index.view(ishape).expand(g.sizes());
    Tensor r = scatter_add(zeros(sizes, g.options()), dim_, idx, g);
    return {in_sizes_.empty() ? r.reshape({}) : r};
  }

 private:
  DimVector in_sizes_;
  int64_t dim_;
};

/// gather: scatter_add of g into zeros (indices gathered twice get both gradients).
class GatherBackward final : public autograd::SavingNode<1> {
 public:
  GatherBackward(IntArrayRef in_sizes, int64_t dim) : in_sizes_(in_sizes.begin(), in_sizes.end()), dim_(dim) {}
  std::string name() const override { return "GatherBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor index = saved(0);
    const Tensor& g = grads[0];
    if (in_sizes_.empty())  // 0-dim input: work on shape [1]
      return {scatter_add(zeros({1}, g.options()), 0, index.reshape({-1}), g.reshape({-1})).reshape({})};
    return {scatter_add(zeros(in_sizes_, g.options()), dim_, index, g)};
  }

 private:
  DimVector in_sizes_;
  int64_t dim_;
};

/// scatter_ / scatter_add_ (in place; edge 0 is self's previous history). self: g, with the
/// overwritten positions zeroed for scatter_. src: g at the scattered positions (zeros where
/// src is larger than index).
class ScatterBackward final : public autograd::SavingNode<1> {
 public:
  ScatterBackward(bool add, int64_t dim, IntArrayRef src_sizes)
      : add_(add), dim_(dim), src_sizes_(src_sizes.begin(), src_sizes.end()) {}
  std::string name() const override { return add_ ? "ScatterAddBackward" : "ScatterBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor& g = grads[0];
    const Tensor index = saved(0);
    tensor_list r(2);
    if (needs_input_grad(0)) r[0] = add_ ? g : scatter(g, dim_, index, zeros(index.sizes(), g.options()));
    if (needs_input_grad(1)) {
      Tensor s = gather(g, dim_, index);
      if (s.sizes() != IntArrayRef(src_sizes_)) {
        const DimVector isz(index.sizes().begin(), index.sizes().end());
        s = autograd::view_region_backward(
            s, src_sizes_,
            [isz](const Tensor& t) {
              Tensor v = t;
              for (size_t k = 0; k < isz.size(); ++k) v = v.narrow(static_cast<int64_t>(k), 0, isz[k]);
              return v;
            },
            /*overlapping=*/false);
      }
      r[1] = s;
    }
    return r;
  }

 private:
  bool add_;
  int64_t dim_;
  DimVector src_sizes_;
};

void check_index_dtype(const char* op, const Tensor& index) {
  HEARTH_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, DTypeError, op,
               "(): Expected dtype int32/int64 for index, got ", index.dtype());
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  HEARTH_CHECK(!tensors.empty(), ValueError, "torch.cat(): expected a non-empty list of Tensors");
  // PyTorch skips legacy 1-D empty tensors of shape [0].
  std::vector<const Tensor*> parts;
  for (const auto& t : tensors) {
    HEARTH_CHECK(t.defined(), ValueError, "cat(): an input tensor is undefined");
    if (!(t.dim() == 1 && t.size(0) == 0)) parts.push_back(&t);
  }
  if (parts.empty()) return tensors[0].clone();  // clone records its own backward
  const Tensor& ref = *parts[0];
  HEARTH_CHECK(ref.dim() > 0, ShapeError, "cat(): zero-dimensional tensor (at position 0) cannot be concatenated");
  const int64_t d = ops::wrap_dim(dim, ref.dim());
  ScalarType dt = result_type(tensors);
  DimVector shape(ref.sizes().begin(), ref.sizes().end());
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = *parts[i];
    HEARTH_CHECK(t.device() == ref.device(), DeviceError, "cat(): expected all tensors on the same device, got ",
                 ops::describe(ref), " and ", ops::describe(t));
    HEARTH_CHECK(t.dim() == ref.dim(), ShapeError, "cat(): tensors must have same number of dimensions: got ",
                 ref.dim(), " and ", t.dim());
    for (int64_t k = 0; k < ref.dim(); ++k)
      HEARTH_CHECK(k == d || t.size(k) == ref.size(k), ShapeError, "cat(): sizes of tensors must match except in "
                   "dimension ", d, ". Expected size ", ref.size(k), " but got size ", t.size(k),
                   " for tensor number ", i, " in the list (shapes ", ref.sizes(), " and ", t.sizes(), ")");
    total += t.size(d);
  }
  shape[d] = total;
  const bool rec = autograd::any_requires_grad(tensors);
  Tensor out = ops::new_tensor(shape, dt, ref.device());
  {
    // The fallback's copies into views of `out` must not record (they would also be refused
    // as in-place changes of views): cat records one node below.
    ForwardGuard fg(rec);
    // One kernel call where the backend has a cat kernel; otherwise copies into narrow() views.
    static const OpHandle cat_op = find_op("cat");
    if (cat_op.has_kernel(out.device().type())) {
      std::vector<Tensor> ins;
      ins.reserve(parts.size());
      for (const Tensor* t : parts) ins.push_back(*t);
      attrs::Cat at{d};
      KernelArgs args;
      args.inputs = ins.data();
      args.num_inputs = ins.size();
      args.outputs = &out;
      args.num_outputs = 1;
      args.attrs = &at;
      args.device = out.device();
      cat_op.call(args);
    } else {
      int64_t off = 0;
      for (const Tensor* t : parts) {
        out.narrow(d, off, t->size(d)).copy_(*t);
        off += t->size(d);
      }
    }
  }
  if (rec) {
    std::vector<CatBackward::Part> spans;
    spans.reserve(tensors.size());
    int64_t off = 0;
    for (const Tensor& t : tensors) {
      if (t.dim() == 1 && t.size(0) == 0) {
        spans.push_back({});
        continue;
      }
      spans.push_back({off, t.size(d)});
      off += t.size(d);
    }
    auto n = std::make_shared<CatBackward>(d, std::move(spans));
    for (const Tensor& t : tensors) n->add_next_edge(autograd::gradient_edge(t));
    autograd::set_history(out, n);
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  HEARTH_CHECK(!tensors.empty(), ValueError, "stack expects a non-empty TensorList");
  const int64_t d = ops::wrap_dim(dim, tensors[0].dim() + 1);
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    HEARTH_CHECK(tensors[i].sizes() == tensors[0].sizes(), ShapeError,
                 "stack expects each tensor to be equal size, but got ", tensors[0].sizes(), " at entry 0 and ",
                 tensors[i].sizes(), " at entry ", i);
    parts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(parts, d);
}

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  static const OpHandle op = find_op("index_select");
  check_index_dtype("index_select", index);
  HEARTH_CHECK(index.dim() <= 1, ShapeError, "index_select(): Index is supposed to be a vector, got shape ",
               index.sizes());
  Device dev = ops::common_device("index_select", {&a, &index});
  const bool rec = autograd::any_requires_grad({&a});
  const int64_t d = ops::wrap_dim(dim, std::max<int64_t>(a.dim(), 1));
  Tensor out;
  {
    ForwardGuard fg(rec);
    Tensor in = a.dim() == 0 ? a.reshape({1}) : a;
    DimVector shape(in.sizes().begin(), in.sizes().end());
    shape[d] = index.numel();
    out = ops::new_tensor(shape, a.dtype(), dev);
    attrs::DimIndex at{d, 0};
    ops::call(op, dev, {in, index.reshape({-1})}, {out}, &at);
    if (a.dim() == 0) out = ops::own_view(out.reshape({}));
  }
  if (rec) {
    auto n = std::make_shared<IndexSelectBackward>(a.sizes(), d);
    autograd::record(n, {&a}, {&out});
    n->save(0, index);
  }
  return out;
}

Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  static const OpHandle op = find_op("gather");
  check_index_dtype("gather", index);
  Device dev = ops::common_device("gather", {&a, &index});
  const int64_t d = ops::wrap_dim(dim, a.dim());
  HEARTH_CHECK(index.dim() == a.dim() || (a.dim() == 0 && index.dim() <= 1), ShapeError,
               "gather(): Index tensor must have the same number of dimensions as input tensor (", a.sizes(), " vs ",
               index.sizes(), ")");
  for (int64_t k = 0; k < a.dim(); ++k)
    HEARTH_CHECK(k == d || index.size(k) <= a.size(k), ShapeError, "gather(): Size does not match at dimension ", k,
                 " expected index ", index.sizes(), " to be smaller than self ", a.sizes(),
                 " apart from dimension ", d);
  Tensor out = ops::new_tensor(index.sizes(), a.dtype(), dev);
  attrs::DimIndex at{d, 0};
  ops::call(op, dev, {a, index}, {out}, &at);
  if (autograd::any_requires_grad({&a})) {
    auto n = std::make_shared<GatherBackward>(a.sizes(), d);
    autograd::record(n, {&a}, {&out});
    n->save(0, index);
  }
  return out;
}

namespace {
Tensor& scatter_impl(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, int reduce, const char* name) {
  static const OpHandle op = find_op("scatter_");
  check_index_dtype(name, index);
  Device dev = ops::common_device(name, {&self, &index, &src});
  ops::check_no_internal_overlap(self, name);
  const int64_t d = ops::wrap_dim(dim, self.dim());
  HEARTH_CHECK(index.dim() == self.dim() && src.dim() == self.dim(), ShapeError, name,
               "(): Index tensor must have the same number of dimensions as self and src (self ", self.sizes(),
               ", index ", index.sizes(), ", src ", src.sizes(), ")");
  for (int64_t k = 0; k < self.dim(); ++k) {
    HEARTH_CHECK(index.size(k) <= src.size(k), ShapeError, name, "(): Expected index ", index.sizes(),
                 " to be smaller than src ", src.sizes(), " at dimension ", k);
    HEARTH_CHECK(k == d || index.size(k) <= self.size(k), ShapeError, name, "(): Expected index ", index.sizes(),
                 " to be smaller than self ", self.sizes(), " apart from dimension ", d);
  }
  // An integer self never carries gradients, whatever src is.
  const bool rec = autograd::any_requires_grad({&self, &src}) && self.is_floating_point();
  std::shared_ptr<ScatterBackward> node;
  if (rec) {
    autograd::check_inplace(self, src.requires_grad(), name);
    // Edge 0 is self's history before the write.
    node = autograd::make_node(std::make_shared<ScatterBackward>(reduce == 1, d, src.sizes()), {&self, &src});
  }
  {
    ForwardGuard fg(rec);
    Tensor s = src.dtype() == self.dtype() ? src : src.to(self.dtype());
    attrs::DimIndex at{d, reduce};
    ops::call(op, dev, {index, s}, {self}, &at);
  }
  self.impl()->bump_version();
  if (rec) {
    node->save(0, index);
    autograd::rebase_history(self, node);
  }
  return self;
}
}  // namespace

Tensor& Tensor::scatter_(int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(*this, dim, index, src, 0, "scatter_");
}
Tensor& Tensor::scatter_add_(int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(*this, dim, index, src, 1, "scatter_add_");
}
// Out of place: clone (which records) then the in-place op, so the gradient flows through both.
Tensor scatter(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = a.clone();
  return out.scatter_(dim, index, src);
}
Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = a.clone();
  return out.scatter_add_(dim, index, src);
}

Tensor nonzero(const Tensor& a) {
  static const OpHandle op = find_op("nonzero");
  Tensor out;
  Tensor in = a;
  KernelArgs args;
  args.inputs = &in;
  args.num_inputs = 1;
  args.outputs = &out;
  args.num_outputs = 1;
  args.device = a.device();
  op.call(args);
  HEARTH_INTERNAL_ASSERT(out.defined() && out.dtype() == kInt64 && out.dim() == 2, "nonzero kernel output");
  return out;
}

Tensor masked_select(const Tensor& a, const Tensor& mask) {
  HEARTH_CHECK(mask.dtype() == kBool, DTypeError, "masked_select: expected BoolTensor for mask, got ", mask.dtype());
  ops::common_device("masked_select", {&a, &mask});
  DimVector shape = broadcast_shapes(a.sizes(), mask.sizes());
  Tensor flat = a.expand(shape).reshape({-1});
  Tensor idx = nonzero(mask.expand(shape).reshape({-1})).view({-1});
  return index_select(flat, 0, idx);
}

Tensor Tensor::index_select(int64_t dim, const Tensor& index) const { return hearth::index_select(*this, dim, index); }
Tensor Tensor::masked_select(const Tensor& mask) const { return hearth::masked_select(*this, mask); }
Tensor Tensor::gather(int64_t dim, const Tensor& index) const { return hearth::gather(*this, dim, index); }
Tensor Tensor::scatter(int64_t dim, const Tensor& index, const Tensor& src) const {
  return hearth::scatter(*this, dim, index, src);
}
Tensor Tensor::scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const {
  return hearth::scatter_add(*this, dim, index, src);
}

}  // namespace hearth
