// What the CLI reads back from a training checkpoint: the run configuration `hearth train`
// records in it ("run.config"), the model weights, and the input normalization a model was
// trained with; shared by train, eval, export, summary and graph (docs/checkpoints.md).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "hearth/data.h"
#include "hearth/nn/module.h"
#include "hearth/tensor.h"
#include "hearth/train.h"

namespace hearth::cli {

/// hearth.extra key of a training checkpoint that holds the run configuration as JSON.
constexpr const char* kRunConfigKey = "run.config";

/// The run configuration recorded in the training checkpoint `path_or_dir` (a directory means
/// its latest), or nullopt for a plain state dict or a checkpoint written without one.
std::optional<nlohmann::json> checkpoint_run_config(const std::string& path_or_dir);

/// The model spec to build: `--model` when given, else the one a training checkpoint at
/// `weights` records, else `fallback`.
std::string model_spec_for(const std::string& model_option, const std::string& weights, const std::string& fallback);

/// Fills `model` from a state dict file, a training checkpoint file, or a checkpoint directory
/// (its latest); strict either way (SEED E4: a `module.` prefix is accepted; E6: each tensor goes
/// straight to the device of the parameter it fills).
void load_weights(const std::string& path, nn::Module& model);

/// The input normalization of a model: per-channel mean and std of images in [0, 1] (uint8
/// images are divided by 255 first, float images are taken as they are).
struct Normalization {
  std::vector<double> mean, std;
  nlohmann::json to_json() const { return {{"mean", mean}, {"std", std}}; }
  static Normalization from_json(const nlohmann::json& j, const std::string& where);
  std::string text() const;  ///< "0.286,0.353" (means, then stds)
};

/// `--normalize auto|none|MEAN,STD` (or M1,..,Mk,S1,..,Sk per channel): auto computes the mean
/// and std of `train_set` (the whole training split). UsageError for a malformed value.
Normalization resolve_normalize(const std::string& option, const data::Dataset* train_set);

/// The preprocessing that applies `n` to a dataset's images (scaled as its dtype says).
train::Preprocess preprocess_for(const Normalization& n, const data::Dataset& any_split);

/// The input a zoo model takes when --input is not given (UsageError for other models).
DimVector default_input(const std::string& model_spec);

}  // namespace hearth::cli
