// batch_norm and layer_norm, forward and backward, fused (statistics, normalization and the running
// stats update in one kernel; the three gradients in one backward kernel).
//
// layer_norm runs oneDNN's primitives for float32 (cached per shape and flags). batch_norm runs its
// own vectorized loops: on plain NCHW memory oneDNN 2.6's batch norm (ncsp_bnorm) measured 1.3-20x
// slower than them (docs/nn.md); it becomes the fast path once activations are kept in oneDNN's
// blocked layouts. Sums accumulate in double, in an order fixed by the shape (thread-count
// independent results).
//
// Statistics are saved as the mean and the *biased variance* used for normalization (PyTorch saves
// 1/sqrt(var + eps)); oneDNN's backward primitives take the variance, and converting back from
// invstd would lose precision.
#include "common.h"

#include <array>
#include <vector>

#include "onednn_prim.h"

namespace hearth::cpu {
namespace {

using dnnl::memory;
using nflags = dnnl::normalization_flags;

void check_contiguous(TensorImpl* t, const char* what) {
  HEARTH_CHECK(t->is_contiguous(), ValueError, what, " must be contiguous (shape ", t->sizes(), ", strides ",
               t->strides(), ")");
}
/// An optional operand: null when the op layer passed an undefined tensor.
TensorImpl* opt(const Tensor& t) { return t.defined() ? strided_impl(t) : nullptr; }
template <typename T>
T* ptr(TensorImpl* t) {
  return t ? data_as<T>(t) : nullptr;
}
void check_vec(TensorImpl* t, int64_t n, ScalarType dt, const char* what) {
  if (!t) return;
  HEARTH_CHECK(t->numel() == n && t->is_contiguous() && t->dtype() == dt, ShapeError, what,
               " must be a contiguous vector of ", n, " ", dt, " elements, got ", t->sizes(), " ", t->dtype());
}

/// layer_norm: float32 problems of at least this many elements run oneDNN (2-5x faster than the
/// loop from (64, 64) up); below, a oneDNN call's few microseconds would dominate.
constexpr int64_t kLnMinOnednnElems = 2048;

// =================================== batch_norm ===================================================
// input (N, C, S) contiguous; statistics, weight, bias and running stats (C).

struct BnShape {
  int64_t N, C, S;
};

/// Per-channel sums over (n, i) of f(k, c) — k the element's offset — for channels [c0, c1), in
/// double. (N, C) inputs (S = 1) walk rows with the channel loop innermost; others walk each
/// channel's N runs of S contiguous elements. Both inner loops vectorize.
template <int K, typename Fn>
void channel_sums(const BnShape& s, int64_t c0, int64_t c1, const Fn& f, double* const (&out)[K]) {
  const int64_t N = s.N, C = s.C, S = s.S;
  for (int k = 0; k < K; ++k) std::fill(out[k] + c0, out[k] + c1, 0.0);
  if (S == 1) {
    for (int64_t n = 0; n < N; ++n)
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        const auto v = f(n * C + c, c);
        for (int k = 0; k < K; ++k) out[k][c] += v[k];
      }
    return;
  }
  for (int64_t c = c0; c < c1; ++c) {
    double acc[K] = {};
    for (int64_t n = 0; n < N; ++n) {
      const int64_t base = (n * C + c) * S;
      if constexpr (K == 1) {
        double a0 = 0;
#pragma omp simd reduction(+ : a0)
        for (int64_t i = 0; i < S; ++i) a0 += f(base + i, c)[0];
        acc[0] += a0;
      } else {
        double a0 = 0, a1 = 0;
#pragma omp simd reduction(+ : a0, a1)
        for (int64_t i = 0; i < S; ++i) {
          const auto v = f(base + i, c);
          a0 += v[0];
          a1 += v[1];
        }
        acc[0] += a0;
        acc[1] += a1;
      }
    }
    for (int k = 0; k < K; ++k) out[k][c] = acc[k];
  }
}

/// out = a[c] * p + b[c] (+ e[c] * q), row by row over the (n, c) runs of S elements.
template <typename T>
void channel_affine(const BnShape& s, T* out, const T* p, const double* a, const double* b, const T* q = nullptr,
                    const double* e = nullptr) {
  const int64_t C = s.C, S = s.S;
  if (S == 1) {
    // (N, C): the channel is the contiguous dim, so vectorize over it with per-channel coefficients.
    std::vector<T> ta(static_cast<size_t>(C)), tb(static_cast<size_t>(C)), te(static_cast<size_t>(q ? C : 0));
    for (int64_t c = 0; c < C; ++c) {
      ta[c] = static_cast<T>(a[c]);
      tb[c] = static_cast<T>(b[c]);
      if (q) te[c] = static_cast<T>(e[c]);
    }
    parallel_for(s.N, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        T* o = out + n * C;
        const T* pp = p + n * C;
        if (q) {
          const T* qq = q + n * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) o[c] = pp[c] * ta[c] + qq[c] * te[c] + tb[c];
        } else {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) o[c] = pp[c] * ta[c] + tb[c];
        }
      }
    });
    return;
  }
  parallel_for(s.N * C, std::max<int64_t>(1, kGrain / std::max<int64_t>(S, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r % C;
      const T ta = static_cast<T>(a[c]), tb = static_cast<T>(b[c]), te = q ? static_cast<T>(e[c]) : T(0);
      T* o = out + r * S;
      const T* pp = p + r * S;
      if (q) {
        const T* qq = q + r * S;
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) o[i] = pp[i] * ta + qq[i] * te + tb;
      } else {
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) o[i] = pp[i] * ta + tb;
      }
    }
  });
}

