// Pooling kernels of hearth-cpu: max (with PyTorch's flat indices), average and adaptive average,
// forward and backward, on plain NCHW (one OpenMP task per run of (n, c) planes) and, for max
// pooling of float32, on oneDNN's blocked nChw<B>c layout too (a conv's output pooled in place).
//
// Own loops rather than oneDNN's pooling: on NCHW memory oneDNN's pooling measured 3-6x slower
// than on its blocked layout (it transposes internally), its max-pool workspace is not PyTorch's
// index (nor its NaN rule), and its average pooling divides ceil_mode windows differently from
// PyTorch. The blocked loop keeps PyTorch's rules and indices.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HEARTH_POOL_X86 1
#endif

#include "common.h"
#include "isa.h"
#include "onednn_layout.h"

namespace hearth::cpu {
namespace {

/// Planes (N*C), input and output plane sizes.
struct PoolGeom {
  int64_t P, H, W, OH, OW;
};

/// The input rows (or columns) [begin, end) that max-pool window o reads, stepping by dil: taps
/// in the padding are skipped (PyTorch's max pool never reads them).
struct Taps {
  int64_t begin, end;
};
inline Taps window_taps(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t dil, int64_t size) {
  int64_t b = o * stride - pad;
  const int64_t e = std::min(b + (k - 1) * dil + 1, size);
  while (b < 0) b += dil;
  return {b, e};
}

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
    const auto [hs, he] = window_taps(oh, sh, ph, kh, dh, g.H);
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const auto [ws, we] = window_taps(ow, sw, pw, kw, dw, g.W);
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

// ---- max, on oneDNN's nChw<B>c layout ---------------------------------------------------------
// A conv's (or conv2d_relu's) blocked output is pooled where it lies (issue 4): B channels of one
// pixel are adjacent, so each window tap is one B-wide select over lanes. Same rule as the plain
// loops (first maximum in row-major window order, NaN wins) and the same index (h*W + w within the
// plane), stored as int32 in the same blocked layout; the backward scatters through it.

#if defined(HEARTH_POOL_X86)
// The plugin is built for baseline x86-64; these run where simd_level() allows (HEARTH_CPU_ISA,
// isa.h): one AVX-512 register holds the 16 channels of an nChw16c pixel, one AVX2 register the 8
// of an nChw8c pixel (the layout oneDNN picks under AVX2), so a window tap is a load, two compares
// and two selects for all of them.
bool use_avx512() { return simd_level() >= Simd::kAvx512; }
bool use_avx2() { return simd_level() >= Simd::kAvx2; }

__attribute__((target("avx512f"))) void max_pool_b16_avx512(const float* x, float* y, int32_t* ind, int64_t p0,
                                                            int64_t p1, const PoolGeom& g, const attrs::Pool& a) {
  const int64_t kh = a.kernel[0], kw = a.kernel[1], sh = a.stride[0], sw = a.stride[1], ph = a.padding[0],
                pw = a.padding[1], dh = a.dilation[0], dw = a.dilation[1];
  for (int64_t p = p0; p < p1; ++p) {
    const float* xp = x + p * g.H * g.W * 16;
    float* yp = y + p * g.OH * g.OW * 16;
    int32_t* ip = ind ? ind + p * g.OH * g.OW * 16 : nullptr;
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const auto [hs, he] = window_taps(oh, sh, ph, kh, dh, g.H);
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const auto [ws, we] = window_taps(ow, sw, pw, kw, dw, g.W);
        __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
        __m512i bi = _mm512_set1_epi32(static_cast<int32_t>(hs * g.W + ws));
        for (int64_t ih = hs; ih < he; ih += dh)
          for (int64_t iw = ws; iw < we; iw += dw) {
            const __m512 v = _mm512_loadu_ps(xp + (ih * g.W + iw) * 16);
            // PyTorch's `v > best || isnan(v)`.
            const __mmask16 t =
                _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            best = _mm512_mask_mov_ps(best, t, v);
            bi = _mm512_mask_mov_epi32(bi, t, _mm512_set1_epi32(static_cast<int32_t>(ih * g.W + iw)));
          }
        _mm512_storeu_ps(yp + (oh * g.OW + ow) * 16, best);
        if (ip) _mm512_storeu_si512(ip + (oh * g.OW + ow) * 16, bi);
      }
    }
  }
}

