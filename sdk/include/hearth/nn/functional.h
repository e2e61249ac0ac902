// torch.nn.functional's basic ops: linear, activations, dropout. Each is composed of autograd
// ops, so gradients come for free.
#pragma once

#include <string>

#include "hearth/tensor.h"

namespace hearth::nn::functional {

/// x @ weight^T + bias, weight [out, in] as PyTorch stores it; bias may be undefined.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {});
Tensor relu(const Tensor& input, bool inplace = false);
Tensor leaky_relu(const Tensor& input, double negative_slope = 0.01);
Tensor gelu(const Tensor& input, const std::string& approximate = "none");
Tensor sigmoid(const Tensor& input);
Tensor tanh(const Tensor& input);
/// SEED E3: `training` has no default. In training, zeroes each element with probability p and
/// scales the rest by 1/(1-p), drawing from the default generator; otherwise returns the input.
Tensor dropout(const Tensor& input, double p, bool training);
/// Zeroes whole channels (dim 1) of an [N, C, ...] input.
Tensor dropout2d(const Tensor& input, double p, bool training);

}  // namespace hearth::nn::functional