/// Channels are split among threads for the statistics (each channel summed in a fixed order, so
/// results do not depend on the thread count); the elementwise pass is split by rows.
int64_t channel_grain(const BnShape& s) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(s.N * s.S, 1)); }

template <typename T>
void bn_forward_ref(const T* x, T* y, const T* w, const T* b, T* rm, T* rv, T* smean, T* svar, const BnShape& s,
                    const attrs::BatchNorm& at) {
  const int64_t C = s.C, cnt = s.N * s.S;
  std::vector<double> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C));
  if (at.training) {
    double* const m_out[1] = {mean.data()};
    double* const v_out[1] = {var.data()};
    parallel_for(C, channel_grain(s), [&](int64_t c0, int64_t c1) {
      // Two passes (mean, then squared deviations) for accuracy, as PyTorch.
      channel_sums<1>(s, c0, c1, [&](int64_t k, int64_t) { return std::array<double, 1>{static_cast<double>(x[k])}; },
                      m_out);
      for (int64_t c = c0; c < c1; ++c) mean[c] = cnt ? mean[c] / static_cast<double>(cnt) : std::nan("");
      channel_sums<1>(s, c0, c1, [&](int64_t k, int64_t c) {
        const double d = static_cast<double>(x[k]) - mean[c];
        return std::array<double, 1>{d * d};
      }, v_out);
      for (int64_t c = c0; c < c1; ++c) var[c] = cnt ? var[c] / static_cast<double>(cnt) : std::nan("");
    });
    if (rm) {
      // PyTorch's momentum: new = (1 - momentum) * old + momentum * batch, with the unbiased batch
      // variance for running_var.
      for (int64_t c = 0; c < C; ++c) {
        const double unbiased = cnt > 1 ? var[c] * static_cast<double>(cnt) / static_cast<double>(cnt - 1) : var[c];
        rm[c] = static_cast<T>((1 - at.momentum) * static_cast<double>(rm[c]) + at.momentum * mean[c]);
        rv[c] = static_cast<T>((1 - at.momentum) * static_cast<double>(rv[c]) + at.momentum * unbiased);
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = static_cast<double>(rm[c]);
      var[c] = static_cast<double>(rv[c]);
    }
  }
  // y = x * alpha + beta with alpha = w / sqrt(var + eps), beta = b - mean * alpha (PyTorch's form).
  std::vector<double> alpha(static_cast<size_t>(C)), beta(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    smean[c] = static_cast<T>(mean[c]);
    svar[c] = static_cast<T>(var[c]);
    const double invstd = 1.0 / std::sqrt(var[c] + at.eps);
    alpha[c] = w ? static_cast<double>(w[c]) * invstd : invstd;
    beta[c] = (b ? static_cast<double>(b[c]) : 0.0) - mean[c] * alpha[c];
  }
  channel_affine<T>(s, y, x, alpha.data(), beta.data());
}