/// The same for nChw8c under AVX2: a select is a blend by the compare's mask.
__attribute__((target("avx2"))) void max_pool_b8_avx2(const float* x, float* y, int32_t* ind, int64_t p0, int64_t p1,
                                                      const PoolGeom& g, const attrs::Pool& a) {
  const int64_t kh = a.kernel[0], kw = a.kernel[1], sh = a.stride[0], sw = a.stride[1], ph = a.padding[0],
                pw = a.padding[1], dh = a.dilation[0], dw = a.dilation[1];
  for (int64_t p = p0; p < p1; ++p) {
    const float* xp = x + p * g.H * g.W * 8;
    float* yp = y + p * g.OH * g.OW * 8;
    int32_t* ip = ind ? ind + p * g.OH * g.OW * 8 : nullptr;
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const auto [hs, he] = window_taps(oh, sh, ph, kh, dh, g.H);
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const auto [ws, we] = window_taps(ow, sw, pw, kw, dw, g.W);
        __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
        __m256i bi = _mm256_set1_epi32(static_cast<int32_t>(hs * g.W + ws));
        for (int64_t ih = hs; ih < he; ih += dh)
          for (int64_t iw = ws; iw < we; iw += dw) {
            const __m256 v = _mm256_loadu_ps(xp + (ih * g.W + iw) * 8);
            const __m256 t = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            best = _mm256_blendv_ps(best, v, t);
            bi = _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(bi), _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int32_t>(ih * g.W + iw))),
                t));
          }
        _mm256_storeu_ps(yp + (oh * g.OW + ow) * 8, best);
        if (ip) _mm256_storeu_si256(reinterpret_cast<__m256i*>(ip + (oh * g.OW + ow) * 8), bi);
      }
    }
  }
}

/// Backward of a pooling whose windows tile the input (stride = kernel, no padding or dilation):
/// every input pixel lies in at most one window, so grad_input is written once, pixel by pixel,
/// as "grad where the saved index is this pixel, else 0" (no zero fill, no scatter).
__attribute__((target("avx512f"))) void max_pool_bwd_tiled_b16_avx512(float* gp, const float* gop,
                                                                      const int32_t* ipp, int64_t H, int64_t W,
                                                                      int64_t OH, int64_t OW, int64_t kh,
                                                                      int64_t kw) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t ih = 0; ih < H; ++ih) {
    const int64_t oh = ih / kh;
    float* row = gp + ih * W * 16;
    if (oh >= OH) {
      for (int64_t iw = 0; iw < W; ++iw) _mm512_storeu_ps(row + iw * 16, zero);
      continue;
    }
    for (int64_t iw = 0; iw < W; ++iw) {
      const int64_t ow = iw / kw;
      if (ow >= OW) {
        _mm512_storeu_ps(row + iw * 16, zero);
        continue;
      }
      const int64_t j = (oh * OW + ow) * 16;
      const __mmask16 m = _mm512_cmpeq_epi32_mask(_mm512_loadu_si512(ipp + j),
                                                  _mm512_set1_epi32(static_cast<int32_t>(ih * W + iw)));
      _mm512_storeu_ps(row + iw * 16, _mm512_maskz_mov_ps(m, _mm512_loadu_ps(gop + j)));
    }
  }
}

/// The tiled backward with AVX2, for B = 8 or 16 (B / 8 registers per pixel).
template <int B>
__attribute__((target("avx2"))) void max_pool_bwd_tiled_avx2(float* gp, const float* gop, const int32_t* ipp,
                                                             int64_t H, int64_t W, int64_t OH, int64_t OW,
                                                             int64_t kh, int64_t kw) {
  static_assert(B % 8 == 0);
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t ih = 0; ih < H; ++ih) {
    const int64_t oh = ih / kh;
    float* row = gp + ih * W * B;
    for (int64_t iw = 0; iw < W; ++iw) {
      const int64_t ow = iw / kw;
      float* px = row + iw * B;
      if (oh >= OH || ow >= OW) {
        for (int q = 0; q < B; q += 8) _mm256_storeu_ps(px + q, zero);
        continue;
      }
      const int64_t j = (oh * OW + ow) * B;
      const __m256i here = _mm256_set1_epi32(static_cast<int32_t>(ih * W + iw));
      for (int q = 0; q < B; q += 8) {
        const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ipp + j + q));
        const __m256 m = _mm256_castsi256_ps(_mm256_cmpeq_epi32(idx, here));
        _mm256_storeu_ps(px + q, _mm256_and_ps(m, _mm256_loadu_ps(gop + j + q)));
      }
    }
  }
}
#endif

