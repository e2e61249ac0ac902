// Module: registration, walking, devices, modes, state dicts, printing; and the containers.
#include "hearth/nn/module.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <typeinfo>

#include "hearth/autograd.h"
#include "hearth/nn/conv.h"
#include "hearth/nn/layers.h"
#include "hearth/functions.h"

namespace hearth::nn {

namespace {
std::string join(const std::vector<std::string>& v, size_t limit = 20) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < limit; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > limit) out += ", ... (" + std::to_string(v.size() - limit) + " more)";
  return out;
}
}  // namespace

// ---- forward ----

Tensor Module::forward(const Tensor&) {
  HEARTH_CHECK(false, NotImplementedError, type_name(), " has no forward(Tensor); call the forward its class defines");
}

Tensor Module::operator()(const Tensor& input) {
  Tensor out;
  {
    autograd::ScopeGuard scope(registered_name_.empty() ? type_name() : registered_name_);
    out = forward(input);
  }
  // Copied: a hook may remove itself.
  if (!forward_hooks_.empty()) {
    auto hooks = forward_hooks_;
    for (auto& [id, h] : hooks) h(*this, input, out);
  }
  return out;
}

unsigned Module::register_forward_hook(ForwardHook hook) {
  HEARTH_CHECK(static_cast<bool>(hook), ValueError, type_name(), ": empty forward hook");
  forward_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void Module::remove_forward_hook(unsigned id) {
  forward_hooks_.erase(std::remove_if(forward_hooks_.begin(), forward_hooks_.end(),
                                      [id](const auto& h) { return h.first == id; }),
                       forward_hooks_.end());
}

// ---- registration ----

void Module::check_new_name(const std::string& name, const char* what) const {
  HEARTH_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError, type_name(), ": ", what,
               " name '", name, "' must be non-empty and contain no '.'");
  auto taken = [&](const auto& v) {
    return std::any_of(v.begin(), v.end(), [&](const auto& e) {
      if constexpr (std::is_same_v<std::decay_t<decltype(e)>, Entry>) return e.name == name;
      else return e.first == name;
    });
  };
  HEARTH_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), ValueError, type_name(), ": '", name,
               "' is already registered (as a parameter, buffer or submodule)");
}

Tensor& Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_new_name(name, "parameter");
  HEARTH_CHECK(tensor.defined(), ValueError, type_name(), ": parameter '", name, "' is undefined");
  if (tensor.requires_grad() && !tensor.is_leaf()) tensor = tensor.detach();
  if (requires_grad && tensor.is_floating_point()) tensor.requires_grad_(true);
  params_.push_back(Entry{name, std::move(tensor), true});
  return params_.back().tensor;
}

Tensor& Module::register_buffer(const std::string& name, Tensor tensor, bool persistent) {
  check_new_name(name, "buffer");
  HEARTH_CHECK(tensor.defined(), ValueError, type_name(), ": buffer '", name, "' is undefined");
  buffers_.push_back(Entry{name, std::move(tensor), persistent});
  return buffers_.back().tensor;
}

void Module::register_module_impl(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "submodule");
  HEARTH_CHECK(module != nullptr, ValueError, type_name(), ": submodule '", name, "' is null");
  HEARTH_CHECK(module.get() != this, ValueError, type_name(), ": a module cannot contain itself");
  module->registered_name_ = name;
  children_.emplace_back(name, std::move(module));
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> module) {
  HEARTH_CHECK(module != nullptr, ValueError, type_name(), ": replacement for '", name, "' is null");
  for (auto& [n, m] : children_) {
    if (n == name) {
      module->registered_name_ = name;
      m = std::move(module);
      return;
    }
  }
  (void)child(name);  // raises, listing the names
}

// ---- walking ----

void Module::collect(const std::string& prefix, bool recurse, bool want_params, bool persistent_only,
                     TensorList& out) const {
  for (const Entry& e : want_params ? params_ : buffers_)
    if (!persistent_only || e.persistent) out.emplace_back(prefix + e.name, e.tensor);
  if (!recurse) return;
  for (const auto& [n, m] : children_) m->collect(prefix + n + ".", true, want_params, persistent_only, out);
}

