// Loss modules over nn::functional's losses (kernel/src/ops/loss.cpp). Class weights are buffers,
// as in PyTorch, so they are saved in state_dict and move with the module.
#include "hearth/nn/loss.h"

#include "hearth/autograd.h"
#include "hearth/functions.h"

namespace hearth::nn {

namespace F = functional;

Loss::Loss(std::string r) : reduction(std::move(r)) {
  HEARTH_CHECK(reduction == "none" || reduction == "mean" || reduction == "sum", ValueError, "'", reduction,
               "' is not a valid value for reduction (expected 'none', 'mean' or 'sum')");
}

Tensor Loss::operator()(const Tensor& input, const Tensor& target) {
  autograd::ScopeGuard scope(registered_name().empty() ? type_name() : registered_name());
  return forward(input, target);
}

Tensor MSELossImpl::forward(const Tensor& input, const Tensor& target) { return F::mse_loss(input, target, reduction); }
Tensor L1LossImpl::forward(const Tensor& input, const Tensor& target) { return F::l1_loss(input, target, reduction); }
Tensor SmoothL1LossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::smooth_l1_loss(input, target, reduction, beta);
}

NLLLossImpl::NLLLossImpl(const Tensor& w, int64_t ignore_index, std::string reduction)
    : Loss(std::move(reduction)), ignore_index(ignore_index) {
  if (w.defined()) weight = register_buffer("weight", w);
}
Tensor NLLLossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::nll_loss(input, target, weight, ignore_index, reduction);
}

CrossEntropyLossImpl::CrossEntropyLossImpl(const Tensor& w, int64_t ignore_index, std::string reduction, double label_smoothing)
    : Loss(std::move(reduction)), ignore_index(ignore_index), label_smoothing(label_smoothing) {
  if (w.defined()) weight = register_buffer("weight", w);
}
Tensor CrossEntropyLossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing);
}

BCELossImpl::BCELossImpl(const Tensor& w, std::string reduction) : Loss(std::move(reduction)) {
  if (w.defined()) weight = register_buffer("weight", w);
}
Tensor BCELossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::binary_cross_entropy(input, target, weight, reduction);
}

BCEWithLogitsLossImpl::BCEWithLogitsLossImpl(const Tensor& w, std::string reduction, const Tensor& pw)
    : Loss(std::move(reduction)) {
  if (w.defined()) weight = register_buffer("weight", w);
  if (pw.defined()) pos_weight = register_buffer("pos_weight", pw);
}
Tensor BCEWithLogitsLossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight);
}

}  // namespace hearth::nn
