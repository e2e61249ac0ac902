// softmax / log_softmax forward and backward kernels. The op layer passes contiguous tensors; the
// softmax dim splits them into (outer, D, inner).
//
// float32 softmax over the last dim (inner == 1) of at least kMinOnednnElems elements runs oneDNN's
// JIT softmax_v2. Everything else runs max-shifted loops that vectorize over the contiguous dim
// (D for inner == 1, inner otherwise) with a polynomial exp for float (Cephes' expf, within 1 ulp
// of exp), since libm's exp is a call that stops vectorization. oneDNN is not used for
// inner > 1: its JIT kernel needs the softmax dim innermost, and reordering there and back was 3x
// slower than these loops; nor for small problems, where it saves a microsecond but its exp/log
// are less exact (log_softmax([-inf, 0]) gives 1.4e-6 instead of 0). float64 uses std::exp
// (gradcheck wants the exact function, not speed).
#include "common.h"

#include <bit>
#include <vector>

#include "onednn_prim.h"

namespace hearth::cpu {
namespace {

struct Geometry {
  int64_t outer = 1, D = 1, inner = 1;
};

Geometry geometry(TensorImpl* t, int64_t dim) {
  Geometry g;
  const int64_t nd = t->dim();
  HEARTH_CHECK((nd == 0 && dim == 0) || (dim >= 0 && dim < nd), ValueError, "softmax dim ", dim,
               " out of range for a tensor of rank ", nd);
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t s = t->size(static_cast<size_t>(d));
    if (d < dim) g.outer *= s;
    else if (d == dim) g.D = s;
    else g.inner *= s;
  }
  return g;
}

void check_contiguous(TensorImpl* t, const char* what) {
  HEARTH_CHECK(t->is_contiguous(), ValueError, what, " must be contiguous (shape ", t->sizes(), ", strides ",
               t->strides(), ")");
}

// ---- exp that vectorizes ---------------------------------------------------------------------------

/// exp(x) for float without a call or a branch (so loops calling it vectorize; this file is
/// compiled with -fno-trapping-math, without which GCC keeps the clamps as branches): x = n ln2 + r,
/// |r| <= ln2/2, exp(r) by Cephes' degree-7 polynomial, 2^n from the exponent bits. Within 1 ulp of
/// exp on [-87, 0] (measured), exact at 0, 0 below -87.3 (where exp would be denormal) and at -inf,
/// NaN for NaN. Inputs here are x - max <= 0.
inline float vexp(float x) {
  float xc = x < -87.3f ? -87.3f : x;
  xc = xc > 88.3f ? 88.3f : xc;
  const float t = xc * 1.44269504088896341f;
  float fn = (t + 12582912.f) - 12582912.f;  // round to nearest: 1.5 * 2^23 pushes out the fraction
  const float r = (xc - fn * 0.693359375f) + fn * 2.12194440e-4f;
  fn = fn == fn ? fn : 0.f;  // NaN input: keep the int conversion defined (r carries the NaN)
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.f;
  const float v = e * std::bit_cast<float>(static_cast<uint32_t>(static_cast<int32_t>(fn) + 127) << 23);
  // A bit mask rather than a select of floats: GCC vectorizes this form.
  return std::bit_cast<float>(std::bit_cast<uint32_t>(v) & (x < -87.3f ? 0u : 0xffffffffu));
}
inline double vexp(double x) { return std::exp(x); }

// ---- loops ---------------------------------------------------------------------------------------

/// Lanes of `inner` handled per task: the running max and sum live in a stack array of this size.
constexpr int64_t kLanes = 256;

/// Calls f(o, i0, n) for every (outer index, block of n <= kLanes inner lanes), split among threads.
template <typename F>
void for_blocks(const Geometry& g, const F& f) {
  const int64_t nblk = (g.inner + kLanes - 1) / kLanes;
  const int64_t per_task = std::min(g.inner, kLanes) * g.D;
  parallel_for(g.outer * nblk, std::max<int64_t>(1, kGrain / std::max<int64_t>(per_task, 1)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / nblk, i0 = (t % nblk) * kLanes;
      f(o, i0, std::min(kLanes, g.inner - i0));
    }
  });
}

// A NaN anywhere in a row makes its exp sum NaN, so the whole row comes out NaN (as PyTorch); the
// max itself may skip NaNs.

