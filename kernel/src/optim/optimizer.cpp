// The Optimizer: groups, state, step() and the traps every optimizer shares (G2, G4, A1-trap);
// the update arithmetic is the plugin's OptimizerAlgorithm, resolved by name.
#include "hearth/optim/optimizer.h"

#include <algorithm>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "hearth/autograd.h"
#include "hearth/functions.h"
#include "hearth/plugin.h"

namespace hearth::optim {

// ---- ParamState, ParamGroup ----

Tensor* ParamState::find(std::string_view name) {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

ParamGroup::ParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}
ParamGroup::ParamGroup(std::vector<Tensor> params, const OptimizerOptions& options)
    : params_(std::move(params)), options_(options.clone()) {}
ParamGroup::ParamGroup(std::vector<Tensor> params, std::map<std::string, double> overrides)
    : params_(std::move(params)), overrides_(std::move(overrides)) {}
ParamGroup::ParamGroup(const ParamGroup& o)
    : params_(o.params_), options_(o.options_ ? o.options_->clone() : nullptr), overrides_(o.overrides_),
      extras_(o.extras_) {}
ParamGroup& ParamGroup::operator=(const ParamGroup& o) {
  if (this != &o) {
    params_ = o.params_;
    options_ = o.options_ ? o.options_->clone() : nullptr;
    overrides_ = o.overrides_;
    extras_ = o.extras_;
  }
  return *this;
}
ParamGroup::~ParamGroup() = default;

OptimizerOptions& ParamGroup::options() {
  HEARTH_CHECK(options_ != nullptr, ValueError, "this parameter group has no options yet (it gets them when added "
               "to an optimizer)");
  return *options_;
}
const OptimizerOptions& ParamGroup::options() const { return const_cast<ParamGroup*>(this)->options(); }

double ParamGroup::get(std::string_view key) const {
  if (options_ && options_->has(key)) return options_->get(key);
  auto it = extras_.find(key);
  if (it != extras_.end()) return it->second;
  std::string known;
  if (options_)
    for (const auto& f : options_->fields()) known += (known.empty() ? "" : ", ") + f.name;
  for (const auto& [k, v] : extras_) known += (known.empty() ? "" : ", ") + k;
  HEARTH_CHECK(false, ValueError, "parameter group has no option '", key, "' (it has: ", known, ")");
  return 0;
}

bool ParamGroup::has(std::string_view key) const {
  return (options_ && options_->has(key)) || extras_.find(key) != extras_.end();
}

void ParamGroup::set(std::string_view key, double value) {
  if (options_ && options_->set_field(key, value)) return;
  extras_[std::string(key)] = value;
}

// ---- which leaves live optimizers own (SEED A1-trap) ----

namespace {

struct Ownership {
  std::mutex mu;
  std::unordered_map<uint64_t, int> owned;  // leaf id -> number of optimizers holding it
  std::unordered_set<uint64_t> warned;      // leaves already warned about (once each)
};
Ownership& ownership() {
  static Ownership* o = new Ownership;  // never destroyed: optimizers in static objects may outlive it
  return *o;
}

std::string shape_str(IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

/// Warns once per leaf about leaves that got a gradient in the last backward but belong to no
/// live optimizer: they are never updated (a tensor kept in a plain member is not registered).
/// Only a backward that reached one of the stepping optimizer's own parameters counts (`mine`,
/// sorted): a step after no backward of its own must not judge some other, older graph.
void warn_unowned_leaves(const std::vector<uint64_t>& mine) {
  const auto records = autograd::last_backward_leaves();
  if (records.empty()) return;
  bool ours = false;
  for (const auto& r : records)
    if (std::binary_search(mine.begin(), mine.end(), r.leaf_id)) {
      ours = true;
      break;
    }
  if (!ours) return;
  std::vector<const autograd::LeafGradRecord*> fresh;
  {
    Ownership& o = ownership();
    std::lock_guard<std::mutex> g(o.mu);
    for (const auto& r : records)
      if (!o.owned.count(r.leaf_id) && o.warned.insert(r.leaf_id).second) fresh.push_back(&r);
  }
  if (fresh.empty()) return;
  std::ostringstream os;
  os << (fresh.size() == 1 ? "a leaf tensor" : std::to_string(fresh.size()) + " leaf tensors")
     << " received a gradient in the last backward but belong" << (fresh.size() == 1 ? "s" : "")
     << " to no optimizer, so " << (fresh.size() == 1 ? "it is" : "they are") << " never updated: ";
  for (size_t i = 0; i < fresh.size(); ++i)
    os << (i ? "; " : "") << "shape " << shape_str(fresh[i]->sizes) << " used by " << fresh[i]->used_by;
  os << ". If it is a model parameter, register it (register_parameter / register_module: a tensor or module "
        "kept in a plain member or std::vector is not registered, so parameters() misses it) or pass it to the "
        "optimizer. Warned once per tensor (SEED A1-trap)";
  warn(os.str());
}

const OptimizerAlgorithm* resolve(const std::string& name) {
  auto factory = find_component_as<OptimizerFactory>(kOptimizerComponent, name);
  if (!factory) {
    std::string known;
    for (const auto& n : component_names(kOptimizerComponent)) known += (known.empty() ? "" : ", ") + n;
    std::string why;
    for (const auto& r : plugin_records())
      if (r.status == "error" && r.file.find("optim") != std::string::npos) why += "; " + r.file + ": " + r.error;
    HEARTH_CHECK(false, ValueError, "unknown optimizer '", name, "'; registered optimizers: ",
                 known.empty() ? "(none: the hearth-optim plugin was not found in the plugin directories "
                                 "(--plugin-dir, $HEARTH_PLUGIN_PATH, " + default_plugin_dir() + "))"
                               : known,
                 why);
  }
  const OptimizerAlgorithm* a = factory();
  HEARTH_CHECK(a != nullptr, InternalError, "optimizer '", name, "' factory returned null");
  return a;
}

}  // namespace

std::vector<std::string> available_optimizers() { return component_names(kOptimizerComponent); }

// ---- Optimizer ----

Optimizer::Optimizer(std::string name, std::vector<Tensor> params, const OptimizerOptions& defaults)
    : Optimizer(std::move(name), std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups, const OptimizerOptions& defaults)
    : name_(std::move(name)), algorithm_(resolve(name_)) {
  HEARTH_CHECK(defaults.optimizer_name() == name_, ValueError, "options for optimizer '", defaults.optimizer_name(),
               "' given to optimizer '", name_, "'");
  defaults_ = defaults.clone();
  algorithm_->check_options(*defaults_);
  size_t n = 0;
  for (const auto& g : groups) n += g.params().size();
  HEARTH_CHECK(n > 0, ValueError, name_, ": optimizer got an empty parameter list");
  try {
    for (auto& g : groups) add_param_group(std::move(g));
  } catch (...) {
    // The destructor will not run: give back what the groups added so far registered.
    Ownership& o = ownership();
    std::lock_guard<std::mutex> lk(o.mu);
    for (uint64_t id : owned_ids_)
      if (--o.owned[id] == 0) o.owned.erase(id);
    throw;
  }
}

Optimizer::~Optimizer() {
  Ownership& o = ownership();
  std::lock_guard<std::mutex> g(o.mu);
  for (uint64_t id : owned_ids_) {
    auto it = o.owned.find(id);
    if (it != o.owned.end() && --it->second == 0) o.owned.erase(it);
  }
}

void Optimizer::check_param(const Tensor& p, size_t group, size_t index) const {
  HEARTH_CHECK(p.defined(), ValueError, name_, ": parameter ", index, " of group ", group, " is undefined");
  HEARTH_CHECK(p.is_leaf(), ValueError, name_, ": can't optimize a non-leaf tensor (parameter ", index, " of group ",
               group, ", shape ", shape_str(p.sizes()), ", computed by ", p.grad_fn()->name(),
               "); optimize the leaf it was computed from, or detach() it and call requires_grad_()");
  HEARTH_CHECK(p.is_floating_point(), DTypeError, name_, ": parameter ", index, " of group ", group, " (shape ",
               shape_str(p.sizes()), ") has dtype ", p.dtype(), "; only floating point tensors can be optimized");
}

void Optimizer::add_param_group(ParamGroup group) {
  const size_t gi = groups_.size();
  // A parameter in two groups would be updated twice per step (PyTorch raises too).
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const auto& p : g.params_) seen.insert(p.unsafeGetTensorImpl());
  for (size_t i = 0; i < group.params_.size(); ++i) {
    const Tensor& p = group.params_[i];
    check_param(p, gi, i);
    HEARTH_CHECK(seen.insert(p.unsafeGetTensorImpl()).second, ValueError, name_, ": parameter ", i, " of group ", gi,
                 " (shape ", shape_str(p.sizes()), ") appears more than once in the optimizer's parameter groups");
  }
  if (!group.options_) {
    group.options_ = defaults_->clone();
  } else {
    HEARTH_CHECK(group.options_->optimizer_name() == name_, ValueError, "options for optimizer '",
                 group.options_->optimizer_name(), "' given to a parameter group of optimizer '", name_, "'");
  }
  for (const auto& [k, v] : group.overrides_) group.options_->set(k, v);
  algorithm_->check_options(*group.options_);

