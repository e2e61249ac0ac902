// Pooling kernels of hearth-cpu on plain NCHW: max (with PyTorch's flat indices), average and
// adaptive average, forward and backward, one OpenMP task per run of (n, c) planes.
//
// Plain loops rather than oneDNN: on NCHW memory oneDNN's pooling measured 3-6x slower than on
// its blocked layout (it transposes internally), its max-pool workspace is not PyTorch's index,
// and its average pooling divides ceil_mode windows differently from PyTorch. With activations
// kept in oneDNN's layout (opaque-layout tensors, not done yet) its primitives would be the
// better choice for float32.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common.h"

namespace hearth::cpu {
namespace {

/// Planes (N*C), input and output plane sizes.
struct PoolGeom {
  int64_t P, H, W, OH, OW;
};

PoolGeom pool_geom(TensorImpl* in, TensorImpl* out, const char* what) {
  HEARTH_CHECK(in->dim() == 4 && out->dim() == 4 && in->size(0) == out->size(0) && in->size(1) == out->size(1),
               ShapeError, what, ": input ", in->sizes(), " and output ", out->sizes(),
               " must be 4-D with the same batch and channels (the op layer adds the batch dim)");
  HEARTH_CHECK(in->is_contiguous() && out->is_contiguous(), ValueError, what,
               ": operands must be contiguous (the op layer makes them so)");
  return {in->size(0) * in->size(1), in->size(2), in->size(3), out->size(2), out->size(3)};
}

const attrs::Pool& pool_attrs(const KernelArgs& a) {
  HEARTH_CHECK(a.attrs != nullptr, ValueError, "missing attrs::Pool");
  const auto& p = *static_cast<const attrs::Pool*>(a.attrs);
  HEARTH_CHECK(p.kernel[0] > 0 && p.kernel[1] > 0 && p.stride[0] > 0 && p.stride[1] > 0 && p.dilation[0] > 0 &&
                   p.dilation[1] > 0,
               ValueError, "kernel, stride and dilation must be positive");
  return p;
}

int64_t plane_grain(int64_t work_per_plane) {
  return std::max<int64_t>(1, kGrain / std::max<int64_t>(work_per_plane, 1));
}

// ---- max ----------------------------------------------------------------------------------------

#if defined(__SSE2__)
/// One output row of the 2x2/2 window for float, four outputs per step: the even and odd
/// columns of both input rows are split with shuffles, then the same select chain as the scalar
/// code runs on four windows at once. Returns how many outputs it wrote (0 for rows under 4: scalar code).
template <typename I, bool kIndices>
int64_t max_pool_2x2_row_sse2(const float* r0, const float* r1, float* yr, I* ir, int64_t OW, int32_t base, int32_t W) {
  if (OW < 4) return 0;
  const __m128i step = _mm_set_epi32(6, 4, 2, 0);
  // A last partial group is redone as the last four outputs (overlapping writes of equal
  // values): a scalar tail of branchy compares cost as much as the vector part.
  for (int64_t next = 0; next < OW;) {
    const int64_t ow = std::min(next, OW - 4);
    next = ow + 4;
    const float* p0 = r0 + 2 * ow;
    const float* p1 = r1 + 2 * ow;
    const __m128 x0 = _mm_loadu_ps(p0), x1 = _mm_loadu_ps(p0 + 4);
    const __m128 y0 = _mm_loadu_ps(p1), y1 = _mm_loadu_ps(p1 + 4);
    const __m128 a = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(2, 0, 2, 0)),
                 b = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(3, 1, 3, 1));
    const __m128 c = _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(2, 0, 2, 0)),
                 d = _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(3, 1, 3, 1));
    __m128 best = a;
    const __m128i ia = _mm_add_epi32(_mm_set1_epi32(base + static_cast<int32_t>(2 * ow)), step);
    __m128i bi = ia;
    auto take = [&](__m128 v, __m128i iv) {
      const __m128 t = _mm_or_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v));
      best = _mm_or_ps(_mm_and_ps(t, v), _mm_andnot_ps(t, best));
      const __m128i ti = _mm_castps_si128(t);
      bi = _mm_or_si128(_mm_and_si128(ti, iv), _mm_andnot_si128(ti, bi));
    };
    take(b, _mm_add_epi32(ia, _mm_set1_epi32(1)));
    take(c, _mm_add_epi32(ia, _mm_set1_epi32(W)));
    take(d, _mm_add_epi32(ia, _mm_set1_epi32(W + 1)));
    _mm_storeu_ps(yr + ow, best);
    if constexpr (kIndices) {
      if constexpr (sizeof(I) == 4) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(ir + ow), bi);
      } else {  // indices are non-negative: widen with zeros
        const __m128i z = _mm_setzero_si128();
        _mm_storeu_si128(reinterpret_cast<__m128i*>(ir + ow), _mm_unpacklo_epi32(bi, z));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(ir + ow + 2), _mm_unpackhi_epi32(bi, z));
      }
    }
  }
  return OW;
}
#endif

