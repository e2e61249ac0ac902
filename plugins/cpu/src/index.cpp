// Indexing kernels: index_select, gather, scatter_, put_ and nonzero.
#include "common.h"

#include <vector>

#include "hearth/functions.h"

namespace hearth::cpu {
namespace {

/// An index tensor's values as int64 (int64 or int32 indices), in its row-major order.
std::vector<int64_t> read_indices(const Tensor& index, const char* op) {
  TensorImpl* t = strided_impl(index);
  const ScalarType it = t->dtype();
  HEARTH_CHECK(it == kInt64 || it == kInt32, DTypeError, "index must be int64 or int32, got ", it);
  std::vector<int64_t> v(static_cast<size_t>(t->numel()));
  if (v.empty()) return v;
  NdCounter c;
  c.nd = static_cast<int>(t->dim());
  HEARTH_CHECK(c.nd <= NdCounter::kMaxDims, ShapeError, "index has too many dims (", c.nd, ")");
  for (int d = 0; d < c.nd; ++d) {
    c.sizes[d] = t->size(static_cast<size_t>(d));
    c.strides[0][d] = t->stride(static_cast<size_t>(d));
  }
  c.seek(0);
  for (size_t k = 0; k < v.size(); ++k) {
    v[k] = it == kInt64 ? data_as<const int64_t>(t)[c.off[0]] : data_as<const int32_t>(t)[c.off[0]];
    if (k + 1 < v.size()) c.next();
  }
  return v;
}

int64_t size_or_1(TensorImpl* t, int64_t d) { return t->dim() == 0 ? 1 : t->size(static_cast<size_t>(d)); }
int64_t stride_or_0(TensorImpl* t, int64_t d) { return t->dim() == 0 ? 0 : t->stride(static_cast<size_t>(d)); }

// ---- index_select --------------------------------------------------------------------------------
void index_select_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::DimIndex*>(args.attrs);
  TensorImpl* self = strided_impl(args.inputs[0]);
  TensorImpl* out = strided_impl(args.outputs[0]);
  const int64_t dim = at.dim;
  const int64_t nd = self->dim();
  HEARTH_CHECK((nd == 0 && dim == 0) || (dim >= 0 && dim < nd), ValueError, "dim ", dim,
               " out of range for a tensor of rank ", nd);
  HEARTH_CHECK(strided_impl(args.inputs[1])->dim() <= 1, ShapeError, "Index is supposed to be a vector, got shape ",
               args.inputs[1].sizes());
  HEARTH_CHECK(out->dtype() == self->dtype(), DTypeError, "output dtype ", out->dtype(), " differs from self ",
               self->dtype());
  const std::vector<int64_t> idx = read_indices(args.inputs[1], "index_select");
  const int64_t size = size_or_1(self, dim);
  for (int64_t v : idx)
    HEARTH_CHECK(v >= 0 && v < size, IndexError, "index ", v, " is out of range for dimension ", dim, " with size ",
                 size);
  const int64_t nidx = static_cast<int64_t>(idx.size());
  HEARTH_CHECK(out->dim() == nd && size_or_1(out, dim) == (nd == 0 ? 1 : nidx), ShapeError, "output shape ",
               out->sizes(), " does not fit ", nidx, " indices along dim ", dim);
  if (out->numel() == 0) return;
  const size_t es = element_size(self->dtype());
  if (self->is_contiguous() && out->is_contiguous()) {
    // (outer, dim, inner) blocks: one memcpy of `inner` elements per (outer, index).
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= self->size(static_cast<size_t>(d));
    for (int64_t d = dim + 1; d < nd; ++d) inner *= self->size(static_cast<size_t>(d));
    const char* src = static_cast<const char*>(self->data());
    char* dst = static_cast<char*>(out->data());
    const size_t row = static_cast<size_t>(inner) * es;
    parallel_for(outer * nidx, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t o = t / nidx, k = t % nidx;
        std::memcpy(dst + static_cast<size_t>(t) * row,
                    src + static_cast<size_t>(o * size + idx[static_cast<size_t>(k)]) * row, row);
      }
    });
    return;
  }
  // Strided: walk the output; the self offset uses the index value along `dim`.
  NdCounter base;
  base.nd = static_cast<int>(nd);
  HEARTH_CHECK(base.nd <= NdCounter::kMaxDims, ShapeError, "too many dims (", nd, ")");
  for (int d = 0; d < base.nd; ++d) {
    base.sizes[d] = out->size(static_cast<size_t>(d));
    base.strides[0][d] = out->stride(static_cast<size_t>(d));
    base.strides[1][d] = d == dim ? 0 : self->stride(static_cast<size_t>(d));
  }
  const int64_t sdim = stride_or_0(self, dim);
  dispatch_by_size(es, [&](auto ct) {
    using C = typename decltype(ct)::type;
    C* dst = data_as<C>(out);
    const C* src = data_as<const C>(self);
    parallel_for(out->numel(), kGrain, [&](int64_t b, int64_t e) {
      NdCounter c = base;
      c.seek(b);
      for (int64_t i = b; i < e; ++i) {
        const int64_t k = nd == 0 ? 0 : c.idx[dim];
        dst[c.off[0]] = src[c.off[1] + idx[static_cast<size_t>(k)] * sdim];
        if (i + 1 < e) c.next();
      }
    });
  });
}

