// Graph pictures (SEED A2): the autograd graph behind a tensor as Graphviz DOT.
#include <sstream>
#include <unordered_map>

#include "internal.h"

namespace hearth::autograd {

namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}

std::string shape_str(const Tensor& t) { return detail::str(t.sizes()); }

}  // namespace

std::string to_dot(const Tensor& root, const std::map<std::string, Tensor>& named_parameters) {
  HEARTH_CHECK(root.defined(), ValueError, "to_dot: undefined tensor");
  std::unordered_map<const TensorImpl*, std::string> names;
  for (const auto& [name, t] : named_parameters)
    if (t.defined()) names[t.impl().get()] = name;
  auto leaf_label = [&](const Tensor& t) {
    auto it = names.find(t.impl().get());
    return escape((it != names.end() ? it->second : std::string("leaf")) + "\n" + shape_str(t));
  };

  std::ostringstream os;
  os << "digraph hearth_autograd {\n"
     << "  graph [rankdir=BT];\n"
     << "  node [style=filled, shape=box, align=left, fontsize=10, height=0.2, fontname=monospace];\n";
  std::unordered_map<const Node*, std::string> ids;
  std::vector<const Node*> todo;
  int next_id = 0;
  auto id_of = [&](const Node* n) {
    auto [it, fresh] = ids.try_emplace(n, "n" + std::to_string(next_id));
    if (fresh) {
      ++next_id;
      todo.push_back(n);
    }
    return it->second;
  };

  os << "  out [label=\"" << escape("output\n" + shape_str(root)) << "\", fillcolor=darkolivegreen1];\n";
  if (const auto& fn = root.grad_fn()) {
    os << "  " << id_of(fn.get()) << " -> out;\n";
  } else if (root.requires_grad()) {
    os << "  out [label=\"" << leaf_label(root) << "\", fillcolor=lightblue];\n";
  }
  int saved_id = 0;
  while (!todo.empty()) {
    const Node* n = todo.back();
    todo.pop_back();
    const std::string id = ids[n];
    if (auto* acc = dynamic_cast<const AccumulateGrad*>(n)) {
      os << "  " << id << " [label=\"" << leaf_label(acc->variable()) << "\", fillcolor=lightblue];\n";
      continue;
    }
    os << "  " << id << " [label=\"" << escape(n->name()) << "\", fillcolor=lightgrey];\n";
    for (const SavedVariable* sv : n->saved_variables()) {
      if (!sv || !sv->peek().defined()) continue;
      const std::string sid = "s" + std::to_string(saved_id++);
      os << "  " << sid << " [label=\"" << escape("saved\n" + shape_str(sv->peek()))
         << "\", fillcolor=orange];\n";
      os << "  " << sid << " -> " << id << " [style=dashed];\n";
    }
    for (const Edge& e : n->next_edges())
      if (e.function) os << "  " << id_of(e.function.get()) << " -> " << id << ";\n";
  }
  os << "}\n";
  return os.str();
}

}  // namespace hearth::autograd
