// Modules (SEED A1, B8, B10, E4): named registration of parameters, buffers and submodules;
// everything that walks a model (parameters(), state_dict(), to(), train()) sees exactly what
// was registered. Containers: Sequential, ModuleList, ModuleDict.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "hearth/nn/pimpl.h"
#include "hearth/ordered_dict.h"
#include "hearth/serialize.h"
#include "hearth/tensor.h"

namespace hearth::nn {

class Module;
/// What at<M>() / child_as<M>() return: the holder for a holder type (`at<nn::Linear>(0)`), else
/// std::shared_ptr<M> (`at<nn::LinearImpl>(0)`).
template <typename M>
using ModulePtrOf = std::conditional_t<is_module_holder_v<M>, M, std::shared_ptr<M>>;

/// What load_state_dict found: keys the model has but the file lacks, keys the file has but the
/// model lacks, and keys present in both with different shapes.
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
  struct Mismatch {
    std::string key;
    DimVector expected, got;
  };
  std::vector<Mismatch> shape_mismatches;
  /// The prefix removed from the file's keys ("module." from data-parallel wrappers), if any.
  std::string stripped_prefix;
  bool ok() const { return missing_keys.empty() && unexpected_keys.empty() && shape_mismatches.empty(); }
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The layer's type ("Linear"), for printing and summaries.
  virtual std::string type_name() const { return "Module"; }
  /// The arguments shown inside the parentheses when printing ("in_features=4, ...").
  virtual std::string extra_repr() const { return ""; }

  /// The one-tensor forward most layers have. Modules with other signatures define their own
  /// forward and leave this one raising NotImplementedError.
  virtual Tensor forward(const Tensor& input);
  /// forward() inside an autograd scope named after this module (anomaly traces name it), then
  /// the forward hooks. Containers call their children this way.
  Tensor operator()(const Tensor& input);

  /// Called as hook(module, input, output) after each operator() call (summary() uses them).
  using ForwardHook = std::function<void(Module&, const Tensor& input, const Tensor& output)>;
  unsigned register_forward_hook(ForwardHook hook);
  void remove_forward_hook(unsigned id);
  /// True while any forward hook is registered (Sequential fuses Conv2d + ReLU only without).
  bool has_forward_hooks() const { return !forward_hooks_.empty(); }

  /// Multiply-accumulates of one forward call that produced `output` from `input` (thop's
  /// counting rules; 0 for layers thop does not count). Used by summary() and profile().
  virtual int64_t mult_adds(const Tensor& input, const Tensor& output) const {
    (void)input;
    (void)output;
    return 0;
  }
  /// The kernel column of summary() ("3x3"); empty where it does not apply.
  virtual std::string kernel_repr() const { return ""; }

