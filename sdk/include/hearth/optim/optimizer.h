// The Optimizer (issue #5): parameter groups with their own options, per-parameter state,
// step() / zero_grad(), PyTorch-compatible state dicts, and the plugin interface through which
// an optimizer's update rule is found by name (DESIGN "Plugins"). The kernel owns everything
// but the arithmetic, so the traps (G2 graph growth, G4 unset grads, A1-trap unowned leaves)
// behave the same for every optimizer, including a user's own plugin.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/optim/options.h"
#include "hearth/tensor.h"

namespace hearth::nn {
class Module;
}

namespace hearth::optim {

/// The state an optimizer keeps for one parameter: named tensors (exp_avg, momentum_buffer...)
/// and named numbers (step). Empty until the parameter's first update (PyTorch's lazy state).
struct ParamState {
  std::map<std::string, Tensor, std::less<>> tensors;
  std::map<std::string, double, std::less<>> scalars;
  bool empty() const { return tensors.empty() && scalars.empty(); }
  /// The tensor of that name, or nullptr.
  Tensor* find(std::string_view name);
};

/// Parameters sharing one set of options (SEED G6: e.g. no weight decay for biases and norms).
/// Options come from, in order: the optimizer's defaults, `options` if given, then `overrides`.
/// Schedulers add keys of their own (initial_lr, max_lr, swa_lr...) as extras.
class ParamGroup {
 public:
  ParamGroup(std::vector<Tensor> params);  // NOLINT: a plain list of tensors is a group
  ParamGroup(std::vector<Tensor> params, const OptimizerOptions& options);
  ParamGroup(std::vector<Tensor> params, std::map<std::string, double> overrides);
  ParamGroup(const ParamGroup& other);
  ParamGroup& operator=(const ParamGroup& other);
  ParamGroup(ParamGroup&&) noexcept = default;
  ParamGroup& operator=(ParamGroup&&) noexcept = default;
  ~ParamGroup();

  std::vector<Tensor>& params() { return params_; }
  const std::vector<Tensor>& params() const { return params_; }
  /// The group's options (set once the group belongs to an optimizer).
  OptimizerOptions& options();
  const OptimizerOptions& options() const;
  bool has_options() const { return options_ != nullptr; }

  /// A typed option or an extra; ValueError listing both if neither has that name.
  double get(std::string_view key) const;
  bool has(std::string_view key) const;
  /// Sets a typed option if there is one of that name, else an extra (created if needed).
  void set(std::string_view key, double value);
  double lr() const { return get("lr"); }
  void set_lr(double lr) { set("lr", lr); }
  const std::map<std::string, double, std::less<>>& extras() const { return extras_; }
  const std::map<std::string, double>& overrides() const { return overrides_; }

 private:
  friend class Optimizer;
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
  std::map<std::string, double> overrides_;
  std::map<std::string, double, std::less<>> extras_;
};

/// An optimizer's state by position, as PyTorch's `state_dict()`: parameters are numbered
/// 0, 1, ... through the groups in order; `state` maps those numbers to their ParamState
/// (tensors share memory with the optimizer, like PyTorch's). load_state_dict() matches by
/// position, so the model must be built in the same order.
struct OptimizerStateDict {
  std::string optimizer;  ///< "adamw"
  struct Group {
    std::vector<OptionField> options;   ///< the typed options
    std::map<std::string, double> extras;  ///< scheduler keys (initial_lr, ...)
    std::vector<int64_t> params;        ///< positions
  };
  std::vector<Group> param_groups;
  std::map<int64_t, ParamState> state;

  /// Everything but the tensors as JSON (tensors are listed by name, "state.<i>.<key>").
  std::string to_json() const;
  /// The tensors, named "state.<i>.<key>" as in to_json().
  std::vector<std::pair<std::string, Tensor>> tensors() const;
  /// Inverse of to_json() + tensors(); FormatError naming the field on malformed input.
  static OptimizerStateDict from_json(const std::string& json,
                                      const std::vector<std::pair<std::string, Tensor>>& tensors);
};

/// One parameter handed to an update rule: the tensor, its gradient (defined, same dtype and
/// device) and its state.
struct ParamRef {
  Tensor* param;
  const Tensor* grad;
  ParamState* state;
};

/// The update rule of an optimizer, registered by a plugin as component kind "optimizer"
/// (factory type OptimizerFactory). Stateless: all state lives in the Optimizer.
class OptimizerAlgorithm {
 public:
  virtual ~OptimizerAlgorithm() = default;
  /// A fresh set of default options (of the plugin's typed options class).
  virtual std::unique_ptr<OptimizerOptions> default_options() const = 0;
  /// Throws ValueError for option values the rule cannot use (negative lr, nesterov without
  /// momentum...). Called for each group when it is added and when options are loaded.
  virtual void check_options(const OptimizerOptions& options) const = 0;
  /// Called once per parameter when its group is added (Adagrad fills its accumulator here).
  virtual void init_state(const OptimizerOptions& options, const Tensor& param, ParamState& state) const {}
  /// Updates the parameters of one group that have a gradient (never called with others: SEED
  /// G4). Runs under NoGradGuard.
  virtual void step(const OptimizerOptions& options, std::vector<ParamRef>& params) const = 0;
};
/// The function a plugin registers under kind "optimizer": returns a rule that lives for the
/// process (plugins are never unloaded).
using OptimizerFactory = const OptimizerAlgorithm* (*)();
constexpr const char* kOptimizerComponent = "optimizer";

/// An optimizer over parameter groups whose update rule comes from a plugin by name.
class Optimizer {
 public:
  /// Resolves `name` (e.g. "adamw") among the plugins' optimizers: ValueError listing the
  /// registered ones if it is missing. `defaults` must be options of that optimizer (or of a
  /// plugin's own options class); they fill every group's unspecified options.
  Optimizer(std::string name, std::vector<ParamGroup> groups, const OptimizerOptions& defaults);
  Optimizer(std::string name, std::vector<Tensor> params, const OptimizerOptions& defaults);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a gradient. Parameters whose gradient is unset are
  /// skipped entirely: no momentum, no weight decay (SEED G4). Feeds the graph-growth monitor
  /// (G2) and warns once per leaf about leaves that received a gradient in the last backward but
  /// belong to no live optimizer (A1-trap). `closure`, if given, is called first with grad mode
  /// on (it recomputes the loss and calls backward) and its result returned.
  Tensor step(const std::function<Tensor()>& closure = {});
  /// Unsets every gradient (default, SEED G4), or zeroes them in place.
  void zero_grad(bool set_to_none = true);
  /// Adds a group (options from the defaults, then the group's own). A parameter may belong to
  /// one group only.
  void add_param_group(ParamGroup group);

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  /// The state of a parameter of this optimizer (ValueError if it is not one).
  ParamState& state(const Tensor& param);
  const OptimizerOptions& defaults() const { return *defaults_; }
  const std::string& name() const { return name_; }
  /// step() calls so far (schedulers use it to warn about stepping them first).
  int64_t step_count() const { return step_count_; }