/// PyTorch's rule: the first maximum in row-major window order wins, and a NaN wins over
/// everything (the last NaN seen, as `val > max || isnan(val)` gives).
template <typename T, typename I, bool kIndices>
void max_pool_plane(const T* x, T* y, I* ind, const PoolGeom& g, const attrs::Pool& a) {
  using M = opmath_t<T>;
  const int64_t kh = a.kernel[0], kw = a.kernel[1], sh = a.stride[0], sw = a.stride[1], ph = a.padding[0],
                pw = a.padding[1], dh = a.dilation[0], dw = a.dilation[1];
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 && dw == 1 && g.H >= 2 * g.OH &&
      g.W >= 2 * g.OW) {
    // The common 2x2/2 window (lenet): every window lies inside the input. Written with selects,
    // not branches: on random data the comparisons are coin flips, and mispredicted branches made
    // the indexed version 10x slower than the plain one.
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const T* r0 = x + 2 * oh * g.W;
      const T* r1 = r0 + g.W;
      const I base = static_cast<I>(2 * oh * g.W);
      const I W = static_cast<I>(g.W);
      T* yr = y + oh * g.OW;
      int64_t ow = 0;
#if defined(__SSE2__)
      if constexpr (std::is_same_v<T, float>)
        if (g.H * g.W <= INT32_MAX)
          ow = max_pool_2x2_row_sse2<I, kIndices>(r0, r1, yr, kIndices ? ind + oh * g.OW : nullptr, g.OW,
                                                  static_cast<int32_t>(2 * oh * g.W), static_cast<int32_t>(g.W));
#endif
      for (; ow < g.OW; ++ow) {
        const int64_t c0 = 2 * ow;
        const M a = M(r0[c0]), b = M(r0[c0 + 1]), c = M(r1[c0]), d = M(r1[c0 + 1]);
        M best = a;
        I bi = base + static_cast<I>(c0);
        // `v > best || v != v`: PyTorch's `val > max || isnan(val)`, as selects.
        bool t = (b > best) | (b != b);
        best = t ? b : best;
        bi = t ? base + static_cast<I>(c0 + 1) : bi;
        t = (c > best) | (c != c);
        best = t ? c : best;
        bi = t ? base + W + static_cast<I>(c0) : bi;
        t = (d > best) | (d != d);
        best = t ? d : best;
        bi = t ? base + W + static_cast<I>(c0 + 1) : bi;
        yr[ow] = T(best);
        if constexpr (kIndices) ind[oh * g.OW + ow] = bi;
      }
    }
    return;
  }
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    int64_t hs = oh * sh - ph;
    const int64_t he = std::min(hs + (kh - 1) * dh + 1, g.H);
    while (hs < 0) hs += dh;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      int64_t ws = ow * sw - pw;
      const int64_t we = std::min(ws + (kw - 1) * dw + 1, g.W);
      while (ws < 0) ws += dw;
      M best = -std::numeric_limits<M>::infinity();
      int64_t bi = hs * g.W + ws;
      for (int64_t ih = hs; ih < he; ih += dh)
        for (int64_t iw = ws; iw < we; iw += dw) {
          const M v = M(x[ih * g.W + iw]);
          const bool t = (v > best) | (v != v);  // selects, as in the 2x2 path
          best = t ? v : best;
          bi = t ? ih * g.W + iw : bi;
        }
      y[oh * g.OW + ow] = T(best);
      if constexpr (kIndices) ind[oh * g.OW + ow] = static_cast<I>(bi);
    }
  }
}

