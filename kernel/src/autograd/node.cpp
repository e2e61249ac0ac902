// Graph nodes, saved tensors, leaf accumulation, the helpers ops use to record history, and the
// Tensor methods of autograd (requires_grad, grad, backward, hooks).
#include <algorithm>
#include <atomic>

#include "hearth/functions.h"
#include "internal.h"

namespace hearth {

namespace {
std::atomic<uint64_t> g_next_meta_id{1};
std::atomic<int64_t> g_live_nodes{0};
std::atomic<int64_t> g_live_saved{0};
std::atomic<unsigned> g_next_hook_id{1};
thread_local uint64_t t_sequence_nr = 0;
// Set while a view's grad_fn is replayed from its base: the replayed view is a temporary whose
// node is all that is kept, so it is not tracked itself.
thread_local bool t_replaying_view = false;
// Children of nodes being destroyed, released iteratively: a long chain (SEED G2's
// `total += loss`) would otherwise recurse once per node and overflow the stack.
thread_local std::vector<std::shared_ptr<autograd::Node>>* t_pending_release = nullptr;
}  // namespace

AutogradMeta::AutogradMeta() = default;

uint64_t AutogradMeta::stable_id() {
  if (id_ == 0) id_ = g_next_meta_id.fetch_add(1, std::memory_order_relaxed);
  return id_;
}

namespace autograd {

namespace internal {

AutogradMeta& materialize(const Tensor& t) {
  TensorImpl* impl = t.impl().get();
  if (!impl->autograd_meta()) impl->set_autograd_meta(std::make_unique<AutogradMeta>());
  return *impl->autograd_meta();
}

std::string describe(const Tensor& t) {
  return detail::str(t.sizes(), " ", t.dtype(), t.is_cpu() ? "" : " on " + t.device().str());
}

}  // namespace internal

using internal::fresh_meta;
using internal::meta;

// ---- Node ----

Node::Node() : sequence_nr_(t_sequence_nr++) {
  g_live_nodes.fetch_add(1, std::memory_order_relaxed);
  if (is_anomaly_enabled()) creation_trace_ = internal::capture_creation_trace();
}

Node::~Node() {
  g_live_nodes.fetch_sub(1, std::memory_order_relaxed);
  if (t_pending_release) {
    for (auto& e : next_edges_)
      if (e.function) t_pending_release->push_back(std::move(e.function));
    return;
  }
  std::vector<std::shared_ptr<Node>> pending;
  for (auto& e : next_edges_)
    if (e.function) pending.push_back(std::move(e.function));
  if (pending.empty()) return;
  t_pending_release = &pending;
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    n.reset();  // its destructor appends its own children to `pending`
  }
  t_pending_release = nullptr;
}

uint32_t Node::add_input_meta(const Tensor& t) {
  input_meta_.push_back(InputMeta{DimVector(t.sizes().begin(), t.sizes().end()), t.dtype(), t.device()});
  return static_cast<uint32_t>(input_meta_.size() - 1);
}

void Node::set_input_meta(uint32_t i, const Tensor& t) {
  if (input_meta_.size() <= i) input_meta_.resize(i + 1, InputMeta{{}, t.dtype(), t.device()});
  input_meta_[i] = InputMeta{DimVector(t.sizes().begin(), t.sizes().end()), t.dtype(), t.device()};
}

unsigned Node::add_pre_hook(uint32_t input_nr, std::function<Tensor(const Tensor&)> fn) {
  const unsigned id = g_next_hook_id.fetch_add(1, std::memory_order_relaxed);
  pre_hooks_.emplace_back(id, input_nr, std::move(fn));
  return id;
}

void Node::remove_pre_hook(unsigned id) {
  pre_hooks_.erase(std::remove_if(pre_hooks_.begin(), pre_hooks_.end(),
                                  [id](const auto& h) { return std::get<0>(h) == id; }),
                   pre_hooks_.end());
}

// ---- SavedVariable ----

namespace internal {
Tensor alias_without_history(const Tensor& t) {
  auto impl = detail::make_intrusive<TensorImpl>(t.impl()->storage(), t.dtype(), t.sizes(), t.impl()->strides(),
                                                 t.impl()->storage_offset());
  if (t.impl()->opaque_layout()) impl->set_opaque_layout(t.impl()->opaque_layout());
  return Tensor(std::move(impl));
}
}  // namespace internal
using internal::alias_without_history;

SavedVariable::SavedVariable(const Tensor& t, bool is_output) {
  if (!t.defined()) return;
  was_defined_ = true;
  is_output_ = is_output;
  version_ = t._version();
  AutogradMeta* m = fresh_meta(t);
  if (!is_output && m && m->requires_grad() && !m->grad_fn) {
    data_ = t;  // a leaf: keep it so create_graph can reach its accumulator (no cycle: no grad_fn)
  } else {
    data_ = alias_without_history(t);
    if (is_output && m) output_nr_ = m->output_nr;
    if (!is_output && m && m->grad_fn) {
      grad_fn_ = m->grad_fn;  // weak: the node's next edge keeps it alive
      output_nr_ = m->output_nr;
    }
  }
  g_live_saved.fetch_add(1, std::memory_order_relaxed);
}

SavedVariable::~SavedVariable() {
  if (was_defined_ && !released_) g_live_saved.fetch_sub(1, std::memory_order_relaxed);
}

SavedVariable::SavedVariable(SavedVariable&& o) noexcept
    : data_(std::move(o.data_)),
      grad_fn_(std::move(o.grad_fn_)),
      version_(o.version_),
      output_nr_(o.output_nr_),
      is_output_(o.is_output_),
      was_defined_(o.was_defined_),
      released_(o.released_) {
  o.was_defined_ = false;
}

SavedVariable& SavedVariable::operator=(SavedVariable&& o) noexcept {
  if (this != &o) {
    if (was_defined_ && !released_) g_live_saved.fetch_sub(1, std::memory_order_relaxed);
    data_ = std::move(o.data_);
    grad_fn_ = std::move(o.grad_fn_);
    version_ = o.version_;
    output_nr_ = o.output_nr_;
    is_output_ = o.is_output_;
    was_defined_ = o.was_defined_;
    released_ = o.released_;
    o.was_defined_ = false;
  }
  return *this;
}

void SavedVariable::release() {
  if (was_defined_ && !released_) g_live_saved.fetch_sub(1, std::memory_order_relaxed);
  released_ = true;
  data_ = Tensor();
}

Tensor SavedVariable::unpack(const Node& owner) const {
  if (!was_defined_) return Tensor();
  HEARTH_CHECK(!released_, AutogradError, "Trying to backward through the graph a second time (or to read saved "
               "tensors after they have been freed): the tensors saved by ", owner.name(),
               " were freed by the previous backward. Pass retain_graph=true to the first backward() "
               "(or autograd::grad()) if you need to backward through the graph again");
  const uint32_t now = data_._version();
  HEARTH_CHECK(now == version_, AutogradError,
               "one of the tensors needed for gradient computation has been modified by an in-place operation: ",
               internal::describe(data_), is_output_ ? " (an output of " : " (an input of ", owner.name(),
               ") is at version ", now, "; expected version ", version_,
               " instead. The value was changed in place after ", owner.name(),
               " saved it for backward; clone() it before the in-place change, or make the change out of place");
  if (!is_grad_enabled()) return data_;
  // create_graph: reconnect the tensor to its history so the gradient has a graph too.
  std::shared_ptr<Node> fn;
  if (is_output_) fn = std::const_pointer_cast<Node>(owner.shared_from_this());
  else fn = grad_fn_.lock();
  if (!fn) return data_;
  Tensor t = alias_without_history(data_);
  AutogradMeta& m = internal::materialize(t);
  m.grad_fn = std::move(fn);
  m.output_nr = output_nr_;
  return t;
}

// ---- AccumulateGrad ----

AccumulateGrad::AccumulateGrad(Tensor variable) : variable_(std::move(variable)) { add_input_meta(variable_); }

tensor_list AccumulateGrad::apply(tensor_list&& grads) {
  Tensor g = std::move(grads[0]);
  AutogradMeta& m = internal::materialize(variable_);
  for (const auto& [id, hook] : m.hooks) {
    if (!g.defined()) break;
    Tensor r = hook(g);
    if (r.defined()) g = std::move(r);
  }
  if (!g.defined()) return {};
  if (!m.grad.defined()) {
    // Steal the incoming gradient when nothing else references it; otherwise copy, so that two
    // leaves never share one gradient tensor (a later in-place accumulation would hit both).
    // A view whose memory nobody else holds (the double transpose of a linear layer's weight
    // gradient, say) is as good as its own tensor: take it over as a plain alias.
    const bool whole_storage = g.impl()->storage_offset() == 0 && g.impl()->storage()->nbytes() == g.nbytes();
    const bool sole = g.impl().use_count() == 1 && g.impl()->storage().use_count() == 1 && g.is_contiguous() &&
                      (!g.impl()->is_view() || whole_storage);
    if (is_grad_enabled()) m.grad = sole && !g.impl()->is_view() ? g : g.clone();
    else if (!sole) m.grad = g.clone();
    else if (g.requires_grad() || g.impl()->is_view()) m.grad = alias_without_history(g);  // a user-given root grad may have history
    else m.grad = std::move(g);
  } else if (is_grad_enabled()) {
    m.grad = m.grad + g;  // create_graph: keep the sum differentiable
  } else {
    NoGradGuard ng;
    m.grad.add_(g);
  }
  return {};
}

// ---- recording ----

bool any_requires_grad(std::initializer_list<const Tensor*> tensors) {
  if (!is_grad_enabled()) return false;
  for (const Tensor* t : tensors) {
    if (t && t->defined()) {
      const AutogradMeta* m = internal::fresh_meta(*t);
      if (m && m->requires_grad()) return true;
    }
  }
  return false;
}

bool any_requires_grad(const tensor_list& tensors) {
  if (!is_grad_enabled()) return false;
  for (const Tensor& t : tensors)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  AutogradMeta* m = fresh_meta(t);
  if (!m) return {};
  if (m->grad_fn) return Edge{m->grad_fn, m->output_nr};
  if (!m->requires_grad_flag) return {};
  std::shared_ptr<Node> acc = m->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t);
    m->grad_accumulator = acc;
  }
  return Edge{std::move(acc), 0};
}

