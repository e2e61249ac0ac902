// LibTorch's top-level functional ops (ATen's torch::max_pool2d, torch::dropout, torch::nll_loss,
// ...), with ATen's argument orders, over hearth's nn::functional. The classic LibTorch MNIST
// example calls these rather than torch::nn::functional.
// Where ATen's signature is nn::functional's, the name is a using-declaration (the same function);
// where it differs (argument order, integer reductions), it is a function object, which
// argument-dependent lookup never finds, so an unqualified call inside hearth::nn::functional or
// in user code with `using namespace hearth::nn::functional` is never ambiguous.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "hearth/nn/conv.h"
#include "hearth/nn/functional.h"
#include "hearth/nn/loss.h"
#include "hearth/nn/misc.h"
#include "hearth/nn/norm.h"

namespace hearth {

/// ATen's reduction codes (at::Reduction::Mean), as the top-level losses take them.
namespace Reduction {
enum Reduction : int64_t { None = 0, Mean = 1, Sum = 2 };
}  // namespace Reduction
/// "none", "mean" or "sum" for an ATen reduction code (ValueError otherwise).
inline std::string reduction_name(int64_t reduction) {
  HEARTH_CHECK(reduction >= 0 && reduction <= 2, ValueError, "reduction must be 0 (none), 1 (mean) or 2 (sum), got ",
               reduction);
  return reduction == 0 ? "none" : reduction == 1 ? "mean" : "sum";
}

using nn::functional::adaptive_avg_pool2d;
using nn::functional::avg_pool2d;
using nn::functional::conv2d;
using nn::functional::dropout;
using nn::functional::layer_norm;
using nn::functional::leaky_relu;
using nn::functional::linear;
using nn::functional::log_softmax;
using nn::functional::max_pool2d;
using nn::functional::softmax;

namespace aten_detail {
struct Embedding {
  /// ATen's order: (weight, indices).
  Tensor operator()(const Tensor& weight, const Tensor& indices, int64_t padding_idx = -1) const {
    return nn::functional::embedding(indices, weight,
                                     padding_idx < 0 ? std::nullopt : std::optional<int64_t>(padding_idx));
  }
};
struct BatchNorm {
  /// ATen's order: (input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled).
  Tensor operator()(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum, double eps,
                    bool cudnn_enabled = true) const {
    (void)cudnn_enabled;
    return nn::functional::batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps);
  }
};
struct NllLoss {
  Tensor operator()(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                    int64_t reduction = Reduction::Mean, int64_t ignore_index = -100) const {
    return nn::functional::nll_loss(input, target, weight, ignore_index, reduction_name(reduction));
  }
};
struct CrossEntropyLoss {
  Tensor operator()(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                    int64_t reduction = Reduction::Mean, int64_t ignore_index = -100,
                    double label_smoothing = 0.0) const {
    return nn::functional::cross_entropy(input, target, weight, ignore_index, reduction_name(reduction),
                                         label_smoothing);
  }
};
struct MseLoss {
  Tensor operator()(const Tensor& input, const Tensor& target, int64_t reduction = Reduction::Mean) const {
    return nn::functional::mse_loss(input, target, reduction_name(reduction));
  }
};
struct L1Loss {
  Tensor operator()(const Tensor& input, const Tensor& target, int64_t reduction = Reduction::Mean) const {
    return nn::functional::l1_loss(input, target, reduction_name(reduction));
  }
};
struct SmoothL1Loss {
  Tensor operator()(const Tensor& input, const Tensor& target, int64_t reduction = Reduction::Mean,
                    double beta = 1.0) const {
    return nn::functional::smooth_l1_loss(input, target, reduction_name(reduction), beta);
  }
};
struct BinaryCrossEntropy {
  Tensor operator()(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                    int64_t reduction = Reduction::Mean) const {
    return nn::functional::binary_cross_entropy(input, target, weight, reduction_name(reduction));
  }
};
struct BinaryCrossEntropyWithLogits {
  Tensor operator()(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                    const Tensor& pos_weight = {}, int64_t reduction = Reduction::Mean) const {
    return nn::functional::binary_cross_entropy_with_logits(input, target, weight, reduction_name(reduction),
                                                            pos_weight);
  }
};
}  // namespace aten_detail

inline constexpr aten_detail::Embedding embedding{};
inline constexpr aten_detail::BatchNorm batch_norm{};
inline constexpr aten_detail::NllLoss nll_loss{};
inline constexpr aten_detail::CrossEntropyLoss cross_entropy_loss{};
inline constexpr aten_detail::MseLoss mse_loss{};
inline constexpr aten_detail::L1Loss l1_loss{};
inline constexpr aten_detail::SmoothL1Loss smooth_l1_loss{};
inline constexpr aten_detail::BinaryCrossEntropy binary_cross_entropy{};
inline constexpr aten_detail::BinaryCrossEntropyWithLogits binary_cross_entropy_with_logits{};

}  // namespace hearth
