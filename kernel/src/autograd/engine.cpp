// The backward engine: counts dependencies from the roots, runs nodes in reverse creation
// order as their gradients become complete, checks and casts each gradient to what the next
// node expects, and accumulates into leaves (or captures for autograd::grad).
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <typeinfo>
#include <unordered_map>

#include "hearth/functions.h"
#include "internal.h"

namespace hearth::autograd {

namespace {

std::mutex g_leaves_mu;
std::vector<LeafGradRecord> g_last_leaves;
thread_local const Node* t_current_node = nullptr;
// The leaf records of the outermost backward on this thread; nested runs (checkpoint) add to it.
thread_local std::vector<LeafGradRecord>* t_leaves = nullptr;

struct NodeTask {
  int deps = 0;
  bool exec = true;     // run apply (false: only capture, or not on a path to the targets)
  bool needed = false;  // on a path to a target (grad(), backward(inputs=...))
  tensor_list inputs;
};

bool is_accumulator(const Node* n) { return typeid(*n) == typeid(AccumulateGrad); }

uint64_t priority(const Node* n) {
  // Leaves first: their gradient is final once it arrives, and accumulating early frees it.
  return is_accumulator(n) ? std::numeric_limits<uint64_t>::max() : n->sequence_nr();
}

void accumulate_into(Tensor& slot, Tensor&& g) {
  if (!slot.defined()) slot = std::move(g);
  else slot = slot + g;  // out of place: the same gradient tensor may flow along several edges
}

bool expandable_to(IntArrayRef from, IntArrayRef to) {
  if (from.size() > to.size()) return false;
  const size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[off + i]) return false;
  return true;
}

/// Rethrows `e` as the same hearth error type with `extra` appended.
[[noreturn]] void rethrow_with(const Error& e, const std::string& extra) {
  const std::string msg = std::string(e.what()) + extra;
#define HEARTH_RETHROW_AS(T) \
  if (dynamic_cast<const T*>(&e)) throw T(msg);
  HEARTH_RETHROW_AS(IndexError)
  HEARTH_RETHROW_AS(ShapeError)
  HEARTH_RETHROW_AS(DTypeError)
  HEARTH_RETHROW_AS(DeviceError)
  HEARTH_RETHROW_AS(FormatError)
  HEARTH_RETHROW_AS(PluginError)
  HEARTH_RETHROW_AS(AutogradError)
  HEARTH_RETHROW_AS(ValueError)
  HEARTH_RETHROW_AS(NotImplementedError)
  HEARTH_RETHROW_AS(InternalError)
#undef HEARTH_RETHROW_AS
  throw Error(msg);
}

std::string where_created(const Node& n) {
  if (!n.creation_trace().empty())
    return "\nThe forward op of " + n.name() + " was called at:\n" + n.creation_trace();
  return "";
}

bool has_non_finite(const Tensor& g) {
  if (!g.defined() || !g.is_floating_point() || g.numel() == 0) return false;
  NoGradGuard ng;
  Tensor bad = g.ne(g).logical_or(g.abs().eq(Scalar(std::numeric_limits<double>::infinity())));
  return bad.sum().item<int64_t>() > 0;
}

tensor_list call_node(Node& n, tensor_list&& inputs) {
  const Node* prev = t_current_node;
  t_current_node = &n;
  const bool anomaly = is_anomaly_enabled();
  bool inputs_finite = true;
  if (anomaly)
    for (const Tensor& g : inputs) inputs_finite = inputs_finite && !has_non_finite(g);
  tensor_list out;
  try {
    out = n.apply(std::move(inputs));
  } catch (const Error& e) {
    t_current_node = prev;
    rethrow_with(e, "\n(raised while computing " + n.name() + " in backward" +
                        (anomaly ? ")" + where_created(n)
                                 : "; autograd::set_detect_anomaly(true) shows where its forward op was called)"));
  } catch (...) {
    t_current_node = prev;
    throw;
  }
  t_current_node = prev;
  if (anomaly && inputs_finite) {
    for (size_t i = 0; i < out.size(); ++i) {
      if (has_non_finite(out[i]))
        HEARTH_CHECK(false, AutogradError, "Function '", n.name(), "' returned nan or inf values in its ", i,
                     "th output (gradient of its input ", i, ", ", internal::describe(out[i]), ")", where_created(n));
    }
  }
  return out;
}

/// Makes gradient g (output i of `fn`) fit what the next node expects: sums broadcast dims
/// away, casts the dtype, refuses a wrong shape or device.
Tensor validate(const Node& fn, size_t i, Tensor g, const InputMeta& m) {
  if (!g.defined()) return g;
  if (g.sizes() != IntArrayRef(m.sizes)) {
    HEARTH_CHECK(expandable_to(m.sizes, g.sizes()), AutogradError, "Function ", fn.name(),
                 " returned an invalid gradient at index ", i, ": got shape ", g.sizes(),
                 " but expected shape compatible with ", IntArrayRef(m.sizes));
    g = internal::sum_to(g, m.sizes);
  }
  HEARTH_CHECK(g.device() == m.device, AutogradError, "Function ", fn.name(), " returned a gradient on ",
               g.device().str(), " at index ", i, " but its input is on ", m.device.str());
  if (g.dtype() != m.dtype) g = g.to(m.dtype);
  return g;
}

struct RunOptions {
  bool keep_graph = false;
  bool create_graph = false;
  bool accumulate = true;           // AccumulateGrad nodes run (backward) or not (grad)
  std::vector<Edge> targets;        // empty: everything reachable is run
  tensor_list* captured = nullptr;  // grad(): the gradients arriving at each target
};

void run(const tensor_list& outputs, const tensor_list& grad_outputs, RunOptions& opt, const char* who) {
  HEARTH_CHECK(!outputs.empty(), ValueError, who, ": no tensors to differentiate");
  HEARTH_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), ValueError, who, ": got ",
               grad_outputs.size(), " gradients for ", outputs.size(), " outputs");
  // Roots and their gradients (computed before grad mode changes).
  std::vector<std::pair<Edge, Tensor>> roots;
  roots.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    HEARTH_CHECK(out.defined(), ValueError, who, ": output ", i, " is undefined");
    Edge e = gradient_edge(out);
    HEARTH_CHECK(e.is_valid(), AutogradError, who, ": element ", i, " of tensors does not require grad and does "
                 "not have a grad_fn (", internal::describe(out), "). Was it computed under NoGradGuard, from "
                 "tensors that don't require grad, or detach()ed?");
    Tensor g;
    if (!grad_outputs.empty() && grad_outputs[i].defined()) {
      g = grad_outputs[i];
      HEARTH_CHECK(g.sizes() == out.sizes(), ShapeError, who, ": the gradient for output ", i, " has shape ",
                   g.sizes(), " but the output has shape ", out.sizes());
      HEARTH_CHECK(g.device() == out.device(), DeviceError, who, ": the gradient for output ", i, " is on ",
                   g.device().str(), " but the output is on ", out.device().str());
    } else {
      HEARTH_CHECK(out.numel() == 1, AutogradError, who, ": grad can be implicitly created only for one-element "
                   "outputs; output ", i, " has shape ", out.sizes(), ". Pass a gradient of the same shape");
      NoGradGuard ng;
      g = ones_like(out);
    }
    roots.emplace_back(std::move(e), std::move(g));
  }

  AutoGradMode mode(opt.create_graph);
  std::unordered_map<Node*, NodeTask> tasks;
  tasks.reserve(128);
  std::vector<Node*> stack;
  for (auto& [e, g] : roots)
    if (tasks.try_emplace(e.function.get()).second) stack.push_back(e.function.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges()) {
      if (!e.function) continue;
      auto [it, fresh] = tasks.try_emplace(e.function.get());
      ++it->second.deps;
      if (fresh) stack.push_back(e.function.get());
    }
  }

  if (!opt.targets.empty()) {
    // Only nodes on a path to a target run: needed(n) = n is a target or a child is needed.
    for (const Edge& t : opt.targets) {
      auto it = tasks.find(t.function.get());
      if (it != tasks.end()) it->second.needed = true;
    }
    // Post-order over the reachable graph without recursion.
    std::unordered_map<Node*, bool> done;
    std::vector<std::pair<Node*, size_t>> dfs;
    for (auto& [e, g] : roots) dfs.emplace_back(e.function.get(), 0);
    while (!dfs.empty()) {
      auto& [n, k] = dfs.back();
      if (k == 0 && done.count(n)) { dfs.pop_back(); continue; }
      if (k < n->num_outputs()) {
        Node* child = n->next_edge(k++).function.get();
        if (child && !done.count(child)) dfs.emplace_back(child, 0);
        continue;
      }
      NodeTask& t = tasks[n];
      bool child_needed = false;
      for (const Edge& e : n->next_edges())
        if (e.function && tasks[e.function.get()].needed) child_needed = true;
      t.needed = t.needed || child_needed;
      t.exec = child_needed || (opt.accumulate && is_accumulator(n) && t.needed);
      done[n] = true;
      dfs.pop_back();
    }
  } else if (!opt.accumulate) {
    for (auto& [n, t] : tasks) t.exec = !is_accumulator(n);
  }

  auto cmp = [](const Node* a, const Node* b) { return priority(a) < priority(b); };
  std::vector<Node*> ready;
  for (auto& [e, g] : roots) {
    NodeTask& t = tasks[e.function.get()];
    if (t.inputs.size() < e.function->num_inputs()) t.inputs.resize(e.function->num_inputs());
    accumulate_into(t.inputs[e.input_nr], std::move(g));
  }
  for (auto& [e, g] : roots) {
    Node* n = e.function.get();
    if (tasks[n].deps == 0 && std::find(ready.begin(), ready.end(), n) == ready.end()) {
      ready.push_back(n);
      std::push_heap(ready.begin(), ready.end(), cmp);
    }
  }

  std::vector<LeafGradRecord> local_leaves;
  std::vector<LeafGradRecord>* const outer_leaves = t_leaves;
  std::vector<LeafGradRecord>& leaves = outer_leaves ? *outer_leaves : local_leaves;
  struct RestoreLeaves {
    std::vector<LeafGradRecord>* prev;
    ~RestoreLeaves() { t_leaves = prev; }
  } restore{outer_leaves};
  t_leaves = &leaves;
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), cmp);
    Node* n = ready.back();
    ready.pop_back();
    NodeTask& task = tasks[n];
    tensor_list inputs = std::move(task.inputs);
    inputs.resize(n->num_inputs());
    for (const auto& [id, nr, hook] : n->pre_hooks()) {
      if (nr < inputs.size() && inputs[nr].defined()) {
        Tensor r = hook(inputs[nr]);
        if (r.defined()) inputs[nr] = std::move(r);
      }
    }
    if (opt.captured) {
      for (size_t k = 0; k < opt.targets.size(); ++k)
        if (opt.targets[k].function.get() == n) (*opt.captured)[k] = inputs[opt.targets[k].input_nr];
    }
    if (!task.exec) continue;
    bool any = false;
    for (const Tensor& g : inputs) any = any || g.defined();
    tensor_list outs;
    if (any) {
      outs = call_node(*n, std::move(inputs));
      HEARTH_INTERNAL_ASSERT(outs.size() == n->num_outputs() || (outs.empty() && n->num_outputs() == 0),
                             n->name(), " returned ", outs.size(), " gradients for ", n->num_outputs(), " inputs");
    }
    if (!opt.keep_graph) n->release_variables();
    for (size_t i = 0; i < n->num_outputs(); ++i) {
      const Edge& e = n->next_edge(i);
      if (!e.function) continue;
      auto it = tasks.find(e.function.get());
      HEARTH_INTERNAL_ASSERT(it != tasks.end(), "edge to an unvisited node");
      NodeTask& child = it->second;
      if (any && outs[i].defined()) {
        Tensor g = validate(*n, i, std::move(outs[i]), e.function->input_meta(e.input_nr));
        if (opt.accumulate && is_accumulator(e.function.get()) && child.exec) {
          const Tensor& leaf = static_cast<AccumulateGrad*>(e.function.get())->variable();
          leaves.push_back(LeafGradRecord{internal::materialize(leaf).stable_id(),
                                          DimVector(leaf.sizes().begin(), leaf.sizes().end()), n->name()});
        }
        if (child.inputs.size() < e.function->num_inputs()) child.inputs.resize(e.function->num_inputs());
        accumulate_into(child.inputs[e.input_nr], std::move(g));
      }
      if (--child.deps == 0) {
        ready.push_back(e.function.get());
        std::push_heap(ready.begin(), ready.end(), cmp);
      }
    }
  }
  if (opt.accumulate && !outer_leaves) {
    std::lock_guard<std::mutex> g(g_leaves_mu);
    g_last_leaves = std::move(local_leaves);
  }
}

}  // namespace