void set_history(const Tensor& output, const std::shared_ptr<Node>& fn) {
  AutogradMeta& m = internal::materialize(output);
  HEARTH_INTERNAL_ASSERT(!m.grad_fn && !m.requires_grad_flag, "set_history on a tensor that already has history");
  // A primitive's output is fresh: a view of a kernel's result made inside its ForwardGuard
  // (untracked: grad mode was off) is an ordinary tensor, as in PyTorch, not a view. View ops
  // track their outputs before recording, so theirs stay views.
  if (!m.view && output.impl()->is_view()) output.impl()->set_is_view(false);
  m.output_nr = fn->add_input_meta(output);
  m.grad_fn = fn;
}

namespace {

/// The base's new history after an in-place op `fn` on one of its views (PyTorch's CopySlices):
/// the gradient of the base passes unchanged outside the view's elements; inside them it goes
/// through fn (as the view's gradient) to the view's old values. fn's other inputs (an in-place
/// op's operands) keep their edges.
class CopySlices final : public Node {
 public:
  CopySlices(const Tensor& base, std::function<Tensor(const Tensor&)> view_fn, std::shared_ptr<Node> fn)
      : base_sizes_(base.sizes().begin(), base.sizes().end()),
        base_strides_(base.strides().begin(), base.strides().end()),
        view_fn_(std::move(view_fn)),
        fn_(std::move(fn)) {
    next_edges_ = fn_->next_edges();
    if (next_edges_.empty()) next_edges_.resize(1);  // fill_, zero_: fn has no inputs
    next_edges_[0] = gradient_edge(base);             // the base's history before the write
  }
  std::string name() const override { return "CopySlices"; }
  void release_variables() override { fn_->release_variables(); }
  std::vector<const SavedVariable*> saved_variables() const override { return fn_->saved_variables(); }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor& g = grads[0];
    // The base's strides, so that view_fn (as_strided included) picks the same elements.
    Tensor result = empty_strided(base_sizes_, base_strides_, g.options());
    result.copy_(g);
    Tensor slice = view_fn_(result);
    tensor_list res = fn_->apply({slice.clone()});
    tensor_list out(num_outputs());
    for (size_t i = 1; i < out.size() && i < res.size(); ++i) out[i] = std::move(res[i]);
    if (needs_input_grad(0)) {
      // The view's old values get fn's gradient for its input 0; overwritten values get none.
      if (!res.empty() && res[0].defined()) slice.copy_(res[0]);
      else slice.zero_();
      out[0] = std::move(result);
    }
    return out;
  }