template <typename T, typename I, bool kIndices>
void max_pool(TensorImpl* in, TensorImpl* out, TensorImpl* ind, const PoolGeom& g, const attrs::Pool& a) {
  const T* x = static_cast<const T*>(in->data());
  T* y = static_cast<T*>(out->data());
  I* id = kIndices ? static_cast<I*>(ind->data()) : nullptr;
  parallel_for(g.P, plane_grain(g.H * g.W), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      max_pool_plane<T, I, kIndices>(x + p * g.H * g.W, y + p * g.OH * g.OW, kIndices ? id + p * g.OH * g.OW : nullptr,
                                     g, a);
  });
}

void max_pool2d_kernel(const KernelArgs& a) {
  const attrs::Pool& at = pool_attrs(a);
  TensorImpl* in = strided_impl(a.inputs[0]);
  TensorImpl* out = strided_impl(a.outputs[0]);
  TensorImpl* ind = a.outputs[1].defined() ? strided_impl(a.outputs[1]) : nullptr;
  const PoolGeom g = pool_geom(in, out, "max_pool2d");
  HEARTH_CHECK(in->dtype() == out->dtype(), DTypeError, "max_pool2d: input ", in->dtype(), " and output ", out->dtype(),
               " differ");
  if (ind)
    HEARTH_CHECK(
        ind->sizes() == out->sizes() && ind->is_contiguous() && (ind->dtype() == kInt64 || ind->dtype() == kInt32),
        ValueError, "max_pool2d: indices must be a contiguous int64 or int32 tensor of the output's shape ",
        out->sizes(), ", got ", ind->sizes(), " ", ind->dtype());
  if (out->numel() == 0) return;
  HEARTH_CPU_DISPATCH_FLOATING(in->dtype(), "max_pool2d", {
    if (!ind)
      max_pool<scalar_t, int64_t, false>(in, out, nullptr, g, at);
    else if (ind->dtype() == kInt64)
      max_pool<scalar_t, int64_t, true>(in, out, ind, g, at);
    else
      max_pool<scalar_t, int32_t, true>(in, out, ind, g, at);
  });
}

template <typename T, typename I>
void max_pool_backward(TensorImpl* go_t, TensorImpl* ind_t, TensorImpl* gi_t, const PoolGeom& g) {
  using M = opmath_t<T>;
  const T* go = static_cast<const T*>(go_t->data());
  const I* ind = static_cast<const I*>(ind_t->data());
  T* gi = static_cast<T*>(gi_t->data());
  const int64_t plane = g.H * g.W, oplane = g.OH * g.OW;
  parallel_for(g.P, plane_grain(plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* gp = gi + p * plane;
      std::fill_n(gp, plane, T(0.0f));
      const T* gop = go + p * oplane;
      const I* ip = ind + p * oplane;
      for (int64_t j = 0; j < oplane; ++j) {
        const int64_t i = static_cast<int64_t>(ip[j]);
        HEARTH_CHECK(i >= 0 && i < plane, IndexError, "max_pool2d_backward: index ", i,
                     " is out of range for an input plane of ", g.H, "x", g.W);
        gp[i] = T(M(gp[i]) + M(gop[j]));
      }
    }
  });
}

void max_pool2d_backward_kernel(const KernelArgs& a) {
  TensorImpl* go = strided_impl(a.inputs[0]);
  TensorImpl* ind = strided_impl(a.inputs[1]);
  TensorImpl* gi = strided_impl(a.outputs[0]);
  const PoolGeom g = pool_geom(gi, go, "max_pool2d_backward");
  HEARTH_CHECK(
      ind->sizes() == go->sizes() && ind->is_contiguous() && (ind->dtype() == kInt64 || ind->dtype() == kInt32),
      ValueError, "max_pool2d_backward: indices must be contiguous int64 or int32 of shape ", go->sizes(), ", got ",
      ind->sizes(), " ", ind->dtype());
  HEARTH_CHECK(go->dtype() == gi->dtype(), DTypeError, "max_pool2d_backward: grad_output ", go->dtype(),
               " and grad_input ", gi->dtype(), " differ");
  if (gi->numel() == 0) return;
  HEARTH_CPU_DISPATCH_FLOATING(gi->dtype(), "max_pool2d_backward", {
    if (ind->dtype() == kInt64)
      max_pool_backward<scalar_t, int64_t>(go, ind, gi, g);
    else
      max_pool_backward<scalar_t, int32_t>(go, ind, gi, g);
  });
}

// ---- average ------------------------------------------------------------------------------------

/// One window of PyTorch's avg_pool2d: the clipped input range and the divisor.
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};

