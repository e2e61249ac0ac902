// Reductions: sum mean prod amax amin max_dim min_dim argmax argmin var std norm.
//
// Note [deterministic reductions]: an output's reduced range is cut into fixed chunks (kChunk
// elements, or fixed row blocks for column reductions) chosen from the shape alone; each chunk is
// reduced in order and the chunk results are combined in order. Threads only decide who computes
// which chunk, so results are bit-identical for any thread count. Floating sums accumulate in
// double (also for float32/half/bfloat16 inputs): more accurate than PyTorch's float cascade sum,
// and still vectorised by `omp simd` reductions inside a chunk.
#include "common.h"

#include <memory>
#include <vector>

namespace hearth::cpu {
namespace {

constexpr int64_t kChunk = 16384;  // elements per chunk of one output's reduction
constexpr int kMaxDims = NdCounter::kMaxDims;

// ---- geometry ------------------------------------------------------------------------------------
/// Kept and reduced dims of the input (outermost first, size-1 dims dropped, mergeable neighbours
/// merged), with element strides of the input and of up to two outputs (keepdim shape).
struct Geom {
  int nk = 0, nr = 0;
  int64_t ksize[kMaxDims] = {}, kin[kMaxDims] = {}, kout0[kMaxDims] = {}, kout1[kMaxDims] = {};
  int64_t rsize[kMaxDims] = {}, rin[kMaxDims] = {};
  int64_t num_out = 1, red_n = 1;
};

Geom make_geom(TensorImpl* in, TensorImpl* out0, TensorImpl* out1, const DimVector& dims, const char* op) {
  const int64_t nd = in->dim();
  HEARTH_CHECK(nd <= kMaxDims, ShapeError, "at most ", kMaxDims, " dims are supported, got ", nd);
  HEARTH_CHECK(out0->dim() == nd && (!out1 || out1->dim() == nd), ShapeError,
               "outputs must have the input's rank (keepdim shape)");
  bool reduced[kMaxDims] = {};
  for (int64_t d : dims) {
    HEARTH_CHECK(d >= 0 && d < std::max<int64_t>(nd, 1), ShapeError, "reduction dim ", d,
                 " out of range for a tensor of rank ", nd);
    if (d < nd) reduced[d] = true;
  }
  Geom g;
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t s = in->size(static_cast<size_t>(d));
    if (reduced[d]) {
      g.red_n *= s;
      if (s == 1) continue;
      if (g.nr > 0 && g.rin[g.nr - 1] == s * in->stride(static_cast<size_t>(d))) {
        g.rsize[g.nr - 1] *= s;
        g.rin[g.nr - 1] = in->stride(static_cast<size_t>(d));
      } else {
        g.rsize[g.nr] = s;
        g.rin[g.nr] = in->stride(static_cast<size_t>(d));
        ++g.nr;
      }
    } else {
      HEARTH_CHECK(out0->size(static_cast<size_t>(d)) == s && (!out1 || out1->size(static_cast<size_t>(d)) == s),
                   ShapeError, "output size ", out0->size(static_cast<size_t>(d)), " at dim ", d,
                   " does not match the input's ", s);
      g.num_out *= s;
      if (s == 1) continue;
      const int64_t si = in->stride(static_cast<size_t>(d)), so0 = out0->stride(static_cast<size_t>(d));
      const int64_t so1 = out1 ? out1->stride(static_cast<size_t>(d)) : 0;
      const int k = g.nk - 1;
      if (k >= 0 && g.kin[k] == s * si && g.kout0[k] == s * so0 && g.kout1[k] == s * so1) {
        g.ksize[k] *= s;
        g.kin[k] = si;
        g.kout0[k] = so0;
        g.kout1[k] = so1;
      } else {
        g.ksize[g.nk] = s;
        g.kin[g.nk] = si;
        g.kout0[g.nk] = so0;
        g.kout1[g.nk] = so1;
        ++g.nk;
      }
    }
  }
  // Keep at least one dim in each group so that the loops need no special cases.
  if (g.nr == 0) {
    g.rsize[0] = 1;
    g.rin[0] = 0;
    g.nr = 1;
  }
  if (g.nk == 0) {
    g.ksize[0] = 1;
    g.kin[0] = g.kout0[0] = g.kout1[0] = 0;
    g.nk = 1;
  }
  return g;
}

NdCounter kept_counter(const Geom& g, int ndims) {
  NdCounter c;
  c.nd = ndims;
  for (int d = 0; d < ndims; ++d) {
    c.sizes[d] = g.ksize[d];
    c.strides[0][d] = g.kin[d];
    c.strides[1][d] = g.kout0[d];
    c.strides[2][d] = g.kout1[d];
  }
  return c;
}
NdCounter reduced_counter(const Geom& g, int ndims) {
  NdCounter c;
  c.nd = ndims;
  for (int d = 0; d < ndims; ++d) {
    c.sizes[d] = g.rsize[d];
    c.strides[0][d] = g.rin[d];
  }
  return c;
}

// ---- the two loop structures ---------------------------------------------------------------------
/// Reduces linear reduced indices [r0, r1) of the output whose input base is `base` into acc,
/// as runs along the innermost reduced dim.
template <typename R>
void reduce_range(const R& red, typename R::acc_t& acc, const typename R::in_t* base, const Geom& g, int64_t r0,
                  int64_t r1) {
  const int64_t inner = g.rsize[g.nr - 1], s = g.rin[g.nr - 1];
  NdCounter c = reduced_counter(g, g.nr - 1);
  c.seek(r0 / inner);
  int64_t j = r0 % inner, pos = r0;
  while (pos < r1) {
    const int64_t len = std::min(inner - j, r1 - pos);
    red.run(acc, base + c.off[0] + j * s, len, s, pos);
    pos += len;
    j = 0;
    if (pos < r1) c.next();
  }
}

/// Strategy A: each output reduces its range on its own (innermost reduced dim contiguous, or
/// generic strides). Parallel over outputs, or over (output, chunk) when outputs are few.
template <typename R>
void reduce_rows(const R& red, const typename R::in_t* in, const Geom& g) {
  using acc_t = typename R::acc_t;
  const int64_t K = (g.red_n + kChunk - 1) / kChunk;
  auto chunk = [&](int64_t o, int64_t in_off, int64_t k) {
    acc_t part = red.identity(o);
    reduce_range(red, part, in + in_off, g, k * kChunk, std::min(g.red_n, (k + 1) * kChunk));
    return part;
  };
  const int nthreads = omp_in_parallel() ? 1 : max_threads();
  if (K == 1 || g.num_out >= 4 * nthreads) {
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(g.red_n, 1));
    parallel_for(g.num_out, grain, [&](int64_t o0, int64_t o1) {
      NdCounter c = kept_counter(g, g.nk);
      c.seek(o0);
      for (int64_t o = o0; o < o1; ++o) {
        acc_t acc = chunk(o, c.off[0], 0);
        for (int64_t k = 1; k < K; ++k) red.combine(acc, chunk(o, c.off[0], k));
        red.finish(acc, o, c.off[1], c.off[2]);
        if (o + 1 < o1) c.next();
      }
    });
    return;
  }
  // Few outputs, long reductions (a full sum): every (output, chunk) pair is a task.
  // unique_ptr, not vector: acc_t may be bool (vector<bool> has no element addresses).
  std::unique_ptr<acc_t[]> parts(new acc_t[static_cast<size_t>(g.num_out * K)]);
  parallel_for(g.num_out * K, 1, [&](int64_t t0, int64_t t1) {
    NdCounter c = kept_counter(g, g.nk);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / K, k = t % K;
      c.seek(o);
      parts[static_cast<size_t>(t)] = chunk(o, c.off[0], k);
    }
  });
  NdCounter c = kept_counter(g, g.nk);
  for (int64_t o = 0; o < g.num_out; ++o) {
    c.seek(o);
    acc_t acc = parts[static_cast<size_t>(o * K)];
    for (int64_t k = 1; k < K; ++k) red.combine(acc, parts[static_cast<size_t>(o * K + k)]);
    red.finish(acc, o, c.off[1], c.off[2]);
  }
}