 private:
  DimVector base_sizes_, base_strides_;  // geometry only: holding the base would be a cycle
  std::function<Tensor(const Tensor&)> view_fn_;
  std::shared_ptr<Node> fn_;
};

}  // namespace

namespace internal {

void refresh_view(const Tensor& t, AutogradMeta& m, bool force) {
  ViewInfo& v = *m.view;
  // A view made under NoGradGuard has no history of its own (it is refused by in-place ops with
  // grad mode on); a view the user made a leaf keeps being one.
  if (v.creation == ViewInfo::Creation::NoGradMode || m.requires_grad_flag) return;
  const uint32_t now = t._version();
  if (!force && v.attr_version == now) return;
  if (!m.grad_fn && !v.base.requires_grad()) return;  // nothing to differentiate (yet)
  Tensor replay;
  {
    AutoGradMode on(true);
    const bool prev = t_replaying_view;
    t_replaying_view = true;
    try {
      replay = v.view_fn(v.base);
    } catch (...) {
      t_replaying_view = prev;
      throw;
    }
    t_replaying_view = prev;
  }
  AutogradMeta* rm = meta(replay);
  std::shared_ptr<Node> fn = rm ? rm->grad_fn : nullptr;
  if (fn != m.grad_fn && m.retained_grad) m.retained_grad.reset();  // as after rebase_history
  m.grad_fn = std::move(fn);
  m.output_nr = rm ? rm->output_nr : 0;
  v.attr_version = now;
}

void track_view(const Tensor& base, const Tensor& out, std::function<Tensor(const Tensor&)> view_fn,
                ViewInfo::Creation creation, const char* creator) {
  if (t_replaying_view) return;
  const bool grad = is_grad_enabled();
  AutogradMeta* bm = fresh_meta(base);
  const ViewInfo* bv = bm ? bm->view.get() : nullptr;
  // Under NoGradGuard a view of a tensor outside autograd needs nothing: in-place ops on it are
  // refused anyway once grad mode is on and an operand requires grad (an untracked view).
  if (!grad && !bv && !(bm && bm->requires_grad())) return;
  auto info = std::make_unique<ViewInfo>();
  if (!grad) creation = ViewInfo::Creation::NoGradMode;
  if (bv) {
    // A view of a view: replay from the root base, and keep its restrictions (PyTorch's
    // propagate_creation_meta).
    info->base = bv->base;
    info->view_fn = [outer = bv->view_fn, inner = std::move(view_fn)](const Tensor& x) { return inner(outer(x)); };
    if (creation == ViewInfo::Creation::Default) {
      creation = bv->creation;
      creator = bv->creator;
    }
  } else {
    info->base = base;
    info->view_fn = std::move(view_fn);
    // The base is a view autograd does not track (made under NoGradGuard): its own base is unknown.
    if (base.impl()->is_view() && creation == ViewInfo::Creation::Default) creation = ViewInfo::Creation::NoGradMode;
  }
  info->creation = creation;
  info->creator = creator;
  info->attr_version = out._version();
  AutogradMeta& om = materialize(out);
  om.view = std::move(info);
}

}  // namespace internal

