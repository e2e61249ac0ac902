// Stochastic weight averaging (SEED D1): AveragedModel keeps a running average of a model's
// parameters; SWALR (in lr_scheduler.h) is its learning-rate schedule; update_bn recomputes
// BatchNorm statistics for the averaged weights. PyTorch's torch.optim.swa_utils.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "hearth/nn/module.h"

namespace hearth::data {
class DataLoader;
}

namespace hearth::optim {

/// A running average of a model's parameters (and, with use_buffers, its buffers), held in a
/// separate copy of the model registered as child "module" (state-dict keys "module.<name>" and
/// buffer "n_averaged", as PyTorch's).
///
/// hearth modules have no generic deep copy, so the copy is built by the caller: pass a fresh
/// model of the same architecture (or a factory that makes one); the constructor copies the
/// source model's parameters and buffers into it (ValueError if names or shapes differ).
class AveragedModel : public nn::Module {
 public:
  /// avg_fn(averaged, current, num_averaged) returns the new average; default: the equal-weight
  /// running mean averaged + (current - averaged) / (num_averaged + 1).
  using AvgFn = std::function<Tensor(const Tensor& averaged, const Tensor& current, int64_t num_averaged)>;

  AveragedModel(const nn::Module& model, std::shared_ptr<nn::Module> copy, std::optional<Device> device = std::nullopt,
                AvgFn avg_fn = {}, bool use_buffers = false);
  AveragedModel(const nn::Module& model, const std::function<std::shared_ptr<nn::Module>()>& factory,
                std::optional<Device> device = std::nullopt, AvgFn avg_fn = {}, bool use_buffers = false)
      : AveragedModel(model, factory(), device, std::move(avg_fn), use_buffers) {}

  std::string type_name() const override { return "AveragedModel"; }
  Tensor forward(const Tensor& input) override { return (*module)(input); }
  /// Folds `model`'s current parameters (and buffers with use_buffers) into the average; the
  /// first call copies them. Matches parameters by position, as PyTorch does.
  void update_parameters(const nn::Module& model);
  int64_t num_averaged() const;

  std::shared_ptr<nn::Module> module;
  Tensor n_averaged;  ///< int64 0-dim buffer

 private:
  AvgFn avg_fn_;
  bool use_buffers_;
};

/// Recomputes the running mean and variance of every BatchNorm layer of `model` with one pass
/// over `loader` (each batch's data, moved to `device` if given), under NoGradGuard: the
/// statistics are reset, momentum is None (a cumulative average over the pass's batches) during
/// the pass and restored after, num_batches_tracked restarts from 0, and the model's train/eval
/// mode is restored. Layers without running statistics are left alone; a model without
/// BatchNorm is not touched. Use it on AveragedModel::module after training: averaged weights
/// need statistics of their own.
void update_bn(data::DataLoader& loader, nn::Module& model, std::optional<Device> device = std::nullopt);

}  // namespace hearth::optim
