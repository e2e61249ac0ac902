// Optimizer and scheduler state dicts as JSON, and save()/load() of both to one safetensors file
// (docs/optim.md "State dicts"). Numbers are written in the shortest form that reads back to
// the same double, non-finite ones as strings, so a resumed run continues bitwise (SEED E5).
#include <cmath>
#include <nlohmann/json.hpp>

#include "hearth/optim/lr_scheduler.h"
#include "hearth/serialize.h"

namespace hearth::optim {

namespace {

using nlohmann::json;
constexpr const char* kOptimizerFormat = "hearth.optimizer/1";
constexpr const char* kOptimizerKey = "hearth.optimizer";
constexpr const char* kSchedulersKey = "hearth.lr_schedulers";

json num(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

[[noreturn]] void bad(const std::string& what, const std::string& field, const std::string& msg) {
  throw FormatError(what + ": field '" + field + "': " + msg);
}

double to_num(const json& j, const std::string& what, const std::string& field) {
  if (j.is_number()) return j.get<double>();
  if (j.is_boolean()) return j.get<bool>() ? 1.0 : 0.0;
  if (j.is_string()) {
    const auto s = j.get<std::string>();
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
    if (s == "nan") return NAN;
  }
  bad(what, field, "expected a number, got " + j.dump());
}

const json& at(const json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key)) bad(what, key, "missing");
  return j.at(key);
}

json parse(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw FormatError(what + ": not valid JSON (" + e.what() + ")");
  }
}

std::string tensor_name(int64_t idx, const std::string& key) { return "state." + std::to_string(idx) + "." + key; }

}  // namespace

// ---- optimizer ----

std::string OptimizerStateDict::to_json() const {
  json j;
  j["format"] = kOptimizerFormat;
  j["optimizer"] = optimizer;
  json groups = json::array();
  for (const auto& g : param_groups) {
    json opts = json::object();
    for (const auto& f : g.options) {
      if (f.kind == OptionField::Kind::Bool)
        opts[f.name] = f.value != 0;
      else if (f.kind == OptionField::Kind::Int)
        opts[f.name] = static_cast<int64_t>(f.value);
      else
        opts[f.name] = num(f.value);
    }
    json extras = json::object();
    for (const auto& [k, v] : g.extras) extras[k] = num(v);
    groups.push_back({{"options", opts}, {"extras", extras}, {"params", g.params}});
  }
  j["param_groups"] = groups;
  json st = json::object();
  for (const auto& [idx, s] : state) {
    json scalars = json::object();
    for (const auto& [k, v] : s.scalars) scalars[k] = num(v);
    json names = json::array();
    for (const auto& [k, t] : s.tensors) names.push_back(k);
    st[std::to_string(idx)] = {{"scalars", scalars}, {"tensors", names}};
  }
  j["state"] = st;
  return j.dump();
}

std::vector<std::pair<std::string, Tensor>> OptimizerStateDict::tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [idx, s] : state)
    for (const auto& [k, t] : s.tensors) out.emplace_back(tensor_name(idx, k), t);
  return out;
}