void check_inplace(const Tensor& self, bool others_need_grad, const char* op) {
  if (!is_grad_enabled()) return;
  AutogradMeta* m = fresh_meta(self);
  const bool self_rg = m && m->requires_grad();
  if (self_rg || others_need_grad) {
    const ViewInfo* v = m ? m->view.get() : nullptr;
    const bool no_grad_view = v ? v->creation == ViewInfo::Creation::NoGradMode : self.impl()->is_view();
    HEARTH_CHECK(!no_grad_view, AutogradError, op, ": a view (", internal::describe(self),
                 ") was created in no_grad mode and is being modified in place with grad mode enabled. Given that "
                 "this use case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving "
                 "both the view and the in-place op either both inside the NoGradGuard block (if you don't want the "
                 "in-place op to be tracked) or both outside (if you want it to be tracked)");
    if (v) {
      HEARTH_CHECK(v->creation != ViewInfo::Creation::MultiOutput, AutogradError, op, ": output of ", v->creator,
                   " (", internal::describe(self), ") is a view and is being modified in place. This view is one of "
                   "several views returned by one function (unbind, split, chunk); such views may not be modified "
                   "in place. Replace the in-place op by an out-of-place one, or clone() the view first");
      const AutogradMeta* bm = meta(v->base);
      HEARTH_CHECK(!(bm && bm->requires_grad_flag && !bm->grad_fn), AutogradError, op,
                   ": a view of a leaf tensor that requires grad (view ", internal::describe(self), " of ",
                   internal::describe(v->base), ") is being used in an in-place operation. Update parameters "
                   "inside a NoGradGuard (as optimizers do), or use an out-of-place op");
    }
  }
  HEARTH_CHECK(!(self_rg && !m->grad_fn), AutogradError, op, ": a leaf tensor that requires grad (",
               internal::describe(self), ") is being used in an in-place operation. Update parameters inside a "
               "NoGradGuard (as optimizers do), or use an out-of-place op");
}