/// Strategy B: the innermost kept dim is contiguous in the input and the reduction runs across
/// rows (sum over dim 0 of (N, C)): accumulate a block of adjacent outputs per reduced row, so
/// the inner loop is a vectorisable pass along the row.
template <typename R>
void reduce_cols(const R& red, const typename R::in_t* in, const Geom& g) {
  using acc_t = typename R::acc_t;
  constexpr int64_t kBlock = 1024;
  const int64_t cols = g.ksize[g.nk - 1];
  const int64_t nouter = g.num_out / cols;
  const int64_t nblk = (cols + kBlock - 1) / kBlock;
  const int64_t tasks = nouter * nblk;
  // Row chunks only when there are few column blocks; chosen from the shape alone (Note above).
  int64_t nch = 1;
  if (tasks < 16 && g.red_n >= 1024) nch = std::min<int64_t>(64, g.red_n / 256);
  const int64_t rows_per = (g.red_n + nch - 1) / nch;
  nch = (g.red_n + rows_per - 1) / rows_per;

  const int64_t s1 = g.kout0[g.nk - 1], s2 = g.kout1[g.nk - 1];  // output strides along the columns

  // Column block `blk` of outer (kept) index `to`: outputs o0 .. o0+m-1, input columns from `src`.
  struct Block {
    int64_t m, o0, off1, off2;
    const typename R::in_t* src;
  };
  auto locate = [&](int64_t to, int64_t blk) {
    NdCounter kc = kept_counter(g, g.nk - 1);
    kc.seek(to);
    const int64_t j0 = blk * kBlock;
    return Block{std::min(kBlock, cols - j0), to * cols + j0, kc.off[1] + j0 * s1, kc.off[2] + j0 * s2,
                 in + kc.off[0] + j0};
  };
  // acc[0..m) = the reduction of rows [r0, r1) of block b.
  auto accumulate = [&](const Block& b, int64_t r0, int64_t r1, acc_t* acc) {
    for (int64_t j = 0; j < b.m; ++j) acc[j] = red.identity(b.o0 + j);
    if constexpr (requires { red.cols4(acc, b.src, int64_t{0}, b.m); }) {
      // Four rows per pass along the innermost reduced dim: four load streams in flight
      // instead of one (the order is still fixed by the shape alone).
      const int64_t inner = g.rsize[g.nr - 1], rs = g.rin[g.nr - 1];
      NdCounter rc = reduced_counter(g, g.nr - 1);
      rc.seek(r0 / inner);
      for (int64_t r = r0; r < r1;) {
        const int64_t k0 = r % inner, k1 = std::min(inner, k0 + (r1 - r));
        const typename R::in_t* row = b.src + rc.off[0];
        int64_t k = k0;
        for (; k + 4 <= k1; k += 4) red.cols4(acc, row + k * rs, rs, b.m);
        for (; k < k1; ++k) red.cols(acc, row + k * rs, b.m, 0);
        r += k1 - k0;
        if (r < r1) rc.next();
      }
    } else {
      NdCounter rc = reduced_counter(g, g.nr);
      rc.seek(r0);
      for (int64_t r = r0; r < r1; ++r) {
        red.cols(acc, b.src + rc.off[0], b.m, r);
        if (r + 1 < r1) rc.next();
      }
    }
  };

  if (nch == 1) {
    parallel_for(tasks, std::max<int64_t>(1, kGrain / std::max<int64_t>(g.red_n * kBlock, 1)),
                 [&](int64_t t0, int64_t t1) {
                   acc_t acc[kBlock];
                   for (int64_t t = t0; t < t1; ++t) {
                     const Block b = locate(t / nblk, t % nblk);
                     accumulate(b, 0, g.red_n, acc);
                     for (int64_t j = 0; j < b.m; ++j) red.finish(acc[j], b.o0 + j, b.off1 + j * s1, b.off2 + j * s2);
                   }
                 });
    return;
  }
  // Row chunks: partial results per (block, chunk), combined in chunk order.
  std::unique_ptr<acc_t[]> parts(new acc_t[static_cast<size_t>(tasks * nch * kBlock)]);
  parallel_for(tasks * nch, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t task = t / nch, ch = t % nch;
      accumulate(locate(task / nblk, task % nblk), ch * rows_per, std::min(g.red_n, (ch + 1) * rows_per),
                 parts.get() + t * kBlock);
    }
  });
  for (int64_t task = 0; task < tasks; ++task) {
    const Block b = locate(task / nblk, task % nblk);
    for (int64_t j = 0; j < b.m; ++j) {
      acc_t acc = parts[static_cast<size_t>(task * nch * kBlock + j)];
      for (int64_t ch = 1; ch < nch; ++ch) red.combine(acc, parts[static_cast<size_t>((task * nch + ch) * kBlock + j)]);
      red.finish(acc, b.o0 + j, b.off1 + j * s1, b.off2 + j * s2);
    }
  }
}