template <typename T>
void bn_backward_ref(const T* g, const T* x, const T* w, const T* smean, const T* svar, T* gx, T* gw, T* gb,
                     const BnShape& s, const attrs::BatchNorm& at) {
  const int64_t C = s.C, cnt = s.N * s.S;
  std::vector<double> mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = static_cast<double>(smean[c]);
    invstd[c] = 1.0 / std::sqrt(static_cast<double>(svar[c]) + at.eps);
  }
  // sum(g) and sum(g * (x - mean)) per channel.
  std::vector<double> sum_g(static_cast<size_t>(C)), sum_gx(static_cast<size_t>(C));
  double* const outs[2] = {sum_g.data(), sum_gx.data()};
  parallel_for(C, channel_grain(s), [&](int64_t c0, int64_t c1) {
    channel_sums<2>(s, c0, c1, [&](int64_t k, int64_t c) {
      const double gv = static_cast<double>(g[k]);
      return std::array<double, 2>{gv, gv * (static_cast<double>(x[k]) - mean[c])};
    }, outs);
  });
  for (int64_t c = 0; c < C; ++c) {
    if (gw) gw[c] = static_cast<T>(sum_gx[c] * invstd[c]);
    if (gb) gb[c] = static_cast<T>(sum_g[c]);
  }
  if (!gx) return;
  // Training: dx = w invstd (g - mean(g) - xhat mean(g xhat)) = a g + e x + b per channel;
  // eval: dx = w invstd g.
  std::vector<double> a(static_cast<size_t>(C)), e(static_cast<size_t>(C)), bb(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const double scale = invstd[c] * (w ? static_cast<double>(w[c]) : 1.0);
    a[c] = scale;
    if (at.training && cnt > 0) {
      const double k = sum_gx[c] * invstd[c] * invstd[c] / static_cast<double>(cnt);
      e[c] = -k * scale;
      bb[c] = (mean[c] * k - sum_g[c] / static_cast<double>(cnt)) * scale;
    } else {
      e[c] = 0.0;
      bb[c] = 0.0;
    }
  }
  if (at.training)
    channel_affine<T>(s, gx, g, a.data(), bb.data(), x, e.data());
  else
    channel_affine<T>(s, gx, g, a.data(), bb.data());
}

void batch_norm_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::BatchNorm*>(args.attrs);
  TensorImpl* x = strided_impl(args.inputs[0]);
  TensorImpl *w = opt(args.inputs[1]), *b = opt(args.inputs[2]), *rm = opt(args.inputs[3]), *rv = opt(args.inputs[4]);
  TensorImpl* y = strided_impl(args.outputs[0]);
  TensorImpl* smean = strided_impl(args.outputs[1]);
  TensorImpl* svar = strided_impl(args.outputs[2]);
  HEARTH_CHECK(x->dim() == 3, ShapeError, "input must be viewed as (N, C, S), got shape ", x->sizes());
  const BnShape s{x->size(0), x->size(1), x->size(2)};
  const ScalarType dt = x->dtype();
  check_contiguous(x, "input");
  check_contiguous(y, "output");
  HEARTH_CHECK(y->sizes() == x->sizes() && y->dtype() == dt, ShapeError, "output ", y->sizes(), " ", y->dtype(),
               " does not match input ", x->sizes(), " ", dt);
  HEARTH_CHECK((rm == nullptr) == (rv == nullptr), ValueError, "running_mean and running_var must both be given or both be absent");
  HEARTH_CHECK(at.training || rm, ValueError, "eval mode needs running_mean and running_var");
  for (auto [t, what] : {std::pair{w, "weight"}, {b, "bias"}, {rm, "running_mean"}, {rv, "running_var"},
                         {smean, "save_mean"}, {svar, "save_var"}})
    check_vec(t, s.C, dt, what);
  HEARTH_CPU_DISPATCH(kFloats, dt, "batch_norm", {
    if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double>) {
      bn_forward_ref<scalar_t>(data_as<const scalar_t>(x), data_as<scalar_t>(y), ptr<const scalar_t>(w),
                               ptr<const scalar_t>(b), ptr<scalar_t>(rm), ptr<scalar_t>(rv), data_as<scalar_t>(smean),
                               data_as<scalar_t>(svar), s, at);
    } else {
      throw_dtype_unsupported("batch_norm", dt);  // the op layer computes 16-bit floats in float32
    }
  });
}