template <int B>
void max_pool_blocked(const float* x, float* y, int32_t* ind, int64_t P, const PoolGeom& g, const attrs::Pool& a) {
  const int64_t kh = a.kernel[0], kw = a.kernel[1], sh = a.stride[0], sw = a.stride[1], ph = a.padding[0],
                pw = a.padding[1], dh = a.dilation[0], dw = a.dilation[1];
  parallel_for(P, plane_grain(g.H * g.W * B), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* xp = x + p * g.H * g.W * B;
      float* yp = y + p * g.OH * g.OW * B;
      int32_t* ip = ind ? ind + p * g.OH * g.OW * B : nullptr;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const auto [hs, he] = window_taps(oh, sh, ph, kh, dh, g.H);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const auto [ws, we] = window_taps(ow, sw, pw, kw, dw, g.W);
          float* yo = yp + (oh * g.OW + ow) * B;
          int32_t* io = ip ? ip + (oh * g.OW + ow) * B : nullptr;
#if defined(__SSE2__)
          // Four lanes per SSE register, B / 4 registers per pixel: `v > best || isnan(v)` as
          // masks (the compiler did not vectorize the lane loop with the index select).
          __m128 best[B / 4];
          __m128i bi[B / 4];
          for (int q = 0; q < B / 4; ++q) {
            best[q] = _mm_set1_ps(-std::numeric_limits<float>::infinity());
            bi[q] = _mm_set1_epi32(static_cast<int32_t>(hs * g.W + ws));
          }
          for (int64_t ih = hs; ih < he; ih += dh)
            for (int64_t iw = ws; iw < we; iw += dw) {
              const float* v = xp + (ih * g.W + iw) * B;
              const __m128i idx = _mm_set1_epi32(static_cast<int32_t>(ih * g.W + iw));
              for (int q = 0; q < B / 4; ++q) {
                const __m128 x4 = _mm_loadu_ps(v + 4 * q);
                const __m128 t = _mm_or_ps(_mm_cmpgt_ps(x4, best[q]), _mm_cmpunord_ps(x4, x4));
                best[q] = _mm_or_ps(_mm_and_ps(t, x4), _mm_andnot_ps(t, best[q]));
                const __m128i ti = _mm_castps_si128(t);
                bi[q] = _mm_or_si128(_mm_and_si128(ti, idx), _mm_andnot_si128(ti, bi[q]));
              }
            }
          for (int q = 0; q < B / 4; ++q) {
            _mm_storeu_ps(yo + 4 * q, best[q]);
            if (io) _mm_storeu_si128(reinterpret_cast<__m128i*>(io + 4 * q), bi[q]);
          }
#else
          float best[B];
          int32_t bi[B];
          for (int l = 0; l < B; ++l) {
            best[l] = -std::numeric_limits<float>::infinity();
            bi[l] = static_cast<int32_t>(hs * g.W + ws);
          }
          for (int64_t ih = hs; ih < he; ih += dh)
            for (int64_t iw = ws; iw < we; iw += dw) {
              const float* v = xp + (ih * g.W + iw) * B;
              const int32_t idx = static_cast<int32_t>(ih * g.W + iw);
              for (int l = 0; l < B; ++l) {
                const bool t = (v[l] > best[l]) | (v[l] != v[l]);
                best[l] = t ? v[l] : best[l];
                bi[l] = t ? idx : bi[l];
              }
            }
          for (int l = 0; l < B; ++l) yo[l] = best[l];
          if (io)
            for (int l = 0; l < B; ++l) io[l] = bi[l];
#endif
        }
      }
    }
  });
}

