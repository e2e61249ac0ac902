// Losses (functional and as modules) with PyTorch's numerics. SEED B7: every loss takes
// reduction = "none" (per-element losses), "mean" or "sum"; there are no size_average/reduce.
#pragma once

#include <string>

#include "hearth/nn/module.h"

namespace hearth::nn {

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

class MSELoss : public Loss {
 public:
  explicit MSELoss(std::string reduction = "mean") : Loss(std::move(reduction)) {}
  std::string type_name() const override { return "MSELoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class L1Loss : public Loss {
 public:
  explicit L1Loss(std::string reduction = "mean") : Loss(std::move(reduction)) {}
  std::string type_name() const override { return "L1Loss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class SmoothL1Loss : public Loss {
 public:
  explicit SmoothL1Loss(std::string reduction = "mean", double beta = 1.0) : Loss(std::move(reduction)), beta(beta) {}
  std::string type_name() const override { return "SmoothL1Loss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  double beta;
};

class NLLLoss : public Loss {
 public:
  explicit NLLLoss(const Tensor& weight = {}, int64_t ignore_index = -100, std::string reduction = "mean");
  std::string type_name() const override { return "NLLLoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight;
  int64_t ignore_index;
};

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(const Tensor& weight = {}, int64_t ignore_index = -100, std::string reduction = "mean",
                            double label_smoothing = 0.0);
  std::string type_name() const override { return "CrossEntropyLoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight;
  int64_t ignore_index;
  double label_smoothing;
};

class BCELoss : public Loss {
 public:
  explicit BCELoss(const Tensor& weight = {}, std::string reduction = "mean");
  std::string type_name() const override { return "BCELoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight;
};

class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(const Tensor& weight = {}, std::string reduction = "mean", const Tensor& pos_weight = {});
  std::string type_name() const override { return "BCEWithLogitsLoss"; }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight, pos_weight;
};

}  // namespace hearth::nn
