// `hearth plugins`: which plugin files loaded, and what each registered (docs/cli.md).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.h"
#include "hearth/hearth.h"

namespace hearth::cli {
namespace {

/// The run-time facts a plugin registered (components "property:NAME"), with their values now.
std::vector<std::pair<std::string, std::string>> properties_of(const hearth::PluginRecord& r) {
  const std::string prefix = std::string(hearth::kPropertyComponent) + ":";
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& c : r.components)
    if (c.rfind(prefix, 0) == 0)
      out.emplace_back(c.substr(prefix.size()), hearth::plugin_property(c.substr(prefix.size())));
  return out;
}

int cmd_plugins(const std::vector<std::string>& args) {
  Common c;
  bool json = false;
  po::options_description d("hearth plugins [--json] [--plugin-dir DIR]...");
  add_plugin_dir_option(d, c);
  d.add_options()("json", po::bool_switch(&json), "print a JSON array, one object per plugin file");
  bool help;
  parse(args, d, help);
  if (help) return 0;
  auto t0 = std::chrono::steady_clock::now();
  hearth::load_plugins(c.plugin_dirs);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  auto recs = hearth::plugin_records();
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : recs) {
      nlohmann::json o;
      o["file"] = r.file;
      o["status"] = r.status;
      o["error"] = r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error);
      o["name"] = r.name;
      o["version"] = r.version;
      o["abi"] = r.abi;
      o["registered"] = {{"devices", r.devices}, {"ops", r.ops}, {"kernels", r.kernels}, {"components", r.components}};
      nlohmann::json props = nlohmann::json::object();
      for (const auto& [k, v] : properties_of(r)) props[k] = v;
      o["properties"] = props;
      arr.push_back(o);
    }
    std::cout << arr.dump(2) << "\n";
    return 0;
  }
  for (const auto& r : recs) {
    std::cout << r.file << "\n  status:  " << r.status;
    if (!r.error.empty()) std::cout << " (" << r.error << ")";
    std::cout << "\n";
    if (!r.name.empty()) std::cout << "  plugin:  " << r.name << " " << r.version << "  [abi " << r.abi << "]\n";
    if (!r.devices.empty()) {
      std::cout << "  devices:";
      for (const auto& dv : r.devices) std::cout << " " << dv;
      std::cout << "\n";
    }
    if (!r.ops.empty()) {
      std::cout << "  ops:    ";
      for (const auto& o : r.ops) std::cout << " " << o;
      std::cout << "\n";
    }
    if (!r.kernels.empty()) {
      std::cout << "  kernels: " << r.kernels.size() << " (";
      for (size_t i = 0; i < r.kernels.size(); ++i) std::cout << (i ? " " : "") << r.kernels[i];
      std::cout << ")\n";
    }
    if (!r.components.empty()) {
      std::cout << "  components:";
      for (const auto& o : r.components) std::cout << " " << o;
      std::cout << "\n";
    }
    for (const auto& [k, v] : properties_of(r)) std::cout << "  " << k << ": " << v << "\n";
  }
  std::cout << "backends:";
  for (const auto& b : hearth::available_backends()) {
    std::cout << " " << b;
    hearth::MemoryStats m = hearth::device_interface(hearth::find_device_type(b)).memory_stats(0);
    std::cout << " (allocated " << m.allocated << " B, peak " << m.peak << " B)";
  }
  std::printf("\ndiscovery took %.1f ms\n", ms);
  return 0;
}

}  // namespace

HEARTH_CLI_COMMAND("plugins", "list plugin files, their status and what they registered", 10, cmd_plugins);

}  // namespace hearth::cli
