// Losses (nn::functional), SEED B7. nll_loss is a primitive (fused kernel forward and backward,
// which cross_entropy uses after the fused log_softmax); binary_cross_entropy records its own
// node (PyTorch's gradient, finite at input 0 and 1); the rest are composites of autograd ops.
#include <cmath>

#include "../autograd/functions.h"
#include "hearth/nn/loss.h"
#include "hearth/nn/norm.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth::nn::functional {
namespace {

using autograd::tensor_list;
using autograd::internal::ForwardGuard;

enum Reduction : int { kNone = 0, kMean = 1, kSum = 2 };  // attrs::NllLoss::reduction

Reduction parse_reduction(const std::string& r, const char* op) {
  if (r == "mean") return kMean;
  if (r == "sum") return kSum;
  if (r == "none") return kNone;
  HEARTH_CHECK(false, ValueError, op, ": '", r, "' is not a valid value for reduction (expected 'none', 'mean' or 'sum')");
}

Tensor reduce(const Tensor& loss, Reduction r) {
  if (r == kMean) return loss.mean();
  if (r == kSum) return loss.sum();
  return loss;
}

/// PyTorch warns (and broadcasts) when an elementwise loss gets a target of another shape.
void warn_if_sizes_differ(const char* op, const Tensor& input, const Tensor& target) {
  if (input.sizes() == target.sizes()) return;
  warn(detail::str(op, ": Using a target size (", target.sizes(), ") that is different to the input size (",
                   input.sizes(), "). This will likely lead to incorrect results due to broadcasting. Please ensure "
                   "they have the same size."));
}

void check_floating(const char* op, const Tensor& t, const char* what) {
  HEARTH_CHECK(is_floating_point(t.dtype()), DTypeError, op, ": expected a floating point ", what, ", got ",
               ops::describe(t));
}

// ---- nll_loss -----------------------------------------------------------------------------------

/// Shapes of an nll problem: input viewed as (N, C, S), target as (N, S).
struct NllGeo {
  int64_t N = 1, C = 1, S = 1;
};

NllGeo nll_geometry(const char* op, const Tensor& input, const Tensor& target) {
  HEARTH_CHECK(input.dim() >= 1, ShapeError, op, ": input must be (C), (N, C) or (N, C, d1, ...), got ",
               ops::describe(input));
  HEARTH_CHECK(target.dtype() == kInt64, DTypeError, op, ": expected a target of class indices with dtype int64, got ",
               ops::describe(target),
               (is_floating_point(target.dtype()) ? " (a floating target of the input's shape is read as class "
                                                    "probabilities by cross_entropy)"
                                                  : ""));
  NllGeo g;
  if (input.dim() == 1) {
    HEARTH_CHECK(target.dim() == 0, ShapeError, op, ": a 1-D input (C) takes a 0-D target (one class index), got target ",
                 ops::describe(target));
    g.C = input.size(0);
    return g;
  }
  HEARTH_CHECK(target.dim() >= 1 && target.size(0) == input.size(0), ShapeError, op, ": Expected input batch_size (",
               input.size(0), ") to match target batch_size (", target.dim() >= 1 ? target.size(0) : 0, ") (input ",
               input.sizes(), ", target ", target.sizes(), ")");
  bool ok = target.dim() == input.dim() - 1;
  for (int64_t d = 2; ok && d < input.dim(); ++d) ok = target.size(d - 1) == input.size(d);
  HEARTH_CHECK(ok, ShapeError, op, ": expected target of shape ", "(N, d1, ...) = input shape without the class dim, "
               "got input ", input.sizes(), " and target ", target.sizes());
  g.N = input.size(0);
  g.C = input.size(1);
  for (int64_t d = 2; d < input.dim(); ++d) g.S *= input.size(d);
  return g;
}

/// The nll_loss_backward kernel, or under create_graph the same gradient from ops (linear in g).
class NllLossBackward final : public autograd::SavingNode<3> {
 public:
  NllLossBackward(Reduction red, int64_t ignore_index, NllGeo geo, IntArrayRef in_sizes)
      : red_(red), ignore_(ignore_index), geo_(geo), in_sizes_(in_sizes.begin(), in_sizes.end()) {}
  std::string name() const override { return "NllLossBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor target = saved(0), weight = saved(1), total_weight = saved(2);
    const Tensor& g = grads[0];
    const int64_t N = geo_.N, C = geo_.C, S = geo_.S;
    if (!is_grad_enabled()) {
      static const OpHandle op = find_op("nll_loss_backward");
      Tensor gc = (red_ == kNone ? g.reshape({N, S}) : g.reshape({})).contiguous();
      Tensor gx = ops::new_tensor({N, C, S}, total_weight.dtype(), total_weight.device());
      attrs::NllLoss at{red_, ignore_};
      ops::call(op, gx.device(), {gc, target, weight, total_weight}, {gx}, &at);
      return {gx.view(in_sizes_)};
    }
    const TensorOptions io = TensorOptions(kInt64).device(target.device());
    const Tensor t3 = target.unsqueeze(1);  // (N, 1, S)
    Tensor coef = t3.eq(arange(C, io).view({1, C, 1})).logical_and(t3.ne(Scalar(ignore_))).to(g.dtype());
    if (weight.defined()) coef = coef * weight.view({1, C, 1});
    Tensor gx = -(coef * (red_ == kNone ? g.reshape({N, 1, S}) : g));
    if (red_ == kMean) gx = gx / total_weight;
    return {gx.reshape(in_sizes_)};
  }

