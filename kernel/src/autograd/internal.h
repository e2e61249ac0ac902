// Autograd internals shared by the engine, nodes, anomaly mode and the op layer.
#pragma once

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
