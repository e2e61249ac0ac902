// torch::save / torch::load for hearth (issue #15): modules through the checkpoint state-dict
// functions, tensors and optimizers as safetensors with a small metadata tag saying what was saved.
#include "hearth/save_load.h"

#include <map>

#include "hearth/checkpoint.h"
#include "hearth/serialize.h"

namespace hearth {

namespace {
/// Metadata key recording what a file holds, so load() of the wrong kind says so.
constexpr const char* kKindKey = "hearth.save_kind";
constexpr const char* kOptimizerKey = "hearth.optimizer_state";

SafetensorsContents read_kind(const std::string& path, const char* want, std::optional<Device> device) {
  SafetensorsContents c = load_tensors(path, device ? MapLocation(*device) : MapLocation());
  auto it = c.metadata.find(kKindKey);
  HEARTH_CHECK(it == c.metadata.end() || it->second == want, FormatError, "load: '", path, "' holds a saved ",
               it->second, ", not a ", want);
  return c;
}
}  // namespace

void save(const nn::Module& module, const std::string& path) { save_state_dict(path, module, {{kKindKey, "module"}}); }

void load(nn::Module& module, const std::string& path) { load_state_dict(path, module, /*strict=*/true); }

void save(const Tensor& tensor, const std::string& path) {
  HEARTH_CHECK(tensor.defined(), ValueError, "save: the tensor is undefined");
  save_state_dict(path, TensorList{{"tensor", tensor}}, {{kKindKey, "tensor"}});
}

void load(Tensor& tensor, const std::string& path, std::optional<Device> device) {
  SafetensorsContents c = read_kind(path, "tensor", device);
  HEARTH_CHECK(c.tensors.size() == 1, FormatError, "load: '", path, "' holds ", c.tensors.size(),
               " tensors, expected one (use a std::vector<Tensor> to load a list)");
  tensor = c.tensors[0].second;
}

void save(const std::vector<Tensor>& tensors, const std::string& path) {
  TensorList list;
  for (size_t i = 0; i < tensors.size(); ++i) list.emplace_back(std::to_string(i), tensors[i]);
  save_state_dict(path, list, {{kKindKey, "tensor list"}});
}

void load(std::vector<Tensor>& tensors, const std::string& path, std::optional<Device> device) {
  SafetensorsContents c = read_kind(path, "tensor list", device);
  std::map<int64_t, Tensor> by_index;
  for (auto& [k, t] : c.tensors) {
    char* end = nullptr;
    const long long i = std::strtoll(k.c_str(), &end, 10);
    HEARTH_CHECK(!k.empty() && end && *end == '\0' && i >= 0, FormatError, "load: '", path,
                 "' has key '", k, "', not a list position");
    by_index[i] = t;
  }
  tensors.clear();
  for (auto& [i, t] : by_index) {
    HEARTH_CHECK(i == static_cast<int64_t>(tensors.size()), FormatError, "load: '", path, "' lacks list entry ",
                 tensors.size());
    tensors.push_back(t);
  }
}

void save(const optim::Optimizer& optimizer, const std::string& path) {
  optim::OptimizerStateDict sd = optimizer.state_dict();
  TensorList list;
  for (auto& [k, t] : sd.tensors()) list.emplace_back(k, t);
  save_state_dict(path, list, {{kKindKey, "optimizer"}, {kOptimizerKey, sd.to_json()}});
}

void load(optim::Optimizer& optimizer, const std::string& path) {
  SafetensorsContents c = read_kind(path, "optimizer", std::nullopt);
  auto it = c.metadata.find(kOptimizerKey);
  HEARTH_CHECK(it != c.metadata.end(), FormatError, "load: '", path, "' has no optimizer state (metadata key ",
               kOptimizerKey, ")");
  std::vector<std::pair<std::string, Tensor>> tensors(c.tensors.begin(), c.tensors.end());
  optimizer.load_state_dict(optim::OptimizerStateDict::from_json(it->second, tensors));
}

}  // namespace hearth
