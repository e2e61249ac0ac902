// Unary elementwise kernels: neg abs exp log sqrt rsqrt relu sigmoid tanh gelu logical_not clamp, and
// gelu_backward (two inputs, but gelu's attrs and constants) and relu_backward (layout-aware).
#include "elementwise.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "onednn_layout.h"

namespace hearth::cpu {
namespace {

// Transcendental ops cost ~10-50 ns per element: worth threads much earlier than memory-bound ones.
constexpr int64_t kMathGrain = 4096;

const Tensor& in0(const KernelArgs& a) { return a.inputs[0]; }
const Tensor& out0(const KernelArgs& a) { return a.outputs[0]; }

void check_same_dtype(const char* op, const KernelArgs& a) {
  HEARTH_CHECK(in0(a).dtype() == out0(a).dtype(), DTypeError, "input dtype ", in0(a).dtype(), " and output dtype ",
               out0(a).dtype(), " differ (the op layer should have cast)");
}

void neg_kernel(const KernelArgs& a) {
  check_same_dtype("neg", a);
  HEARTH_CHECK(in0(a).dtype() != kBool, DTypeError,
               "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, "
               "use the `~` or `logical_not()` operator instead.");
  HEARTH_CPU_DISPATCH_NUMERIC(in0(a).dtype(), "neg", {
    using M = opmath_t<scalar_t>;
    unary_apply<scalar_t, scalar_t>(out0(a), in0(a), [](M x) -> M { return wrap_neg(x); });
  });
}

void abs_kernel(const KernelArgs& a) {
  check_same_dtype("abs", a);
  HEARTH_CPU_DISPATCH_NUMERIC(in0(a).dtype(), "abs", {
    using M = opmath_t<scalar_t>;
    if constexpr (std::is_unsigned_v<M>) {
      unary_apply<scalar_t, scalar_t>(out0(a), in0(a), [](M x) -> M { return x; });
    } else if constexpr (is_int_v<M>) {
      // abs(INT_MIN) wraps to INT_MIN, as in PyTorch.
      unary_apply<scalar_t, scalar_t>(out0(a), in0(a), [](M x) -> M { return x < 0 ? wrap_neg(x) : x; });
    } else {
      unary_apply<scalar_t, scalar_t>(out0(a), in0(a), [](M x) -> M { return std::abs(x); });
    }
  });
}

void relu_kernel(const KernelArgs& a) {
  check_same_dtype("relu", a);
  HEARTH_CPU_DISPATCH_NUMERIC(in0(a).dtype(), "relu", {
    using M = opmath_t<scalar_t>;
    if constexpr (std::is_unsigned_v<M>) {
      unary_apply<scalar_t, scalar_t>(out0(a), in0(a), [](M x) -> M { return x; });
    } else {
      // `x < 0 ? 0 : x` keeps NaN (PyTorch's relu is clamp_min(x, 0), which propagates NaN).
      unary_apply<scalar_t, scalar_t>(out0(a), in0(a), [](M x) -> M { return x < M(0) ? M(0) : x; });
    }
  });
}

/// relu_backward(grad, result): grad where result > 0, else 0 (PyTorch's threshold_backward(g, y,
/// 0): a NaN result passes the gradient). A result in a oneDNN layout (conv2d_relu's output) is
/// read as it is; the gradient is brought into the same layout, and so is the output, which the
/// next conv's backward then reads without a reorder (issue 4).
void relu_mask(float* gi, const float* g, const float* y, int64_t n) {
  parallel_for(n, kGrain, [gi, g, y](int64_t b, int64_t e) {
    int64_t i = b;
#if defined(__SSE2__)
    // Branch-free: y <= 0 (false for NaN) clears the gradient. A branch per element mispredicts
    // on half of a ReLU's outputs.
    const __m128 zero = _mm_setzero_ps();
    for (; i + 4 <= e; i += 4) {
      const __m128 m = _mm_cmple_ps(_mm_loadu_ps(y + i), zero);
      _mm_storeu_ps(gi + i, _mm_andnot_ps(m, _mm_loadu_ps(g + i)));
    }
#endif
    for (; i < e; ++i) gi[i] = y[i] <= 0.0f ? 0.0f : g[i];
  });
}

void relu_backward_kernel(const KernelArgs& a) {
  HEARTH_CHECK(a.num_inputs == 2 && a.num_outputs == 1, ValueError, "relu_backward: expected (grad, result)");
  TensorImpl* g = a.inputs[0].unsafeGetTensorImpl();
  TensorImpl* y = a.inputs[1].unsafeGetTensorImpl();
  TensorImpl* gi = a.outputs[0].unsafeGetTensorImpl();
  HEARTH_CHECK(g->sizes() == y->sizes() && gi->sizes() == y->sizes(), ShapeError, "relu_backward: grad ", g->sizes(),
               ", result ", y->sizes(), " and grad_input ", gi->sizes(), " must have one shape");
  HEARTH_CHECK(g->dtype() == y->dtype() && gi->dtype() == y->dtype() && is_floating_point(y->dtype()), DTypeError,
               "relu_backward: grad ", g->dtype(), ", result ", y->dtype(), " and grad_input ", gi->dtype(),
               " must share one floating dtype");
  if (y->numel() == 0) return;
  namespace L = dnn_layout;
  const L::OnednnLayout* ly = L::layout_of(y);
  if (ly && y->dtype() == kFloat32 && !gi->opaque_layout()) {
    const L::OnednnLayout* lg = L::layout_of(g);
    const int64_t n = static_cast<int64_t>(ly->desc().get_size() / sizeof(float));
    L::give_layout(gi, std::static_pointer_cast<const L::OnednnLayout>(y->opaque_layout()));
    // opaque_data(), not data(): another thread may convert y or g meanwhile (tensor_impl.h).
    float* out = static_cast<float*>(gi->opaque_data());
    const float* yp = static_cast<const float*>(y->opaque_data());
    if (lg && lg->desc() == ly->desc()) {
      relu_mask(out, static_cast<const float*>(g->opaque_data()), yp, n);
      return;
    }
    // The gradient in another form: reorder it into the output first, then mask in place.
    if (g->opaque_layout() && !lg) g->ensure_strided();
    HEARTH_CHECK(lg || g->is_contiguous(), ValueError, "relu_backward: grad must be contiguous");
    L::reorder(lg ? lg->desc() : L::plain_desc(g->sizes(), dnnl::memory::data_type::f32),
               lg ? g->opaque_data() : g->data(), ly->desc(), out);
    relu_mask(out, out, yp, n);
    return;
  }
  g = strided_impl(a.inputs[0]);
  y = strided_impl(a.inputs[1]);
  gi = strided_impl(a.outputs[0]);
  HEARTH_CHECK(g->is_contiguous() && y->is_contiguous() && gi->is_contiguous(), ValueError,
               "relu_backward: operands must be contiguous (the op layer makes them so)");
  if (y->dtype() == kFloat32) {  // relu's backward in every float32 MLP: the branch-free loop
    relu_mask(data_as<float>(gi), data_as<const float>(g), data_as<const float>(y), y->numel());
    return;
  }
  HEARTH_CPU_DISPATCH_FLOATING(y->dtype(), "relu_backward", {
    using M = opmath_t<scalar_t>;
    const scalar_t* gp = data_as<const scalar_t>(g);
    const scalar_t* yp = data_as<const scalar_t>(y);
    scalar_t* op = data_as<scalar_t>(gi);
    parallel_for(y->numel(), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) op[i] = M(yp[i]) <= M(0) ? scalar_t(0.0f) : gp[i];
    });
  });
}

