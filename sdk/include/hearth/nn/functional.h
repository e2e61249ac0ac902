// torch.nn.functional's basic ops: linear, activations, dropout. Each is composed of autograd
// ops, so gradients come for free.
#pragma once

#include <concepts>
#include <string>

#include "hearth/arg.h"
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

/// LibTorch's F::dropout(x, F::DropoutFuncOptions().p(0.2).training(is_training())).
struct DropoutFuncOptions {
  HEARTH_ARG(double, p) = 0.5;
  HEARTH_ARG(bool, training) = true;
  HEARTH_ARG(bool, inplace) = false;  ///< accepted; the result is always a new tensor
};
using Dropout2dFuncOptions = DropoutFuncOptions;
template <std::same_as<DropoutFuncOptions> O>
Tensor dropout(const Tensor& input, const O& o) {
  return ::hearth::nn::functional::dropout(input, o.p(), o.training());
}
template <std::same_as<DropoutFuncOptions> O>
Tensor dropout2d(const Tensor& input, const O& o) {
  return ::hearth::nn::functional::dropout2d(input, o.p(), o.training());
}
inline Tensor dropout(const Tensor& input) { return ::hearth::nn::functional::dropout(input, 0.5, true); }
/// LibTorch's F::LeakyReLUFuncOptions / F::GELUFuncOptions.
struct LeakyReLUFuncOptions {
  HEARTH_ARG(double, negative_slope) = 0.01;
  HEARTH_ARG(bool, inplace) = false;
};
template <std::same_as<LeakyReLUFuncOptions> O>
Tensor leaky_relu(const Tensor& input, const O& o) {
  return ::hearth::nn::functional::leaky_relu(input, o.negative_slope());
}

}  // namespace hearth::nn::functional
