// Reverse-mode automatic differentiation: graph nodes, saved tensors, the engine, and the tools
// around it (anomaly mode, gradcheck, graph-growth and unowned-leaf checks, DOT export,
// gradient checkpointing). docs/autograd.md explains the design.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hearth/autograd_meta.h"
#include "hearth/tensor.h"

namespace hearth::autograd {

class Node;
using tensor_list = std::vector<Tensor>;

/// Where a gradient goes: input `input_nr` of `function`. Invalid (null) for inputs that need none.
struct Edge {
  std::shared_ptr<Node> function;
  uint32_t input_nr = 0;
  bool is_valid() const { return function != nullptr; }
};

/// Shape, dtype and device a node expects for one incoming gradient (one forward output). The
/// engine casts gradients to this dtype and sums broadcast dimensions away before passing them.
struct InputMeta {
  DimVector sizes;
  ScalarType dtype;
  Device device;
};

/// A tensor saved for backward. It remembers its storage's version at save time (SEED B6, F1):
/// unpacking after an in-place change raises, naming the node, the tensor and both versions.
class SavedVariable {
 public:
  SavedVariable() = default;
  /// is_output: the tensor is an output of the node saving it (saved without its grad_fn to
  /// avoid a reference cycle; unpack() restores it).
  SavedVariable(const Tensor& t, bool is_output);
  ~SavedVariable();
  SavedVariable(SavedVariable&& o) noexcept;
  SavedVariable& operator=(SavedVariable&& o) noexcept;
  SavedVariable(const SavedVariable&) = delete;
  SavedVariable& operator=(const SavedVariable&) = delete;
  /// The saved tensor. `owner` is the node that saved it (for messages and outputs' grad_fn).
  Tensor unpack(const Node& owner) const;
  /// Frees the tensor; a later unpack raises and mentions retain_graph.
  void release();
  bool defined() const { return was_defined_; }
  /// For graph pictures: the saved tensor without version checks (undefined once released).
  const Tensor& peek() const { return data_; }

 private:
  Tensor data_;
  std::weak_ptr<Node> grad_fn_;  // of a saved non-leaf input; the node's edge keeps it alive
  uint32_t version_ = 0;
  uint32_t output_nr_ = 0;
  bool is_output_ = false;
  bool was_defined_ = false;
  bool released_ = false;
};

/// A backward function: maps the gradients of a forward op's outputs to the gradients of its
/// inputs. Nodes are created by ops while grad mode is on and an input requires grad.
class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// "MulBackward", "AccumulateGrad", ...
  virtual std::string name() const = 0;
  /// grads[i] is the gradient of forward output i (undefined = zero); returns one gradient per
  /// next edge (undefined where none is needed). Formulas are written with ops, so they build a
  /// graph themselves when the engine runs with create_graph.
  virtual tensor_list apply(tensor_list&& grads) = 0;
  /// Drops saved tensors after backward without retain_graph.
  virtual void release_variables() {}
  /// Saved tensors, for graph pictures (SEED A2).
  virtual std::vector<const SavedVariable*> saved_variables() const { return {}; }

  size_t num_inputs() const { return input_meta_.size(); }
  size_t num_outputs() const { return next_edges_.size(); }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  const Edge& next_edge(size_t i) const { return next_edges_[i]; }
  const InputMeta& input_meta(size_t i) const { return input_meta_[i]; }
  /// Whether gradient i is wanted (the i-th forward input requires grad).
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].is_valid(); }
  /// Creation order in this thread; the engine runs later nodes first.
  uint64_t sequence_nr() const { return sequence_nr_; }
  /// Where the forward op was called (anomaly mode only; else empty).
  const std::string& creation_trace() const { return creation_trace_; }

  /// Hook on the gradient of forward output `input_nr` (Tensor::register_hook on a non-leaf).
  unsigned add_pre_hook(uint32_t input_nr, std::function<Tensor(const Tensor&)> fn);
  void remove_pre_hook(unsigned id);
  const std::vector<std::tuple<unsigned, uint32_t, std::function<Tensor(const Tensor&)>>>& pre_hooks() const {
    return pre_hooks_;
  }

  // Graph construction (ops and custom functions; see record helpers below).
  void add_next_edge(Edge e) { next_edges_.push_back(std::move(e)); }
  uint32_t add_input_meta(const Tensor& t);
  void set_input_meta(uint32_t i, const Tensor& t);

 protected:
  std::vector<Edge> next_edges_;
  std::vector<InputMeta> input_meta_;

 private:
  uint64_t sequence_nr_;
  std::string creation_trace_;
  std::vector<std::tuple<unsigned, uint32_t, std::function<Tensor(const Tensor&)>>> pre_hooks_;
};

/// The node that accumulates into a leaf's .grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(Tensor variable);
  std::string name() const override { return "AccumulateGrad"; }
  tensor_list apply(tensor_list&& grads) override;
  const Tensor& variable() const { return variable_; }

 private:
  Tensor variable_;
};

// ---- the engine ----

/// Computes the gradients of `outputs` and accumulates them into the leaves' .grad.
/// grad_outputs may be empty for one-element outputs (then ones). The graph's saved tensors are
/// freed unless retain_graph (default: create_graph). With create_graph the gradients have a
/// graph themselves (higher-order derivatives). `inputs`, if given, limits accumulation to them.
void backward(const tensor_list& outputs, const tensor_list& grad_outputs = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
              const tensor_list& inputs = {});

