// copy_ (every dtype pair, broadcasting, strided destinations) and cat, which is copies into slices.
#include "common.h"

#include <vector>

namespace hearth::cpu {
namespace {

/// memcpy split across threads: one core cannot saturate memory bandwidth on large copies.
void parallel_memcpy(char* dst, const char* src, size_t nbytes) {
  constexpr size_t kChunk = size_t{1} << 20;
  if (nbytes < 4 * kChunk) {
    std::memcpy(dst, src, nbytes);
    return;
  }
  const int64_t pieces = static_cast<int64_t>((nbytes + kChunk - 1) / kChunk);
  parallel_for(pieces, 4, [&](int64_t b, int64_t e) {
    const size_t lo = static_cast<size_t>(b) * kChunk;
    const size_t hi = std::min(nbytes, static_cast<size_t>(e) * kChunk);
    std::memcpy(dst + lo, src + lo, hi - lo);
  });
}

template <typename To, typename From>
void convert_contig(To* __restrict d, const From* __restrict s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = convert<To>(s[i]);
}

template <typename To, typename From>
void convert_runs(const StridedIter<2>& it, int64_t b, int64_t e) {
  it.for_range(b, e, [](char** p, const int64_t* st, int64_t n) {
    To* d = reinterpret_cast<To*>(p[0]);
    const From* s = reinterpret_cast<const From*>(p[1]);
    if (st[0] == static_cast<int64_t>(sizeof(To)) && st[1] == static_cast<int64_t>(sizeof(From))) {
      convert_contig(d, s, n);
    } else if (st[1] == 0) {
      const To v = convert<To>(*s);
      if (st[0] == static_cast<int64_t>(sizeof(To))) {
        std::fill(d, d + n, v);
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<To*>(p[0] + i * st[0]) = v;
      }
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<To*>(p[0] + i * st[0]) = convert<To>(*reinterpret_cast<const From*>(p[1] + i * st[1]));
    }
  });
}

// Dispatches both dtypes (100 instantiations; each is a small loop).
template <typename F>
void dispatch_pair(ScalarType to, ScalarType from, F&& f) {
  dispatch<kAllTypes>(to, "copy_", [&](auto tt) { dispatch<kAllTypes>(from, "copy_", [&](auto ft) { f(tt, ft); }); });
}

// ---- transposing copies ----
// When the dst's unit-stride dim is not the src's unit-stride dim (contiguous() of a transposed
// matrix), walking in dst order touches a new src cache line per element. Copy 2-D tiles of
// those two dims instead, so that both sides stay in L1.
struct Geo {
  int nd = 0;
  int64_t size[NdCounter::kMaxDims] = {}, sd[NdCounter::kMaxDims] = {}, ss[NdCounter::kMaxDims] = {};
};

/// Same-shape (no broadcast) geometry with size-1 dims dropped and mergeable dims merged.
bool same_shape_geo(TensorImpl* d, TensorImpl* s, Geo& g) {
  if (d->dim() != s->dim() || d->dim() > NdCounter::kMaxDims) return false;
  for (int64_t k = 0; k < d->dim(); ++k) {
    const size_t u = static_cast<size_t>(k);
    if (d->size(u) != s->size(u)) return false;
    if (d->size(u) == 1) continue;
    if (g.nd > 0 && g.sd[g.nd - 1] == d->size(u) * d->stride(u) && g.ss[g.nd - 1] == s->size(u) * s->stride(u)) {
      g.size[g.nd - 1] *= d->size(u);
      g.sd[g.nd - 1] = d->stride(u);
      g.ss[g.nd - 1] = s->stride(u);
    } else {
      g.size[g.nd] = d->size(u);
      g.sd[g.nd] = d->stride(u);
      g.ss[g.nd] = s->stride(u);
      ++g.nd;
    }
  }
  return true;
}

template <typename To, typename From>
void tiled_copy(char* dbase, const char* sbase, const Geo& g, int a, int b) {
  // a: dst's unit-stride dim, b: src's unit-stride dim; 64x64 tiles over (a, b) (at most 32 KB of
  // buffer for 8-byte types: stays in L1).
  constexpr int64_t kT = 64;
  NdCounter outer;  // every other dim
  for (int k = 0; k < g.nd; ++k) {
    if (k == a || k == b) continue;
    outer.sizes[outer.nd] = g.size[k];
    outer.strides[0][outer.nd] = g.sd[k];
    outer.strides[1][outer.nd] = g.ss[k];
    ++outer.nd;
  }
  int64_t nouter = 1;
  for (int k = 0; k < outer.nd; ++k) nouter *= outer.sizes[k];
  const int64_t na = g.size[a], nb = g.size[b];
  const int64_t ta = (na + kT - 1) / kT, tb = (nb + kT - 1) / kT;
  const int64_t sda = g.sd[a], sdb = g.sd[b], ssa = g.ss[a], ssb = g.ss[b];
  To* dst = reinterpret_cast<To*>(dbase);
  const From* src = reinterpret_cast<const From*>(sbase);
  parallel_for(nouter * ta * tb, std::max<int64_t>(1, kGrain / (kT * kT)), [&](int64_t t0, int64_t t1) {
    NdCounter c = outer;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / (ta * tb), ia = (t / tb) % ta, ib = t % tb;
      c.seek(o);
      To* d = dst + c.off[0];
      const From* s = src + c.off[1];
      const int64_t a0 = ia * kT, a1 = std::min(na, a0 + kT), b0 = ib * kT, b1 = std::min(nb, b0 + kT);
      // Through a local tile: rows of src (contiguous along b) in, rows of dst (contiguous along
      // a) out, so both sides of memory see runs; the transpose itself happens in L1.
      To buf[kT][kT];
      for (int64_t i = a0; i < a1; ++i)
        for (int64_t j = b0; j < b1; ++j) buf[j - b0][i - a0] = convert<To>(s[i * ssa + j * ssb]);
      for (int64_t j = b0; j < b1; ++j)
        for (int64_t i = a0; i < a1; ++i) d[i * sda + j * sdb] = buf[j - b0][i - a0];
    }
  });
}

/// Returns true if it handled the copy.
template <typename To, typename From>
bool try_tiled(TensorImpl* d, TensorImpl* s) {
  Geo g;
  if (!same_shape_geo(d, s, g) || g.nd < 2) return false;
  int a = -1, b = -1;
  for (int k = 0; k < g.nd; ++k) {
    if (g.sd[k] == 1) a = k;
    if (g.ss[k] == 1) b = k;
  }
  if (a < 0 || b < 0 || a == b || g.size[a] < 8 || g.size[b] < 8) return false;
  tiled_copy<To, From>(static_cast<char*>(d->data()), static_cast<const char*>(s->data()), g, a, b);
  return true;
}

void copy_kernel(const KernelArgs& args) { copy_into(args.outputs[0], args.inputs[0]); }

// cat: inputs concatenated along attrs::Cat::dim into the preallocated output.
void cat_kernel(const KernelArgs& args) {
  const auto& a = *static_cast<const attrs::Cat*>(args.attrs);
  const Tensor& out = args.outputs[0];
  TensorImpl* o = strided_impl(out);
  if (o->numel() == 0) return;
  const int64_t dim = a.dim;
  HEARTH_INTERNAL_ASSERT(dim >= 0 && dim < o->dim(), "cat dim ", dim, " for output rank ", o->dim());
  // Fast path: everything contiguous and of the output's dtype: per outer index, one memcpy per
  // input of its (dim x inner) block.
  bool fast = o->is_contiguous();
  for (size_t i = 0; i < args.num_inputs && fast; ++i) {
    TensorImpl* t = strided_impl(args.inputs[i]);
    fast = t->numel() == 0 || (t->is_contiguous() && t->dtype() == o->dtype() && t->dim() == o->dim());
  }
  if (fast) {
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= o->size(d);
    for (int64_t d = dim + 1; d < o->dim(); ++d) inner *= o->size(d);
    const size_t es = element_size(o->dtype());
    const int64_t out_row = o->size(dim) * inner;  // elements per outer index in the output
    struct Piece {
      const char* src;
      int64_t off, len;
    };
    std::vector<Piece> pieces;
    int64_t off = 0;
    for (size_t i = 0; i < args.num_inputs; ++i) {
      TensorImpl* t = strided_impl(args.inputs[i]);
      if (t->numel() == 0) continue;
      const int64_t len = t->size(dim) * inner;
      pieces.push_back({static_cast<const char*>(t->data()), off, len});
      off += len;
    }
    char* dst = static_cast<char*>(o->data());
    parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(out_row, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (const Piece& p : pieces)
          std::memcpy(dst + (r * out_row + p.off) * es, p.src + r * p.len * es, static_cast<size_t>(p.len) * es);
    });
    return;
  }
  int64_t off = 0;
  for (size_t i = 0; i < args.num_inputs; ++i) {
    const Tensor& t = args.inputs[i];
    if (t.numel() == 0) continue;  // PyTorch skips empty inputs (legacy 1-D (0,) tensors too)
    const int64_t len = t.size(dim);
    copy_into(out.narrow(dim, off, len), t);
    off += len;
  }
}

}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  TensorImpl* d = strided_impl(dst);
  TensorImpl* s = strided_impl(src);
  const int64_t n = d->numel();
  if (n == 0) return;
  const ScalarType dt = d->dtype(), st = s->dtype();
  // Fast path (contiguous(), clone(), to(dtype)): same element order on both sides.
  if (d->is_contiguous() && s->is_contiguous() && s->numel() == n) {
    char* dp = static_cast<char*>(d->data());
    const char* sp = static_cast<const char*>(s->data());
    if (dt == st) {
      if (dp != sp) parallel_memcpy(dp, sp, static_cast<size_t>(n) * element_size(dt));
      return;
    }
    dispatch_pair(dt, st, [&](auto tt, auto ft) {
      using To = typename decltype(tt)::type;
      using From = typename decltype(ft)::type;
      parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
        convert_contig(reinterpret_cast<To*>(dp) + b, reinterpret_cast<const From*>(sp) + b, e - b);
      });
    });
    return;
  }
  const Tensor* operands[2] = {&dst, &src};
  if (dt == st) {
    // Same dtype: move bytes with an unsigned carrier of the element size (4 instantiations).
    dispatch_by_size(element_size(dt), [&](auto ct) {
      using C = typename decltype(ct)::type;
      if (n >= 1024 && try_tiled<C, C>(d, s)) return;
      StridedIter<2> it(operands, 2);
      parallel_for(n, kGrain, [&](int64_t b, int64_t e) { convert_runs<C, C>(it, b, e); });
    });
    return;
  }
  dispatch_pair(dt, st, [&](auto tt, auto ft) {
    using To = typename decltype(tt)::type;
    using From = typename decltype(ft)::type;
    if (n >= 1024 && try_tiled<To, From>(d, s)) return;
    StridedIter<2> it(operands, 2);
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) { convert_runs<To, From>(it, b, e); });
  });
}

void register_copy(PluginRegistrar& r) {
  r.kernel("copy_", "cpu", copy_kernel);
  r.kernel("cat", "cpu", cat_kernel);
}

}  // namespace hearth::cpu