// ---- gather / scatter_ ---------------------------------------------------------------------------
/// Walks index's shape with offsets (index, other, self-without-dim); checks shapes like PyTorch.
struct GatherGeom {
  NdCounter c;
  int64_t self_dim_stride = 0, self_dim_size = 1;
  int64_t n = 0;
};

GatherGeom gather_geom(const char* op, TensorImpl* self, TensorImpl* index, TensorImpl* other, int64_t dim,
                       const char* other_name) {
  const int64_t nd = std::max<int64_t>(self->dim(), 1);
  HEARTH_CHECK(dim >= 0 && dim < nd, ValueError, "dim ", dim, " out of range for a tensor of rank ", self->dim());
  HEARTH_CHECK(std::max<int64_t>(index->dim(), 1) == nd, ShapeError,
               "Index tensor must have the same number of dimensions as self tensor (index ", index->sizes(), ", self ",
               self->sizes(), ")");
  HEARTH_CHECK(nd <= NdCounter::kMaxDims, ShapeError, "too many dims (", nd, ")");
  GatherGeom g;
  g.c.nd = index->dim() == 0 ? 0 : static_cast<int>(nd);
  for (int d = 0; d < g.c.nd; ++d) {
    const int64_t is = index->size(static_cast<size_t>(d));
    HEARTH_CHECK(d == dim || is <= size_or_1(self, d), ShapeError, "Size does not match at dimension ", d,
                 " expected index ", index->sizes(), " to be smaller than self ", self->sizes(),
                 " apart from dimension ", dim);
    HEARTH_CHECK(is <= size_or_1(other, d), ShapeError, "Size does not match at dimension ", d, " expected index ",
                 index->sizes(), " to be smaller than ", other_name, " ", other->sizes());
    g.c.sizes[d] = is;
    g.c.strides[0][d] = index->stride(static_cast<size_t>(d));
    g.c.strides[1][d] = stride_or_0(other, d);
    g.c.strides[2][d] = d == dim ? 0 : stride_or_0(self, d);
  }
  g.self_dim_stride = stride_or_0(self, dim);
  g.self_dim_size = size_or_1(self, dim);
  g.n = index->numel();
  return g;
}

template <typename I>
void check_bounds(const char* op, const I* idx, const NdCounter& c0, int64_t n, int64_t size, int64_t dim) {
  NdCounter c = c0;
  c.seek(0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = idx[c.off[0]];
    HEARTH_CHECK(v >= 0 && v < size, IndexError, "index ", v, " is out of bounds for dimension ", dim, " with size ",
                 size);
    if (i + 1 < n) c.next();
  }
}