OrderedDict<std::string, Tensor> Module::named_parameters(bool recurse) const {
  TensorList out;
  collect("", recurse, true, false, out);
  // A tensor registered twice (tied weights) is listed once, as PyTorch does.
  std::set<const TensorImpl*> seen;
  OrderedDict<std::string, Tensor> unique("Parameter");
  unique.reserve(out.size());
  for (auto& [n, t] : out)
    if (seen.insert(t.impl().get()).second) unique.insert(n, t);
  return unique;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> v;
  for (auto& [n, t] : named_parameters(recurse)) v.push_back(t);
  return v;
}

OrderedDict<std::string, Tensor> Module::named_buffers(bool recurse) const {
  TensorList out;
  collect("", recurse, false, false, out);
  OrderedDict<std::string, Tensor> dict("Buffer");
  dict.reserve(out.size());
  for (auto& [n, t] : out) dict.insert(n, t);
  return dict;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> v;
  for (auto& [n, t] : named_buffers(recurse)) v.push_back(t);
  return v;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> v;
  for (const auto& [n, m] : children_) v.push_back(m);
  return v;
}

OrderedDict<std::string, std::shared_ptr<Module>> Module::named_children() const {
  OrderedDict<std::string, std::shared_ptr<Module>> dict("Module");
  for (const auto& [n, m] : children_) dict.insert(n, m);
  return dict;
}

OrderedDict<std::string, std::shared_ptr<Module>> Module::named_modules() {
  OrderedDict<std::string, std::shared_ptr<Module>> out("Module");
  std::function<void(const std::string&, const std::shared_ptr<Module>&)> walk =
      [&](const std::string& prefix, const std::shared_ptr<Module>& m) {
        out.insert(prefix, m);
        for (const auto& [n, c] : m->children_) walk(prefix.empty() ? n : prefix + "." + n, c);
      };
  std::shared_ptr<Module> self;
  try {
    self = shared_from_this();
  } catch (const std::bad_weak_ptr&) {
    self = std::shared_ptr<Module>(this, [](Module*) {});  // a module on the stack
  }
  walk("", self);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::modules() {
  std::vector<std::shared_ptr<Module>> v;
  for (auto& [n, m] : named_modules()) v.push_back(m);
  return v;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, m] : children_) m->apply(fn);
  fn(*this);
}

Tensor& Module::param(const std::string& name) {
  for (Entry& e : params_)
    if (e.name == name) return e.tensor;
  std::vector<std::string> names;
  for (const Entry& e : params_) names.push_back(e.name);
  HEARTH_CHECK(false, ValueError, type_name(), " has no parameter '", name, "' (it has: ", join(names), ")");
}

Tensor& Module::buffer(const std::string& name) {
  for (Entry& e : buffers_)
    if (e.name == name) return e.tensor;
  std::vector<std::string> names;
  for (const Entry& e : buffers_) names.push_back(e.name);
  HEARTH_CHECK(false, ValueError, type_name(), " has no buffer '", name, "' (it has: ", join(names), ")");
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& [n, m] : children_)
    if (n == name) return m;
  std::vector<std::string> names;
  for (const auto& [n, m] : children_) names.push_back(n);
  HEARTH_CHECK(false, ValueError, type_name(), " has no submodule '", name, "' (it has: ", join(names), ")");
}

void Module::cast_error(const std::shared_ptr<Module>& m, const std::string& what) {
  HEARTH_CHECK(false, ValueError, "submodule '", what, "' is a ", m ? m->type_name() : std::string("null"),
               ", not the requested type");
}

// ---- modes and devices ----

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

namespace {
/// Moves one registered tensor in place (same TensorImpl), with its gradient.
void move_in_place(Tensor& t, Device device, std::optional<ScalarType> dtype) {
  NoGradGuard ng;
  const ScalarType dt = dtype && t.is_floating_point() ? *dtype : t.dtype();
  if (t.device() == device && t.dtype() == dt) return;
  Tensor moved = t.to(device, dt);
  const Tensor g = t.grad();
  t.impl()->set_data(*moved.impl());
  if (g.defined()) t.mutable_grad() = g.to(device, dt);
}
}  // namespace

void Module::to(Device device) {
  for (auto& [n, t] : named_parameters()) move_in_place(t, device, std::nullopt);
  for (auto& [n, t] : named_buffers()) move_in_place(t, device, std::nullopt);
}

void Module::to(ScalarType dtype) {
  HEARTH_CHECK(is_floating_point(dtype), DTypeError, "Module::to(dtype) expects a floating point dtype, got ", dtype);
  for (auto& [n, t] : named_parameters()) move_in_place(t, t.device(), dtype);
  for (auto& [n, t] : named_buffers()) move_in_place(t, t.device(), dtype);
}

