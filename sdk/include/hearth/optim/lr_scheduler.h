// Learning-rate schedulers (issue #5): the scheduler base (epochs, base learning rates, state
// dicts, chaining) lives in the kernel; each schedule's formula is a plugin rule found by name,
// like optimizers, so `hearth plugins` lists them and `--scheduler NAME` can pick one. The rules
// use PyTorch 1.13's chainable forms: each step reads the group's current lr, so several
// schedulers can drive one optimizer at once (docs/optim.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hearth/optim/optimizer.h"

namespace hearth::optim {

/// Everything a scheduler is: its rule's name, hyper-parameters and progress. state_dict() and
/// load_state_dict() exchange it whole (PyTorch saves the scheduler's __dict__ too).
struct SchedulerState {
  std::string name;           ///< the rule ("steplr")
  int64_t last_epoch = -1;    ///< index of the last step taken (0 right after construction)
  int64_t step_count = 0;     ///< step() calls including the one at construction
  std::vector<double> base_lrs, last_lr;
  std::map<std::string, double> numbers;                ///< hyper-parameters (gamma, T_max, ...)
  std::map<std::string, std::vector<double>> lists;     ///< milestones, per-group values
  std::map<std::string, std::string> strings;           ///< anneal_strategy, ...

  double number(const std::string& key) const;  ///< ValueError naming the key if missing
  const std::vector<double>& list(const std::string& key) const;
  const std::string& string(const std::string& key) const;

  std::string to_json() const;
  static SchedulerState from_json(const std::string& json);
};

/// A rule's hyper-parameters: PyTorch's defaults and the ones without a default. A scheduler
/// made by name gets the defaults for what it was not given; a key in neither is unknown.
struct SchedulerSpec {
  SchedulerState defaults;                  ///< numbers, lists (per group) and strings with defaults
  std::vector<std::string> required_numbers;
  std::vector<std::string> required_lists;  ///< per-group values (one value: every group)
  bool empty() const {
    return defaults.numbers.empty() && defaults.lists.empty() && defaults.strings.empty() &&
           required_numbers.empty() && required_lists.empty();
  }
};

/// A schedule's formula, registered by a plugin as component kind "lr_scheduler" (factory type
/// SchedulerFactory). Stateless: the state is the SchedulerState.
class SchedulerRule {
 public:
  virtual ~SchedulerRule() = default;
  /// The hyper-parameters it takes (empty: not declared, nothing is checked or filled in).
  virtual SchedulerSpec spec() const { return {}; }
  /// Validates the hyper-parameters (ValueError) and sets up the optimizer's groups before the
  /// base learning rates are read (OneCycleLR writes initial_lr, max_lr, min_lr and the momentum
  /// range; SWALR writes swa_lr). `state.last_epoch` is the constructor's argument.
  virtual void setup(SchedulerState& state, Optimizer& optimizer) const {}
  /// The learning rate of every group at `state.last_epoch` (already advanced), in the
  /// chainable form (from the groups' current lr where PyTorch does so). May set other options
  /// of the groups (OneCycleLR cycles momentum or beta1).
  virtual std::vector<double> get_lr(const SchedulerState& state, Optimizer& optimizer) const = 0;
};
using SchedulerFactory = const SchedulerRule* (*)();
constexpr const char* kSchedulerComponent = "lr_scheduler";

/// Base of every scheduler: PyTorch's _LRScheduler. Construction records each group's
/// initial_lr (when last_epoch == -1; otherwise it must be there already), then takes the first
/// step (epoch 0), as PyTorch does. Keeps a reference to the optimizer, which must outlive it.
class LRScheduler {
 public:
  /// `hyper` carries the rule's hyper-parameters; its name is the rule to resolve (ValueError
  /// listing the registered schedulers if it is missing).
  LRScheduler(Optimizer& optimizer, SchedulerState hyper, int64_t last_epoch = -1);
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Advances one epoch (or batch, for OneCycleLR) and writes the new learning rates into the
  /// groups. Warns once if called before the optimizer ever stepped (PyTorch's order trap: it
  /// skips the first value of the schedule).
  virtual void step();
  /// The learning rates the last step() set, one per group.
  virtual std::vector<double> get_last_lr() const { return state_.last_lr; }
  int64_t last_epoch() const { return state_.last_epoch; }
  const std::vector<double>& base_lrs() const { return state_.base_lrs; }
  Optimizer& optimizer() const { return *optimizer_; }

  virtual SchedulerState state_dict() const { return state_; }
  /// Restores a state saved by state_dict() of a scheduler of the same rule (ValueError if not).
  virtual void load_state_dict(const SchedulerState& state);

