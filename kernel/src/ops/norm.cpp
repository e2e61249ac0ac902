// batch_norm and layer_norm (nn::functional): checks, the fused forward kernel (which also updates
// running statistics), and a backward node that calls the fused backward kernel — or, under
// create_graph, evaluates the same formulas with differentiable ops (second derivatives).
//
// 16-bit float inputs are computed in float32 (converted through recorded ops) and converted
// back; kernels see float32 or float64 only.
#include <cmath>

#include "../autograd/functions.h"
#include "hearth/nn/norm.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth::nn::functional {
namespace {

using autograd::tensor_list;
using autograd::internal::ForwardGuard;

ScalarType compute_dtype(const Tensor& input, const char* op) {
  HEARTH_CHECK(is_floating_point(input.dtype()), DTypeError, op, ": expected a floating point input, got ",
               ops::describe(input));
  return input.dtype() == kFloat64 ? kFloat64 : kFloat32;
}

/// t converted (recorded by autograd) to dt, or t itself.
Tensor as_dtype(const Tensor& t, ScalarType dt) { return !t.defined() || t.dtype() == dt ? t : t.to(dt); }

/// A vector operand for a kernel: contiguous, dt, shaped (n).
Tensor vec(const Tensor& t, int64_t n, ScalarType dt) {
  if (!t.defined()) return t;
  Tensor r = t.dtype() == dt ? t : t.to(dt);
  return r.reshape({n}).contiguous();
}

/// The dims of x other than `keep` (a broadcasting helper for the composite formulas).
DimVector all_but(int64_t nd, int64_t keep) {
  DimVector d;
  for (int64_t i = 0; i < nd; ++i)
    if (i != keep) d.push_back(i);
  return d;
}

// ================================ batch_norm ======================================================

/// Gradients of batch_norm for input, weight and bias (forward inputs 0, 1, 2).
class BatchNormBackward final : public autograd::SavingNode<4> {
 public:
  BatchNormBackward(bool training, double eps) : training_(training), eps_(eps) {}
  std::string name() const override { return "BatchNormBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor x = saved(0), w = saved(1), mean = saved(2), var = saved(3);
    const Tensor& g = grads[0];
    const bool want_x = needs_input_grad(0), want_w = needs_input_grad(1), want_b = needs_input_grad(2);
    const int64_t C = x.size(1);
    if (is_grad_enabled()) return composite(g, x, w, mean, var, want_x, want_w, want_b);
    static const OpHandle op = find_op("batch_norm_backward");
    const int64_t N = x.size(0), S = C ? x.numel() / std::max<int64_t>(N * C, 1) : 0;
    Tensor x3 = x.reshape({N, C, S}).contiguous(), g3 = g.reshape({N, C, S}).contiguous();
    Tensor w1 = w.defined() ? w.reshape({C}).contiguous() : w;
    Tensor gx = want_x ? ops::new_tensor(x3.sizes(), x.dtype(), x.device()) : Tensor();
    Tensor gw = want_w ? ops::new_tensor({C}, x.dtype(), x.device()) : Tensor();
    Tensor gb = want_b ? ops::new_tensor({C}, x.dtype(), x.device()) : Tensor();
    attrs::BatchNorm at{training_, 0.0, eps_};
    ops::call(op, x.device(), {g3, x3, w1, mean, var}, {gx, gw, gb}, &at);
    return {want_x ? gx.view(x.sizes()) : Tensor(), gw, gb};
  }

 private:
  /// The formulas with ops (differentiable again): x (N, C, ...), statistics over all dims but 1.
  tensor_list composite(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& smean, const Tensor& svar,
                        bool want_x, bool want_w, bool want_b) const {
    const DimVector dims = all_but(x.dim(), 1);
    DimVector bshape(static_cast<size_t>(x.dim()), 1);
    bshape[1] = x.size(1);
    Tensor mean, invstd;
    if (training_) {
      mean = x.mean(dims, /*keepdim=*/true);
      const Tensor xc = x - mean;
      invstd = ((xc * xc).mean(dims, /*keepdim=*/true) + Scalar(eps_)).rsqrt();
    } else {
      // Eval: the running statistics are constants.
      mean = smean.view(bshape);
      invstd = (svar.view(bshape) + Scalar(eps_)).rsqrt();
    }
    const Tensor xhat = (x - mean) * invstd;
    tensor_list r(3);
    if (want_x) {
      const Tensor scale = w.defined() ? invstd * w.reshape(bshape) : invstd;
      r[0] = training_ ? scale * (g - g.mean(dims, true) - xhat * (g * xhat).mean(dims, true)) : g * scale;
    }
    if (want_w) r[1] = (g * xhat).sum(dims);
    if (want_b) r[2] = g.sum(dims);
    return r;
  }