/// True (and done) when `in` is float32 in nChw<B>c and the indices (if any) are int32.
bool max_pool_try_blocked(TensorImpl* in, TensorImpl* out, TensorImpl* ind, const attrs::Pool& at) {
  namespace L = dnn_layout;
  const L::OnednnLayout* l = L::layout_of(in);
  if (!l || !l->cblock() || in->dtype() != kFloat32 || out->dtype() != kFloat32 || in->dim() != 4 ||
      out->dim() != 4 || (ind && ind->dtype() != kInt32) || in->size(2) * in->size(3) > INT32_MAX)
    return false;
  const int64_t B = l->cblock();
  if (B != 16 && B != 8 && B != 4) return false;
  const int64_t N = in->size(0), C = in->size(1);
  HEARTH_CHECK(out->size(0) == N && out->size(1) == C && (!ind || ind->sizes() == out->sizes()), ShapeError,
               "max_pool2d: input ", in->sizes(), " and output ", out->sizes(), " must share batch and channels");
  const PoolGeom g{N * C, in->size(2), in->size(3), out->size(2), out->size(3)};
  L::give_layout(out, L::blocked_nchw(N, C, g.OH, g.OW, dnnl::memory::data_type::f32, B));
  if (ind) L::give_layout(ind, L::blocked_nchw(N, C, g.OH, g.OW, dnnl::memory::data_type::s32, B));
  if (out->numel() == 0) return true;
  const int64_t P = N * ((C + B - 1) / B);
  // opaque_data(), not data(): another thread may convert `in` meanwhile (tensor_impl.h).
  const float* x = static_cast<const float*>(in->opaque_data());
  float* y = static_cast<float*>(out->opaque_data());
  int32_t* id = ind ? static_cast<int32_t*>(ind->opaque_data()) : nullptr;
#if defined(HEARTH_POOL_X86)
  if (B == 16 && use_avx512()) {
    parallel_for(P, plane_grain(g.H * g.W * B),
                 [&](int64_t p0, int64_t p1) { max_pool_b16_avx512(x, y, id, p0, p1, g, at); });
    return true;
  }
  if (B == 8 && use_avx2()) {
    parallel_for(P, plane_grain(g.H * g.W * B),
                 [&](int64_t p0, int64_t p1) { max_pool_b8_avx2(x, y, id, p0, p1, g, at); });
    return true;
  }
#endif
  if (B == 16) max_pool_blocked<16>(x, y, id, P, g, at);
  else if (B == 8) max_pool_blocked<8>(x, y, id, P, g, at);
  else max_pool_blocked<4>(x, y, id, P, g, at);
  return true;
}

