// Normalization and softmax: batch_norm, layer_norm, softmax, log_softmax (functional) and the
// layers BatchNorm1d, BatchNorm2d, LayerNorm, Softmax, LogSoftmax, with PyTorch's numerics,
// state-dict names and printed form (SEED E2, G3).
#pragma once

#include <optional>
#include <string>

#include <concepts>
#include <vector>

#include "hearth/arg.h"
#include "hearth/nn/module.h"

namespace hearth::nn {

// ---- options (LibTorch's nn/options/batchnorm.h, normalization.h, activation.h) ----

struct BatchNormOptions {
  BatchNormOptions(int64_t num_features) : num_features_(num_features) {}  // NOLINT
  HEARTH_ARG(int64_t, num_features);
  HEARTH_ARG(double, eps) = 1e-5;
  /// nullopt: cumulative moving average.
  HEARTH_ARG(std::optional<double>, momentum) = 0.1;
  HEARTH_ARG(bool, affine) = true;
  HEARTH_ARG(bool, track_running_stats) = true;
};
using BatchNorm1dOptions = BatchNormOptions;
using BatchNorm2dOptions = BatchNormOptions;
struct LayerNormOptions {
  LayerNormOptions(std::vector<int64_t> normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}  // NOLINT
  HEARTH_ARG(std::vector<int64_t>, normalized_shape);
  HEARTH_ARG(double, eps) = 1e-5;
  HEARTH_ARG(bool, elementwise_affine) = true;
};
struct SoftmaxOptions {
  SoftmaxOptions(int64_t dim) : dim_(dim) {}  // NOLINT
  HEARTH_ARG(int64_t, dim);
};
using LogSoftmaxOptions = SoftmaxOptions;

namespace functional {

/// LibTorch's functional options: F::softmax(x, F::SoftmaxFuncOptions(1)); F::batch_norm(x, mean,
/// var, F::BatchNormFuncOptions().training(true)); F::layer_norm(x, F::LayerNormFuncOptions({4})).
struct SoftmaxFuncOptions {
  SoftmaxFuncOptions(int64_t dim) : dim_(dim) {}  // NOLINT
  HEARTH_ARG(int64_t, dim);
  HEARTH_ARG(std::optional<ScalarType>, dtype);
};
using LogSoftmaxFuncOptions = SoftmaxFuncOptions;
struct BatchNormFuncOptions {
  HEARTH_ARG(Tensor, weight);
  HEARTH_ARG(Tensor, bias);
  HEARTH_ARG(bool, training) = false;
  HEARTH_ARG(double, momentum) = 0.1;
  HEARTH_ARG(double, eps) = 1e-5;
};
struct LayerNormFuncOptions {
  LayerNormFuncOptions(std::vector<int64_t> normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}  // NOLINT
  HEARTH_ARG(std::vector<int64_t>, normalized_shape);
  HEARTH_ARG(Tensor, weight);
  HEARTH_ARG(Tensor, bias);
  HEARTH_ARG(double, eps) = 1e-5;
};

/// exp(x) / sum(exp(x)) over `dim`, computed as exp(x - max) / sum(exp(x - max)) so large inputs
/// do not overflow. `dtype` converts the input first (PyTorch's dtype=). Floating inputs only.
Tensor softmax(const Tensor& input, int64_t dim, std::optional<ScalarType> dtype = std::nullopt);
/// log(softmax(x)) over `dim`, computed as x - max - log(sum(exp(x - max))): finite for any finite
/// input, also where softmax itself underflows to 0.
Tensor log_softmax(const Tensor& input, int64_t dim, std::optional<ScalarType> dtype = std::nullopt);

/// Batch normalization of an (N, C, ...) input over every dim but C (PyTorch's F.batch_norm).
/// training: normalizes with the batch's mean and biased variance and, when running_mean and
/// running_var are defined, updates them in place: new = (1 - momentum) * old + momentum * batch,
/// with the unbiased batch variance for running_var. A batch with one value per channel raises
/// ValueError (SEED G3: "Expected more than 1 value per channel when training").
/// Eval (training = false): normalizes with running_mean and running_var, which must be defined.
/// weight (gamma) and bias (beta) are (C) vectors or undefined.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = {}, const Tensor& bias = {}, bool training = false, double momentum = 0.1,
                  double eps = 1e-5);

/// Normalizes over the last normalized_shape.size() dims, which must equal normalized_shape
/// (biased variance); weight and bias have normalized_shape or are undefined.
Tensor layer_norm(const Tensor& input, IntArrayRef normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

template <std::same_as<SoftmaxFuncOptions> O>
Tensor softmax(const Tensor& input, const O& o) {
  return ::hearth::nn::functional::softmax(input, o.dim(), o.dtype());
}
template <std::same_as<SoftmaxFuncOptions> O>
Tensor log_softmax(const Tensor& input, const O& o) {
  return ::hearth::nn::functional::log_softmax(input, o.dim(), o.dtype());
}
inline Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                         const BatchNormFuncOptions& o) {
  return ::hearth::nn::functional::batch_norm(input, running_mean, running_var, o.weight(), o.bias(), o.training(), o.momentum(), o.eps());
}
inline Tensor layer_norm(const Tensor& input, const LayerNormFuncOptions& o) {
  return ::hearth::nn::functional::layer_norm(input, o.normalized_shape(), o.weight(), o.bias(), o.eps());
}

}  // namespace functional

