// create_model: parses "name:key=value,..." and calls the factory a plugin registered.
#include "hearth/nn/models.h"

#include <algorithm>
#include <sstream>

#include "hearth/plugin.h"

namespace hearth::nn {

namespace {
std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}
}  // namespace

std::shared_ptr<Module> create_model(const std::string& spec) {
  const auto colon = spec.find(':');
  const std::string name = trim(spec.substr(0, colon));
  HEARTH_CHECK(!name.empty(), ValueError, "model spec '", spec, "' has no name");
  ModelArgs args;
  if (colon != std::string::npos) {
    std::stringstream ss(spec.substr(colon + 1));
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (trim(item).empty()) continue;
      const auto eq = item.find('=');
      HEARTH_CHECK(eq != std::string::npos && !trim(item.substr(0, eq)).empty(), ValueError, "model spec '", spec,
                   "': argument '", item, "' is not key=value");
      HEARTH_CHECK(args.emplace(trim(item.substr(0, eq)), trim(item.substr(eq + 1))).second, ValueError,
                   "model spec '", spec, "': argument '", trim(item.substr(0, eq)), "' given twice");
    }
  }
  auto factory = find_component_as<ModelFactory>("model", name);
  if (!factory) {
    std::string known;
    for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
    HEARTH_CHECK(false, ValueError, "unknown model '", name, "'; registered: ",
                 known.empty() ? "(none; is the hearth-models plugin built and in the plugin path?)" : known);
  }
  auto m = factory(args);
  HEARTH_CHECK(m != nullptr, InternalError, "model factory '", name, "' returned null");
  return m;
}

std::vector<std::string> model_names() {
  auto v = component_names("model");
  std::sort(v.begin(), v.end());
  return v;
}

int64_t model_arg_int(const ModelArgs& args, const std::string& model, const std::string& key, int64_t def) {
  auto it = args.find(key);
  if (it == args.end()) return def;
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  HEARTH_CHECK(used == it->second.size() && !it->second.empty() && v > 0, ValueError, "model '", model,
               "': argument ", key, "='", it->second, "' must be a positive integer");
  return v;
}

void check_model_args(const ModelArgs& args, const std::string& model, const std::vector<std::string>& known) {
  for (const auto& [k, v] : args) {
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string list;
    for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
    HEARTH_CHECK(false, ValueError, "model '", model, "' has no argument '", k, "' (it takes: ",
                 list.empty() ? "none" : list, ")");
  }
}

}  // namespace hearth::nn