inline AvgWindow avg_window(int64_t oh, int64_t ow, const PoolGeom& g, const attrs::Pool& a) {
  int64_t h0 = oh * a.stride[0] - a.padding[0], w0 = ow * a.stride[1] - a.padding[1];
  int64_t h1 = std::min(h0 + a.kernel[0], g.H + a.padding[0]);
  int64_t w1 = std::min(w0 + a.kernel[1], g.W + a.padding[1]);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);  // the window within the padded input
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.H);
  w1 = std::min(w1, g.W);
  int64_t div = a.divisor_override ? a.divisor_override : a.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, div};
}

template <typename T>
void avg_pool(TensorImpl* in, TensorImpl* out, const PoolGeom& g, const attrs::Pool& a) {
  using M = opmath_t<T>;
  const T* x = static_cast<const T*>(in->data());
  T* y = static_cast<T*>(out->data());
  parallel_for(g.P, plane_grain(g.H * g.W), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * g.H * g.W;
      T* yp = y + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow w = avg_window(oh, ow, g, a);
          if (w.h0 >= w.h1 || w.w0 >= w.w1) {  // a window entirely in the padding
            yp[oh * g.OW + ow] = T(M(0));
            continue;
          }
          M sum = 0;
          for (int64_t ih = w.h0; ih < w.h1; ++ih)
            for (int64_t iw = w.w0; iw < w.w1; ++iw) sum += M(xp[ih * g.W + iw]);
          yp[oh * g.OW + ow] = T(sum / M(w.divisor));
        }
    }
  });
}

template <typename T>
void avg_pool_backward(TensorImpl* go_t, TensorImpl* gi_t, const PoolGeom& g, const attrs::Pool& a) {
  using M = opmath_t<T>;
  const T* go = static_cast<const T*>(go_t->data());
  T* gi = static_cast<T*>(gi_t->data());
  parallel_for(g.P, plane_grain(g.H * g.W), [&](int64_t p0, int64_t p1) {
    std::vector<M> acc(static_cast<size_t>(g.H * g.W));
    for (int64_t p = p0; p < p1; ++p) {
      std::fill(acc.begin(), acc.end(), M(0));
      const T* gop = go + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow w = avg_window(oh, ow, g, a);
          if (w.h0 >= w.h1 || w.w0 >= w.w1) continue;
          const M v = M(gop[oh * g.OW + ow]) / M(w.divisor);
          for (int64_t ih = w.h0; ih < w.h1; ++ih)
            for (int64_t iw = w.w0; iw < w.w1; ++iw) acc[ih * g.W + iw] += v;
        }
      T* gp = gi + p * g.H * g.W;
      for (int64_t i = 0; i < g.H * g.W; ++i) gp[i] = T(acc[i]);
    }
  });
}

void avg_pool2d_kernel(const KernelArgs& a) {
  const attrs::Pool& at = pool_attrs(a);
  TensorImpl* in = strided_impl(a.inputs[0]);
  TensorImpl* out = strided_impl(a.outputs[0]);
  const PoolGeom g = pool_geom(in, out, "avg_pool2d");
  HEARTH_CHECK(in->dtype() == out->dtype(), DTypeError, "avg_pool2d: input ", in->dtype(), " and output ", out->dtype(),
               " differ");
  if (out->numel() == 0) return;
  HEARTH_CPU_DISPATCH_FLOATING(in->dtype(), "avg_pool2d", { avg_pool<scalar_t>(in, out, g, at); });
}

void avg_pool2d_backward_kernel(const KernelArgs& a) {
  const attrs::Pool& at = pool_attrs(a);
  TensorImpl* go = strided_impl(a.inputs[0]);
  TensorImpl* gi = strided_impl(a.outputs[0]);
  const PoolGeom g = pool_geom(gi, go, "avg_pool2d_backward");
  HEARTH_CHECK(go->dtype() == gi->dtype(), DTypeError, "avg_pool2d_backward: grad_output ", go->dtype(),
               " and grad_input ", gi->dtype(), " differ");
  if (gi->numel() == 0) return;
  HEARTH_CPU_DISPATCH_FLOATING(gi->dtype(), "avg_pool2d_backward", { avg_pool_backward<scalar_t>(go, gi, g, at); });
}

// ---- adaptive average ---------------------------------------------------------------------------