  OptimizerStateDict state_dict() const;
  /// Replaces the groups' options and the state by position (PyTorch's rule). ValueError if the
  /// optimizer, the number of groups or a group's size differs. Floating state tensors are
  /// copied to their parameter's dtype and device.
  void load_state_dict(const OptimizerStateDict& state);

 private:
  void check_param(const Tensor& p, size_t group, size_t index) const;
  std::string name_;
  const OptimizerAlgorithm* algorithm_;
  std::unique_ptr<OptimizerOptions> defaults_;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;  // parallel to groups_
  std::vector<uint64_t> owned_ids_;             // leaf ids registered as owned, sorted (A1-trap)
  int64_t step_count_ = 0;
};

/// The optimizer `name` from the plugins ("sgd", "adam", "adamw", "rmsprop", "adagrad", or a
/// user plugin's), with `options` (a typed struct) or its defaults changed by `overrides`
/// (ValueError naming the unknown key and listing the options). What `--optimizer NAME` uses.
std::unique_ptr<Optimizer> create(const std::string& name, std::vector<ParamGroup> groups,
                                  const OptimizerOptions& options);
std::unique_ptr<Optimizer> create(const std::string& name, std::vector<ParamGroup> groups,
                                  const std::map<std::string, double>& overrides = {});
std::unique_ptr<Optimizer> create(const std::string& name, std::vector<Tensor> params,
                                  const OptimizerOptions& options);
std::unique_ptr<Optimizer> create(const std::string& name, std::vector<Tensor> params,
                                  const std::map<std::string, double>& overrides = {});
/// Names of the optimizers registered by plugins (loads plugins first).
std::vector<std::string> available_optimizers();
/// A fresh copy of the optimizer `name`'s default options, to ask which options it has
/// (`has("momentum")`) before creating one (ValueError listing the registered ones if missing).
std::unique_ptr<OptimizerOptions> default_options(const std::string& name);

// ---- typed front ends (LibTorch's spelling); each resolves its rule from hearth-optim ----
#define HEARTH_OPTIM_FRONT_END(CLASS, OPTIONS, NAME)                                                   \
  class CLASS : public Optimizer {                                                                     \
   public:                                                                                             \
    CLASS(std::vector<Tensor> params, const OPTIONS& options = {}) : Optimizer(NAME, std::move(params), options) {} \
    CLASS(std::vector<ParamGroup> groups, const OPTIONS& options = {})                                 \
        : Optimizer(NAME, std::move(groups), options) {}                                               \
  }
/// SGD(model->parameters(), SGDOptions().lr(0.05).momentum(0.9))
HEARTH_OPTIM_FRONT_END(SGD, SGDOptions, "sgd");
HEARTH_OPTIM_FRONT_END(Adam, AdamOptions, "adam");
HEARTH_OPTIM_FRONT_END(AdamW, AdamWOptions, "adamw");
HEARTH_OPTIM_FRONT_END(RMSprop, RMSpropOptions, "rmsprop");
HEARTH_OPTIM_FRONT_END(Adagrad, AdagradOptions, "adagrad");
#undef HEARTH_OPTIM_FRONT_END

/// SEED G6: a model's trainable parameters in two groups, [0] with `weight_decay` and [1] with
/// weight_decay 0. No decay for: names ending in "bias", tensors with at most one dimension,
/// and every parameter of a normalization layer (type name containing "Norm": BatchNorm2d,
/// LayerNorm, GroupNorm...). Parameters that do not require grad are left out.
std::vector<ParamGroup> decay_param_groups(const nn::Module& model, double weight_decay);
/// The names each group of decay_param_groups() would hold (for logging what goes where).
std::pair<std::vector<std::string>, std::vector<std::string>> decay_param_names(const nn::Module& model);

}  // namespace hearth::optim