template <typename R>
void reduce(const R& red, TensorImpl* in, const Geom& g) {
  if (g.num_out == 0) return;
  if (g.red_n == 0) {
    // Every output is the reduction of nothing: identity (sum 0, prod 1, mean and var NaN).
    NdCounter c = kept_counter(g, g.nk);
    c.seek(0);
    for (int64_t o = 0; o < g.num_out; ++o) {
      red.finish(red.identity(o), o, c.off[1], c.off[2]);
      if (o + 1 < g.num_out) c.next();
    }
    return;
  }
  const auto* p = data_as<const typename R::in_t>(in);
  const bool cols = g.kin[g.nk - 1] == 1 && g.ksize[g.nk - 1] >= 8 && g.rin[g.nr - 1] != 1 && g.rsize[g.nr - 1] > 1;
  if (cols)
    reduce_cols(red, p, g);
  else
    reduce_rows(red, p, g);
}

// ---- output stores -------------------------------------------------------------------------------
// Out of line: called once per output, and inlining its 10-way switch into every reducer
// instantiation would only grow the plugin.
template <typename V>
__attribute__((noinline)) void store_as(ScalarType t, void* base, int64_t off, V v) {
  HEARTH_CPU_DISPATCH_ALL(t, "reduction output", { static_cast<scalar_t*>(base)[off] = convert<scalar_t>(v); });
}

