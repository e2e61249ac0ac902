// The CLI's view of training checkpoints: run configuration, weights and normalization (see
// run_config.h).
#include "run_config.h"

#include <sstream>

#include "cli.h"
#include "hearth/checkpoint.h"
#include "hearth/error.h"

namespace hearth::cli {

using nlohmann::json;

std::optional<json> checkpoint_run_config(const std::string& path_or_dir) {
  const std::string file = resolve_checkpoint(path_or_dir);
  auto reader = open_tensor_file(file);
  const auto& md = reader->metadata();
  auto it = md.find("hearth.extra");
  if (it == md.end() || !md.count("hearth.training")) return std::nullopt;
  const json extra = json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (!extra.is_object() || !extra.contains(kRunConfigKey) || !extra[kRunConfigKey].is_string()) return std::nullopt;
  json cfg = json::parse(extra[kRunConfigKey].get<std::string>(), nullptr, false);
  if (!cfg.is_object())
    throw FormatError("training checkpoint '" + file + "': field 'hearth.extra." + kRunConfigKey +
                      "' is not a JSON object");
  return cfg;
}

std::string model_spec_for(const std::string& model_option, const std::string& weights, const std::string& fallback) {
  if (!model_option.empty()) return model_option;
  if (!weights.empty()) {
    if (auto cfg = checkpoint_run_config(weights); cfg && cfg->contains("model") && (*cfg)["model"].is_string())
      return (*cfg)["model"].get<std::string>();
  }
  return fallback;
}

void load_weights(const std::string& path, nn::Module& model) {
  const std::string file = resolve_checkpoint(path);
  if (!is_training_checkpoint(file)) {
    load_state_dict(file, model, /*strict=*/true);
    return;
  }
  TrainingState s;
  s.model = &model;
  CheckpointLoadOptions o;
  o.restore_rng = false;  // only the weights are wanted
  load_training_checkpoint(file, s, o);
}

Normalization Normalization::from_json(const json& j, const std::string& where) {
  Normalization n;
  try {
    n.mean = j.at("mean").get<std::vector<double>>();
    n.std = j.at("std").get<std::vector<double>>();
  } catch (const json::exception&) {
    throw FormatError(where + ": 'normalize' must be {\"mean\": [...], \"std\": [...]}, got " + j.dump());
  }
  if (n.mean.empty() || n.mean.size() != n.std.size())
    throw FormatError(where + ": 'normalize' needs as many means as stds, got " + j.dump());
  return n;
}

std::string Normalization::text() const {
  std::ostringstream os;
  os.precision(8);
  for (size_t i = 0; i < mean.size(); ++i) os << (i ? "," : "") << mean[i];
  for (double s : std) os << "," << s;
  return os.str();
}

Normalization resolve_normalize(const std::string& option, const data::Dataset* train_set) {
  if (option == "none") return {{0.0}, {1.0}};
  if (option == "auto") {
    HEARTH_CHECK(train_set != nullptr, ValueError, "--normalize auto needs the dataset's training split");
    auto [m, s] = train::image_mean_std(*train_set);
    for (double& v : s)
      if (!(v > 0)) v = 1.0;  // a constant channel: centre it only
    return {m, s};
  }
  std::vector<double> xs;
  std::stringstream ss(option);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size())
      throw UsageError("--normalize takes auto, none or MEAN,STD (per channel: M1,..,Mk,S1,..,Sk), got '" + option +
                       "'");
    xs.push_back(v);
  }
  if (xs.size() < 2 || xs.size() % 2 != 0)
    throw UsageError("--normalize takes auto, none or MEAN,STD (per channel: M1,..,Mk,S1,..,Sk), got '" + option + "'");
  Normalization n;
  n.mean.assign(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(xs.size() / 2));
  n.std.assign(xs.begin() + static_cast<std::ptrdiff_t>(xs.size() / 2), xs.end());
  for (double s : n.std)
    if (!(s > 0)) throw UsageError("--normalize: a standard deviation must be positive, got '" + option + "'");
  return n;
}

train::Preprocess preprocess_for(const Normalization& n, const data::Dataset& any_split) {
  ScalarType dt = kFloat32;
  if (auto* td = dynamic_cast<const data::TensorDataset*>(&any_split))
    dt = td->data().dtype();
  else if (any_split.size() > 0)
    dt = any_split.get(0).data.dtype();
  return train::normalize_images(n.mean, n.std, dt == kUInt8 ? 1.0 / 255.0 : 1.0);
}

DimVector default_input(const std::string& model_spec) {
  const std::string name = model_spec.substr(0, model_spec.find(':'));
  if (name == "mlp" || name == "lenet") return {1, 1, 28, 28};
  if (name.rfind("resnet", 0) == 0) return {1, 3, 224, 224};
  throw UsageError("model '" + name + "' has no default input shape: give --input N,C,H,W");
}

}  // namespace hearth::cli