  bool training_;
  double eps_;
};

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  static const OpHandle op = find_op("batch_norm");
  HEARTH_CHECK(input.dim() >= 2, ShapeError, "batch_norm: expected an input of shape (N, C, ...) with at least 2 dims, got ",
               ops::describe(input));
  const ScalarType dt = compute_dtype(input, "batch_norm");
  const int64_t N = input.size(0), C = input.size(1);
  const int64_t S = C && N ? input.numel() / (N * C) : 0;
  for (auto [t, what] : {std::pair{&weight, "weight"}, {&bias, "bias"}, {&running_mean, "running_mean"},
                         {&running_var, "running_var"}})
    HEARTH_CHECK(!t->defined() || (t->numel() == C && t->dim() == 1), ShapeError, "batch_norm: ", what,
                 " should be a vector of ", C, " elements (one per channel of input ", input.sizes(), "), got shape ",
                 t->sizes());
  HEARTH_CHECK(running_mean.defined() == running_var.defined(), ValueError,
               "batch_norm: running_mean and running_var must both be given or both be undefined");
  HEARTH_CHECK(training || running_mean.defined(), ValueError,
               "batch_norm: running_mean and running_var must be defined in evaluation mode (training=false)");
  // SEED G3: one value per channel has no variance to normalize by.
  HEARTH_CHECK(!training || N * S != 1, ValueError,
               "batch_norm: Expected more than 1 value per channel when training, got input size ", input.sizes(),
               " (use a batch of more than one sample, or eval mode)");
  HEARTH_CHECK(momentum >= 0 && momentum <= 1 && eps >= 0, ValueError, "batch_norm: momentum must be in [0, 1] and eps >= 0, got ",
               momentum, " and ", eps);
  ops::common_device("batch_norm", {&input, &weight, &bias, &running_mean, &running_var});

  // Autograd inputs: the input and parameters in the compute dtype (conversions are recorded).
  const Tensor x = as_dtype(input, dt), w = as_dtype(weight, dt), b = as_dtype(bias, dt);
  const bool rec = autograd::any_requires_grad({&x, &w, &b});
  Tensor out, smean, svar;
  {
    ForwardGuard fg(rec);
    // Running stats are written in place by the kernel: pass them as they are when they fit,
    // else a converted copy that is written back afterwards.
    auto fits = [&](const Tensor& t) { return !t.defined() || (t.dtype() == dt && t.is_contiguous()); };
    const bool direct = fits(running_mean) && fits(running_var);
    Tensor rm = direct || !running_mean.defined() ? running_mean : running_mean.to(dt).contiguous();
    Tensor rv = direct || !running_var.defined() ? running_var : running_var.to(dt).contiguous();
    Tensor x3 = x.reshape({N, C, S}).contiguous();
    out = ops::new_tensor(x3.sizes(), dt, x.device());
    smean = ops::new_tensor({C}, dt, x.device());
    svar = ops::new_tensor({C}, dt, x.device());
    attrs::BatchNorm at{training, momentum, eps};
    ops::call(op, x.device(), {x3, vec(w, C, dt), vec(b, C, dt), rm, rv}, {out, smean, svar}, &at);
    out = ops::own_view(out.view(x.sizes()));  // the kernel's fresh output, not a view
    if (training && running_mean.defined()) {
      if (direct) {
        running_mean.impl()->bump_version();
        running_var.impl()->bump_version();
      } else {
        NoGradGuard ng;
        Tensor m = running_mean, v = running_var;
        m.copy_(rm.view(running_mean.sizes()));
        v.copy_(rv.view(running_var.sizes()));
      }
    }
  }
  if (rec) {
    auto n = std::make_shared<BatchNormBackward>(training, eps);
    autograd::record(n, {&x, &w, &b}, {&out});
    n->save(0, x);
    if (w.defined()) n->save(1, w);
    n->save(2, smean);
    n->save(3, svar);
  }
  return out.dtype() == input.dtype() ? out : out.to(input.dtype());
}

// ================================ layer_norm ======================================================

namespace {

/// Gradients of layer_norm for input, weight and bias (forward inputs 0, 1, 2). k = number of
/// normalized (trailing) dims.
class LayerNormBackward final : public autograd::SavingNode<4> {
 public:
  LayerNormBackward(int64_t k, double eps) : k_(k), eps_(eps) {}
  std::string name() const override { return "LayerNormBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor x = saved(0), w = saved(1), mean = saved(2), var = saved(3);
    const Tensor& g = grads[0];
    const bool want_x = needs_input_grad(0), want_w = needs_input_grad(1), want_b = needs_input_grad(2);
    const IntArrayRef nshape = x.sizes().slice(static_cast<size_t>(x.dim() - k_));
    if (is_grad_enabled()) return composite(g, x, w, want_x, want_w, want_b, nshape);
    static const OpHandle op = find_op("layer_norm_backward");
    int64_t N = 1;
    for (int64_t s : nshape) N *= s;
    const int64_t M = N ? x.numel() / N : 0;
    Tensor x2 = x.reshape({M, N}).contiguous(), g2 = g.reshape({M, N}).contiguous();
    Tensor w1 = w.defined() ? w.reshape({N}).contiguous() : w;
    Tensor gx = want_x ? ops::new_tensor({M, N}, x.dtype(), x.device()) : Tensor();
    Tensor gw = want_w ? ops::new_tensor({N}, x.dtype(), x.device()) : Tensor();
    Tensor gb = want_b ? ops::new_tensor({N}, x.dtype(), x.device()) : Tensor();
    attrs::LayerNorm at{eps_};
    ops::call(op, x.device(), {g2, x2, w1, mean, var}, {gx, gw, gb}, &at);
    return {want_x ? gx.view(x.sizes()) : Tensor(), want_w ? gw.view(nshape) : Tensor(),
            want_b ? gb.view(nshape) : Tensor()};
  }

