// Parameter initialization (torch.nn.init): in-place fills that run without recording autograd.
#pragma once

#include <string>

#include "hearth/generator.h"
#include "hearth/tensor.h"

namespace hearth::nn::init {

/// fan_in and fan_out of a weight ([out, in, k...]): in * receptive field, out * receptive field.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& w);
/// PyTorch's recommended gain for a nonlinearity ("linear", "conv2d", "sigmoid", "tanh", "relu",
/// "leaky_relu" with its negative slope, "selu").
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

Tensor& uniform_(Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
Tensor& constant_(Tensor& t, double value);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
/// mode: "fan_in" or "fan_out"; a: the leaky_relu slope used by the gain.
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                         const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
Tensor& xavier_normal_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);

}  // namespace hearth::nn::init