 private:
  Reduction red_;
  int64_t ignore_;
  NllGeo geo_;
  DimVector in_sizes_;
};

Tensor nll_loss_impl(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     Reduction red) {
  static const OpHandle op = find_op("nll_loss");
  check_floating("nll_loss", input, "input");
  const NllGeo g = nll_geometry("nll_loss", input, target);
  HEARTH_CHECK(!weight.defined() || (weight.dim() == 1 && weight.numel() == g.C), ShapeError,
               "nll_loss: weight tensor should be defined either for all ", g.C,
               " classes or no classes but got weight tensor of shape: ", weight.sizes());
  ops::common_device("nll_loss", {&input, &target, &weight});
  const ScalarType dt = input.dtype();
  const bool rec = autograd::any_requires_grad({&input});
  Tensor out, tw, t2, w1;
  {
    NoGradGuard ng;  // records nothing inside; the class weights are constants (no gradient, as PyTorch)
    Tensor x3 = input.reshape({g.N, g.C, g.S}).contiguous();
    t2 = target.reshape({g.N, g.S}).contiguous();
    w1 = weight.defined() ? weight.to(dt).contiguous() : weight;
    out = red == kNone ? ops::new_tensor({g.N, g.S}, dt, input.device()) : ops::new_tensor({}, dt, input.device());
    tw = ops::new_tensor({}, dt, input.device());
    attrs::NllLoss at{red, ignore_index};
    ops::call(op, input.device(), {x3, t2, w1}, {out, tw}, &at);
    if (red == kNone) out = ops::own_view(out.view(target.sizes()));
  }
  if (rec) {
    auto n = std::make_shared<NllLossBackward>(red, ignore_index, g, input.sizes());
    autograd::record(n, {&input}, {&out});
    n->save(0, t2);
    if (w1.defined()) n->save(1, w1);
    n->save(2, tw);
  }
  return out;
}

// ---- binary_cross_entropy ---------------------------------------------------------------------

/// PyTorch's gradients: input w * (x - t) / max(x (1 - x), 1e-12), target w * (log(1 - x) - log(x)).
class BinaryCrossEntropyBackward final : public autograd::SavingNode<3> {
 public:
  std::string name() const override { return "BinaryCrossEntropyBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor x = saved(0), t = saved(1), w = saved(2);
    const Tensor gw = w.defined() ? grads[0] * w : grads[0];
    tensor_list r(2);
    if (needs_input_grad(0)) r[0] = gw * (x - t) / (x * (Scalar(1) - x)).clamp(Scalar(1e-12));
    if (needs_input_grad(1)) r[1] = gw * ((Scalar(1) - x).log() - x.log());
    return r;
  }
};

}  // namespace