// ---- reducers ------------------------------------------------------------------------------------
// Each has: in_t, acc_t, identity(o), run(acc, p, n, stride, idx0), cols(acc*, p, m, idx),
// combine(a, b) (b follows a), finish(acc, o, out0_off, out1_off).

/// sum / mean / prod. Acc is double (floating output) or uint64 (integer output, wrapping).
template <typename In, typename Acc, bool kProd>
struct SumProd {
  using in_t = In;
  using acc_t = Acc;
  void* out;
  ScalarType out_t;
  double divisor;  // mean: the count; 0 = no division

  static Acc load(In x) {
    if constexpr (std::is_same_v<Acc, double>)
      return convert<double>(x);
    else
      return static_cast<Acc>(convert<int64_t>(x));
  }
  Acc identity(int64_t) const { return kProd ? Acc(1) : Acc(0); }
  void run(Acc& acc, const In* p, int64_t n, int64_t s, int64_t) const {
    Acc r = identity(0);
    if (s == 1) {
      if constexpr (kProd) {
#pragma omp simd reduction(* : r)
        for (int64_t i = 0; i < n; ++i) r *= load(p[i]);
      } else {
#pragma omp simd reduction(+ : r)
        for (int64_t i = 0; i < n; ++i) r += load(p[i]);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) r = kProd ? r * load(p[i * s]) : r + load(p[i * s]);
    }
    combine(acc, r);
  }
  void cols(Acc* acc, const In* p, int64_t m, int64_t) const {
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) acc[j] = kProd ? acc[j] * load(p[j]) : acc[j] + load(p[j]);
  }
  void cols4(Acc* acc, const In* p, int64_t rs, int64_t m) const {
    if constexpr (kProd) {
#pragma omp simd
      for (int64_t j = 0; j < m; ++j)
        acc[j] = acc[j] * ((load(p[j]) * load(p[j + rs])) * (load(p[j + 2 * rs]) * load(p[j + 3 * rs])));
    } else {
#pragma omp simd
      for (int64_t j = 0; j < m; ++j)
        acc[j] = acc[j] + ((load(p[j]) + load(p[j + rs])) + (load(p[j + 2 * rs]) + load(p[j + 3 * rs])));
    }
  }
  void combine(Acc& a, const Acc& b) const { a = kProd ? a * b : a + b; }
  void finish(const Acc& a, int64_t, int64_t off, int64_t) const {
    if constexpr (std::is_same_v<Acc, double>) {
      store_as(out_t, out, off, divisor != 0.0 ? a / divisor : a);
    } else {
      if (divisor != 0.0)
        store_as(out_t, out, off, static_cast<double>(static_cast<int64_t>(a)) / divisor);
      else
        store_as(out_t, out, off, static_cast<int64_t>(a));
    }
  }
};

/// Types whose contiguous min/max/argmax runs use the vectorised helpers below (plain
/// arithmetic types; the 16-bit floats and bool take the scalar loop).
template <typename T>
constexpr bool kVectorizable = std::is_arithmetic_v<T> && !std::is_same_v<T, bool>;

/// max (or min) of p[0..n), NaN if any element is NaN. The NaN flag is an int, not a bool:
/// GCC does not vectorise a bool |-reduction.
template <typename T, bool kMax>
T contiguous_extreme(const T* p, int64_t n) {
  T m = kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  if constexpr (std::is_floating_point_v<T>)
    m = kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  int nan = 0;
  if constexpr (kMax) {
#pragma omp simd reduction(max : m) reduction(| : nan)
    for (int64_t i = 0; i < n; ++i) {
      m = p[i] > m ? p[i] : m;
      nan |= p[i] != p[i];
    }
  } else {
#pragma omp simd reduction(min : m) reduction(| : nan)
    for (int64_t i = 0; i < n; ++i) {
      m = p[i] < m ? p[i] : m;
      nan |= p[i] != p[i];
    }
  }
  if constexpr (std::is_floating_point_v<T>) {
    if (nan) return std::numeric_limits<T>::quiet_NaN();
  }
  return m;
}