void gather_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::DimIndex*>(args.attrs);
  TensorImpl* self = strided_impl(args.inputs[0]);
  TensorImpl* index = strided_impl(args.inputs[1]);
  TensorImpl* out = strided_impl(args.outputs[0]);
  HEARTH_CHECK(index->dtype() == kInt64 || index->dtype() == kInt32, DTypeError, "Expected dtype int64 for index, got ",
               index->dtype());
  HEARTH_CHECK(out->dtype() == self->dtype(), DTypeError, "output dtype ", out->dtype(), " differs from self ",
               self->dtype());
  HEARTH_CHECK(out->sizes() == index->sizes(), ShapeError, "output shape ", out->sizes(),
               " must equal the index shape ", index->sizes());
  const GatherGeom g = gather_geom("gather", self, index, out, at.dim, "out");
  if (g.n == 0) return;
  auto body = [&](auto it) {
    using I = typename decltype(it)::type;
    const I* idx = data_as<const I>(index);
    check_bounds("gather", idx, g.c, g.n, g.self_dim_size, at.dim);
    dispatch_by_size(element_size(self->dtype()), [&](auto ct) {
      using C = typename decltype(ct)::type;
      C* dst = data_as<C>(out);
      const C* src = data_as<const C>(self);
      parallel_for(g.n, kGrain, [&](int64_t b, int64_t e) {
        NdCounter c = g.c;
        c.seek(b);
        for (int64_t i = b; i < e; ++i) {
          dst[c.off[1]] = src[c.off[2] + static_cast<int64_t>(idx[c.off[0]]) * g.self_dim_stride];
          if (i + 1 < e) c.next();
        }
      });
    });
  };
  if (index->dtype() == kInt64)
    body(TypeTag<int64_t>{});
  else
    body(TypeTag<int32_t>{});
}

void scatter_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::DimIndex*>(args.attrs);
  TensorImpl* self = strided_impl(args.outputs[0]);
  TensorImpl* index = strided_impl(args.inputs[0]);
  TensorImpl* src = strided_impl(args.inputs[1]);
  HEARTH_CHECK(index->dtype() == kInt64 || index->dtype() == kInt32, DTypeError, "Expected dtype int64 for index, got ",
               index->dtype());
  HEARTH_CHECK(src->dtype() == self->dtype(), DTypeError, "Expected self.dtype to be equal to src.dtype (",
               self->dtype(), " vs ", src->dtype(), ")");
  HEARTH_CHECK(at.reduce == 0 || at.reduce == 1, ValueError, "reduce must be 0 (replace) or 1 (add), got ", at.reduce);
  const GatherGeom g = gather_geom("scatter_", self, index, src, at.dim, "src");
  if (g.n == 0) return;
  auto body = [&](auto it) {
    using I = typename decltype(it)::type;
    const I* idx = data_as<const I>(index);
    check_bounds("scatter_", idx, g.c, g.n, g.self_dim_size, at.dim);
    // Sequential in index order: duplicate targets resolve deterministically (the last write
    // wins; adds happen in order).
    HEARTH_CPU_DISPATCH_ALL(self->dtype(), "scatter_", {
      scalar_t* dst = data_as<scalar_t>(self);
      const scalar_t* s = data_as<const scalar_t>(src);
      NdCounter c = g.c;
      c.seek(0);
      for (int64_t i = 0; i < g.n; ++i) {
        scalar_t& t = dst[c.off[2] + static_cast<int64_t>(idx[c.off[0]]) * g.self_dim_stride];
        if (at.reduce == 1) {
          using M = opmath_t<scalar_t>;
          if constexpr (std::is_same_v<scalar_t, bool>)
            t = t || s[c.off[1]];
          else
            t = scalar_t(wrap_add(static_cast<M>(t), static_cast<M>(s[c.off[1]])));
        } else {
          t = s[c.off[1]];
        }
        if (i + 1 < g.n) c.next();
      }
    });
  };
  if (index->dtype() == kInt64)
    body(TypeTag<int64_t>{});
  else
    body(TypeTag<int32_t>{});
}

