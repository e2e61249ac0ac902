// BatchNorm1d/2d, LayerNorm, Softmax, LogSoftmax layers over nn::functional (kernel/src/ops/norm.cpp,
// softmax.cpp). BatchNorm follows PyTorch's _BatchNorm.forward step by step (SEED E2, G3).
#include "hearth/nn/norm.h"

#include "hearth/functions.h"
#include "hearth/nn/init.h"
#include "py_repr.h"

namespace hearth::nn {

using detail_repr::py_float;

// ---- BatchNorm ----

BatchNorm::BatchNorm(int64_t num_features, double eps, std::optional<double> momentum, bool affine,
                     bool track_running_stats)
    : num_features(num_features), eps(eps), momentum(momentum), affine(affine), track_running_stats(track_running_stats) {
  HEARTH_CHECK(num_features > 0, ValueError, "BatchNorm: num_features must be positive, got ", num_features);
  if (affine) {
    weight = register_parameter("weight", empty({num_features}));
    bias = register_parameter("bias", empty({num_features}));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, TensorOptions(kInt64)));
  }
  reset_parameters();
}

void BatchNorm::reset_running_stats() {
  if (!track_running_stats) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  init::zeros_(num_batches_tracked);
}

void BatchNorm::reset_parameters() {
  reset_running_stats();
  if (affine) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

std::string BatchNorm::extra_repr() const {
  return detail::str(num_features, ", eps=", py_float(eps), ", momentum=", momentum ? py_float(*momentum) : "None",
                     ", affine=", affine ? "True" : "False", ", track_running_stats=",
                     track_running_stats ? "True" : "False");
}

Tensor BatchNorm::forward(const Tensor& input) {
  check_input_dim(input);
  double factor = momentum.value_or(0.0);
  if (is_training() && track_running_stats) {
    {
      NoGradGuard ng;
      num_batches_tracked.add_(Scalar(int64_t{1}));
    }
    // momentum = None: a cumulative moving average, 1 / (number of batches seen).
    if (!momentum) factor = 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  // Eval without running stats normalizes with batch statistics, as PyTorch.
  const bool bn_training = is_training() || !track_running_stats;
  const bool pass_stats = !is_training() || track_running_stats;
  return functional::batch_norm(input, pass_stats ? running_mean : Tensor(), pass_stats ? running_var : Tensor(), weight,
                                bias, bn_training, factor, eps);
}

void BatchNorm1dImpl::check_input_dim(const Tensor& input) const {
  HEARTH_CHECK(input.dim() == 2 || input.dim() == 3, ShapeError, "BatchNorm1d: expected 2D or 3D input (got ",
               input.dim(), "D input of shape ", input.sizes(), ")");
}

void BatchNorm2dImpl::check_input_dim(const Tensor& input) const {
  HEARTH_CHECK(input.dim() == 4, ShapeError, "BatchNorm2d: expected 4D input (got ", input.dim(), "D input of shape ",
               input.sizes(), ")");
}

// ---- LayerNorm ----

LayerNormImpl::LayerNormImpl(IntArrayRef shape, double eps, bool elementwise_affine)
    : normalized_shape(shape.begin(), shape.end()), eps(eps), elementwise_affine(elementwise_affine) {
  HEARTH_CHECK(!shape.empty(), ValueError, "LayerNorm: normalized_shape must have at least one dim");
  if (elementwise_affine) {
    weight = register_parameter("weight", empty(shape));
    bias = register_parameter("bias", empty(shape));
  }
  reset_parameters();
}

void LayerNormImpl::reset_parameters() {
  if (!elementwise_affine) return;
  init::ones_(weight);
  init::zeros_(bias);
}

std::string LayerNormImpl::extra_repr() const {
  std::string t = "(";
  for (size_t i = 0; i < normalized_shape.size(); ++i) t += (i ? ", " : "") + std::to_string(normalized_shape[i]);
  t += normalized_shape.size() == 1 ? ",)" : ")";
  return detail::str(t, ", eps=", py_float(eps), ", elementwise_affine=", elementwise_affine ? "True" : "False");
}

Tensor LayerNormImpl::forward(const Tensor& input) {
  return functional::layer_norm(input, normalized_shape, weight, bias, eps);
}

// ---- Softmax / LogSoftmax ----

Tensor SoftmaxImpl::forward(const Tensor& input) { return functional::softmax(input, dim); }
Tensor LogSoftmaxImpl::forward(const Tensor& input) { return functional::log_softmax(input, dim); }

}  // namespace hearth::nn
