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

  bool requires_grad() const { return requires_grad_flag || grad_fn != nullptr; }

 private:
  uint64_t id_ = 0;
};

}  // namespace hearth
