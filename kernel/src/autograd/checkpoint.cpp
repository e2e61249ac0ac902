// Gradient checkpointing (SEED F4): keep a segment's inputs, recompute its forward in backward.
#include "hearth/functions.h"
#include "hearth/generator.h"
#include "internal.h"

namespace hearth::autograd {

namespace {

class CheckpointBackward final : public Node {
 public:
  CheckpointBackward(std::function<tensor_list(const tensor_list&)> fn, const tensor_list& inputs, uint64_t seed,
                     uint64_t offset)
      : fn_(std::move(fn)), seed_(seed), offset_(offset) {
    for (const Tensor& t : inputs) saved_.emplace_back(t, false);
  }
  std::string name() const override { return "CheckpointBackward"; }
  std::vector<const SavedVariable*> saved_variables() const override {
    std::vector<const SavedVariable*> v;
    for (const auto& s : saved_) v.push_back(&s);
    return v;
  }
  void release_variables() override {
    for (auto& s : saved_) s.release();
  }

  /// Maps this node's inputs (gradients of the outputs that got history) to output positions.
  std::vector<size_t> output_positions;

  tensor_list apply(tensor_list&& grads) override {
    tensor_list detached;
    for (const auto& s : saved_) {
      Tensor x = s.unpack(*this);
      if (!x.defined()) {
        detached.push_back(x);
        continue;
      }
      Tensor d = internal::alias_without_history(x);
      if (x.requires_grad()) d.requires_grad_(true);
      detached.push_back(d);
    }
    // Recompute with the forward's random state, then put the current state back.
    Generator& gen = default_generator();
    const uint64_t cur_seed = gen.seed(), cur_offset = gen.offset();
    gen.set_state(seed_, offset_);
    tensor_list outs;
    try {
      AutoGradMode on(true);
      outs = fn_(detached);
    } catch (...) {
      gen.set_state(cur_seed, cur_offset);
      throw;
    }
    gen.set_state(cur_seed, cur_offset);
    tensor_list roots, root_grads;
    for (size_t k = 0; k < output_positions.size() && k < grads.size(); ++k) {
      const size_t pos = output_positions[k];
      HEARTH_CHECK(pos < outs.size(), AutogradError, "checkpoint: the recomputed segment returned ", outs.size(),
                   " outputs, the forward returned more; the function must be deterministic in its structure");
      if (grads[k].defined() && outs[pos].requires_grad()) {
        roots.push_back(outs[pos]);
        root_grads.push_back(grads[k]);
      }
    }
    // Accumulates into parameters used inside the segment, as the plain graph would.
    if (!roots.empty()) backward(roots, root_grads, false, is_grad_enabled());
    tensor_list result;
    for (const Tensor& d : detached) result.push_back(d.defined() && d.requires_grad() ? d.grad() : Tensor());
    return result;
  }

 private:
  std::function<tensor_list(const tensor_list&)> fn_;
  std::vector<SavedVariable> saved_;
  uint64_t seed_, offset_;
};

}  // namespace

tensor_list checkpoint(const std::function<tensor_list(const tensor_list&)>& fn, const tensor_list& inputs) {
  HEARTH_CHECK(static_cast<bool>(fn), ValueError, "checkpoint: empty function");
  Generator& gen = default_generator();
  const uint64_t seed = gen.seed(), offset = gen.offset();
  tensor_list outs;
  {
    NoGradGuard ng;
    outs = fn(inputs);
  }
  // Record even when no input requires grad: parameters used inside fn may.
  if (!is_grad_enabled()) return outs;
  std::vector<const Tensor*> ptrs;
  auto node = std::make_shared<CheckpointBackward>(fn, inputs, seed, offset);
  for (const Tensor& t : inputs) node->add_next_edge(t.defined() ? gradient_edge(t) : Edge{});
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!outs[k].defined() || !outs[k].is_floating_point()) continue;
    outs[k] = internal::alias_without_history(outs[k]);  // fresh handle even if fn returned an input
    set_history(outs[k], node);
    node->output_positions.push_back(k);
  }
  return outs;
}

}  // namespace hearth::autograd