OptimizerStateDict OptimizerStateDict::from_json(const std::string& text,
                                                 const std::vector<std::pair<std::string, Tensor>>& tensors) {
  const std::string what = "optimizer state";
  const json j = parse(text, what);
  const json& fmt = at(j, "format", what);
  if (!fmt.is_string() || fmt.get<std::string>() != kOptimizerFormat)
    bad(what, "format", "expected \"" + std::string(kOptimizerFormat) + "\", got " + fmt.dump());
  OptimizerStateDict sd;
  const json& name = at(j, "optimizer", what);
  if (!name.is_string()) bad(what, "optimizer", "expected a string");
  sd.optimizer = name.get<std::string>();
  const json& groups = at(j, "param_groups", what);
  if (!groups.is_array()) bad(what, "param_groups", "expected an array");
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const std::string gw = "param_groups[" + std::to_string(gi) + "]";
    Group g;
    const json& opts = at(groups[gi], "options", what);
    if (!opts.is_object()) bad(what, gw + ".options", "expected an object");
    for (const auto& [k, v] : opts.items()) {
      OptionField f;
      f.name = k;
      f.kind = v.is_boolean() ? OptionField::Kind::Bool
               : v.is_number_integer() ? OptionField::Kind::Int
                                       : OptionField::Kind::Double;
      f.value = to_num(v, what, gw + ".options." + k);
      g.options.push_back(std::move(f));
    }
    if (groups[gi].contains("extras")) {
      for (const auto& [k, v] : groups[gi].at("extras").items()) g.extras[k] = to_num(v, what, gw + ".extras." + k);
    }
    const json& params = at(groups[gi], "params", what);
    if (!params.is_array()) bad(what, gw + ".params", "expected an array");
    for (const auto& p : params) {
      if (!p.is_number_integer()) bad(what, gw + ".params", "expected integers, got " + p.dump());
      g.params.push_back(p.get<int64_t>());
    }
    sd.param_groups.push_back(std::move(g));
  }
  std::map<std::string, Tensor> by_name(tensors.begin(), tensors.end());
  const json& st = at(j, "state", what);
  if (!st.is_object()) bad(what, "state", "expected an object");
  for (const auto& [key, v] : st.items()) {
    int64_t idx = 0;
    try {
      size_t used = 0;
      idx = std::stoll(key, &used);
      if (used != key.size()) throw std::invalid_argument(key);
    } catch (const std::exception&) {
      bad(what, "state." + key, "the key is not a parameter number");
    }
    ParamState s;
    if (v.contains("scalars"))
      for (const auto& [k, x] : v.at("scalars").items()) s.scalars[k] = to_num(x, what, "state." + key + "." + k);
    if (v.contains("tensors"))
      for (const auto& k : v.at("tensors")) {
        if (!k.is_string()) bad(what, "state." + key + ".tensors", "expected names");
        const std::string tn = tensor_name(idx, k.get<std::string>());
        auto it = by_name.find(tn);
        if (it == by_name.end()) bad(what, "state." + key + ".tensors", "tensor '" + tn + "' is missing");
        s.tensors[k.get<std::string>()] = it->second;
      }
    sd.state[idx] = std::move(s);
  }
  return sd;
}

// ---- scheduler ----

double SchedulerState::number(const std::string& key) const {
  auto it = numbers.find(key);
  HEARTH_CHECK(it != numbers.end(), ValueError, "scheduler '", name, "' has no number '", key, "'");
  return it->second;
}
const std::vector<double>& SchedulerState::list(const std::string& key) const {
  auto it = lists.find(key);
  HEARTH_CHECK(it != lists.end(), ValueError, "scheduler '", name, "' has no list '", key, "'");
  return it->second;
}
const std::string& SchedulerState::string(const std::string& key) const {
  auto it = strings.find(key);
  HEARTH_CHECK(it != strings.end(), ValueError, "scheduler '", name, "' has no string '", key, "'");
  return it->second;
}

namespace {
json num_list(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(num(x));
  return a;
}
std::vector<double> to_list(const json& j, const std::string& what, const std::string& field) {
  if (!j.is_array()) bad(what, field, "expected an array");
  std::vector<double> out;
  for (const auto& x : j) out.push_back(to_num(x, what, field));
  return out;
}
}  // namespace

std::string SchedulerState::to_json() const {
  json j;
  j["name"] = name;
  j["last_epoch"] = last_epoch;
  j["step_count"] = step_count;
  j["base_lrs"] = num_list(base_lrs);
  j["last_lr"] = num_list(last_lr);
  json n = json::object(), l = json::object(), s = json::object();
  for (const auto& [k, v] : numbers) n[k] = num(v);
  for (const auto& [k, v] : lists) l[k] = num_list(v);
  for (const auto& [k, v] : strings) s[k] = v;
  j["numbers"] = n;
  j["lists"] = l;
  j["strings"] = s;
  return j.dump();
}

