// Building blocks for the backward formulas that live next to each op's forward
// (kernel/src/ops/*.cpp, kernel/src/views.cpp): a node base with saved tensors, and helpers.
#pragma once

#include <array>
#include <memory>

#include "hearth/functions.h"
#include "internal.h"

namespace hearth::autograd {

/// A node that saves N tensors; frees them after backward and lists them for graph pictures.
template <size_t N>
class SavingNode : public Node {
 public:
  void release_variables() override {
    for (auto& s : saved_) s.release();
  }
  std::vector<const SavedVariable*> saved_variables() const override {
    std::vector<const SavedVariable*> v;
    for (const auto& s : saved_)
      if (s.defined()) v.push_back(&s);
    return v;
  }
  /// Saves input/result i (is_output: the tensor is this node's own forward output).
  void save(size_t i, const Tensor& t, bool is_output = false) { saved_[i] = SavedVariable(t, is_output); }
  Tensor saved(size_t i) const { return saved_[i].unpack(*this); }

 protected:
  std::array<SavedVariable, N> saved_;
};

/// Records `node` as the backward of an op with the given inputs and output(s).
template <typename N>
void record(const std::shared_ptr<N>& node, std::initializer_list<const Tensor*> inputs,
            std::initializer_list<const Tensor*> outputs) {
  make_node(node, inputs);
  for (const Tensor* o : outputs) set_history(*o, node);
}

/// Gradient of a view whose elements are a subset (or, if overlapping, a multiset) of the
/// input's: `view_fn` applied to the input gives the view. Scatters g back into zeros of the
/// input's shape; differentiable (index ops) when grad mode is on (create_graph).
Tensor view_region_backward(const Tensor& g, IntArrayRef in_sizes, const std::function<Tensor(const Tensor&)>& view_fn,
                            bool overlapping);

}  // namespace hearth::autograd