void Module::to(Device device, ScalarType dtype) {
  HEARTH_CHECK(is_floating_point(dtype), DTypeError, "Module::to(dtype) expects a floating point dtype, got ", dtype);
  for (auto& [n, t] : named_parameters()) move_in_place(t, device, dtype);
  for (auto& [n, t] : named_buffers()) move_in_place(t, device, dtype);
}

void Module::zero_grad(bool set_to_none) {
  for (auto& [n, t] : named_parameters()) {
    if (!t.grad().defined()) continue;
    if (set_to_none) {
      t.mutable_grad() = Tensor();
    } else {
      NoGradGuard ng;
      t.mutable_grad().zero_();
    }
  }
}

// ---- state ----

TensorList Module::state_dict() const {
  TensorList out;
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m, const std::string& prefix) {
    for (const Entry& e : m.params_) out.emplace_back(prefix + e.name, e.tensor.detach());
    for (const Entry& e : m.buffers_)
      if (e.persistent) out.emplace_back(prefix + e.name, e.tensor.detach());
    for (const auto& [n, c] : m.children_) walk(*c, prefix + n + ".");
  };
  walk(*this, "");
  return out;
}

LoadStateDictResult Module::load_state_dict(const TensorList& state, bool strict) {
  LoadStateDictResult r;
  // Targets: parameters and persistent buffers, by name.
  std::map<std::string, Tensor> targets;
  std::vector<std::string> order;
  {
    TensorList own;
    collect("", true, true, false, own);
    collect("", true, false, true, own);
    for (auto& [n, t] : own) {
      if (targets.emplace(n, t).second) order.push_back(n);
    }
  }
  // SEED E4: data-parallel wrappers save "module."-prefixed keys.
  bool all_prefixed = !state.empty();
  for (const auto& [k, v] : state) all_prefixed = all_prefixed && k.rfind("module.", 0) == 0;
  bool own_prefixed = false;
  for (const auto& n : order) own_prefixed = own_prefixed || n.rfind("module.", 0) == 0;
  if (all_prefixed && !own_prefixed) r.stripped_prefix = "module.";
  std::map<std::string, Tensor> incoming;
  for (const auto& [k, v] : state) {
    HEARTH_CHECK(v.defined(), ValueError, "load_state_dict: the value for '", k, "' is undefined");
    const std::string key = k.substr(r.stripped_prefix.size());
    HEARTH_CHECK(incoming.emplace(key, v).second, ValueError, "load_state_dict: key '", key,
                 "' appears twice (after removing the prefix '", r.stripped_prefix, "')");
  }
  for (const auto& n : order) {
    auto it = incoming.find(n);
    if (it == incoming.end()) {
      r.missing_keys.push_back(n);
    } else if (it->second.sizes() != targets[n].sizes()) {
      r.shape_mismatches.push_back({n, DimVector(targets[n].sizes().begin(), targets[n].sizes().end()),
                                    DimVector(it->second.sizes().begin(), it->second.sizes().end())});
    }
  }
  for (const auto& [k, v] : incoming)
    if (!targets.count(k)) r.unexpected_keys.push_back(k);
  if (strict && !r.ok()) {
    std::ostringstream os;
    os << "Error(s) in loading state_dict for " << type_name() << " (nothing was loaded):";
    if (!r.missing_keys.empty()) os << "\n  Missing key(s): " << join(r.missing_keys);
    if (!r.unexpected_keys.empty()) os << "\n  Unexpected key(s): " << join(r.unexpected_keys);
    for (const auto& m : r.shape_mismatches)
      os << "\n  size mismatch for " << m.key << ": copying a param with shape " << IntArrayRef(m.got)
         << " from checkpoint, the shape in current model is " << IntArrayRef(m.expected);
    os << "\n  (load_state_dict(state, /*strict=*/false) loads the keys that match and returns the rest)";
    HEARTH_CHECK(false, ValueError, os.str());
  }
  NoGradGuard ng;
  for (const auto& n : order) {
    auto it = incoming.find(n);
    if (it == incoming.end() || it->second.sizes() != targets[n].sizes()) continue;
    targets[n].copy_(it->second);  // to the parameter's device and dtype (SEED E6)
  }
  return r;
}

