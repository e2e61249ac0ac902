// Losses (functional and as modules) with PyTorch's numerics. SEED B7: every loss takes
// reduction = "none" (per-element losses), "mean" or "sum"; there are no size_average/reduce.
#pragma once

#include <concepts>
#include <string>

#include "hearth/arg.h"
#include "hearth/nn/module.h"

namespace hearth::nn {

// ---- options (LibTorch's nn/options/loss.h); reduction is "none" / "mean" / "sum" (kNone, kMean, kSum) ----

struct MSELossOptions {
  MSELossOptions(std::string reduction = "mean") : reduction_(std::move(reduction)) {}  // NOLINT
  MSELossOptions(const char* reduction) : reduction_(reduction) {}                     // NOLINT
  HEARTH_ARG(std::string, reduction);
};
using L1LossOptions = MSELossOptions;
struct SmoothL1LossOptions {
  SmoothL1LossOptions(std::string reduction = "mean") : reduction_(std::move(reduction)) {}  // NOLINT
  SmoothL1LossOptions(const char* reduction) : reduction_(reduction) {}                     // NOLINT
  HEARTH_ARG(std::string, reduction);
  HEARTH_ARG(double, beta) = 1.0;
};
struct NLLLossOptions {
  HEARTH_ARG(Tensor, weight);
  HEARTH_ARG(int64_t, ignore_index) = -100;
  HEARTH_ARG(std::string, reduction) = "mean";
};
struct CrossEntropyLossOptions {
  HEARTH_ARG(Tensor, weight);
  HEARTH_ARG(int64_t, ignore_index) = -100;
  HEARTH_ARG(std::string, reduction) = "mean";
  HEARTH_ARG(double, label_smoothing) = 0.0;
};
struct BCELossOptions {
  HEARTH_ARG(Tensor, weight);
  HEARTH_ARG(std::string, reduction) = "mean";
};
struct BCEWithLogitsLossOptions {
  HEARTH_ARG(Tensor, weight);
  HEARTH_ARG(std::string, reduction) = "mean";
  HEARTH_ARG(Tensor, pos_weight);
};

namespace functional {

/// (input - target)^2. A target of another shape is broadcast, with a warning (as PyTorch).
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
/// |input - target|.
Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
/// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0 is l1_loss.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
                      double beta = 1.0);

/// Negative log likelihood of log-probabilities input (C), (N, C) or (N, C, d1, ...) at int64
/// class indices target (), (N) or (N, d1, ...): -weight[t] * input[n, t]. Targets equal to
/// ignore_index contribute nothing; "mean" divides by the summed weight of the other targets.
/// A class outside [0, C) raises IndexError naming it.
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {}, int64_t ignore_index = -100,
                const std::string& reduction = "mean");

/// log_softmax over the class dim (1, or 0 for an unbatched (C) input) then, for int64 class
/// indices, nll_loss; with label_smoothing e the target distribution is (1 - e) one-hot + e / C.
/// A floating target of the input's shape holds class probabilities: -sum(weight * target *
/// log_softmax(input)) over classes, and "mean" divides by the number of samples.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                     int64_t ignore_index = -100, const std::string& reduction = "mean",
                     double label_smoothing = 0.0);

/// -weight * (target * log(input) + (1 - target) * log(1 - input)), each log clamped at -100 as in
/// PyTorch; input must be probabilities in [0, 1] and target the same shape.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                            const std::string& reduction = "mean");

/// binary_cross_entropy(sigmoid(input), target) computed stably from the logits (log-sum-exp
/// form, no overflow for large |input|); pos_weight (broadcast over the last dim, one per class)
/// multiplies the positive term.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                                        const std::string& reduction = "mean", const Tensor& pos_weight = {});

using MSELossFuncOptions = MSELossOptions;
using L1LossFuncOptions = L1LossOptions;
using SmoothL1LossFuncOptions = SmoothL1LossOptions;
using NLLLossFuncOptions = NLLLossOptions;
using CrossEntropyFuncOptions = CrossEntropyLossOptions;
using BinaryCrossEntropyFuncOptions = BCELossOptions;
using BinaryCrossEntropyWithLogitsFuncOptions = BCEWithLogitsLossOptions;