  std::vector<ParamState> states(group.params_.size());
  for (size_t i = 0; i < group.params_.size(); ++i) {
    NoGradGuard ng;
    algorithm_->init_state(*group.options_, group.params_[i], states[i]);
  }
  {
    Ownership& o = ownership();
    std::lock_guard<std::mutex> g(o.mu);
    for (const auto& p : group.params_) {
      const uint64_t id = autograd::leaf_id(p);
      ++o.owned[id];
      owned_ids_.push_back(id);
    }
  }
  std::sort(owned_ids_.begin(), owned_ids_.end());
  groups_.push_back(std::move(group));
  state_.push_back(std::move(states));
}

Tensor Optimizer::step(const std::function<Tensor()>& closure) {
  Tensor loss;
  if (closure) {
    autograd::AutoGradMode on(true);
    loss = closure();
  }
  {
    NoGradGuard ng;
    std::vector<ParamRef> refs;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      refs.clear();
      auto& params = groups_[gi].params_;
      for (size_t i = 0; i < params.size(); ++i) {
        const Tensor& grad = params[i].grad();
        if (!grad.defined()) continue;  // SEED G4: no momentum, no decay for unset gradients
        HEARTH_CHECK(grad.sizes() == params[i].sizes(), ShapeError, name_, ": parameter ", i, " of group ", gi,
                     " has shape ", shape_str(params[i].sizes()), " but its gradient has shape ",
                     shape_str(grad.sizes()));
        HEARTH_CHECK(grad.device() == params[i].device() && grad.dtype() == params[i].dtype(), ValueError, name_,
                     ": parameter ", i, " of group ", gi, " is ", params[i].dtype(), " on ", params[i].device(),
                     " but its gradient is ", grad.dtype(), " on ", grad.device());
        refs.push_back({&params[i], &grad, &state_[gi][i]});
      }
      if (!refs.empty()) {
        algorithm_->step(*groups_[gi].options_, refs);
        // A step is an in-place write of every parameter it updates (PyTorch's p.add_ bumps the
        // version too): fused updates write through data_ptr, so bump here. Caches keyed on the
        // version (the CPU plugin's blocked conv weights) rely on it.
        for (const ParamRef& r : refs) r.param->impl()->bump_version();
      }
    }
  }
  ++step_count_;
  autograd::on_optimizer_step();
  warn_unowned_leaves(owned_ids_);
  return loss;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard ng;
  for (auto& g : groups_)
    for (auto& p : g.params_) {
      if (!p.grad().defined()) continue;
      Tensor& grad = p.mutable_grad();
      if (set_to_none) {
        grad = Tensor();
      } else {
        if (grad.grad_fn()) grad = grad.detach();
        grad.zero_();
      }
    }
}