  // ---- registration ----
  /// Registers a trained tensor. The module keeps the same TensorImpl, so a member handle to the
  /// returned tensor stays valid through to(device). requires_grad is set for floating tensors.
  Tensor& register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  /// Registers a tensor that is not trained but is saved and moved with the module (B10).
  /// Non-persistent buffers move with the module but stay out of state_dict.
  Tensor& register_buffer(const std::string& name, Tensor tensor, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    register_module_impl(name, module);
    return module;
  }
  /// LibTorch's form: `fc = register_module("fc", nn::Linear(3, 4));` (returns the module's pointer,
  /// which converts back to the holder).
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, ModuleHolder<M> holder) {
    return register_module(name, holder.ptr());
  }
  /// Replaces a registered submodule (same name).
  void replace_module(const std::string& name, std::shared_ptr<Module> module);

  // ---- walking what was registered ----
  std::vector<Tensor> parameters(bool recurse = true) const;
  /// LibTorch's OrderedDict: items have key() / value() and are pairs (`auto& [name, t]`); it
  /// converts to a TensorList.
  OrderedDict<std::string, Tensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  OrderedDict<std::string, Tensor> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  OrderedDict<std::string, std::shared_ptr<Module>> named_children() const;
  /// This module and all below it, pre-order; names are dotted paths ("" for this one).
  OrderedDict<std::string, std::shared_ptr<Module>> named_modules();
  std::vector<std::shared_ptr<Module>> modules();
  /// Calls fn on every submodule, then on this module (PyTorch's order).
  void apply(const std::function<void(Module&)>& fn);

  /// The registered parameter / buffer / submodule of that name (ValueError listing the names).
  Tensor& param(const std::string& name);
  Tensor& buffer(const std::string& name);
  std::shared_ptr<Module> child(const std::string& name) const;
  /// The submodule as type M (ValueError naming both types if it is not one).
  template <typename M>
  ModulePtrOf<M> child_as(const std::string& name) const {
    return cast<M>(child(name), name);
  }

  // ---- modes and devices ----
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Moves (or converts) every registered parameter and buffer in place (B8): handles to them
  /// stay valid. Gradients move too. Floating tensors only are converted by to(dtype).
  void to(Device device);
  void to(ScalarType dtype);
  void to(Device device, ScalarType dtype);
  /// LibTorch's signatures; hearth's moves are synchronous, so non_blocking changes nothing.
  void to(Device device, bool non_blocking) {
    (void)non_blocking;
    to(device);
  }
  void to(ScalarType dtype, bool non_blocking) {
    (void)non_blocking;
    to(dtype);
  }
  void to(Device device, ScalarType dtype, bool non_blocking) {
    (void)non_blocking;
    to(device, dtype);
  }
  /// Unsets every parameter's gradient (SEED G4), or zeroes it with set_to_none = false.
  void zero_grad(bool set_to_none = true);

  // ---- state ----
  /// Parameters and persistent buffers by dotted name, in PyTorch's order (a module's own
  /// parameters, its buffers, then each child's). The tensors share memory with the module.
  TensorList state_dict() const;
  /// Copies values in by name (to each tensor's device and dtype). A "module." prefix on every
  /// key of the file is removed first (E4). strict: any missing, unexpected or mis-shaped key is a
  /// ValueError listing them all and nothing is copied; otherwise the matching keys are copied and
  /// the rest reported.
  LoadStateDictResult load_state_dict(const TensorList& state, bool strict = true);

  /// Multi-line PyTorch-style description.
  std::string repr() const;
  /// The name this module was registered under in its parent ("" at the root).
  const std::string& registered_name() const { return registered_name_; }

 protected:
  template <typename M>
  static ModulePtrOf<M> cast(const std::shared_ptr<Module>& m, const std::string& what) {
    if constexpr (is_module_holder_v<M>) {
      return M(cast<typename M::ContainedType>(m, what));
    } else {
      auto r = std::dynamic_pointer_cast<M>(m);
      if (!r) cast_error(m, what);
      return r;
    }
  }
  [[noreturn]] static void cast_error(const std::shared_ptr<Module>& m, const std::string& what);
  void register_module_impl(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;

  struct Entry {
    std::string name;
    Tensor tensor;
    bool persistent = true;
  };
  std::vector<Entry> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;

 private:
  std::vector<std::pair<unsigned, ForwardHook>> forward_hooks_;
  unsigned next_hook_id_ = 1;
  void collect(const std::string& prefix, bool recurse, bool want_params, bool persistent_only, TensorList& out) const;
  void repr_into(std::ostream& os, int indent) const;
  std::string registered_name_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

/// Chains its children: forward(x) = child_n(...child_1(child_0(x))). Children are named "0", "1", ...
class SequentialImpl : public Module {
 public:
  SequentialImpl() = default;
  SequentialImpl(std::initializer_list<std::shared_ptr<Module>> modules);
  /// Named children, as PyTorch's Sequential(OrderedDict(...)).
  explicit SequentialImpl(std::vector<std::pair<std::string, std::shared_ptr<Module>>> named);
  /// LibTorch's form: Sequential(nn::Linear(3, 4), nn::ReLU(), ...) with holders or shared_ptrs.
  template <typename... Ms>
    requires(sizeof...(Ms) > 0 && (std::is_convertible_v<Ms, std::shared_ptr<Module>> && ...))
  explicit SequentialImpl(Ms&&... modules) {
    (push_back(std::shared_ptr<Module>(std::forward<Ms>(modules))), ...);
  }
  std::string type_name() const override { return "Sequential"; }
  Tensor forward(const Tensor& input) override;
  void push_back(std::shared_ptr<Module> module);
  void push_back(const std::string& name, std::shared_ptr<Module> module);
  size_t size() const { return children_.size(); }
  std::shared_ptr<Module> operator[](int64_t index) const;
  template <typename M>
  ModulePtrOf<M> at(int64_t index) const {
    return cast<M>((*this)[index], std::to_string(index));
  }
};

/// Holds modules in a list; registers them ("0", "1", ...) but has no forward (SEED A1).
class ModuleListImpl : public Module {
 public:
  ModuleListImpl() = default;
  ModuleListImpl(std::initializer_list<std::shared_ptr<Module>> modules);
  /// LibTorch's form: ModuleList(nn::Linear(3, 4), nn::Linear(4, 5)) with holders or shared_ptrs.
  template <typename... Ms>
    requires(sizeof...(Ms) > 0 && (std::is_convertible_v<Ms, std::shared_ptr<Module>> && ...))
  explicit ModuleListImpl(Ms&&... modules) {
    (push_back(std::shared_ptr<Module>(std::forward<Ms>(modules))), ...);
  }
  std::string type_name() const override { return "ModuleList"; }
  Tensor forward(const Tensor& input) override;
  void push_back(std::shared_ptr<Module> module);
  size_t size() const { return children_.size(); }
  std::shared_ptr<Module> operator[](int64_t index) const;
  template <typename M>
  ModulePtrOf<M> at(int64_t index) const {
    return cast<M>((*this)[index], std::to_string(index));
  }
  auto begin() const { return children_.begin(); }
  auto end() const { return children_.end(); }
};

/// Holds modules by name; registers them but has no forward (SEED A1).
class ModuleDictImpl : public Module {
 public:
  ModuleDictImpl() = default;
  ModuleDictImpl(std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules);
  std::string type_name() const override { return "ModuleDict"; }
  Tensor forward(const Tensor& input) override;
  void insert(const std::string& name, std::shared_ptr<Module> module);
  bool contains(const std::string& name) const;
  size_t size() const { return children_.size(); }
  std::vector<std::string> keys() const;
  std::shared_ptr<Module> operator[](const std::string& name) const { return child(name); }
  template <typename M>
  ModulePtrOf<M> at(const std::string& name) const {
    return cast<M>(child(name), name);
  }
};

/// Wraps a function as a module, for Sequential (LibTorch's nn::Functional):
/// `nn::Functional(hearth::relu)`, or a lambda `nn::Functional([](const Tensor& x) { ... })`.
class FunctionalImpl : public Module {
 public:
  using Function = std::function<Tensor(const Tensor&)>;
  explicit FunctionalImpl(Function function) : function_(std::move(function)) {}
  /// A function with trailing arguments bound (`nn::Functional(hearth::log_softmax, 1)`).
  template <typename F, typename Arg, typename... Args>
  FunctionalImpl(F&& f, Arg&& arg, Args&&... args)
      : function_([f = std::forward<F>(f), arg = std::forward<Arg>(arg),
                   ... args = std::forward<Args>(args)](const Tensor& x) { return f(x, arg, args...); }) {}
  std::string type_name() const override { return "Functional"; }
  Tensor forward(const Tensor& input) override { return function_(input); }

 private:
  Function function_;
};

HEARTH_MODULE(Functional);
HEARTH_MODULE(ModuleList);
HEARTH_MODULE(ModuleDict);

/// The holder of SequentialImpl, with LibTorch's extra named form:
/// `nn::Sequential({{"fc", nn::Linear(3, 4)}, {"relu", nn::ReLU()}})`.
class Sequential : public ModuleHolder<SequentialImpl> {
 public:
  using ModuleHolder<SequentialImpl>::ModuleHolder;
  using Impl = SequentialImpl;
  Sequential() : ModuleHolder(std::make_shared<SequentialImpl>()) {}
  Sequential(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> named)  // NOLINT
      : ModuleHolder(std::make_shared<SequentialImpl>(
            std::vector<std::pair<std::string, std::shared_ptr<Module>>>(named.begin(), named.end()))) {}
};

}  // namespace hearth::nn
