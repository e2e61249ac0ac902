// Training checkpoints (SEED E5): model, optimizer, schedulers, RNG states, counters and the loop's
// own values in one tensor file (layout in docs/checkpoints.md); every entry is checked before
// anything is changed, so a bad file leaves the training state as it was.
#include <nlohmann/json.hpp>

#include "hearth/checkpoint.h"
#include "hearth/functions.h"
#include "hearth/generator.h"
#include "hearth/nn/module.h"
#include "hearth/optim/lr_scheduler.h"
#include "hearth/optim/optimizer.h"

namespace hearth {

namespace detail {
nn::LoadStateDictResult load_module_from(TensorFileReader& reader, const std::string& path, const std::string& prefix,
                                         nn::Module& module, bool strict);
Tensor read_host(TensorFileReader& reader, size_t i);
void save_tensors(const TensorFileFormat& fmt, const std::string& path, const TensorList& state,
                  std::map<std::string, std::string> metadata);
}  // namespace detail

namespace {

using json = nlohmann::json;

// Metadata keys and tensor name prefixes of a training checkpoint (docs/checkpoints.md).
constexpr const char* kTrainingKey = "hearth.training";
constexpr const char* kRngKey = "hearth.rng";
constexpr const char* kOptimizerKey = "hearth.optimizer";
constexpr const char* kSchedulersKey = "hearth.lr_schedulers";
constexpr const char* kExtraKey = "hearth.extra";
constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimizerPrefix = "optimizer.";
constexpr const char* kExtraPrefix = "extra.";
constexpr int kFormatVersion = 1;

[[noreturn]] void bad(const std::string& path, const std::string& field, const std::string& msg) {
  throw FormatError("training checkpoint '" + path + "': field '" + field + "': " + msg);
}

json parse_json(const std::string& path, const std::string& field, const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad(path, field, "not valid JSON");
  return j;
}

const std::string& require(const std::string& path, const std::map<std::string, std::string>& md, const char* key,
                           const std::string& why) {
  auto it = md.find(key);
  if (it == md.end()) bad(path, key, "missing (" + why + ")");
  return it->second;
}

int64_t get_count(const std::string& path, const json& j, const std::string& key) {
  const std::string field = std::string(kTrainingKey) + "." + key;
  if (!j.contains(key)) bad(path, field, "missing");
  const json& v = j.at(key);
  if (!v.is_number_integer()) bad(path, field, "expected an integer, got " + v.dump());
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) bad(path, field, "value " + v.dump() + " out of range");
    return static_cast<int64_t>(u);
  }
  const int64_t s = v.get<int64_t>();
  if (s < 0) bad(path, field, "negative value " + std::to_string(s));
  return s;
}

uint64_t get_u64(const std::string& path, const json& j, const std::string& key, const std::string& field) {
  if (!j.contains(key)) bad(path, field, "missing");
  const json& v = j.at(key);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    bad(path, field, "expected a non-negative integer, got " + v.dump());
  return v.get<uint64_t>();
}

std::vector<RngState> parse_rng(const std::string& path, const std::string& text) {
  const json j = parse_json(path, kRngKey, text);
  if (!j.is_object()) bad(path, kRngKey, "expected a JSON object of device -> {seed, offset}");
  if (!j.contains("cpu")) bad(path, std::string(kRngKey) + ".cpu", "missing (the default generator's state)");
  std::vector<RngState> out;
  for (const auto& [dev, v] : j.items()) {
    const std::string field = std::string(kRngKey) + "." + dev;
    if (!v.is_object()) bad(path, field, "expected {\"seed\": N, \"offset\": N}");
    out.push_back({dev, get_u64(path, v, "seed", field + ".seed"), get_u64(path, v, "offset", field + ".offset")});
  }
  return out;
}

}  // namespace

std::vector<RngState> capture_rng_states() {
  // One generator serves every device (Philox values do not depend on the device); device
  // generators, when a backend adds them, get entries of their own here.
  const Generator& g = default_generator();
  return {RngState{"cpu", g.seed(), g.offset()}};
}

void restore_rng_states(const std::vector<RngState>& states) {
  for (const RngState& s : states)
    if (s.device == "cpu") default_generator().set_state(s.seed, s.offset);
  // Others: generators this process does not have (SEED E6: a cuda checkpoint loads on a CPU).
}

