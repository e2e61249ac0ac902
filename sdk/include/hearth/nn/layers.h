// Layers without a kernel of their own: Linear, activations, Flatten, Identity, Dropout.
// Parameters are initialized as PyTorch does; state-dict names match PyTorch's.
#pragma once

#include <string>

#include "hearth/arg.h"
#include "hearth/nn/module.h"

namespace hearth::nn {

// ---- options (LibTorch's nn/options/linear.h, activation.h, dropout.h) ----

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  HEARTH_ARG(int64_t, in_features);
  HEARTH_ARG(int64_t, out_features);
  HEARTH_ARG(bool, bias) = true;
};
struct FlattenOptions {
  HEARTH_ARG(int64_t, start_dim) = 1;
  HEARTH_ARG(int64_t, end_dim) = -1;
};
struct ReLUOptions {
  ReLUOptions(bool inplace = false) : inplace_(inplace) {}  // NOLINT
  HEARTH_ARG(bool, inplace);
};
struct LeakyReLUOptions {
  HEARTH_ARG(double, negative_slope) = 0.01;
  HEARTH_ARG(bool, inplace) = false;  ///< accepted; hearth's leaky_relu always returns a new tensor
};
struct GELUOptions {
  HEARTH_ARG(std::string, approximate) = "none";
};
struct DropoutOptions {
  DropoutOptions(double p = 0.5) : p_(p) {}  // NOLINT
  HEARTH_ARG(double, p);
  HEARTH_ARG(bool, inplace) = false;  ///< accepted; dropout always returns a new tensor
};
using Dropout2dOptions = DropoutOptions;

/// y = x W^T + b, weight [out_features, in_features]; init U(-1/sqrt(in), 1/sqrt(in)) for both.
class LinearImpl : public Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias = true);
  explicit LinearImpl(const LinearOptions& o) : LinearImpl(o.in_features(), o.out_features(), o.bias()) {}
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  /// thop: in_features per output element.
  int64_t mult_adds(const Tensor& input, const Tensor& output) const override;
  void reset_parameters();
  int64_t in_features, out_features;
  Tensor weight, bias;  // handles to the registered tensors (bias undefined without bias)
};

class ReLUImpl : public Module {
 public:
  explicit ReLUImpl(bool inplace = false) : inplace(inplace) {}
  explicit ReLUImpl(const ReLUOptions& o) : inplace(o.inplace()) {}
  std::string type_name() const override { return "ReLU"; }
  std::string extra_repr() const override { return inplace ? "inplace=True" : ""; }
  Tensor forward(const Tensor& input) override;
  bool inplace;
};

class LeakyReLUImpl : public Module {
 public:
  explicit LeakyReLUImpl(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  explicit LeakyReLUImpl(const LeakyReLUOptions& o) : negative_slope(o.negative_slope()) {}
  std::string type_name() const override { return "LeakyReLU"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  double negative_slope;
};

class GELUImpl : public Module {
 public:
  explicit GELUImpl(std::string approximate = "none") : approximate(std::move(approximate)) {}
  explicit GELUImpl(const GELUOptions& o) : approximate(o.approximate()) {}
  std::string type_name() const override { return "GELU"; }
  std::string extra_repr() const override { return approximate == "none" ? "" : "approximate='" + approximate + "'"; }
  Tensor forward(const Tensor& input) override;
  std::string approximate;
};

class SigmoidImpl : public Module {
 public:
  std::string type_name() const override { return "Sigmoid"; }
  Tensor forward(const Tensor& input) override;
};

class TanhImpl : public Module {
 public:
  std::string type_name() const override { return "Tanh"; }
  Tensor forward(const Tensor& input) override;
};

/// Flattens dims start_dim..end_dim (default: all but the batch dim).
class FlattenImpl : public Module {
 public:
  explicit FlattenImpl(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  explicit FlattenImpl(const FlattenOptions& o) : FlattenImpl(o.start_dim(), o.end_dim()) {}
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  int64_t start_dim, end_dim;
};

class IdentityImpl : public Module {
 public:
  std::string type_name() const override { return "Identity"; }
  Tensor forward(const Tensor& input) override { return input; }
};

/// Dropout in train(), the identity in eval() (SEED E2, E3).
class DropoutImpl : public Module {
 public:
  explicit DropoutImpl(double p = 0.5);
  explicit DropoutImpl(const DropoutOptions& o) : DropoutImpl(o.p()) {}
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  double p;
};

/// Zeroes whole channels in train().
class Dropout2dImpl : public Module {
 public:
  explicit Dropout2dImpl(double p = 0.5);
  explicit Dropout2dImpl(const DropoutOptions& o) : Dropout2dImpl(o.p()) {}
  std::string type_name() const override { return "Dropout2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  double p;
};

// ---- holders (LibTorch's TORCH_MODULE): nn::Linear is a shared handle to an nn::LinearImpl ----
HEARTH_MODULE(Linear);
HEARTH_MODULE(ReLU);
HEARTH_MODULE(LeakyReLU);
HEARTH_MODULE(GELU);
HEARTH_MODULE(Sigmoid);
HEARTH_MODULE(Tanh);
HEARTH_MODULE(Flatten);
HEARTH_MODULE(Identity);
HEARTH_MODULE(Dropout);
HEARTH_MODULE(Dropout2d);

}  // namespace hearth::nn