 protected:
  /// For ChainedScheduler, which has no rule of its own.
  explicit LRScheduler(Optimizer& optimizer);
  Optimizer* optimizer_;
  const SchedulerRule* rule_ = nullptr;
  SchedulerState state_;
  int64_t optimizer_steps_at_start_ = 0;
  bool order_warned_ = false;
};

/// The scheduler `name` with hyper-parameters `hyper` (hyper.name is overwritten by `name`).
/// Hyper-parameters not given take PyTorch's defaults (SchedulerSpec); a number given for a
/// per-group list applies to every group. A required one that is missing and one the rule does
/// not take are ValueErrors that say which ("needs option", "has no option").
std::unique_ptr<LRScheduler> create_scheduler(const std::string& name, Optimizer& optimizer, SchedulerState hyper,
                                              int64_t last_epoch = -1);
/// Names of the schedulers registered by plugins.
std::vector<std::string> available_schedulers();
/// The hyper-parameters of the registered scheduler `name` (ValueError if there is none).
SchedulerSpec scheduler_spec(const std::string& name);
/// Fills `hyper` from `spec` as create_scheduler does: defaults, scalars to per-group lists, and
/// the ValueErrors for missing and unknown options (naming scheduler `name`).
void complete_scheduler_options(const std::string& name, const SchedulerSpec& spec, SchedulerState& hyper);

/// lr *= gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1, int64_t last_epoch = -1);
};
/// lr *= gamma at each milestone (a milestone listed twice multiplies twice).
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1, int64_t last_epoch = -1);
};
/// lr *= gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma, int64_t last_epoch = -1);
};
/// Cosine from the base lr to eta_min over T_max epochs (and back up after, as PyTorch's
/// recursive form does).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0, int64_t last_epoch = -1);
};
/// Warm-up: the factor goes linearly from start_factor to end_factor over total_iters epochs.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5,
           int64_t last_epoch = -1);
};

/// OneCycleLR's options (PyTorch's arguments and defaults). Either total_steps or both epochs and
/// steps_per_epoch.
struct OneCycleLROptions {
  std::vector<double> max_lr;  ///< one value for all groups, or one per group
  int64_t total_steps = 0, epochs = 0, steps_per_epoch = 0;
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";  ///< "cos" or "linear"
  bool cycle_momentum = true;
  std::vector<double> base_momentum{0.85}, max_momentum{0.95};
  double div_factor = 25, final_div_factor = 1e4;
  bool three_phase = false;
};
/// The 1cycle policy, stepped once per batch: lr from max_lr/div_factor up to max_lr, then down
/// to initial_lr/final_div_factor; momentum (or Adam's beta1) cycles the other way.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options, int64_t last_epoch = -1);
};

/// SWA's schedule (SEED D1): anneals each group's lr to swa_lr over anneal_epochs ("cos" or
/// "linear"), then holds it.
class SWALR : public LRScheduler {
 public:
  SWALR(Optimizer& optimizer, std::vector<double> swa_lr, int64_t anneal_epochs = 10,
        const std::string& anneal_strategy = "cos", int64_t last_epoch = -1);
  SWALR(Optimizer& optimizer, double swa_lr, int64_t anneal_epochs = 10, const std::string& anneal_strategy = "cos",
        int64_t last_epoch = -1)
      : SWALR(optimizer, std::vector<double>{swa_lr}, anneal_epochs, anneal_strategy, last_epoch) {}
};

/// Steps several schedulers of one optimizer with one call (PyTorch's ChainedScheduler). The
/// schedulers must outlive it. Constructing the schedulers one after the other on the same
/// optimizer and stepping each is equivalent; this only bundles them.
class ChainedScheduler : public LRScheduler {
 public:
  explicit ChainedScheduler(std::vector<LRScheduler*> schedulers);
  void step() override;
  std::vector<double> get_last_lr() const override;
  /// The chained schedulers' states, in order, under lists/strings "scheduler.<i>" (JSON).
  SchedulerState state_dict() const override;
  void load_state_dict(const SchedulerState& state) override;

 private:
  std::vector<LRScheduler*> schedulers_;
};

/// Saves an optimizer's state dict and any schedulers' states to one safetensors file
/// (tensors "state.<i>.<key>"; metadata "hearth.optimizer" and "hearth.lr_schedulers" as JSON),
/// atomically. Resuming from it is bitwise exact (SEED E5).
void save(const std::string& path, const Optimizer& optimizer, const std::vector<const LRScheduler*>& schedulers = {});
/// Loads what save() wrote into an optimizer (state tensors go to each parameter's device and
/// dtype) and the same number of schedulers. FormatError naming the file and field if malformed.
void load(const std::string& path, Optimizer& optimizer, const std::vector<LRScheduler*>& schedulers = {});

}  // namespace hearth::optim