ParamState& Optimizer::state(const Tensor& param) {
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t i = 0; i < groups_[gi].params_.size(); ++i)
      if (groups_[gi].params_[i].is_same(param)) return state_[gi][i];
  HEARTH_CHECK(false, ValueError, name_, ": the tensor of shape ", shape_str(param.sizes()),
               " is not a parameter of this optimizer");
  return state_[0][0];
}

OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict sd;
  sd.optimizer = name_;
  int64_t idx = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    OptimizerStateDict::Group g;
    g.options = groups_[gi].options_->fields();
    for (const auto& [k, v] : groups_[gi].extras_) g.extras[k] = v;
    for (size_t i = 0; i < groups_[gi].params_.size(); ++i, ++idx) {
      g.params.push_back(idx);
      if (!state_[gi][i].empty()) sd.state[idx] = state_[gi][i];
    }
    sd.param_groups.push_back(std::move(g));
  }
  return sd;
}

void Optimizer::load_state_dict(const OptimizerStateDict& sd) {
  HEARTH_CHECK(sd.optimizer == name_, ValueError, "load_state_dict: the state is of optimizer '", sd.optimizer,
               "', this is '", name_, "'");
  HEARTH_CHECK(sd.param_groups.size() == groups_.size(), ValueError, name_,
               ".load_state_dict: the loaded state has ", sd.param_groups.size(), " parameter groups, the optimizer ",
               groups_.size());
  // Validate everything before changing anything.
  std::vector<std::unique_ptr<OptimizerOptions>> options;
  int64_t total = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const auto& sg = sd.param_groups[gi];
    HEARTH_CHECK(sg.params.size() == groups_[gi].params_.size(), ValueError, name_, ".load_state_dict: group ", gi,
                 " of the loaded state has ", sg.params.size(), " parameters, the optimizer's has ",
                 groups_[gi].params_.size());
    for (size_t i = 0; i < sg.params.size(); ++i)
      HEARTH_CHECK(sg.params[i] == total + static_cast<int64_t>(i), ValueError, name_,
                   ".load_state_dict: group ", gi, " lists parameter ", sg.params[i], " at position ", i,
                   "; expected ", total + static_cast<int64_t>(i), " (parameters are numbered through the groups)");
    total += static_cast<int64_t>(sg.params.size());
    auto o = groups_[gi].options_->clone();
    for (const auto& f : sg.options)
      HEARTH_CHECK(o->set_field(f.name, f.value), ValueError, name_, ".load_state_dict: group ", gi,
                   " has option '", f.name, "', which ", name_, " does not know (options: ", o->repr(), ")");
    algorithm_->check_options(*o);
    options.push_back(std::move(o));
  }
  for (const auto& [idx, st] : sd.state)
    HEARTH_CHECK(idx >= 0 && idx < total, ValueError, name_, ".load_state_dict: state for parameter ", idx,
                 ", but there are ", total, " parameters");

  std::vector<std::vector<ParamState>> state(groups_.size());
  int64_t idx = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    state[gi].resize(groups_[gi].params_.size());
    for (size_t i = 0; i < groups_[gi].params_.size(); ++i, ++idx) {
      auto it = sd.state.find(idx);
      if (it == sd.state.end()) continue;
      const Tensor& p = groups_[gi].params_[i];
      ParamState s;
      s.scalars = it->second.scalars;
      // A copy, so that training on does not write into the caller's state dict; floating state
      // follows the parameter's dtype, everything goes to its device (PyTorch's rule).
      for (const auto& [k, t] : it->second.tensors)
        s.tensors[k] = t.is_floating_point() ? t.to(p.device(), p.dtype(), /*copy=*/true) : t.to(p.device(), true);
      state[gi][i] = std::move(s);
    }
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    groups_[gi].options_ = std::move(options[gi]);
    groups_[gi].extras_.clear();
    for (const auto& [k, v] : sd.param_groups[gi].extras) groups_[gi].extras_[k] = v;
  }
  state_ = std::move(state);
}

// ---- by name ----

std::unique_ptr<OptimizerOptions> default_options(const std::string& name) {
  return resolve(name)->default_options();
}

std::unique_ptr<Optimizer> create(const std::string& name, std::vector<ParamGroup> groups,
                                  const OptimizerOptions& options) {
  return std::make_unique<Optimizer>(name, std::move(groups), options);
}

std::unique_ptr<Optimizer> create(const std::string& name, std::vector<ParamGroup> groups,
                                  const std::map<std::string, double>& overrides) {
  auto opts = default_options(name);
  for (const auto& [k, v] : overrides) opts->set(k, v);
  return std::make_unique<Optimizer>(name, std::move(groups), *opts);
}

std::unique_ptr<Optimizer> create(const std::string& name, std::vector<Tensor> params,
                                  const OptimizerOptions& options) {
  return create(name, std::vector<ParamGroup>{ParamGroup(std::move(params))}, options);
}

std::unique_ptr<Optimizer> create(const std::string& name, std::vector<Tensor> params,
                                  const std::map<std::string, double>& overrides) {
  return create(name, std::vector<ParamGroup>{ParamGroup(std::move(params))}, overrides);
}

}  // namespace hearth::optim