/// Backward through blocked int32 indices. grad_output is in the same layout or plain NCHW (the
/// gradient of a flatten); grad_input gets the input's blocked layout.
bool max_pool_backward_try_blocked(const Tensor& go_t, TensorImpl* ind, TensorImpl* gi, const attrs::Pool* at) {
  namespace L = dnn_layout;
  const L::OnednnLayout* li = L::layout_of(ind);
  if (!li || !li->cblock() || ind->dtype() != kInt32 || gi->dtype() != kFloat32 || go_t.dtype() != kFloat32)
    return false;
  TensorImpl* go = go_t.unsafeGetTensorImpl();
  const L::OnednnLayout* lg = L::layout_of(go);
  const int64_t B = li->cblock();
  if (lg && lg->cblock() != B) lg = nullptr;  // another blocking: read it as plain
  if (!lg && go->opaque_layout()) go->ensure_strided();
  if (!lg && !go->is_contiguous()) return false;
  const int64_t N = gi->size(0), C = gi->size(1), H = gi->size(2), W = gi->size(3), OH = ind->size(2),
                OW = ind->size(3);
  HEARTH_CHECK(go->sizes() == ind->sizes() && ind->size(0) == N && ind->size(1) == C, ShapeError,
               "max_pool2d_backward: grad_output ", go->sizes(), ", indices ", ind->sizes(), " and grad_input ",
               gi->sizes(), " do not match");
  L::give_layout(gi, L::blocked_nchw(N, C, H, W, dnnl::memory::data_type::f32, B));
  if (gi->numel() == 0) return true;
  const int64_t CB = (C + B - 1) / B, plane = H * W, oplane = OH * OW;
  // Windows that tile the input (no overlap, every window inside): see max_pool_bwd_tiled_*.
  const int64_t tkh = at ? at->kernel[0] : 0, tkw = at ? at->kernel[1] : 0;
  const bool tiled = at && at->stride[0] == tkh && at->stride[1] == tkw && at->padding[0] == 0 &&
                     at->padding[1] == 0 && at->dilation[0] == 1 && at->dilation[1] == 1 && OH * tkh <= H &&
                     OW * tkw <= W;
#if defined(HEARTH_POOL_X86)
  // AVX-512 for nChw16c, AVX2 for nChw8c (and for nChw16c when an AVX-512 layout meets an AVX2 cap).
  const int tiled_kind = !tiled ? 0 : (B == 16 && use_avx512()) ? 1 : ((B == 8 || B == 16) && use_avx2()) ? 2 : 0;
#else
  const int tiled_kind = 0;
#endif
  const bool use_tiled = tiled_kind != 0;
  // opaque_data() for the blocked operands: another thread may convert them meanwhile.
  const float* g = static_cast<const float*>(lg ? go->opaque_data() : go->data());
  const int32_t* ip = static_cast<const int32_t*>(ind->opaque_data());
  float* out = static_cast<float*>(gi->opaque_data());
  const bool blocked_go = lg != nullptr;
  std::atomic<bool> bad_seen{false};
  std::atomic<int64_t> bad_index{0};
  parallel_for(N * CB, plane_grain(plane * B), [&](int64_t p0, int64_t p1) {
    std::vector<float> gbuf(blocked_go ? 0 : static_cast<size_t>(oplane * B));
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / CB, cb = p % CB;
      float* gp = out + p * plane * B;
      if (!use_tiled) std::fill_n(gp, plane * B, 0.0f);
      const int32_t* ipp = ip + p * oplane * B;
      const float* gop = g + p * oplane * B;
      if (!blocked_go) {  // gather this block of channels from plain NCHW (zeros past C)
        for (int64_t l = 0; l < B; ++l) {
          const int64_t c = cb * B + l;
          const float* src = c < C ? g + (n * C + c) * oplane : nullptr;
          for (int64_t j = 0; j < oplane; ++j) gbuf[j * B + l] = src ? src[j] : 0.0f;
        }
        gop = gbuf.data();
      }
#if defined(HEARTH_POOL_X86)
      if (tiled_kind == 1) {
        max_pool_bwd_tiled_b16_avx512(gp, gop, ipp, H, W, OH, OW, tkh, tkw);
        continue;
      }
      if (tiled_kind == 2) {
        if (B == 16)
          max_pool_bwd_tiled_avx2<16>(gp, gop, ipp, H, W, OH, OW, tkh, tkw);
        else
          max_pool_bwd_tiled_avx2<8>(gp, gop, ipp, H, W, OH, OW, tkh, tkw);
        continue;
      }
#endif
      // The index check is one unsigned compare folded into a flag, not a throw per element.
      bool ok = true;
      for (int64_t j = 0; j < oplane; ++j)
        for (int64_t l = 0; l < B; ++l) {
          const int64_t i = ipp[j * B + l];
          const bool in = static_cast<uint64_t>(i) < static_cast<uint64_t>(plane);
          ok &= in;
          gp[(in ? i : 0) * B + l] += in ? gop[j * B + l] : 0.0f;
        }
      if (!ok) {
        for (int64_t j = 0; j < oplane * B; ++j)
          if (static_cast<uint64_t>(ipp[j]) >= static_cast<uint64_t>(plane)) {
            bad_index.store(ipp[j]);
            bad_seen.store(true);
          }
        return;
      }
    }
  });
  const int64_t bad = bad_index.load();
  HEARTH_CHECK(!bad_seen.load(), IndexError, "max_pool2d_backward: index ", bad, " is out of range for an input plane of ", H,
               "x", W);
  return true;
}

void max_pool2d_kernel(const KernelArgs& a) {
  const attrs::Pool& at = pool_attrs(a);
  if (max_pool_try_blocked(a.inputs[0].unsafeGetTensorImpl(), a.outputs[0].unsafeGetTensorImpl(),
                           a.outputs[1].defined() ? a.outputs[1].unsafeGetTensorImpl() : nullptr, at))
    return;
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
  const auto* at = static_cast<const attrs::Pool*>(a.attrs);  // optional: the forward's geometry
  if (max_pool_backward_try_blocked(a.inputs[0], a.inputs[1].unsafeGetTensorImpl(), a.outputs[0].unsafeGetTensorImpl(),
                                    at))
    return;
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