namespace internal {

Tensor sum_to(const Tensor& g, IntArrayRef sizes) {
  if (g.sizes() == sizes) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(sizes.size());
  DimVector dims;
  for (int64_t d = 0; d < g.dim(); ++d)
    if (d < lead || (sizes[d - lead] == 1 && g.size(d) != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? g : hearth::sum(g, dims, /*keepdim=*/true);
  return r.view(sizes);
}

const Node* current_node() { return t_current_node; }
void set_current_node(const Node* n) { t_current_node = n; }

}  // namespace internal

void backward(const tensor_list& outputs, const tensor_list& grad_outputs, std::optional<bool> retain_graph,
              bool create_graph, const tensor_list& inputs) {
  RunOptions opt;
  opt.keep_graph = retain_graph.value_or(create_graph);
  opt.create_graph = create_graph;
  for (size_t i = 0; i < inputs.size(); ++i) {
    HEARTH_CHECK(inputs[i].defined() && inputs[i].requires_grad() && inputs[i].is_leaf(), ValueError,
                 "backward: inputs[", i, "] must be a leaf tensor that requires grad");
    opt.targets.push_back(gradient_edge(inputs[i]));
  }
  run(outputs, grad_outputs, opt, "backward");
}

tensor_list grad(const tensor_list& outputs, const tensor_list& inputs, const tensor_list& grad_outputs,
                 std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  HEARTH_CHECK(!inputs.empty(), ValueError, "grad: no inputs to differentiate with respect to");
  RunOptions opt;
  opt.keep_graph = retain_graph.value_or(create_graph);
  opt.create_graph = create_graph;
  opt.accumulate = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    HEARTH_CHECK(inputs[i].defined(), ValueError, "grad: inputs[", i, "] is undefined");
    Edge e = gradient_edge(inputs[i]);
    HEARTH_CHECK(e.is_valid(), AutogradError, "grad: inputs[", i, "] (", internal::describe(inputs[i]),
                 ") does not require grad");
    opt.targets.push_back(std::move(e));
  }
  tensor_list captured(inputs.size());
  opt.captured = &captured;
  run(outputs, grad_outputs, opt, "grad");
  for (size_t i = 0; i < inputs.size(); ++i) {
    HEARTH_CHECK(captured[i].defined() || allow_unused, AutogradError, "grad: inputs[", i, "] (",
                 internal::describe(inputs[i]), ") was not used to compute the outputs. Pass allow_unused=true if "
                 "this is expected");
    if (captured[i].defined() && captured[i].sizes() != inputs[i].sizes())
      captured[i] = internal::sum_to(captured[i], inputs[i].sizes());
  }
  return captured;
}

std::vector<LeafGradRecord> last_backward_leaves() {
  std::lock_guard<std::mutex> g(g_leaves_mu);
  return g_last_leaves;
}

}  // namespace hearth::autograd