// ---- printing ----

void Module::repr_into(std::ostream& os, int indent) const {
  os << type_name() << "(" << extra_repr();
  if (!children_.empty()) {
    os << "\n";
    for (const auto& [n, m] : children_) {
      os << std::string(static_cast<size_t>(indent + 2), ' ') << "(" << n << "): ";
      m->repr_into(os, indent + 2);
      os << "\n";
    }
    os << std::string(static_cast<size_t>(indent), ' ');
  }
  os << ")";
}

std::string Module::repr() const {
  std::ostringstream os;
  repr_into(os, 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

// ---- containers ----

SequentialImpl::SequentialImpl(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

SequentialImpl::SequentialImpl(std::vector<std::pair<std::string, std::shared_ptr<Module>>> named) {
  for (auto& [n, m] : named) push_back(n, std::move(m));
}

void SequentialImpl::push_back(std::shared_ptr<Module> module) { push_back(std::to_string(children_.size()), std::move(module)); }
void SequentialImpl::push_back(const std::string& name, std::shared_ptr<Module> module) {
  register_module_impl(name, std::move(module));
}

namespace {
/// A Conv2d directly followed by a ReLU, both exactly those classes (a subclass may override
/// forward) and neither hooked (a hook must see the conv's own output): Sequential runs them as
/// one conv2d_relu (SEED issue 4; docs/nn.md "Conv2d + ReLU fusion"). Values, gradients and the
/// state dict are those of the two layers.
bool fuses_with_relu(const Module& conv, const Module& relu) {
  return typeid(conv) == typeid(Conv2dImpl) && typeid(relu) == typeid(ReLUImpl) && !conv.has_forward_hooks() &&
         !relu.has_forward_hooks();
}
}  // namespace

Tensor SequentialImpl::forward(const Tensor& input) {
  Tensor x = input;
  const size_t n = children_.size();
  for (size_t i = 0; i < n; ++i) {
    Module& m = *children_[i].second;
    if (i + 1 < n && fuses_with_relu(m, *children_[i + 1].second)) {
      autograd::ScopeGuard scope(m.registered_name().empty() ? m.type_name() : m.registered_name());
      x = static_cast<Conv2dImpl&>(m).forward_relu(x);
      ++i;
      continue;
    }
    x = m(x);
  }
  return x;
}

namespace {
size_t wrap_index(int64_t i, size_t n, const char* what) {
  const int64_t sn = static_cast<int64_t>(n);
  HEARTH_CHECK(i >= -sn && i < sn, IndexError, what, " index ", i, " is out of range (size ", n, ")");
  return static_cast<size_t>(i < 0 ? i + sn : i);
}
}  // namespace

std::shared_ptr<Module> SequentialImpl::operator[](int64_t index) const {
  return children_[wrap_index(index, children_.size(), "Sequential")].second;
}

ModuleListImpl::ModuleListImpl(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}
void ModuleListImpl::push_back(std::shared_ptr<Module> module) {
  register_module_impl(std::to_string(children_.size()), std::move(module));
}
Tensor ModuleListImpl::forward(const Tensor&) {
  HEARTH_CHECK(false, NotImplementedError, "ModuleList has no forward: it only holds modules. Call its elements "
               "(list[i]) in your own forward, or use Sequential to chain them");
}
std::shared_ptr<Module> ModuleListImpl::operator[](int64_t index) const {
  return children_[wrap_index(index, children_.size(), "ModuleList")].second;
}

ModuleDictImpl::ModuleDictImpl(std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules) {
  for (auto& [n, m] : modules) insert(n, std::move(m));
}
void ModuleDictImpl::insert(const std::string& name, std::shared_ptr<Module> module) {
  register_module_impl(name, std::move(module));
}
bool ModuleDictImpl::contains(const std::string& name) const {
  return std::any_of(children_.begin(), children_.end(), [&](const auto& c) { return c.first == name; });
}
std::vector<std::string> ModuleDictImpl::keys() const {
  std::vector<std::string> k;
  for (const auto& [n, m] : children_) k.push_back(n);
  return k;
}
Tensor ModuleDictImpl::forward(const Tensor&) {
  HEARTH_CHECK(false, NotImplementedError, "ModuleDict has no forward: it only holds modules. Call its elements "
               "(dict[\"name\"]) in your own forward");
}

}  // namespace hearth::nn