/// Float-only math ops: f(x) on opmath values (float for float/half/bfloat16, double for double).
template <typename MakeF>
void float_unary(const char* op, const KernelArgs& a, MakeF make) {
  check_same_dtype(op, a);
  HEARTH_CPU_DISPATCH_FLOATING(in0(a).dtype(), op, {
    using M = opmath_t<scalar_t>;
    unary_apply<scalar_t, scalar_t>(out0(a), in0(a), make(TypeTag<M>{}), kMathGrain);
  });
}

void exp_kernel(const KernelArgs& a) {
  float_unary("exp", a, [](auto t) {
    using M = typename decltype(t)::type;
    return [](M x) -> M { return std::exp(x); };
  });
}
void log_kernel(const KernelArgs& a) {
  float_unary("log", a, [](auto t) {
    using M = typename decltype(t)::type;
    return [](M x) -> M { return std::log(x); };
  });
}
void sqrt_kernel(const KernelArgs& a) {
  float_unary("sqrt", a, [](auto t) {
    using M = typename decltype(t)::type;
    return [](M x) -> M { return std::sqrt(x); };
  });
}
void rsqrt_kernel(const KernelArgs& a) {
  float_unary("rsqrt", a, [](auto t) {
    using M = typename decltype(t)::type;
    return [](M x) -> M { return M(1) / std::sqrt(x); };
  });
}
void sigmoid_kernel(const KernelArgs& a) {
  float_unary("sigmoid", a, [](auto t) {
    using M = typename decltype(t)::type;
    return [](M x) -> M { return M(1) / (M(1) + std::exp(-x)); };
  });
}
void tanh_kernel(const KernelArgs& a) {
  float_unary("tanh", a, [](auto t) {
    using M = typename decltype(t)::type;
    return [](M x) -> M { return std::tanh(x); };
  });
}