/// First index of v in p[0..n) (v NaN: first NaN), scanning 64-element blocks with a vectorised
/// "any" test first; n if absent.
template <typename T>
int64_t first_index_of(const T* p, int64_t n, T v) {
  const bool want_nan = v != v;
  constexpr int64_t kB = 64;
  for (int64_t b = 0; b < n; b += kB) {
    const int64_t e = std::min(n, b + kB);
    int hit = 0;
    if (want_nan) {
#pragma omp simd reduction(| : hit)
      for (int64_t i = b; i < e; ++i) hit |= p[i] != p[i];
    } else {
#pragma omp simd reduction(| : hit)
      for (int64_t i = b; i < e; ++i) hit |= p[i] == v;
    }
    if (hit)
      for (int64_t i = b; i < e; ++i)
        if (want_nan ? p[i] != p[i] : p[i] == v) return i;
  }
  return n;
}

/// amax / amin: NaN propagates.
template <typename In, bool kMax>
struct MinMax {
  using in_t = In;
  using M = opmath_t<In>;
  using acc_t = M;
  In* out;

  static bool isnan_(M x) {
    if constexpr (is_float_v<In>)
      return x != x;
    else
      return false;
  }
  static M better(M a, M b) {  // a combined with b
    if (isnan_(a)) return a;
    if (isnan_(b)) return b;
    return kMax ? (b > a ? b : a) : (b < a ? b : a);
  }
  M identity(int64_t) const {
    if constexpr (std::is_same_v<M, bool>)
      return !kMax;
    else if constexpr (is_float_v<In>)
      return kMax ? -std::numeric_limits<M>::infinity() : std::numeric_limits<M>::infinity();
    else
      return kMax ? std::numeric_limits<M>::lowest() : std::numeric_limits<M>::max();
  }
  void run(M& acc, const In* p, int64_t n, int64_t s, int64_t) const {
    if constexpr (kVectorizable<In>) {
      if (s == 1) {
        acc = better(acc, contiguous_extreme<In, kMax>(p, n));
        return;
      }
    }
    M m = acc;
    for (int64_t i = 0; i < n; ++i) m = better(m, static_cast<M>(p[i * s]));
    acc = m;
  }
  void cols(M* acc, const In* p, int64_t m, int64_t) const {
    for (int64_t j = 0; j < m; ++j) acc[j] = better(acc[j], static_cast<M>(p[j]));
  }
  void combine(M& a, const M& b) const { a = better(a, b); }
  void finish(const M& a, int64_t, int64_t off, int64_t) const { out[off] = In(a); }
};

/// argmax / argmin / max_dim / min_dim: first index of the extreme value; the first NaN wins.
template <typename In, bool kMax>
struct ArgMinMax {
  using in_t = In;
  using M = opmath_t<In>;
  struct acc_t {
    M v;
    int64_t i;
  };
  In* values;  // may be null (argmax)
  int64_t* indices;

  static bool wins(M x, M cur) {  // strictly better: keeps the first of equals
    if constexpr (is_float_v<In>) {
      if (cur != cur) return false;
      if (x != x) return true;
    }
    return kMax ? x > cur : x < cur;
  }
  acc_t identity(int64_t) const { return {M{}, -1}; }
  void run(acc_t& acc, const In* p, int64_t n, int64_t s, int64_t idx0) const {
    if constexpr (kVectorizable<In>) {
      if (s == 1 && n > 0) {
        // Two vectorised passes (the run is in cache for the second): the extreme, then where it
        // first occurs.
        const M m = contiguous_extreme<In, kMax>(p, n);
        const acc_t cand{m, idx0 + first_index_of(p, n, m)};
        combine(acc, cand);
        return;
      }
    }
    acc_t a = acc;
    for (int64_t k = 0; k < n; ++k) {
      const M x = static_cast<M>(p[k * s]);
      if (a.i < 0 || wins(x, a.v)) a = {x, idx0 + k};
    }
    acc = a;
  }
  void cols(acc_t* acc, const In* p, int64_t m, int64_t idx) const {
    for (int64_t j = 0; j < m; ++j) {
      const M x = static_cast<M>(p[j]);
      if (acc[j].i < 0 || wins(x, acc[j].v)) acc[j] = {x, idx};
    }
  }
  void combine(acc_t& a, const acc_t& b) const {
    if (b.i >= 0 && (a.i < 0 || wins(b.v, a.v))) a = b;
  }
  void finish(const acc_t& a, int64_t, int64_t off0, int64_t off1) const {
    if (values) {
      values[off0] = In(a.v);
      indices[off1] = a.i;
    } else {
      indices[off0] = a.i;
    }
  }
};