// ---- public functions ---------------------------------------------------------------------------

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  const Reduction red = parse_reduction(reduction, "mse_loss");
  warn_if_sizes_differ("mse_loss", input, target);
  const Tensor d = input - target;
  return reduce(d * d, red);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  const Reduction red = parse_reduction(reduction, "l1_loss");
  warn_if_sizes_differ("l1_loss", input, target);
  return reduce((input - target).abs(), red);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction, double beta) {
  const Reduction red = parse_reduction(reduction, "smooth_l1_loss");
  HEARTH_CHECK(beta >= 0, ValueError, "smooth_l1_loss does not support negative values for beta, got ", beta);
  warn_if_sizes_differ("smooth_l1_loss", input, target);
  const Tensor d = input - target;
  const Tensor ad = d.abs();
  if (beta == 0) return reduce(ad, red);
  return reduce(where(ad.lt(Scalar(beta)), (d * d).mul(Scalar(0.5)).div(Scalar(beta)), ad - Scalar(0.5 * beta)), red);
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                const std::string& reduction) {
  return nll_loss_impl(input, target, weight, ignore_index, parse_reduction(reduction, "nll_loss"));
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     const std::string& reduction, double label_smoothing) {
  const Reduction red = parse_reduction(reduction, "cross_entropy");
  check_floating("cross_entropy", input, "input");
  HEARTH_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, ValueError,
               "cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: ", label_smoothing);
  HEARTH_CHECK(input.dim() >= 1, ShapeError, "cross_entropy: input must be (C), (N, C) or (N, C, d1, ...), got ",
               ops::describe(input));
  const int64_t class_dim = input.dim() == 1 ? 0 : 1;
  const int64_t C = input.size(class_dim);
  HEARTH_CHECK(!weight.defined() || (weight.dim() == 1 && weight.numel() == C), ShapeError,
               "cross_entropy: weight tensor should be defined either for all ", C,
               " classes or no classes but got weight tensor of shape: ", weight.sizes());
  DimVector wshape(static_cast<size_t>(input.dim()), 1);
  wshape[static_cast<size_t>(class_dim)] = C;

  if (is_floating_point(target.dtype())) {
    // Class probabilities.
    HEARTH_CHECK(target.sizes() == input.sizes(), ShapeError,
                 "cross_entropy: a floating point target holds class probabilities and must have the input's shape ",
                 input.sizes(), ", got ", ops::describe(target), "; class indices must be int64");
    const Tensor logp = log_softmax(input, class_dim);
    Tensor t = label_smoothing > 0 ? target * Scalar(1 - label_smoothing) + Scalar(label_smoothing / C) : target;
    Tensor prod = logp * t;
    if (weight.defined()) prod = prod * weight.to(logp.dtype()).view(wshape);
    const Tensor loss = -prod.sum({class_dim});
    if (red == kNone) return loss;
    if (red == kSum) return loss.sum();
    return loss.sum() / Scalar(C ? static_cast<double>(input.numel() / C) : 0.0);
  }
  // Class indices.
  const Tensor logp = log_softmax(input, class_dim);
  const Tensor nll = nll_loss_impl(logp, target, weight, ignore_index, red);
  if (label_smoothing == 0) return nll;
  // PyTorch's label smoothing: (1 - e) * nll + e / C * sum over classes of -w[c] * logp[c], the
  // second term zero at ignored targets and, for "mean", divided like nll's mean.
  const Tensor keep = target.ne(Scalar(ignore_index)).to(logp.dtype());
  const Tensor wl = weight.defined() ? logp * weight.to(logp.dtype()).view(wshape) : logp;
  const Tensor smooth = -wl.sum({class_dim}) * keep;
  Tensor ret;
  if (red == kNone) {
    ret = smooth;
  } else if (red == kSum) {
    ret = smooth.sum();
  } else {
    Tensor denom;
    {
      NoGradGuard ng;
      if (weight.defined()) {
        const Tensor safe = where(target.eq(Scalar(ignore_index)), zeros_like(target), target);
        denom = (weight.to(logp.dtype()).index_select(0, safe.reshape({-1})) * keep.reshape({-1})).sum();
      } else {
        denom = keep.sum();
      }
    }
    ret = smooth.sum() / denom;
  }
  return nll * Scalar(1 - label_smoothing) + ret * Scalar(label_smoothing / static_cast<double>(C));
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                            const std::string& reduction) {
  const Reduction red = parse_reduction(reduction, "binary_cross_entropy");
  check_floating("binary_cross_entropy", input, "input");
  HEARTH_CHECK(target.sizes() == input.sizes(), ShapeError, "binary_cross_entropy: Using a target size (",
               target.sizes(), ") that is different to the input size (", input.sizes(),
               ") is deprecated. Please ensure they have the same size.");
  HEARTH_CHECK(!weight.defined() || IntArrayRef(broadcast_shapes(weight.sizes(), input.sizes())) == input.sizes(),
               ShapeError, "binary_cross_entropy: weight of shape ", weight.sizes(),
               " does not broadcast to the input's shape ", input.sizes());
  ops::common_device("binary_cross_entropy", {&input, &target, &weight});
  const Tensor t = target.dtype() == input.dtype() ? target : target.to(input.dtype());
  Tensor w;
  {
    NoGradGuard ng;
    if (weight.defined()) w = weight.to(input.dtype());
    const int64_t bad = input.ge(Scalar(0)).logical_and(input.le(Scalar(1))).logical_not().sum().item<int64_t>();
    HEARTH_CHECK(bad == 0, ValueError, "binary_cross_entropy: all elements of input should be between 0 and 1 (",
                 bad, " of ", input.numel(), " are not; apply sigmoid first, or use binary_cross_entropy_with_logits)");
  }
  const bool rec = autograd::any_requires_grad({&input, &t});
  Tensor loss;
  {
    ForwardGuard fg(rec);
    // Each log clamped at -100 as in PyTorch, so a 0 or 1 probability gives a finite loss.
    const Tensor lx = input.log().clamp(Scalar(-100)), l1x = (Scalar(1) - input).log().clamp(Scalar(-100));
    loss = (t - Scalar(1)) * l1x - t * lx;
    if (w.defined()) loss = loss * w;
  }
  if (rec) {
    auto n = std::make_shared<BinaryCrossEntropyBackward>();
    autograd::record(n, {&input, &t}, {&loss});
    n->save(0, input);
    n->save(1, t);
    if (w.defined()) n->save(2, w);
  }
  return reduce(loss, red);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight,
                                        const std::string& reduction, const Tensor& pos_weight) {
  const Reduction red = parse_reduction(reduction, "binary_cross_entropy_with_logits");
  check_floating("binary_cross_entropy_with_logits", input, "input");
  HEARTH_CHECK(target.sizes() == input.sizes(), ShapeError, "binary_cross_entropy_with_logits: Target size (",
               target.sizes(), ") must be the same as input size (", input.sizes(), ")");
  // PyTorch's stable form: with m = max(-x, 0), log(1 + exp(-x)) = log(exp(-m) + exp(-x - m)) + m,
  // whose exponents are never positive.
  const Tensor m = input.neg().clamp(Scalar(0));
  const Tensor softplus_neg = ((-m).exp() + (input.neg() - m).exp()).log() + m;
  Tensor loss;
  if (pos_weight.defined()) {
    const Tensor log_weight = (pos_weight - Scalar(1)) * target + Scalar(1);
    loss = (Scalar(1) - target) * input + log_weight * softplus_neg;
  } else {
    loss = (Scalar(1) - target) * input + softplus_neg;
  }
  if (weight.defined()) loss = loss * weight;
  return reduce(loss, red);
}

}  // namespace hearth::nn::functional