void save_training_checkpoint(const std::string& path, const TrainingState& state) {
  HEARTH_CHECK(state.model != nullptr, ValueError, "save_training_checkpoint '", path, "': state.model is null");
  TensorList tensors;
  std::map<std::string, std::string> md;
  for (auto& [k, t] : state.model->state_dict()) tensors.emplace_back(kModelPrefix + k, t);
  if (state.optimizer) {
    const optim::OptimizerStateDict sd = state.optimizer->state_dict();
    md[kOptimizerKey] = sd.to_json();
    for (auto& [k, t] : sd.tensors()) tensors.emplace_back(kOptimizerPrefix + k, t);
  }
  json scheds = json::array();
  for (size_t i = 0; i < state.schedulers.size(); ++i) {
    HEARTH_CHECK(state.schedulers[i] != nullptr, ValueError, "save_training_checkpoint '", path, "': scheduler ", i,
                 " is null");
    scheds.push_back(json::parse(state.schedulers[i]->state_dict().to_json()));
  }
  md[kSchedulersKey] = scheds.dump();
  HEARTH_CHECK(state.epoch >= 0 && state.global_step >= 0 && state.batch_in_epoch >= 0, ValueError,
               "save_training_checkpoint '", path, "': negative counter (epoch ", state.epoch, ", global_step ",
               state.global_step, ", batch_in_epoch ", state.batch_in_epoch, ")");
  md[kTrainingKey] = json{{"format_version", kFormatVersion},
                          {"epoch", state.epoch},
                          {"global_step", state.global_step},
                          {"batch_in_epoch", state.batch_in_epoch},
                          {"shuffle_seed", state.shuffle_seed}}
                         .dump();
  json rng = json::object();
  for (const RngState& s : state.rng.empty() ? capture_rng_states() : state.rng)
    rng[s.device] = json{{"seed", s.seed}, {"offset", s.offset}};
  md[kRngKey] = rng.dump();
  json extra = json::object();
  for (const auto& [k, v] : state.extra) extra[k] = v;
  try {
    md[kExtraKey] = extra.dump();
  } catch (const json::exception& e) {
    throw ValueError("save_training_checkpoint '" + path + "': state.extra must hold UTF-8 strings: " + e.what());
  }
  for (const auto& [k, t] : state.extra_tensors) tensors.emplace_back(kExtraPrefix + k, t);
  detail::save_tensors(tensor_file_format_for_writing(path), path, tensors, std::move(md));
}