/// PyTorch's adaptive windows: output o of `out` covers [floor(o*in/out), ceil((o+1)*in/out)).
inline int64_t ad_start(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
inline int64_t ad_end(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

template <typename T>
void adaptive_avg_pool(TensorImpl* in, TensorImpl* out, const PoolGeom& g) {
  using M = opmath_t<T>;
  const T* x = static_cast<const T*>(in->data());
  T* y = static_cast<T*>(out->data());
  parallel_for(g.P, plane_grain(g.H * g.W), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * g.H * g.W;
      T* yp = y + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t h0 = ad_start(oh, g.OH, g.H), h1 = ad_end(oh, g.OH, g.H);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t w0 = ad_start(ow, g.OW, g.W), w1 = ad_end(ow, g.OW, g.W);
          M sum = 0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) sum += M(xp[ih * g.W + iw]);
          yp[oh * g.OW + ow] = T(sum / M((h1 - h0) * (w1 - w0)));
        }
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool_backward(TensorImpl* go_t, TensorImpl* gi_t, const PoolGeom& g) {
  using M = opmath_t<T>;
  const T* go = static_cast<const T*>(go_t->data());
  T* gi = static_cast<T*>(gi_t->data());
  parallel_for(g.P, plane_grain(g.H * g.W), [&](int64_t p0, int64_t p1) {
    std::vector<M> acc(static_cast<size_t>(g.H * g.W));
    for (int64_t p = p0; p < p1; ++p) {
      std::fill(acc.begin(), acc.end(), M(0));
      const T* gop = go + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t h0 = ad_start(oh, g.OH, g.H), h1 = ad_end(oh, g.OH, g.H);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t w0 = ad_start(ow, g.OW, g.W), w1 = ad_end(ow, g.OW, g.W);
          const M v = M(gop[oh * g.OW + ow]) / M((h1 - h0) * (w1 - w0));
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) acc[ih * g.W + iw] += v;
        }
      }
      T* gp = gi + p * g.H * g.W;
      for (int64_t i = 0; i < g.H * g.W; ++i) gp[i] = T(acc[i]);
    }
  });
}

void adaptive_avg_pool2d_kernel(const KernelArgs& a) {
  TensorImpl* in = strided_impl(a.inputs[0]);
  TensorImpl* out = strided_impl(a.outputs[0]);
  const PoolGeom g = pool_geom(in, out, "adaptive_avg_pool2d");
  HEARTH_CHECK(in->dtype() == out->dtype(), DTypeError, "adaptive_avg_pool2d: input ", in->dtype(), " and output ",
               out->dtype(), " differ");
  if (out->numel() == 0) return;
  HEARTH_CHECK(g.H > 0 && g.W > 0, ShapeError, "adaptive_avg_pool2d: empty input plane ", in->sizes());
  HEARTH_CPU_DISPATCH_FLOATING(in->dtype(), "adaptive_avg_pool2d", { adaptive_avg_pool<scalar_t>(in, out, g); });
}

void adaptive_avg_pool2d_backward_kernel(const KernelArgs& a) {
  TensorImpl* go = strided_impl(a.inputs[0]);
  TensorImpl* gi = strided_impl(a.outputs[0]);
  const PoolGeom g = pool_geom(gi, go, "adaptive_avg_pool2d_backward");
  HEARTH_CHECK(go->dtype() == gi->dtype(), DTypeError, "adaptive_avg_pool2d_backward: grad_output ", go->dtype(),
               " and grad_input ", gi->dtype(), " differ");
  if (gi->numel() == 0) return;
  HEARTH_CPU_DISPATCH_FLOATING(gi->dtype(), "adaptive_avg_pool2d_backward",
                               { adaptive_avg_pool_backward<scalar_t>(go, gi, g); });
}

}  // namespace

void register_pool(PluginRegistrar& r) {
  r.kernel("max_pool2d", "cpu", max_pool2d_kernel);
  r.kernel("max_pool2d_backward", "cpu", max_pool2d_backward_kernel);
  r.kernel("avg_pool2d", "cpu", avg_pool2d_kernel);
  r.kernel("avg_pool2d_backward", "cpu", avg_pool2d_backward_kernel);
  r.kernel("adaptive_avg_pool2d", "cpu", adaptive_avg_pool2d_kernel);
  r.kernel("adaptive_avg_pool2d_backward", "cpu", adaptive_avg_pool2d_backward_kernel);
}

}  // namespace hearth::cpu