/// var / std, second pass: sum of squared deviations from a precomputed mean (two-pass: stable).
template <typename In>
struct VarPass {
  using in_t = In;
  struct acc_t {
    double mean, m2;
  };
  const double* means;
  In* out;
  double divisor;  // max(0, N - correction)
  bool take_sqrt;

  acc_t identity(int64_t o) const { return {means ? means[o] : 0.0, 0.0}; }
  void run(acc_t& acc, const In* p, int64_t n, int64_t s, int64_t) const {
    const double mu = acc.mean;
    double r = 0.0;
    if (s == 1) {
#pragma omp simd reduction(+ : r)
      for (int64_t i = 0; i < n; ++i) {
        const double d = convert<double>(p[i]) - mu;
        r += d * d;
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const double d = convert<double>(p[i * s]) - mu;
        r += d * d;
      }
    }
    acc.m2 += r;
  }
  void cols(acc_t* acc, const In* p, int64_t m, int64_t) const {
    for (int64_t j = 0; j < m; ++j) {
      const double d = convert<double>(p[j]) - acc[j].mean;
      acc[j].m2 += d * d;
    }
  }
  void combine(acc_t& a, const acc_t& b) const { a.m2 += b.m2; }
  void finish(const acc_t& a, int64_t, int64_t off, int64_t) const {
    const double v = a.m2 / divisor;  // divisor 0: inf, or NaN for 0/0 (PyTorch's results)
    out[off] = convert<In>(take_sqrt ? std::sqrt(v) : v);
  }
};

/// The means for VarPass: a sum into a double buffer indexed by output number.
template <typename In>
struct MeanToBuffer {
  using in_t = In;
  using acc_t = double;
  double* means;
  double count;
  double identity(int64_t) const { return 0.0; }
  void run(double& acc, const In* p, int64_t n, int64_t s, int64_t) const {
    double r = 0.0;
    if (s == 1) {
#pragma omp simd reduction(+ : r)
      for (int64_t i = 0; i < n; ++i) r += convert<double>(p[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) r += convert<double>(p[i * s]);
    }
    acc += r;
  }
  void cols(double* acc, const In* p, int64_t m, int64_t) const {
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) acc[j] += convert<double>(p[j]);
  }
  void cols4(double* acc, const In* p, int64_t rs, int64_t m) const {
#pragma omp simd
    for (int64_t j = 0; j < m; ++j)
      acc[j] += (convert<double>(p[j]) + convert<double>(p[j + rs])) +
                (convert<double>(p[j + 2 * rs]) + convert<double>(p[j + 3 * rs]));
  }
  void combine(double& a, const double& b) const { a += b; }
  void finish(const double& a, int64_t o, int64_t, int64_t) const { means[o] = a / count; }
};

/// norm with p: 2, 1, +-inf, 0, or general, in double.
enum class NormKind { Two, One, Inf, NegInf, Zero, General };
template <typename In, NormKind kKind>
struct Norm {
  using in_t = In;
  using acc_t = double;
  In* out;
  double p;

