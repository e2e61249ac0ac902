// SEED G6: splitting a model's parameters into a weight-decay group and a no-decay group
// (biases, 1-D tensors, normalization layers), decided from the registered names and the
// owning module's type.
#include <string>
#include <unordered_set>

#include "hearth/nn/module.h"
#include "hearth/optim/optimizer.h"

namespace hearth::optim {

namespace {

struct Split {
  std::vector<std::string> decay_names, no_decay_names;
  std::vector<Tensor> decay, no_decay;
  std::unordered_set<const TensorImpl*> seen;  // tied weights are listed once, as named_parameters() does
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void walk(const nn::Module& m, const std::string& prefix, Split& out) {
  const bool is_norm = m.type_name().find("Norm") != std::string::npos;
  for (const auto& [name, t] : m.named_parameters(/*recurse=*/false)) {
    if (!t.defined() || !t.requires_grad() || !out.seen.insert(t.unsafeGetTensorImpl()).second) continue;
    const bool no_decay = is_norm || t.dim() <= 1 || ends_with(name, "bias");
    (no_decay ? out.no_decay : out.decay).push_back(t);
    (no_decay ? out.no_decay_names : out.decay_names).push_back(prefix + name);
  }
  for (const auto& [name, child] : m.named_children())
    if (child) walk(*child, prefix + name + ".", out);
}

}  // namespace

std::vector<ParamGroup> decay_param_groups(const nn::Module& model, double weight_decay) {
  Split s;
  walk(model, "", s);
  std::vector<ParamGroup> groups;
  groups.emplace_back(std::move(s.decay), std::map<std::string, double>{{"weight_decay", weight_decay}});
  groups.emplace_back(std::move(s.no_decay), std::map<std::string, double>{{"weight_decay", 0.0}});
  return groups;
}

std::pair<std::vector<std::string>, std::vector<std::string>> decay_param_names(const nn::Module& model) {
  Split s;
  walk(model, "", s);
  return {std::move(s.decay_names), std::move(s.no_decay_names)};
}

}  // namespace hearth::optim