void gelu_kernel(const KernelArgs& args) {
  const int approximate = args.attrs ? static_cast<const attrs::Unary*>(args.attrs)->approximate : 0;
  HEARTH_CHECK(approximate == 0 || approximate == 1, ValueError, "approximate must be 0 (none) or 1 (tanh), got ",
               approximate);
  // PyTorch's formulas and constants (GeluKernel.cpp).
  if (approximate == 0) {
    float_unary("gelu", args, [](auto t) {
      using M = typename decltype(t)::type;
      return [](M x) -> M { return x * M(0.5) * (M(1) + std::erf(x * M(M_SQRT1_2))); };
    });
  } else {
    float_unary("gelu", args, [](auto t) {
      using M = typename decltype(t)::type;
      return [](M x) -> M {
        const M kBeta = M(M_SQRT2 * M_2_SQRTPI * 0.5), kKappa = M(0.044715);
        const M inner = kBeta * (x + kKappa * x * x * x);
        return M(0.5) * x * (M(1) + std::tanh(inner));
      };
    });
  }
}

/// gelu_backward: grad * gelu'(x), inputs (grad, x) broadcast to the output, one float dtype.
void gelu_backward_kernel(const KernelArgs& args) {
  const int approximate = args.attrs ? static_cast<const attrs::Unary*>(args.attrs)->approximate : 0;
  HEARTH_CHECK(approximate == 0 || approximate == 1, ValueError,
               "gelu_backward: approximate must be 0 (none) or 1 (tanh), got ", approximate);
  const Tensor& g = args.inputs[0];
  const Tensor& x = args.inputs[1];
  HEARTH_CHECK(g.dtype() == out0(args).dtype() && x.dtype() == out0(args).dtype(), DTypeError,
               "gelu_backward: grad ", g.dtype(), ", input ", x.dtype(), " and output ", out0(args).dtype(),
               " differ (the op layer should have cast)");
  // PyTorch's GeluBackwardKernelImpl, computed in opmath (float for half/bfloat16).
  HEARTH_CPU_DISPATCH_FLOATING(x.dtype(), "gelu_backward", {
    using M = opmath_t<scalar_t>;
    if (approximate == 0) {
      binary_apply<scalar_t, scalar_t>(out0(args), g, &x, M(0), [](M dy, M v) -> M {
        const M kAlpha = M(M_2_SQRTPI * M_SQRT1_2 * 0.5);  // 1/sqrt(2*pi)
        const M cdf = M(0.5) * (M(1) + std::erf(v * M(M_SQRT1_2)));
        const M pdf = kAlpha * std::exp(M(-0.5) * v * v);
        return dy * (cdf + v * pdf);
      }, kMathGrain);
    } else {
      binary_apply<scalar_t, scalar_t>(out0(args), g, &x, M(0), [](M dy, M v) -> M {
        const M kBeta = M(M_SQRT2 * M_2_SQRTPI * 0.5), kKappa = M(0.044715);
        const M x_sq = v * v;
        const M inner = kBeta * (v + kKappa * x_sq * v);
        const M t = std::tanh(inner);
        const M left = M(0.5) * v;
        const M right = M(1) + t;
        const M left_derivative = M(0.5) * right;
        const M inner_derivative = kBeta * (M(1) + M(3) * kKappa * x_sq);
        const M right_derivative = left * (M(1) - t * t) * inner_derivative;
        return dy * (left_derivative + right_derivative);
      }, kMathGrain);
    }
  });
}