SchedulerState SchedulerState::from_json(const std::string& text) {
  const std::string what = "scheduler state";
  const json j = parse(text, what);
  SchedulerState s;
  const json& name = at(j, "name", what);
  if (!name.is_string()) bad(what, "name", "expected a string");
  s.name = name.get<std::string>();
  const json& le = at(j, "last_epoch", what);
  const json& sc = at(j, "step_count", what);
  if (!le.is_number_integer()) bad(what, "last_epoch", "expected an integer");
  if (!sc.is_number_integer()) bad(what, "step_count", "expected an integer");
  s.last_epoch = le.get<int64_t>();
  s.step_count = sc.get<int64_t>();
  s.base_lrs = to_list(at(j, "base_lrs", what), what, "base_lrs");
  s.last_lr = to_list(at(j, "last_lr", what), what, "last_lr");
  if (j.contains("numbers"))
    for (const auto& [k, v] : j.at("numbers").items()) s.numbers[k] = to_num(v, what, "numbers." + k);
  if (j.contains("lists"))
    for (const auto& [k, v] : j.at("lists").items()) s.lists[k] = to_list(v, what, "lists." + k);
  if (j.contains("strings"))
    for (const auto& [k, v] : j.at("strings").items()) {
      if (!v.is_string()) bad(what, "strings." + k, "expected a string");
      s.strings[k] = v.get<std::string>();
    }
  return s;
}

// ---- files ----

void save(const std::string& path, const Optimizer& optimizer, const std::vector<const LRScheduler*>& schedulers) {
  const OptimizerStateDict sd = optimizer.state_dict();
  json scheds = json::array();
  for (size_t i = 0; i < schedulers.size(); ++i) {
    HEARTH_CHECK(schedulers[i] != nullptr, ValueError, "optim::save: scheduler ", i, " is null");
    scheds.push_back(json::parse(schedulers[i]->state_dict().to_json()));
  }
  std::map<std::string, std::string> meta{{kOptimizerKey, sd.to_json()}, {kSchedulersKey, scheds.dump()}};
  save_safetensors(path, sd.tensors(), meta);
}

void load(const std::string& path, Optimizer& optimizer, const std::vector<LRScheduler*>& schedulers) {
  // Tensors are read to the host; load_state_dict() moves each to its parameter's device.
  SafetensorsContents c = load_safetensors(path);
  auto it = c.metadata.find(kOptimizerKey);
  if (it == c.metadata.end())
    throw FormatError("optimizer file '" + path + "': no \"" + kOptimizerKey + "\" metadata (not written by optim::save)");
  OptimizerStateDict sd;
  std::vector<SchedulerState> states;
  try {
    sd = OptimizerStateDict::from_json(it->second, c.tensors);
    auto jt = c.metadata.find(kSchedulersKey);
    if (jt != c.metadata.end()) {
      const json arr = parse(jt->second, "scheduler states");
      if (!arr.is_array()) bad("scheduler states", kSchedulersKey, "expected an array");
      for (const auto& s : arr) states.push_back(SchedulerState::from_json(s.dump()));
    }
  } catch (const FormatError& e) {
    throw FormatError("optimizer file '" + path + "': " + e.what());
  }
  HEARTH_CHECK(states.size() == schedulers.size(), ValueError, "optim::load: '", path, "' holds ", states.size(),
               " scheduler states but ", schedulers.size(), " schedulers were given");
  optimizer.load_state_dict(sd);
  for (size_t i = 0; i < schedulers.size(); ++i) {
    HEARTH_CHECK(schedulers[i] != nullptr, ValueError, "optim::load: scheduler ", i, " is null");
    schedulers[i]->load_state_dict(states[i]);
  }
}

}  // namespace hearth::optim