void rebase_history(const Tensor& self, const std::shared_ptr<Node>& fn) {
  AutogradMeta& m = internal::materialize(self);
  if (m.view && m.view->creation == ViewInfo::Creation::Default) {
    // In place on a view: the base takes the new history, and the view's grad_fn is replayed
    // from it (SelectBackward of CopySlices, say).
    fn->set_input_meta(0, self);
    const Tensor base = m.view->base;
    rebase_history(base, std::make_shared<CopySlices>(base, m.view->view_fn, fn));
    internal::refresh_view(self, m, /*force=*/true);
    return;
  }
  fn->set_input_meta(0, self);
  m.grad_fn = fn;
  m.output_nr = 0;
  if (m.retained_grad) m.retained_grad.reset();  // the old node's hook no longer sees this tensor
}

int64_t live_nodes() { return g_live_nodes.load(std::memory_order_relaxed); }
int64_t live_saved_tensors() { return g_live_saved.load(std::memory_order_relaxed); }

uint64_t leaf_id(const Tensor& t) {
  HEARTH_CHECK(t.defined(), ValueError, "leaf_id: undefined tensor");
  return internal::materialize(t).stable_id();
}

AutoGradMode::AutoGradMode(bool enabled) : prev_(is_grad_enabled()) { set_grad_enabled(enabled); }
AutoGradMode::~AutoGradMode() { set_grad_enabled(prev_); }

}  // namespace autograd

// ---- Tensor methods ----

using autograd::internal::meta;

