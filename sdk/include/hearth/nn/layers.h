// Layers without a kernel of their own: Linear, activations, Flatten, Identity, Dropout.
// Parameters are initialized as PyTorch does; state-dict names match PyTorch's.
#pragma once

#include <string>

#include "hearth/nn/module.h"

namespace hearth::nn {

/// y = x W^T + b, weight [out_features, in_features]; init U(-1/sqrt(in), 1/sqrt(in)) for both.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  /// thop: in_features per output element.
  int64_t mult_adds(const Tensor& input, const Tensor& output) const override;
  void reset_parameters();
  int64_t in_features, out_features;
  Tensor weight, bias;  // handles to the registered tensors (bias undefined without bias)
};

class ReLU : public Module {
 public:
  explicit ReLU(bool inplace = false) : inplace(inplace) {}
  std::string type_name() const override { return "ReLU"; }
  std::string extra_repr() const override { return inplace ? "inplace=True" : ""; }
  Tensor forward(const Tensor& input) override;
  bool inplace;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  std::string type_name() const override { return "LeakyReLU"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  double negative_slope;
};

class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none") : approximate(std::move(approximate)) {}
  std::string type_name() const override { return "GELU"; }
  std::string extra_repr() const override { return approximate == "none" ? "" : "approximate='" + approximate + "'"; }
  Tensor forward(const Tensor& input) override;
  std::string approximate;
};

class Sigmoid : public Module {
 public:
  std::string type_name() const override { return "Sigmoid"; }
  Tensor forward(const Tensor& input) override;
};

class Tanh : public Module {
 public:
  std::string type_name() const override { return "Tanh"; }
  Tensor forward(const Tensor& input) override;
};

/// Flattens dims start_dim..end_dim (default: all but the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  int64_t start_dim, end_dim;
};

class Identity : public Module {
 public:
  std::string type_name() const override { return "Identity"; }
  Tensor forward(const Tensor& input) override { return input; }
};

/// Dropout in train(), the identity in eval() (SEED E2, E3).
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  double p;
};

/// Zeroes whole channels in train().
class Dropout2d : public Module {
 public:
  explicit Dropout2d(double p = 0.5);
  std::string type_name() const override { return "Dropout2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  double p;
};

}  // namespace hearth::nn