void batch_norm_backward_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::BatchNorm*>(args.attrs);
  TensorImpl* g = strided_impl(args.inputs[0]);
  TensorImpl* x = strided_impl(args.inputs[1]);
  TensorImpl* w = opt(args.inputs[2]);
  TensorImpl* smean = strided_impl(args.inputs[3]);
  TensorImpl* svar = strided_impl(args.inputs[4]);
  TensorImpl *gx = opt(args.outputs[0]), *gw = opt(args.outputs[1]), *gb = opt(args.outputs[2]);
  HEARTH_CHECK(x->dim() == 3 && g->sizes() == x->sizes(), ShapeError, "grad ", g->sizes(), " and input ", x->sizes(),
               " must be the same (N, C, S) shape");
  const BnShape s{x->size(0), x->size(1), x->size(2)};
  const ScalarType dt = x->dtype();
  check_contiguous(g, "grad");
  check_contiguous(x, "input");
  HEARTH_CHECK(g->dtype() == dt, DTypeError, "grad dtype ", g->dtype(), " differs from input ", dt);
  if (gx) {
    check_contiguous(gx, "grad_input");
    HEARTH_CHECK(gx->sizes() == x->sizes() && gx->dtype() == dt, ShapeError, "grad_input ", gx->sizes(),
                 " does not match input ", x->sizes());
  }
  for (auto [t, what] : {std::pair{w, "weight"}, {smean, "save_mean"}, {svar, "save_var"}, {gw, "grad_weight"},
                         {gb, "grad_bias"}})
    check_vec(t, s.C, dt, what);
  HEARTH_CHECK(!gw || w, ValueError, "grad_weight asked for without a weight");
  HEARTH_CPU_DISPATCH(kFloats, dt, "batch_norm_backward", {
    if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double>) {
      bn_backward_ref<scalar_t>(data_as<const scalar_t>(g), data_as<const scalar_t>(x), ptr<const scalar_t>(w),
                                data_as<const scalar_t>(smean), data_as<const scalar_t>(svar), ptr<scalar_t>(gx),
                                ptr<scalar_t>(gw), ptr<scalar_t>(gb), s, at);
    } else {
      throw_dtype_unsupported("batch_norm_backward", dt);
    }
  });
}

// =================================== layer_norm ===================================================
// input (M, N) contiguous, normalized over each row; weight, bias (N); mean, var (M).

template <typename T>
void ln_forward_ref(const T* x, T* y, const T* w, const T* b, T* mean_out, T* var_out, int64_t M, int64_t N,
                    double eps) {
  parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(N, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* p = x + r * N;
      T* q = y + r * N;
      double sum = 0;
      for (int64_t j = 0; j < N; ++j) sum += static_cast<double>(p[j]);
      const double mean = N ? sum / static_cast<double>(N) : std::nan("");
      double sq = 0;
      for (int64_t j = 0; j < N; ++j) {
        const double d = static_cast<double>(p[j]) - mean;
        sq += d * d;
      }
      const double var = N ? sq / static_cast<double>(N) : std::nan("");
      mean_out[r] = static_cast<T>(mean);
      var_out[r] = static_cast<T>(var);
      const double rstd = 1.0 / std::sqrt(var + eps);
      for (int64_t j = 0; j < N; ++j) {
        double v = (static_cast<double>(p[j]) - mean) * rstd;
        if (w) v *= static_cast<double>(w[j]);
        if (b) v += static_cast<double>(b[j]);
        q[j] = static_cast<T>(v);
      }
    }
  });
}