std::string load_training_checkpoint(const std::string& path_or_dir, TrainingState& state,
                                     const CheckpointLoadOptions& options) {
  const std::string path = resolve_checkpoint(path_or_dir);
  HEARTH_CHECK(state.model != nullptr, ValueError, "load_training_checkpoint '", path, "': state.model is null");
  auto reader = open_tensor_file(path);
  const auto& md = reader->metadata();
  const auto& entries = reader->entries();

  // 1. Everything that is not a tensor, parsed and checked before anything changes.
  const json tr = parse_json(path, kTrainingKey,
                             require(path, md, kTrainingKey, "not a training checkpoint; a plain state dict loads with "
                                                             "load_state_dict"));
  if (!tr.is_object()) bad(path, kTrainingKey, "expected a JSON object");
  if (tr.contains("format_version") && tr.at("format_version") != kFormatVersion)
    bad(path, std::string(kTrainingKey) + ".format_version",
        "version " + tr.at("format_version").dump() + " is not " + std::to_string(kFormatVersion) + ", which this hearth reads");
  const int64_t epoch = get_count(path, tr, "epoch");
  const int64_t global_step = get_count(path, tr, "global_step");
  const int64_t batch_in_epoch = get_count(path, tr, "batch_in_epoch");
  const uint64_t shuffle_seed = get_u64(path, tr, "shuffle_seed", std::string(kTrainingKey) + ".shuffle_seed");
  const std::vector<RngState> rng = parse_rng(path, require(path, md, kRngKey, "the RNG states"));
  std::map<std::string, std::string> extra;
  if (auto it = md.find(kExtraKey); it != md.end()) {
    const json j = parse_json(path, kExtraKey, it->second);
    if (!j.is_object()) bad(path, kExtraKey, "expected a JSON object of string -> string");
    for (const auto& [k, v] : j.items()) {
      if (!v.is_string()) bad(path, std::string(kExtraKey) + "." + k, "expected a string, got " + v.dump());
      extra[k] = v.get<std::string>();
    }
  }
  std::vector<optim::SchedulerState> sched_states;
  std::string opt_json;
  if (state.optimizer) {
    opt_json = require(path, md, kOptimizerKey, "the checkpoint was saved without an optimizer");
    const json arr = parse_json(path, kSchedulersKey, require(path, md, kSchedulersKey, "the scheduler states"));
    if (!arr.is_array()) bad(path, kSchedulersKey, "expected a JSON array");
    if (arr.size() != state.schedulers.size())
      bad(path, kSchedulersKey, "holds " + std::to_string(arr.size()) + " scheduler state(s) but " +
                                    std::to_string(state.schedulers.size()) + " scheduler(s) were given");
    for (size_t i = 0; i < arr.size(); ++i) {
      try {
        sched_states.push_back(optim::SchedulerState::from_json(arr[i].dump()));
      } catch (const Error& e) {
        bad(path, std::string(kSchedulersKey) + "[" + std::to_string(i) + "]", e.what());
      }
    }
  }
  // The optimizer's tensors (staged on the host: the optimizer copies each to its parameter's
  // device) and the state dict they make, checked against the optimizer before any load.
  optim::OptimizerStateDict opt_sd;
  if (state.optimizer) {
    std::vector<std::pair<std::string, Tensor>> opt_tensors;
    const std::string pre = kOptimizerPrefix;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].name.compare(0, pre.size(), pre) != 0) continue;
      const TensorFileEntry& e = entries[i];
      Tensor t = host_staging_empty(e.shape, e.dtype);
      reader->read(i, t.numel() ? t.data_ptr() : nullptr);
      opt_tensors.emplace_back(e.name.substr(pre.size()), std::move(t));
    }
    try {
      opt_sd = optim::OptimizerStateDict::from_json(opt_json, opt_tensors);
    } catch (const Error& e) {
      bad(path, kOptimizerKey, e.what());
    }
    if (opt_sd.optimizer != state.optimizer->name())
      bad(path, std::string(kOptimizerKey) + ".optimizer",
          "the checkpoint's optimizer is '" + opt_sd.optimizer + "' but the state's is '" + state.optimizer->name() + "'");
    const auto& groups = state.optimizer->param_groups();
    if (opt_sd.param_groups.size() != groups.size())
      bad(path, std::string(kOptimizerKey) + ".param_groups",
          std::to_string(opt_sd.param_groups.size()) + " group(s) in the file, " + std::to_string(groups.size()) +
              " in the optimizer");
    for (size_t g = 0; g < groups.size(); ++g)
      if (opt_sd.param_groups[g].params.size() != groups[g].params().size())
        bad(path, std::string(kOptimizerKey) + ".param_groups[" + std::to_string(g) + "].params",
            std::to_string(opt_sd.param_groups[g].params.size()) + " parameter(s) in the file, " +
                std::to_string(groups[g].params().size()) + " in the optimizer");
  }
  std::vector<std::pair<std::string, Tensor>> extra_tensors;
  const std::string xpre = kExtraPrefix;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].name.compare(0, xpre.size(), xpre) == 0)
      extra_tensors.emplace_back(entries[i].name.substr(xpre.size()), detail::read_host(*reader, i));

  // 2. The model: a key problem throws before anything is copied (SEED E4, E6).
  detail::load_module_from(*reader, path, kModelPrefix, *state.model, options.strict);
  // 3. Optimizer and schedulers (SEED E5).
  if (state.optimizer) {
    state.optimizer->load_state_dict(opt_sd);
    for (size_t i = 0; i < state.schedulers.size(); ++i) {
      HEARTH_CHECK(state.schedulers[i] != nullptr, ValueError, "load_training_checkpoint '", path, "': scheduler ", i,
                   " is null");
      state.schedulers[i]->load_state_dict(sched_states[i]);
    }
  }
  // 4. Counters, the loop's values and the generators.
  state.epoch = epoch;
  state.global_step = global_step;
  state.batch_in_epoch = batch_in_epoch;
  state.shuffle_seed = shuffle_seed;
  state.extra = std::move(extra);
  state.extra_tensors = std::move(extra_tensors);
  state.rng = rng;
  if (options.restore_rng) restore_rng_states(rng);
  return path;
}

bool is_training_checkpoint(const std::string& path_or_dir) {
  return open_tensor_file(resolve_checkpoint(path_or_dir))->metadata().count(kTrainingKey) > 0;
}

}  // namespace hearth
