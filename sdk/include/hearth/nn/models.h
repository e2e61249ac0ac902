// Models by name: plugins register factories as components of kind "model" (hearth-models
// registers mlp, lenet, resnet18; a user's plugin registers its own the same way).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hearth/nn/module.h"

namespace hearth::nn {

/// Arguments of a model spec, "name:key=value,key=value" (all optional).
using ModelArgs = std::map<std::string, std::string>;
/// What a plugin registers: PluginRegistrar::component("model", name, (const void*)factory).
using ModelFactory = std::shared_ptr<Module> (*)(const ModelArgs& args);

/// Builds the model of a spec ("lenet", "resnet18:num_classes=100"). An unknown name is a
/// ValueError listing the registered ones; factories reject unknown or malformed arguments.
std::shared_ptr<Module> create_model(const std::string& spec);
/// Registered model names, sorted.
std::vector<std::string> model_names();

/// Helpers for factories: the integer argument `key` (default if absent), with a ValueError
/// naming the model and key for a malformed value; and a check that no unknown key was given.
int64_t model_arg_int(const ModelArgs& args, const std::string& model, const std::string& key, int64_t def);
void check_model_args(const ModelArgs& args, const std::string& model, const std::vector<std::string>& known);

}  // namespace hearth::nn