template <typename T>
void ln_backward_ref(const T* g, const T* x, const T* w, const T* mean_in, const T* var_in, T* gx, T* gw, T* gb,
                     int64_t M, int64_t N, double eps) {
  if (gx) {
    // dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) per row, with gw = g * w.
    parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(N, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* gp = g + r * N;
        const T* xp = x + r * N;
        const double mean = static_cast<double>(mean_in[r]);
        const double rstd = 1.0 / std::sqrt(static_cast<double>(var_in[r]) + eps);
        double s1 = 0, s2 = 0;
        for (int64_t j = 0; j < N; ++j) {
          const double gwj = static_cast<double>(gp[j]) * (w ? static_cast<double>(w[j]) : 1.0);
          s1 += gwj;
          s2 += gwj * (static_cast<double>(xp[j]) - mean) * rstd;
        }
        s1 /= static_cast<double>(N);
        s2 /= static_cast<double>(N);
        T* op = gx + r * N;
        for (int64_t j = 0; j < N; ++j) {
          const double gwj = static_cast<double>(gp[j]) * (w ? static_cast<double>(w[j]) : 1.0);
          const double xhat = (static_cast<double>(xp[j]) - mean) * rstd;
          op[j] = static_cast<T>(rstd * (gwj - s1 - xhat * s2));
        }
      }
    });
  }
  if (gw || gb) {
    // Column sums over rows: fixed row blocks (independent of the thread count, so the result is
    // too), each into its own partial row, then the partials added in order.
    const int64_t rows_per = std::max<int64_t>(1, kGrain / std::max<int64_t>(N, 1));
    const int64_t nblk = (M + rows_per - 1) / rows_per;
    std::vector<double> pw(static_cast<size_t>(gw ? nblk * N : 0)), pb(static_cast<size_t>(gb ? nblk * N : 0));
    parallel_for(nblk, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        for (int64_t r = blk * rows_per; r < std::min(M, (blk + 1) * rows_per); ++r) {
          const double mean = static_cast<double>(mean_in[r]);
          const double rstd = 1.0 / std::sqrt(static_cast<double>(var_in[r]) + eps);
          const T* gp = g + r * N;
          const T* xp = x + r * N;
          for (int64_t j = 0; j < N; ++j) {
            if (gw) pw[static_cast<size_t>(blk * N + j)] += static_cast<double>(gp[j]) * (static_cast<double>(xp[j]) - mean) * rstd;
            if (gb) pb[static_cast<size_t>(blk * N + j)] += static_cast<double>(gp[j]);
          }
        }
      }
    });
    for (int64_t j = 0; j < N; ++j) {
      double sw = 0, sb = 0;
      for (int64_t blk = 0; blk < nblk; ++blk) {
        if (gw) sw += pw[static_cast<size_t>(blk * N + j)];
        if (gb) sb += pb[static_cast<size_t>(blk * N + j)];
      }
      if (gw) gw[j] = static_cast<T>(sw);
      if (gb) gb[j] = static_cast<T>(sb);
    }
  }
}

nflags ln_flags(bool scale, bool shift) {
  nflags f = nflags::none;
  if (scale) f |= nflags::use_scale;
  if (shift) f |= nflags::use_shift;
  return f;
}

struct LnPrims {
  memory::desc data, stat, param;
  dnnl::layer_normalization_forward::primitive_desc fwd_pd;
  dnnl::layer_normalization_forward fwd;
  dnnl::layer_normalization_backward bwd;  // built on first backward
};