  static double term(In x, double p) {
    const double a = std::abs(convert<double>(x));
    if constexpr (kKind == NormKind::Two)
      return a * a;
    else if constexpr (kKind == NormKind::One)
      return a;
    else if constexpr (kKind == NormKind::Zero)
      return convert<double>(x) != 0.0 ? 1.0 : 0.0;
    else if constexpr (kKind == NormKind::General)
      return std::pow(a, p);
    else
      return a;
  }
  static constexpr bool kExtreme = kKind == NormKind::Inf || kKind == NormKind::NegInf;
  static double pick(double a, double b) {  // NaN propagates
    if (a != a) return a;
    if (b != b) return b;
    return kKind == NormKind::Inf ? (b > a ? b : a) : (b < a ? b : a);
  }
  double identity(int64_t) const {
    if constexpr (kKind == NormKind::Inf)
      return 0.0;
    else if constexpr (kKind == NormKind::NegInf)
      return std::numeric_limits<double>::infinity();
    else
      return 0.0;
  }
  void run(double& acc, const In* p, int64_t n, int64_t s, int64_t) const {
    if constexpr (kExtreme) {
      double m = acc;
      for (int64_t i = 0; i < n; ++i) m = pick(m, term(p[i * s], this->p));
      acc = m;
    } else {
      double r = 0.0;
      const double pp = this->p;
      if (s == 1) {
#pragma omp simd reduction(+ : r)
        for (int64_t i = 0; i < n; ++i) r += term(p[i], pp);
      } else {
        for (int64_t i = 0; i < n; ++i) r += term(p[i * s], pp);
      }
      acc += r;
    }
  }
  void cols(double* acc, const In* p, int64_t m, int64_t) const {
    for (int64_t j = 0; j < m; ++j) {
      if constexpr (kExtreme)
        acc[j] = pick(acc[j], term(p[j], this->p));
      else
        acc[j] += term(p[j], this->p);
    }
  }
  void combine(double& a, const double& b) const {
    if constexpr (kExtreme)
      a = pick(a, b);
    else
      a += b;
  }
  void finish(const double& a, int64_t, int64_t off, int64_t) const {
    double v = a;
    if constexpr (kKind == NormKind::Two)
      v = std::sqrt(a);
    else if constexpr (kKind == NormKind::General)
      v = std::pow(a, 1.0 / p);
    out[off] = convert<In>(v);
  }
};

// ---- kernels -------------------------------------------------------------------------------------
const attrs::Reduce& reduce_attrs(const KernelArgs& args, const char* op) {
  HEARTH_CHECK(args.attrs != nullptr, ValueError, "missing attrs::Reduce");
  return *static_cast<const attrs::Reduce*>(args.attrs);
}

enum class SumKind { Sum, Mean, Prod };

template <SumKind kKind>
void sum_kernel(const KernelArgs& args) {
  constexpr const char* name = kKind == SumKind::Sum ? "sum" : kKind == SumKind::Mean ? "mean" : "prod";
  const auto& ra = reduce_attrs(args, name);
  TensorImpl* in = strided_impl(args.inputs[0]);
  TensorImpl* out = strided_impl(args.outputs[0]);
  const Geom g = make_geom(in, out, nullptr, ra.dims, name);
  const ScalarType ot = out->dtype();
  HEARTH_CHECK(ot != kBool, DTypeError, "bool output is not supported (the op layer gives int64)");
  const double divisor = kKind == SumKind::Mean ? static_cast<double>(g.red_n) : 0.0;
  HEARTH_CPU_DISPATCH_ALL(in->dtype(), name, {
    // Floating inputs always accumulate in double (the op layer casts the input to the requested
    // output dtype first, so an integer output of a float input does not occur in practice).
    if (is_float_v<scalar_t> || is_floating_point(ot) || kKind == SumKind::Mean) {
      SumProd<scalar_t, double, kKind == SumKind::Prod> r{out->data(), ot, divisor};
      // mean of nothing: 0/0 = NaN (divisor 0 would mean "no division")
      if (kKind == SumKind::Mean && g.red_n == 0) r.divisor = std::numeric_limits<double>::quiet_NaN();
      reduce(r, in, g);
    } else if constexpr (!is_float_v<scalar_t>) {
      SumProd<scalar_t, uint64_t, kKind == SumKind::Prod> r{out->data(), ot, 0.0};
      reduce(r, in, g);
    }
  });
}

template <bool kMax>
void minmax_kernel(const KernelArgs& args) {
  const char* name = kMax ? "amax" : "amin";
  const auto& ra = reduce_attrs(args, name);
  TensorImpl* in = strided_impl(args.inputs[0]);
  TensorImpl* out = strided_impl(args.outputs[0]);
  HEARTH_CHECK(out->dtype() == in->dtype(), DTypeError, "output dtype ", out->dtype(), " differs from input ",
               in->dtype());
  const Geom g = make_geom(in, out, nullptr, ra.dims, name);
  HEARTH_CHECK(g.red_n > 0 || g.num_out == 0, ValueError,
               "Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with "
               "the 'dim' argument (cannot reduce over a zero-size dimension)");
  HEARTH_CPU_DISPATCH_ALL(in->dtype(), name, { reduce(MinMax<scalar_t, kMax>{data_as<scalar_t>(out)}, in, g); });
}

