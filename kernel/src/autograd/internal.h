// Autograd internals shared by the engine, nodes, anomaly mode and the op layer.
#pragma once

#include <functional>
#include <string>

#include "hearth/autograd.h"
#include "hearth/functions.h"

namespace hearth::autograd::internal {

/// The tensor's autograd state, created on first use.
AutogradMeta& materialize(const Tensor& t);
inline AutogradMeta* meta(const Tensor& t) { return t.defined() ? t.impl()->autograd_meta() : nullptr; }

/// A new handle on the same memory and geometry, without autograd state: what a node keeps so
/// that it holds no reference back into the graph.
Tensor alias_without_history(const Tensor& t);

/// Replays a tracked view's grad_fn from its base when the version counter moved since it was
/// set (or always, with `force`): an in-place op on the base or on another of its views changed
/// the history the view's values come from.
void refresh_view(const Tensor& t, AutogradMeta& m, bool force);
/// meta(t), with a tracked view's grad_fn brought up to date first.
inline AutogradMeta* fresh_meta(const Tensor& t) {
  AutogradMeta* m = meta(t);
  if (m && m->view) [[unlikely]]
    refresh_view(t, *m, false);
  return m;
}
/// Called by view ops: links `out` (a view of `base` that `view_fn` replays) to its root base, so
/// that in-place ops on it can rebase the base's history. MultiOutput marks unbind/split/chunk.
void track_view(const Tensor& base, const Tensor& out, std::function<Tensor(const Tensor&)> view_fn,
                ViewInfo::Creation creation = ViewInfo::Creation::Default, const char* creator = "");
/// A view whose in-place ops rebase its base (CopySlices).
inline bool is_rebasing_view(const Tensor& t) {
  const AutogradMeta* m = meta(t);
  return m && m->view && m->view->creation == ViewInfo::Creation::Default;
}

/// "[2, 3] float32" for autograd messages.
std::string describe(const Tensor& t);

/// Sums a broadcast gradient back to `sizes` (leading dims and dims that were 1).
Tensor sum_to(const Tensor& g, IntArrayRef sizes);

/// After an in-place op that overwrote a tensor with constants (fill_, uniform_...; the caller
/// ran check_inplace before writing): for a non-leaf, ends its history.
void rebase_constant(const Tensor& self, const char* op);

/// Anomaly mode: the creation trace for a node (module scope + symbolized stack).
std::string capture_creation_trace();

/// Records that a leaf received a gradient in the running backward (SEED A1-trap).
void note_leaf_grad(const Tensor& leaf, const std::string& used_by);

/// The node the engine is currently running on this thread (null outside backward).
const Node* current_node();
void set_current_node(const Node* n);

/// Enables grad mode during a primitive's forward only when it records its own node, so the
/// ops it calls internally (dtype conversions, reshapes) do not record a second graph.
class ForwardGuard {
 public:
  explicit ForwardGuard(bool recording) : active_(recording) {
    if (active_) set_grad_enabled(false);
  }
  ~ForwardGuard() {
    if (active_) set_grad_enabled(true);
  }
  ForwardGuard(const ForwardGuard&) = delete;
  ForwardGuard& operator=(const ForwardGuard&) = delete;

 private:
  bool active_;
};

}  // namespace hearth::autograd::internal