LnPrims& ln_prims(int64_t M, int64_t N, bool scale, bool shift, double eps) {
  thread_local dnn::Cache<LnPrims> cache;
  dnn::Key key{{3, M, N, (scale ? 1 : 0) | (shift ? 2 : 0), dnn::bits(eps)}};
  return cache.get(key, [&] {
    LnPrims p;
    p.data = memory::desc({M, N}, memory::data_type::f32, memory::format_tag::ab);
    p.stat = memory::desc({M}, memory::data_type::f32, memory::format_tag::a);
    p.param = memory::desc({N}, memory::data_type::f32, memory::format_tag::a);
    dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_training, p.data, p.stat,
                                              static_cast<float>(eps), ln_flags(scale, shift));
    p.fwd_pd = dnnl::layer_normalization_forward::primitive_desc(d, dnn::engine());
    p.fwd = dnnl::layer_normalization_forward(p.fwd_pd);
    return p;
  });
}

void layer_norm_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::LayerNorm*>(args.attrs);
  TensorImpl* x = strided_impl(args.inputs[0]);
  TensorImpl *w = opt(args.inputs[1]), *b = opt(args.inputs[2]);
  TensorImpl* y = strided_impl(args.outputs[0]);
  TensorImpl* mean = strided_impl(args.outputs[1]);
  TensorImpl* var = strided_impl(args.outputs[2]);
  HEARTH_CHECK(x->dim() == 2, ShapeError, "input must be viewed as (M, N), got shape ", x->sizes());
  const int64_t M = x->size(0), N = x->size(1);
  const ScalarType dt = x->dtype();
  check_contiguous(x, "input");
  check_contiguous(y, "output");
  HEARTH_CHECK(y->sizes() == x->sizes() && y->dtype() == dt, ShapeError, "output ", y->sizes(), " ", y->dtype(),
               " does not match input ", x->sizes(), " ", dt);
  check_vec(w, N, dt, "weight");
  check_vec(b, N, dt, "bias");
  check_vec(mean, M, dt, "mean");
  check_vec(var, M, dt, "var");
  if (M == 0) return;
  if (dt == kFloat32 && N > 0 && x->numel() >= kLnMinOnednnElems) {
    LnPrims& p = ln_prims(M, N, w != nullptr, b != nullptr, at.eps);
    std::unordered_map<int, memory> a{{DNNL_ARG_SRC, dnn::mem(p.data, x->data())},
                                      {DNNL_ARG_DST, dnn::mem(p.data, y->data())},
                                      {DNNL_ARG_MEAN, dnn::mem(p.stat, mean->data())},
                                      {DNNL_ARG_VARIANCE, dnn::mem(p.stat, var->data())}};
    if (w) a.emplace(DNNL_ARG_SCALE, dnn::mem(p.param, w->data()));
    if (b) a.emplace(DNNL_ARG_SHIFT, dnn::mem(p.param, b->data()));
    dnn::execute(p.fwd, a, "layer_normalization forward");
    return;
  }
  HEARTH_CPU_DISPATCH(kFloats, dt, "layer_norm", {
    if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double>) {
      ln_forward_ref<scalar_t>(data_as<const scalar_t>(x), data_as<scalar_t>(y), ptr<const scalar_t>(w),
                               ptr<const scalar_t>(b), data_as<scalar_t>(mean), data_as<scalar_t>(var), M, N, at.eps);
    } else {
      throw_dtype_unsupported("layer_norm", dt);
    }
  });
}