/// PyTorch's _BatchNorm: parameters weight (ones) and bias (zeros) when affine; buffers
/// running_mean (zeros), running_var (ones) and num_batches_tracked (int64 0) when
/// track_running_stats. In train() it normalizes with batch statistics and updates the running
/// ones (momentum; nullopt = cumulative average 1/num_batches_tracked); in eval() it uses the
/// running statistics (SEED E2, G3). Without running stats it uses batch statistics in both modes.
class BatchNorm : public Module {
 public:
  BatchNorm(int64_t num_features, double eps, std::optional<double> momentum, bool affine, bool track_running_stats);
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  /// running_mean = 0, running_var = 1, num_batches_tracked = 0.
  void reset_running_stats();
  /// reset_running_stats() and weight = 1, bias = 0.
  void reset_parameters();

  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine, track_running_stats;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;  // handles to the registered tensors

 protected:
  /// Raises ShapeError unless the input has a rank this layer accepts.
  virtual void check_input_dim(const Tensor& input) const = 0;
};

/// Batch norm of (N, C) or (N, C, L) inputs.
class BatchNorm1dImpl : public BatchNorm {
 public:
  explicit BatchNorm1dImpl(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats) {}
  explicit BatchNorm1dImpl(const BatchNormOptions& o)
      : BatchNorm(o.num_features(), o.eps(), o.momentum(), o.affine(), o.track_running_stats()) {}
  std::string type_name() const override { return "BatchNorm1d"; }

 protected:
  void check_input_dim(const Tensor& input) const override;
};

/// Batch norm of (N, C, H, W) inputs.
class BatchNorm2dImpl : public BatchNorm {
 public:
  explicit BatchNorm2dImpl(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats) {}
  explicit BatchNorm2dImpl(const BatchNormOptions& o)
      : BatchNorm(o.num_features(), o.eps(), o.momentum(), o.affine(), o.track_running_stats()) {}
  std::string type_name() const override { return "BatchNorm2d"; }

 protected:
  void check_input_dim(const Tensor& input) const override;
};

/// Layer normalization over the trailing normalized_shape; weight (ones) and bias (zeros) of that
/// shape when elementwise_affine.
class LayerNormImpl : public Module {
 public:
  explicit LayerNormImpl(IntArrayRef normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  /// One normalized dim of this size (PyTorch's LayerNorm(10)).
  explicit LayerNormImpl(int64_t normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNormImpl(IntArrayRef(normalized_shape), eps, elementwise_affine) {}
  /// A template so that `LayerNormImpl({10})` still picks the shape constructor.
  template <std::same_as<LayerNormOptions> O>
  explicit LayerNormImpl(const O& o) : LayerNormImpl(IntArrayRef(o.normalized_shape()), o.eps(), o.elementwise_affine()) {}
  std::string type_name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  void reset_parameters();

  DimVector normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight, bias;
};

class SoftmaxImpl : public Module {
 public:
  explicit SoftmaxImpl(int64_t dim) : dim(dim) {}
  explicit SoftmaxImpl(const SoftmaxOptions& o) : dim(o.dim()) {}
  std::string type_name() const override { return "Softmax"; }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  Tensor forward(const Tensor& input) override;
  int64_t dim;
};

class LogSoftmaxImpl : public Module {
 public:
  explicit LogSoftmaxImpl(int64_t dim) : dim(dim) {}
  explicit LogSoftmaxImpl(const SoftmaxOptions& o) : dim(o.dim()) {}
  std::string type_name() const override { return "LogSoftmax"; }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  Tensor forward(const Tensor& input) override;
  int64_t dim;
};

HEARTH_MODULE(BatchNorm1d);
HEARTH_MODULE(BatchNorm2d);
HEARTH_MODULE(LayerNorm);
HEARTH_MODULE(Softmax);
HEARTH_MODULE(LogSoftmax);

}  // namespace hearth::nn