template <typename T>
void softmax_loop(const T* x, T* y, const Geometry& g, bool log) {
  using A = opmath_t<T>;
  const int64_t D = g.D, inner = g.inner;
  if (inner == 1) {
    parallel_for(g.outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = x + r * D;
        T* yr = y + r * D;
        A m = -std::numeric_limits<A>::infinity();
#pragma omp simd reduction(max : m)
        for (int64_t d = 0; d < D; ++d) m = std::max(m, static_cast<A>(xr[d]));
        A s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t d = 0; d < D; ++d) s += vexp(static_cast<A>(xr[d]) - m);
        if (log) {
          // (x - max) - log(sum), not x - (max + log(sum)): the latter rounds at the scale of max.
          const A ls = std::log(s);
#pragma omp simd
          for (int64_t d = 0; d < D; ++d) yr[d] = static_cast<T>((static_cast<A>(xr[d]) - m) - ls);
        } else {
          const A inv = A(1) / s;
#pragma omp simd
          for (int64_t d = 0; d < D; ++d) yr[d] = static_cast<T>(vexp(static_cast<A>(xr[d]) - m) * inv);
        }
      }
    });
    return;
  }
  for_blocks(g, [&](int64_t o, int64_t i0, int64_t n) {
    A m[kLanes], s[kLanes];
    const T* xo = x + o * D * inner + i0;
    T* yo = y + o * D * inner + i0;
    for (int64_t i = 0; i < n; ++i) {
      m[i] = -std::numeric_limits<A>::infinity();
      s[i] = 0;
    }
    for (int64_t d = 0; d < D; ++d)
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) m[i] = std::max(m[i], static_cast<A>(xo[d * inner + i]));
    for (int64_t d = 0; d < D; ++d)
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) s[i] += vexp(static_cast<A>(xo[d * inner + i]) - m[i]);
    if (log) {
      for (int64_t i = 0; i < n; ++i) s[i] = std::log(s[i]);
      for (int64_t d = 0; d < D; ++d)
#pragma omp simd
        for (int64_t i = 0; i < n; ++i)
          yo[d * inner + i] = static_cast<T>((static_cast<A>(xo[d * inner + i]) - m[i]) - s[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) s[i] = A(1) / s[i];
      for (int64_t d = 0; d < D; ++d)
#pragma omp simd
        for (int64_t i = 0; i < n; ++i)
          yo[d * inner + i] = static_cast<T>(vexp(static_cast<A>(xo[d * inner + i]) - m[i]) * s[i]);
    }
  });
}

/// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g), sums over D.
template <typename T>
void softmax_backward_loop(const T* gy, const T* y, T* gx, const Geometry& g, bool log) {
  using A = opmath_t<T>;
  const int64_t D = g.D, inner = g.inner;
  if (inner == 1) {
    parallel_for(g.outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* gr = gy + r * D;
        const T* yr = y + r * D;
        T* o = gx + r * D;
        A s = 0;
        if (log) {
#pragma omp simd reduction(+ : s)
          for (int64_t d = 0; d < D; ++d) s += static_cast<A>(gr[d]);
#pragma omp simd
          for (int64_t d = 0; d < D; ++d) o[d] = static_cast<T>(static_cast<A>(gr[d]) - vexp(static_cast<A>(yr[d])) * s);
        } else {
#pragma omp simd reduction(+ : s)
          for (int64_t d = 0; d < D; ++d) s += static_cast<A>(gr[d]) * static_cast<A>(yr[d]);
#pragma omp simd
          for (int64_t d = 0; d < D; ++d) o[d] = static_cast<T>(static_cast<A>(yr[d]) * (static_cast<A>(gr[d]) - s));
        }
      }
    });
    return;
  }
  for_blocks(g, [&](int64_t o, int64_t i0, int64_t n) {
    A s[kLanes];
    const int64_t base = o * D * inner + i0;
    for (int64_t i = 0; i < n; ++i) s[i] = 0;
    for (int64_t d = 0; d < D; ++d) {
      const T* gr = gy + base + d * inner;
      const T* yr = y + base + d * inner;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i)
        s[i] += log ? static_cast<A>(gr[i]) : static_cast<A>(gr[i]) * static_cast<A>(yr[i]);
    }
    for (int64_t d = 0; d < D; ++d) {
      const T* gr = gy + base + d * inner;
      const T* yr = y + base + d * inner;
      T* out = gx + base + d * inner;
      if (log) {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i)
          out[i] = static_cast<T>(static_cast<A>(gr[i]) - vexp(static_cast<A>(yr[i])) * s[i]);
      } else {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i)
          out[i] = static_cast<T>(static_cast<A>(yr[i]) * (static_cast<A>(gr[i]) - s[i]));
      }
    }
  });
}

// ---- oneDNN (float32, softmax over the last dim) ---------------------------------------------------

/// Below this many elements the loop runs (a oneDNN call's overhead is the whole op there).
constexpr int64_t kMinOnednnElems = 4096;