void layer_norm_backward_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::LayerNorm*>(args.attrs);
  TensorImpl* g = strided_impl(args.inputs[0]);
  TensorImpl* x = strided_impl(args.inputs[1]);
  TensorImpl* w = opt(args.inputs[2]);
  TensorImpl* mean = strided_impl(args.inputs[3]);
  TensorImpl* var = strided_impl(args.inputs[4]);
  TensorImpl *gx = opt(args.outputs[0]), *gw = opt(args.outputs[1]), *gb = opt(args.outputs[2]);
  HEARTH_CHECK(x->dim() == 2 && g->sizes() == x->sizes(), ShapeError, "grad ", g->sizes(), " and input ", x->sizes(),
               " must be the same (M, N) shape");
  const int64_t M = x->size(0), N = x->size(1);
  const ScalarType dt = x->dtype();
  check_contiguous(g, "grad");
  check_contiguous(x, "input");
  HEARTH_CHECK(g->dtype() == dt, DTypeError, "grad dtype ", g->dtype(), " differs from input ", dt);
  if (gx) {
    check_contiguous(gx, "grad_input");
    HEARTH_CHECK(gx->sizes() == x->sizes() && gx->dtype() == dt, ShapeError, "grad_input ", gx->sizes(),
                 " does not match input ", x->sizes());
  }
  check_vec(w, N, dt, "weight");
  check_vec(mean, M, dt, "mean");
  check_vec(var, M, dt, "var");
  check_vec(gw, N, dt, "grad_weight");
  check_vec(gb, N, dt, "grad_bias");
  if (M == 0 || N == 0) {
    if (gw) std::memset(gw->data(), 0, static_cast<size_t>(N) * element_size(dt));
    if (gb) std::memset(gb->data(), 0, static_cast<size_t>(N) * element_size(dt));
    return;
  }
  if (dt == kFloat32 && gx && x->numel() >= kLnMinOnednnElems) {
    const bool scale = w != nullptr, shift = gb != nullptr;
    LnPrims& p = ln_prims(M, N, scale, shift, at.eps);
    if (!p.bwd) {
      const auto pk = scale || shift ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data;
      dnnl::layer_normalization_backward::desc d(pk, p.data, p.data, p.stat, static_cast<float>(at.eps),
                                                 ln_flags(scale, shift));
      p.bwd = dnnl::layer_normalization_backward(
          dnnl::layer_normalization_backward::primitive_desc(d, dnn::engine(), p.fwd_pd));
    }
    std::vector<float> dscale;
    std::unordered_map<int, memory> a{{DNNL_ARG_SRC, dnn::mem(p.data, x->data())},
                                      {DNNL_ARG_DIFF_DST, dnn::mem(p.data, g->data())},
                                      {DNNL_ARG_MEAN, dnn::mem(p.stat, mean->data())},
                                      {DNNL_ARG_VARIANCE, dnn::mem(p.stat, var->data())},
                                      {DNNL_ARG_DIFF_SRC, dnn::mem(p.data, gx->data())}};
    if (scale) {
      a.emplace(DNNL_ARG_SCALE, dnn::mem(p.param, w->data()));
      void* ds = gw ? gw->data() : (dscale.resize(static_cast<size_t>(N)), dscale.data());
      a.emplace(DNNL_ARG_DIFF_SCALE, dnn::mem(p.param, ds));
    }
    std::vector<float> zeros_for_shift;
    if (shift) {
      // As for batch norm: the shift must be among the inputs, unread.
      zeros_for_shift.assign(static_cast<size_t>(N), 0.f);
      a.emplace(DNNL_ARG_SHIFT, dnn::mem(p.param, zeros_for_shift.data()));
      a.emplace(DNNL_ARG_DIFF_SHIFT, dnn::mem(p.param, gb->data()));
    }
    dnn::execute(p.bwd, a, "layer_normalization backward");
    return;
  }
  HEARTH_CPU_DISPATCH(kFloats, dt, "layer_norm_backward", {
    if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double>) {
      ln_backward_ref<scalar_t>(data_as<const scalar_t>(g), data_as<const scalar_t>(x), ptr<const scalar_t>(w),
                                data_as<const scalar_t>(mean), data_as<const scalar_t>(var), ptr<scalar_t>(gx),
                                ptr<scalar_t>(gw), ptr<scalar_t>(gb), M, N, at.eps);
    } else {
      throw_dtype_unsupported("layer_norm_backward", dt);
    }
  });
}

}  // namespace

void register_norm(PluginRegistrar& r) {
  r.kernel("batch_norm", "cpu", batch_norm_kernel);
  r.kernel("batch_norm_backward", "cpu", batch_norm_backward_kernel);
  r.kernel("layer_norm", "cpu", layer_norm_kernel);
  r.kernel("layer_norm_backward", "cpu", layer_norm_backward_kernel);
}

}  // namespace hearth::cpu