/// argmax/argmin (one int64 output) and max_dim/min_dim (values, indices).
template <bool kMax>
void arg_kernel(const KernelArgs& args) {
  const bool with_values = args.num_outputs == 2;
  const char* name = with_values ? (kMax ? "max_dim" : "min_dim") : (kMax ? "argmax" : "argmin");
  const auto& ra = reduce_attrs(args, name);
  TensorImpl* in = strided_impl(args.inputs[0]);
  TensorImpl* vals = with_values ? strided_impl(args.outputs[0]) : nullptr;
  TensorImpl* idx = strided_impl(args.outputs[with_values ? 1 : 0]);
  HEARTH_CHECK(idx->dtype() == kInt64, DTypeError, "indices must be int64, got ", idx->dtype());
  HEARTH_CHECK(!vals || vals->dtype() == in->dtype(), DTypeError, "values dtype ", vals->dtype(),
               " differs from input ", in->dtype());
  // Geometry's out0 is where finish() writes first: values if present, else the indices.
  const Geom g = make_geom(in, vals ? vals : idx, vals ? idx : nullptr, ra.dims, name);
  HEARTH_CHECK(g.red_n > 0 || g.num_out == 0, ValueError,
               "Expected reduction dim to be specified for input.numel() == 0 (cannot reduce over a zero-size "
               "dimension)");
  HEARTH_CPU_DISPATCH_ALL(in->dtype(), name, {
    ArgMinMax<scalar_t, kMax> r{vals ? data_as<scalar_t>(vals) : nullptr, data_as<int64_t>(idx)};
    reduce(r, in, g);
  });
}

template <bool kStd>
void var_kernel(const KernelArgs& args) {
  const char* name = kStd ? "std" : "var";
  const auto& ra = reduce_attrs(args, name);
  TensorImpl* in = strided_impl(args.inputs[0]);
  TensorImpl* out = strided_impl(args.outputs[0]);
  HEARTH_CHECK(out->dtype() == in->dtype(), DTypeError, "output dtype ", out->dtype(), " differs from input ",
               in->dtype());
  const Geom g = make_geom(in, out, nullptr, ra.dims, name);
  const double divisor = std::max(0.0, static_cast<double>(g.red_n) - static_cast<double>(ra.correction));
  HEARTH_CPU_DISPATCH_FLOATING(in->dtype(), name, {
    std::vector<double> means(static_cast<size_t>(g.num_out), 0.0);
    if (g.red_n > 0) reduce(MeanToBuffer<scalar_t>{means.data(), static_cast<double>(g.red_n)}, in, g);
    reduce(VarPass<scalar_t>{means.data(), data_as<scalar_t>(out), divisor, kStd}, in, g);
  });
}

void norm_kernel(const KernelArgs& args) {
  const auto& ra = reduce_attrs(args, "norm");
  TensorImpl* in = strided_impl(args.inputs[0]);
  TensorImpl* out = strided_impl(args.outputs[0]);
  HEARTH_CHECK(out->dtype() == in->dtype(), DTypeError, "output dtype ", out->dtype(), " differs from input ",
               in->dtype());
  const Geom g = make_geom(in, out, nullptr, ra.dims, "norm");
  const double p = ra.p;
  HEARTH_CPU_DISPATCH_FLOATING(in->dtype(), "norm", {
    scalar_t* o = data_as<scalar_t>(out);
    if (p == 2.0)
      reduce(Norm<scalar_t, NormKind::Two>{o, p}, in, g);
    else if (p == 1.0)
      reduce(Norm<scalar_t, NormKind::One>{o, p}, in, g);
    else if (p == 0.0)
      reduce(Norm<scalar_t, NormKind::Zero>{o, p}, in, g);
    else if (std::isinf(p) && p > 0)
      reduce(Norm<scalar_t, NormKind::Inf>{o, p}, in, g);
    else if (std::isinf(p))
      reduce(Norm<scalar_t, NormKind::NegInf>{o, p}, in, g);
    else
      reduce(Norm<scalar_t, NormKind::General>{o, p}, in, g);
  });
}

}  // namespace

void register_reduce(PluginRegistrar& r) {
  r.kernel("sum", "cpu", sum_kernel<SumKind::Sum>);
  r.kernel("mean", "cpu", sum_kernel<SumKind::Mean>);
  r.kernel("prod", "cpu", sum_kernel<SumKind::Prod>);
  r.kernel("amax", "cpu", minmax_kernel<true>);
  r.kernel("amin", "cpu", minmax_kernel<false>);
  r.kernel("max_dim", "cpu", arg_kernel<true>);
  r.kernel("min_dim", "cpu", arg_kernel<false>);
  r.kernel("argmax", "cpu", arg_kernel<true>);
  r.kernel("argmin", "cpu", arg_kernel<false>);
  r.kernel("var", "cpu", var_kernel<false>);
  r.kernel("std", "cpu", var_kernel<true>);
  r.kernel("norm", "cpu", norm_kernel);
}

}  // namespace hearth::cpu