void logical_not_kernel(const KernelArgs& a) {
  HEARTH_CHECK(out0(a).dtype() == kBool, DTypeError, "output must be bool, got ", out0(a).dtype());
  HEARTH_CPU_DISPATCH_ALL(in0(a).dtype(), "logical_not", {
    using M = opmath_t<scalar_t>;
    unary_apply<scalar_t, bool>(out0(a), in0(a), [](M x) -> bool { return !convert<bool>(x); });
  });
}

void clamp_kernel(const KernelArgs& args) {
  check_same_dtype("clamp", args);
  const auto& c = *static_cast<const attrs::Clamp*>(args.attrs);
  HEARTH_CPU_DISPATCH_NUMERIC(in0(args).dtype(), "clamp", {
    using M = opmath_t<scalar_t>;
    // min(max(x, lo), hi) as comparisons that are false for NaN, so a NaN input stays NaN and
    // lo > hi gives hi everywhere, as in PyTorch.
    const bool has_lo = c.min.has_value(), has_hi = c.max.has_value();
    const M lo = has_lo ? scalar_as<scalar_t>(*c.min) : M(0);
    const M hi = has_hi ? scalar_as<scalar_t>(*c.max) : M(0);
    if (has_lo && has_hi) {
      unary_apply<scalar_t, scalar_t>(out0(args), in0(args), [=](M x) -> M {
        const M r = x < lo ? lo : x;
        return r > hi ? hi : r;
      });
    } else if (has_lo) {
      unary_apply<scalar_t, scalar_t>(out0(args), in0(args), [=](M x) -> M { return x < lo ? lo : x; });
    } else if (has_hi) {
      unary_apply<scalar_t, scalar_t>(out0(args), in0(args), [=](M x) -> M { return x > hi ? hi : x; });
    } else {
      unary_apply<scalar_t, scalar_t>(out0(args), in0(args), [](M x) -> M { return x; });
    }
  });
}

}  // namespace

void register_unary(PluginRegistrar& r) {
  r.kernel("neg", "cpu", neg_kernel);
  r.kernel("abs", "cpu", abs_kernel);
  r.kernel("exp", "cpu", exp_kernel);
  r.kernel("log", "cpu", log_kernel);
  r.kernel("sqrt", "cpu", sqrt_kernel);
  r.kernel("rsqrt", "cpu", rsqrt_kernel);
  r.kernel("relu", "cpu", relu_kernel);
  r.kernel("relu_backward", "cpu", relu_backward_kernel);
  r.kernel("sigmoid", "cpu", sigmoid_kernel);
  r.kernel("tanh", "cpu", tanh_kernel);
  r.kernel("gelu", "cpu", gelu_kernel);
  r.kernel("gelu_backward", "cpu", gelu_backward_kernel);
  r.kernel("logical_not", "cpu", logical_not_kernel);
  r.kernel("clamp", "cpu", clamp_kernel);
}

}  // namespace hearth::cpu