bool Tensor::requires_grad() const {
  const AutogradMeta* m = autograd::internal::fresh_meta(*this);
  return m && m->requires_grad();
}

Tensor& Tensor::requires_grad_(bool r) {
  AutogradMeta* m = autograd::internal::fresh_meta(*this);
  HEARTH_CHECK(!(m && m->grad_fn), AutogradError, "requires_grad_: you can only change requires_grad of leaf tensors "
               "(this one was computed by ", m && m->grad_fn ? m->grad_fn->name() : "", "). To use a computed tensor "
               "without its history, use detach()");
  if (!r && !m) return *this;
  HEARTH_CHECK(!r || is_floating_point(), AutogradError, "requires_grad_: only tensors of floating point dtype can "
               "require gradients (got ", dtype(), ")");
  autograd::internal::materialize(*this).requires_grad_flag = r;
  return *this;
}

const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  const AutogradMeta* m = ti()->autograd_meta();
  if (!m) return undefined;
  if (m->retained_grad) return *m->retained_grad;
  if (m->grad_fn && !m->grad.defined()) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      warn("grad() of a non-leaf tensor (computed by " + m->grad_fn->name() +
           ") is not filled by backward. Call retain_grad() on it before backward if you need it, or read the "
           "grad() of the leaf tensors");
  }
  return m->grad;
}

Tensor& Tensor::mutable_grad() { return autograd::internal::materialize(*this).grad; }

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  const AutogradMeta* m = autograd::internal::fresh_meta(*this);
  return m ? m->grad_fn : none;
}

bool Tensor::is_leaf() const {
  const AutogradMeta* m = autograd::internal::fresh_meta(*this);
  return !m || !m->grad_fn;
}

uint32_t Tensor::output_nr() const {
  const AutogradMeta* m = autograd::internal::fresh_meta(*this);
  return m ? m->output_nr : 0;
}

void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph,
                      const std::vector<Tensor>& inputs) const {
  autograd::tensor_list grads;
  if (gradient.defined()) grads.push_back(gradient);
  autograd::backward({*this}, grads, retain_graph, create_graph, inputs);
}

unsigned Tensor::register_hook_impl(std::function<Tensor(const Tensor&)> hook) const {
  HEARTH_CHECK(requires_grad(), AutogradError, "register_hook: cannot register a hook on a tensor that doesn't "
               "require gradient (", autograd::internal::describe(*this), ")");
  AutogradMeta& m = *autograd::internal::fresh_meta(*this);
  if (m.grad_fn) return m.grad_fn->add_pre_hook(m.output_nr, std::move(hook));
  const unsigned id = g_next_hook_id.fetch_add(1, std::memory_order_relaxed);
  m.hooks.emplace_back(id, std::move(hook));
  return id;
}

void Tensor::remove_hook(unsigned id) const {
  AutogradMeta* m = meta(*this);
  if (!m) return;
  if (m->grad_fn) m->grad_fn->remove_pre_hook(id);
  m->hooks.erase(std::remove_if(m->hooks.begin(), m->hooks.end(), [id](const auto& h) { return h.first == id; }),
                 m->hooks.end());
}

void Tensor::retain_grad() const {
  HEARTH_CHECK(requires_grad(), AutogradError, "retain_grad: can't retain the gradient of a tensor that doesn't "
               "require grad (", autograd::internal::describe(*this), ")");
  AutogradMeta& m = autograd::internal::materialize(*this);
  if (!m.grad_fn || m.retained_grad) return;  // leaves keep their gradient anyway
  auto slot = std::make_shared<Tensor>();
  m.retained_grad = slot;
  m.grad_fn->add_pre_hook(m.output_nr, [slot](const Tensor& g) {
    *slot = slot->defined() ? *slot + g : g;
    return Tensor();
  });
}

bool Tensor::retains_grad() const {
  const AutogradMeta* m = ti()->autograd_meta();
  return m && m->retained_grad != nullptr;
}

}  // namespace hearth