/// Returns d(outputs)/d(inputs) contracted with grad_outputs, without touching any .grad.
/// An input the outputs do not depend on raises unless allow_unused (then undefined).
tensor_list grad(const tensor_list& outputs, const tensor_list& inputs, const tensor_list& grad_outputs = {},
                 std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                 bool allow_unused = false);

/// Graph nodes alive in the process (SEED G2). A steady training loop keeps this flat.
int64_t live_nodes();
/// Tensors currently saved for backward and not yet freed (checkpointing keeps fewer).
int64_t live_saved_tensors();

// ---- traps (SEED G2, A1-trap) ----

/// Optimizers call this once per step: when the live graph has grown at every one of the last
/// few steps, it warns (once per episode) that a tensor with history is being kept across
/// iterations, and how to fix it.
void on_optimizer_step();
/// Resets the growth monitor (tests; a new training run).
void reset_graph_growth_monitor();

/// A leaf that received a gradient in the last backward of this process.
struct LeafGradRecord {
  uint64_t leaf_id;      ///< autograd::leaf_id() of the tensor
  DimVector sizes;
  std::string used_by;   ///< the node whose gradient reached it ("MmBackward")
};
/// Leaves that received gradients in the most recent backward()/grad-accumulating call.
std::vector<LeafGradRecord> last_backward_leaves();
/// Stable identity of a tensor's autograd state (creates it); optimizers compare it with
/// LeafGradRecord::leaf_id to find leaves they do not own.
uint64_t leaf_id(const Tensor& t);

// ---- anomaly mode (SEED G8) ----

/// When on, nodes record where their forward op was called (module scope and a symbolized call
/// stack); a failing backward reports it, and a NaN or Inf produced in backward raises.
void set_detect_anomaly(bool on);
bool is_anomaly_enabled();
/// Turns anomaly mode on for a scope.
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard();
  ~DetectAnomalyGuard();
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};
/// Names the enclosing module for anomaly traces ("encoder.layers.0"); modules push themselves.
class ScopeGuard {
 public:
  explicit ScopeGuard(std::string name);
  ~ScopeGuard();
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
};
/// The current scope path, joined with '.'.
std::string current_scope();

/// Turns grad mode on or off for a scope (LibTorch's AutoGradMode).
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled);
  ~AutoGradMode();
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

// ---- gradcheck ----

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  /// Throw AutogradError on failure (like PyTorch); else just return the result.
  bool raise_exception = true;
};
struct GradcheckResult {
  bool ok = true;
  std::string message;      ///< empty when ok
  int64_t input = -1;       ///< worst mismatch: which input,
  int64_t output = -1;      ///< which output,
  DimVector index;          ///< the input element's index,
  DimVector output_index;   ///< the output element's index,
  double analytic = 0, numeric = 0;
};
/// Compares the analytic Jacobian (backward) with central differences in float64 (inputs are
/// converted to float64 leaves that require grad). Reports the worst element.
GradcheckResult gradcheck(const std::function<tensor_list(const tensor_list&)>& fn, const tensor_list& inputs,
                          const GradcheckOptions& options = {});

// ---- graph pictures (SEED A2) ----

/// The graph behind `root` in Graphviz DOT: leaves that require grad (light blue, labelled
/// with their name from named_parameters, else "leaf", and shape), tensors saved for backward
/// (orange), function nodes by op name (grey), the root (green).
std::string to_dot(const Tensor& root, const std::map<std::string, Tensor>& named_parameters = {});

// ---- gradient checkpointing (SEED F4) ----

/// Runs fn(inputs) without keeping its intermediate tensors; backward recomputes them (with
/// the default generator's state restored, so random ops draw the same numbers again).
tensor_list checkpoint(const std::function<tensor_list(const tensor_list&)>& fn, const tensor_list& inputs);

// ---- building graphs: ops and custom differentiable functions ----

/// Grad mode is on and one of the tensors requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> tensors);
bool any_requires_grad(const tensor_list& tensors);
/// The edge a gradient for `t` must flow along: its grad_fn, or its leaf accumulator, or none.
Edge gradient_edge(const Tensor& t);
/// Makes `node` an op's backward: one next edge per forward input (none for those that need
/// no grad). Returns the node for chaining.
template <typename N>
std::shared_ptr<N> make_node(std::shared_ptr<N> node, std::initializer_list<const Tensor*> inputs) {
  for (const Tensor* t : inputs) node->add_next_edge(t && t->defined() ? gradient_edge(*t) : Edge{});
  return node;
}
/// Makes `fn` the grad_fn of a fresh forward output (its next output index).
void set_history(const Tensor& output, const std::shared_ptr<Node>& fn);
/// Before an in-place op on `self`: raises for a leaf that requires grad, a view of one, and views
/// PyTorch refuses too (made under NoGradGuard, or by unbind/split/chunk; docs/autograd.md).
/// `others_need_grad`: an operand of the op requires grad.
void check_inplace(const Tensor& self, bool others_need_grad, const char* op);
/// After an in-place op recorded as `fn` (whose next edge 0 is self's old history): self now has
/// grad_fn fn; for a view, the base's history is rebased with CopySlices(fn) instead.
void rebase_history(const Tensor& self, const std::shared_ptr<Node>& fn);

}  // namespace hearth::autograd

namespace hearth {
/// LibTorch spells it torch::AutoGradMode (top level).
using autograd::AutoGradMode;
}  // namespace hearth
