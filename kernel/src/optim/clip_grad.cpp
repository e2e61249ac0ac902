// clip_grad_norm_ / clip_grad_value_ with PyTorch 1.13's arithmetic (torch/nn/utils/clip_grad.py):
// per-tensor norms, the norm of those, coefficient max_norm * 1/(total + 1e-6) clamped at 1 and
// applied to every gradient even when it is 1 — all as tensor ops, so any device works.
#include "hearth/nn/clip_grad.h"

#include <cmath>

#include "hearth/functions.h"

namespace hearth::nn::utils {

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  HEARTH_CHECK(norm_type > 0 || std::isinf(norm_type), ValueError, "clip_grad_norm_: norm_type must be positive "
               "or infinity, got ", norm_type);
  std::vector<Tensor> grads;
  for (const auto& p : parameters)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());  // unset gradients are skipped (SEED G4)
  if (grads.empty()) return 0.0;
  NoGradGuard ng;
  const Device dev = grads[0].device();
  std::vector<Tensor> norms;
  norms.reserve(grads.size());
  const bool inf = std::isinf(norm_type);
  for (const auto& g : grads) norms.push_back((inf ? g.abs().max() : g.norm(norm_type)).to(dev));
  const ScalarType dt = result_type(norms);
  for (auto& n : norms) n = n.to(dt);
  Tensor total;
  if (inf)
    total = norms.size() == 1 ? norms[0] : stack(norms).max();
  else
    total = stack(norms).norm(norm_type);
  const double total_value = total.item<double>();
  HEARTH_CHECK(!error_if_nonfinite || std::isfinite(total_value), ValueError, "clip_grad_norm_: the total norm of "
               "order ", norm_type, " for gradients from `parameters` is non-finite (", total_value, "), so it cannot "
               "be clipped. To scale the gradients by the non-finite norm anyway, pass error_if_nonfinite = false");
  Tensor denom = total.add(1e-6);
  Tensor coef = ones_like(denom).div(denom).mul(max_norm).clamp(std::nullopt, 1.0);
  for (const auto& p : parameters) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor& g = const_cast<Tensor&>(p).mutable_grad();
    g.mul_(coef.to(g.device(), g.dtype()));
  }
  return total_value;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  NoGradGuard ng;
  for (const auto& p : parameters) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor& g = const_cast<Tensor&>(p).mutable_grad();
    g.clamp_(-clip_value, clip_value);
  }
}

}  // namespace hearth::nn::utils