 private:
  tensor_list composite(const Tensor& g, const Tensor& x, const Tensor& w, bool want_x, bool want_w, bool want_b,
                        IntArrayRef nshape) const {
    DimVector norm_dims, lead_dims;
    for (int64_t d = 0; d < x.dim(); ++d) (d >= x.dim() - k_ ? norm_dims : lead_dims).push_back(d);
    const Tensor mean = x.mean(norm_dims, /*keepdim=*/true);
    const Tensor xc = x - mean;
    const Tensor rstd = ((xc * xc).mean(norm_dims, /*keepdim=*/true) + Scalar(eps_)).rsqrt();
    const Tensor xhat = xc * rstd;
    // Sums over the leading dims; with none, the per-element terms themselves.
    auto lead_sum = [&](const Tensor& t) { return lead_dims.empty() ? t : t.sum(lead_dims); };
    tensor_list r(3);
    if (want_x) {
      const Tensor gw = w.defined() ? g * w : g;
      r[0] = rstd * (gw - gw.mean(norm_dims, true) - xhat * (gw * xhat).mean(norm_dims, true));
    }
    if (want_w) r[1] = lead_sum(g * xhat);
    if (want_b) r[2] = lead_sum(g);
    (void)nshape;
    return r;
  }

  int64_t k_;
  double eps_;
};

}  // namespace

Tensor layer_norm(const Tensor& input, IntArrayRef normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  static const OpHandle op = find_op("layer_norm");
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  bool fits = k >= 1 && input.dim() >= k;
  for (int64_t i = 0; fits && i < k; ++i) fits = input.size(input.dim() - k + i) == normalized_shape[static_cast<size_t>(i)];
  if (!fits) {
    std::string inner;  // "4, 5": PyTorch's [*, 4, 5]
    for (size_t i = 0; i < normalized_shape.size(); ++i) inner += (i ? ", " : "") + std::to_string(normalized_shape[i]);
    HEARTH_CHECK(false, ShapeError, "layer_norm: Given normalized_shape=", normalized_shape,
                 ", expected input with shape [*, ", inner, "], but got input of size ", input.sizes());
  }
  for (auto [t, what] : {std::pair{&weight, "weight"}, {&bias, "bias"}})
    HEARTH_CHECK(!t->defined() || t->sizes() == normalized_shape, ShapeError, "layer_norm: expected ", what,
                 " of shape ", normalized_shape, ", got ", t->sizes());
  HEARTH_CHECK(eps >= 0, ValueError, "layer_norm: eps must be >= 0, got ", eps);
  const ScalarType dt = compute_dtype(input, "layer_norm");
  ops::common_device("layer_norm", {&input, &weight, &bias});
  int64_t N = 1;
  for (int64_t s : normalized_shape) N *= s;
  const int64_t M = N ? input.numel() / N : 0;

  const Tensor x = as_dtype(input, dt), w = as_dtype(weight, dt), b = as_dtype(bias, dt);
  const bool rec = autograd::any_requires_grad({&x, &w, &b});
  Tensor out, mean, var;
  {
    ForwardGuard fg(rec);
    Tensor x2 = x.reshape({M, N}).contiguous();
    out = ops::new_tensor({M, N}, dt, x.device());
    mean = ops::new_tensor({M}, dt, x.device());
    var = ops::new_tensor({M}, dt, x.device());
    attrs::LayerNorm at{eps};
    ops::call(op, x.device(), {x2, vec(w, N, dt), vec(b, N, dt)}, {out, mean, var}, &at);
    out = ops::own_view(out.view(x.sizes()));  // the kernel's fresh output, not a view
  }
  if (rec) {
    auto n = std::make_shared<LayerNormBackward>(k, eps);
    autograd::record(n, {&x, &w, &b}, {&out});
    n->save(0, x);
    if (w.defined()) n->save(1, w);
    n->save(2, mean);
    n->save(3, var);
  }
  return out.dtype() == input.dtype() ? out : out.to(input.dtype());
}

}  // namespace hearth::nn::functional