/// LibTorch's option-struct forms: F::cross_entropy(x, y, F::CrossEntropyFuncOptions().reduction(kSum)).
template <std::same_as<MSELossFuncOptions> O>
Tensor mse_loss(const Tensor& input, const Tensor& target, const O& o) {
  return ::hearth::nn::functional::mse_loss(input, target, o.reduction());
}
template <std::same_as<L1LossFuncOptions> O>
Tensor l1_loss(const Tensor& input, const Tensor& target, const O& o) {
  return ::hearth::nn::functional::l1_loss(input, target, o.reduction());
}
template <std::same_as<SmoothL1LossFuncOptions> O>
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const O& o) {
  return ::hearth::nn::functional::smooth_l1_loss(input, target, o.reduction(), o.beta());
}
template <std::same_as<NLLLossFuncOptions> O>
Tensor nll_loss(const Tensor& input, const Tensor& target, const O& o) {
  return ::hearth::nn::functional::nll_loss(input, target, o.weight(), o.ignore_index(), o.reduction());
}
template <std::same_as<CrossEntropyFuncOptions> O>
Tensor cross_entropy(const Tensor& input, const Tensor& target, const O& o) {
  return ::hearth::nn::functional::cross_entropy(input, target, o.weight(), o.ignore_index(), o.reduction(), o.label_smoothing());
}
template <std::same_as<BinaryCrossEntropyFuncOptions> O>
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const O& o) {
  return ::hearth::nn::functional::binary_cross_entropy(input, target, o.weight(), o.reduction());
}
template <std::same_as<BinaryCrossEntropyWithLogitsFuncOptions> O>
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                               const O& o) {
  return ::hearth::nn::functional::binary_cross_entropy_with_logits(input, target, o.weight(), o.reduction(), o.pos_weight());
}

}  // namespace functional

/// Base of the loss modules: forward(input, target). Class weights are buffers named as in
/// PyTorch ("weight", "pos_weight"), registered only when given.
class Loss : public Module {
 public:
  explicit Loss(std::string reduction);
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  Tensor operator()(const Tensor& input, const Tensor& target);
  std::string reduction;
};

class MSELossImpl : public Loss {
 public:
  template <std::same_as<MSELossOptions> O>
  explicit MSELossImpl(const O& o) : Loss(o.reduction()) {}
  explicit MSELossImpl(std::string reduction = "mean") : Loss(std::move(reduction)) {}
  std::string type_name() const override { return "MSELoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class L1LossImpl : public Loss {
 public:
  template <std::same_as<L1LossOptions> O>
  explicit L1LossImpl(const O& o) : Loss(o.reduction()) {}
  explicit L1LossImpl(std::string reduction = "mean") : Loss(std::move(reduction)) {}
  std::string type_name() const override { return "L1Loss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class SmoothL1LossImpl : public Loss {
 public:
  template <std::same_as<SmoothL1LossOptions> O>
  explicit SmoothL1LossImpl(const O& o) : Loss(o.reduction()), beta(o.beta()) {}
  explicit SmoothL1LossImpl(std::string reduction = "mean", double beta = 1.0) : Loss(std::move(reduction)), beta(beta) {}
  std::string type_name() const override { return "SmoothL1Loss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  double beta;
};

class NLLLossImpl : public Loss {
 public:
  template <std::same_as<NLLLossOptions> O>
  explicit NLLLossImpl(const O& o) : NLLLossImpl(o.weight(), o.ignore_index(), o.reduction()) {}
  explicit NLLLossImpl(const Tensor& weight = {}, int64_t ignore_index = -100, std::string reduction = "mean");
  std::string type_name() const override { return "NLLLoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight;
  int64_t ignore_index;
};

class CrossEntropyLossImpl : public Loss {
 public:
  template <std::same_as<CrossEntropyLossOptions> O>
  explicit CrossEntropyLossImpl(const O& o) : CrossEntropyLossImpl(o.weight(), o.ignore_index(), o.reduction(), o.label_smoothing()) {}
  explicit CrossEntropyLossImpl(const Tensor& weight = {}, int64_t ignore_index = -100, std::string reduction = "mean",
                            double label_smoothing = 0.0);
  std::string type_name() const override { return "CrossEntropyLoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight;
  int64_t ignore_index;
  double label_smoothing;
};

class BCELossImpl : public Loss {
 public:
  template <std::same_as<BCELossOptions> O>
  explicit BCELossImpl(const O& o) : BCELossImpl(o.weight(), o.reduction()) {}
  explicit BCELossImpl(const Tensor& weight = {}, std::string reduction = "mean");
  std::string type_name() const override { return "BCELoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight;
};

class BCEWithLogitsLossImpl : public Loss {
 public:
  template <std::same_as<BCEWithLogitsLossOptions> O>
  explicit BCEWithLogitsLossImpl(const O& o) : BCEWithLogitsLossImpl(o.weight(), o.reduction(), o.pos_weight()) {}
  explicit BCEWithLogitsLossImpl(const Tensor& weight = {}, std::string reduction = "mean", const Tensor& pos_weight = {});
  std::string type_name() const override { return "BCEWithLogitsLoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight, pos_weight;
};

HEARTH_MODULE(MSELoss);
HEARTH_MODULE(L1Loss);
HEARTH_MODULE(SmoothL1Loss);
HEARTH_MODULE(NLLLoss);
HEARTH_MODULE(CrossEntropyLoss);
HEARTH_MODULE(BCELoss);
HEARTH_MODULE(BCEWithLogitsLoss);

}  // namespace hearth::nn
