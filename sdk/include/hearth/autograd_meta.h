// Autograd state attached to a TensorImpl: requires_grad, the accumulated gradient, the node
// that produced the tensor, hooks. Absent (null) for tensors that never took part in autograd.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "hearth/tensor.h"

namespace hearth {
namespace autograd {
class Node;
}

/// A differentiable view's link to its base (docs/autograd.md, "In-place ops on views"): an
/// in-place op on the view rebases the base's history (CopySlices), and the view's grad_fn is
/// replayed from the base whenever the shared version counter has moved since it was set.
struct ViewInfo {
  enum class Creation : uint8_t {
    Default,      ///< made while grad mode was on: in-place ops rebase the base
    NoGradMode,   ///< made under NoGradGuard: in-place ops with grad mode on are refused
    MultiOutput,  ///< one of several views (unbind, split, chunk): in-place ops are refused
  };
  /// The root base (never itself a tracked view).
  Tensor base;
  /// Replays this view on the base, or on a tensor with the base's sizes and strides.
  std::function<Tensor(const Tensor&)> view_fn;
  Creation creation = Creation::Default;
  /// The view op that made a MultiOutput view ("unbind"), for messages.
  const char* creator = "";
  /// The storage version when the view's grad_fn was last set.
  uint32_t attr_version = 0;
};

struct AutogradMeta {
  AutogradMeta();

  /// Set by the user on leaves; non-leaves require grad because they have a grad_fn.
  bool requires_grad_flag = false;
  /// The gradient accumulated by backward (leaves, or non-leaves after retain_grad()).
  Tensor grad;
  /// The node that computed this tensor (null for leaves) and which of its outputs it is.
  std::shared_ptr<autograd::Node> grad_fn;
  uint32_t output_nr = 0;
  /// Leaves: the AccumulateGrad node, shared by every use of the leaf while it lives.
  std::weak_ptr<autograd::Node> grad_accumulator;
  /// Leaf hooks (run by AccumulateGrad before accumulating), by id.
  std::vector<std::pair<unsigned, std::function<Tensor(const Tensor&)>>> hooks;
  /// retain_grad() on a non-leaf: the hook writes here (shared so a dead tensor is harmless).
  std::shared_ptr<Tensor> retained_grad;
  /// Stable identity for "which leaves got a gradient" (SEED A1-trap); never reused. Assigned
  /// on first use, so tensors that never need one pay no atomic.
  uint64_t stable_id();

  /// Set for views made by view ops while autograd may need them (see ViewInfo).
  std::unique_ptr<ViewInfo> view;

  bool requires_grad() const { return requires_grad_flag || grad_fn != nullptr; }

 private:
  uint64_t id_ = 0;
};

}  // namespace hearth