bool use_onednn(ScalarType dt, const Geometry& g) {
  return dt == kFloat32 && g.inner == 1 && g.outer * g.D >= kMinOnednnElems;
}

struct SoftmaxPrims {
  dnnl::memory::desc md;  // (outer, D) row-major
  dnnl::softmax_v2_forward::primitive_desc fwd_pd;
  dnnl::softmax_v2_forward fwd;
  dnnl::softmax_v2_backward bwd;  // built on first backward
};

SoftmaxPrims& prims(const Geometry& g, bool log) {
  thread_local dnn::Cache<SoftmaxPrims> cache;
  dnn::Key key{{1, g.outer, g.D, log ? 1 : 0}};
  return cache.get(key, [&] {
    SoftmaxPrims p;
    p.md = dnnl::memory::desc({g.outer, g.D}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    const auto alg = log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
    dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_training, alg, p.md, p.md, 1);
    p.fwd_pd = dnnl::softmax_v2_forward::primitive_desc(d, dnn::engine());
    p.fwd = dnnl::softmax_v2_forward(p.fwd_pd);
    return p;
  });
}

// ---- kernels -------------------------------------------------------------------------------------

void softmax_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::Softmax*>(args.attrs);
  TensorImpl* x = strided_impl(args.inputs[0]);
  TensorImpl* y = strided_impl(args.outputs[0]);
  check_contiguous(x, "input");
  check_contiguous(y, "output");
  HEARTH_CHECK(x->dtype() == y->dtype() && x->sizes() == y->sizes(), ShapeError, "output ", y->sizes(), " ",
               y->dtype(), " does not match input ", x->sizes(), " ", x->dtype());
  const Geometry g = geometry(x, at.dim);
  if (x->numel() == 0) return;
  if (use_onednn(x->dtype(), g)) {
    SoftmaxPrims& p = prims(g, at.log);
    dnn::execute(p.fwd, {{DNNL_ARG_SRC, dnn::mem(p.md, x->data())}, {DNNL_ARG_DST, dnn::mem(p.md, y->data())}},
                 "softmax forward");
    return;
  }
  HEARTH_CPU_DISPATCH_FLOATING(x->dtype(), "softmax", {
    softmax_loop<scalar_t>(data_as<const scalar_t>(x), data_as<scalar_t>(y), g, at.log);
  });
}

void softmax_backward_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::Softmax*>(args.attrs);
  TensorImpl* gy = strided_impl(args.inputs[0]);
  TensorImpl* y = strided_impl(args.inputs[1]);
  TensorImpl* gx = strided_impl(args.outputs[0]);
  check_contiguous(gy, "grad");
  check_contiguous(y, "output");
  check_contiguous(gx, "grad_input");
  HEARTH_CHECK(gy->sizes() == y->sizes() && gx->sizes() == y->sizes() && gy->dtype() == y->dtype() &&
                   gx->dtype() == y->dtype(),
               ShapeError, "grad ", gy->sizes(), " ", gy->dtype(), ", output ", y->sizes(), " ", y->dtype(),
               " and grad_input ", gx->sizes(), " ", gx->dtype(), " must match");
  const Geometry g = geometry(y, at.dim);
  if (y->numel() == 0) return;
  if (use_onednn(y->dtype(), g)) {
    SoftmaxPrims& p = prims(g, at.log);
    if (!p.bwd) {
      const auto alg = at.log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
      dnnl::softmax_v2_backward::desc d(alg, p.md, p.md, p.md, 1);
      p.bwd = dnnl::softmax_v2_backward(dnnl::softmax_v2_backward::primitive_desc(d, dnn::engine(), p.fwd_pd));
    }
    dnn::execute(p.bwd,
                 {{DNNL_ARG_DST, dnn::mem(p.md, y->data())},
                  {DNNL_ARG_DIFF_DST, dnn::mem(p.md, gy->data())},
                  {DNNL_ARG_DIFF_SRC, dnn::mem(p.md, gx->data())}},
                 "softmax backward");
    return;
  }
  HEARTH_CPU_DISPATCH_FLOATING(y->dtype(), "softmax_backward", {
    softmax_backward_loop<scalar_t>(data_as<const scalar_t>(gy), data_as<const scalar_t>(y), data_as<scalar_t>(gx), g,
                                    at.log);
  });
}

}  // namespace

void register_softmax(PluginRegistrar& r) {
  r.kernel("softmax", "cpu", softmax_kernel);
  r.kernel("softmax_backward", "cpu", softmax_backward_kernel);
}

}  // namespace hearth::cpu