// ---- put_ ----------------------------------------------------------------------------------------
void put_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::DimIndex*>(args.attrs);
  TensorImpl* self = strided_impl(args.outputs[0]);
  TensorImpl* vals = strided_impl(args.inputs[1]);
  HEARTH_CHECK(vals->dtype() == self->dtype(), DTypeError, "values dtype ", vals->dtype(), " must match self dtype ",
               self->dtype());
  const std::vector<int64_t> idx = read_indices(args.inputs[0], "put_");
  HEARTH_CHECK(static_cast<int64_t>(idx.size()) == vals->numel(), ShapeError,
               "Expected source and index to have "
               "the same number of elements, but got ",
               vals->numel(), " and ", idx.size());
  const int64_t numel = self->numel();
  const int64_t nd = self->dim();
  // Logical row-major index -> element offset in self (strided).
  std::vector<int64_t> offs(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    int64_t li = idx[k];
    HEARTH_CHECK(li >= -numel && li < numel, IndexError, "index ", li, " is out of bounds for a tensor with ", numel,
                 " elements");
    if (li < 0) li += numel;
    if (self->is_contiguous()) {
      offs[k] = li;
    } else {
      int64_t off = 0;
      for (int64_t d = nd - 1; d >= 0; --d) {
        const int64_t s = self->size(static_cast<size_t>(d));
        off += (li % s) * self->stride(static_cast<size_t>(d));
        li /= s;
      }
      offs[k] = off;
    }
  }
  const int64_t vstride = vals->dim() == 0 ? 0 : vals->stride(static_cast<size_t>(vals->dim() - 1));
  HEARTH_CHECK(vals->dim() <= 1 || vals->is_contiguous(), ShapeError, "values must be 1-D, got ", vals->sizes());
  const int64_t vs = vals->dim() <= 1 ? vstride : 1;
  HEARTH_CPU_DISPATCH_ALL(self->dtype(), "put_", {
    scalar_t* dst = data_as<scalar_t>(self);
    const scalar_t* v = data_as<const scalar_t>(vals);
    for (size_t k = 0; k < offs.size(); ++k) {
      scalar_t& t = dst[offs[k]];
      const scalar_t x = v[static_cast<int64_t>(k) * vs];
      if (at.reduce == 1) {
        using M = opmath_t<scalar_t>;
        if constexpr (std::is_same_v<scalar_t, bool>)
          t = t || x;
        else
          t = scalar_t(wrap_add(static_cast<M>(t), static_cast<M>(x)));
      } else {
        t = x;
      }
    }
  });
}

// ---- nonzero -------------------------------------------------------------------------------------
void nonzero_kernel(const KernelArgs& args) {
  TensorImpl* in = strided_impl(args.inputs[0]);
  const int64_t n = in->numel();
  const int nd = static_cast<int>(in->dim());
  HEARTH_CHECK(nd <= NdCounter::kMaxDims, ShapeError, "too many dims (", nd, ")");
  NdCounter base;
  base.nd = nd;
  for (int d = 0; d < nd; ++d) {
    base.sizes[d] = in->size(static_cast<size_t>(d));
    base.strides[0][d] = in->stride(static_cast<size_t>(d));
  }
  // Two passes over fixed pieces: count per piece, then each piece writes from its prefix sum.
  const int64_t pieces = std::max<int64_t>(1, std::min<int64_t>(256, n / kGrain));
  std::vector<int64_t> counts(static_cast<size_t>(pieces) + 1, 0);
  HEARTH_CPU_DISPATCH_ALL(in->dtype(), "nonzero", {
    const scalar_t* p = data_as<const scalar_t>(in);
    auto piece_range = [&](int64_t k) { return std::pair<int64_t, int64_t>{n * k / pieces, n * (k + 1) / pieces}; };
    parallel_for(pieces, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        auto [b, e] = piece_range(k);
        if (b >= e) continue;
        NdCounter c = base;
        c.seek(b);
        int64_t cnt = 0;
        for (int64_t i = b; i < e; ++i) {
          cnt += convert<bool>(p[c.off[0]]) ? 1 : 0;
          if (i + 1 < e) c.next();
        }
        counts[static_cast<size_t>(k) + 1] = cnt;
      }
    });
    for (int64_t k = 0; k < pieces; ++k) counts[static_cast<size_t>(k) + 1] += counts[static_cast<size_t>(k)];
    const int64_t total = counts[static_cast<size_t>(pieces)];
    args.outputs[0] = empty({total, static_cast<int64_t>(nd)}, TensorOptions(kInt64).device(args.device));
    int64_t* o = args.outputs[0].data_ptr<int64_t>();
    parallel_for(pieces, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        auto [b, e] = piece_range(k);
        if (b >= e) continue;
        NdCounter c = base;
        c.seek(b);
        int64_t* w = o + counts[static_cast<size_t>(k)] * nd;
        for (int64_t i = b; i < e; ++i) {
          if (convert<bool>(p[c.off[0]])) {
            for (int d = 0; d < nd; ++d) *w++ = c.idx[d];
          }
          if (i + 1 < e) c.next();
        }
      }
    });
  });
}

}  // namespace

void register_index(PluginRegistrar& r) {
  r.kernel("index_select", "cpu", index_select_kernel);
  r.kernel("gather", "cpu", gather_kernel);
  r.kernel("scatter_", "cpu", scatter_kernel);
  r.kernel("put_", "cpu", put_kernel);
  r.kernel("nonzero", "cpu", nonzero_kernel);
}

}  // namespace hearth::cpu
