// `hearth ckpt inspect|convert|diff`: look inside state-dict and checkpoint files (safetensors,
// HDF5), convert between formats with --strip-prefix, compare two files key by key (docs/cli.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "hearth/checkpoint.h"
#include "hearth/hearth.h"

namespace hearth::cli {
namespace {

std::string shape_str(IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

/// Everything after the subcommand: positional words and the options of `d`.
std::vector<std::string> positionals(const std::vector<std::string>& args, po::options_description& d, bool& help) {
  std::vector<std::string> words;
  po::options_description hidden;  // collects the positional words; not an option to show in --help
  hidden.add_options()("args", po::value<std::vector<std::string>>(&words), "");
  po::positional_options_description pos;
  pos.add("args", -1);
  parse(args, d, help, &pos, &hidden);
  return words;
}

void need(const std::vector<std::string>& words, size_t n, const char* what) {
  if (words.size() != n) throw UsageError(std::string("expected ") + what + ", got " + std::to_string(words.size()) + " argument(s)");
}

int inspect(const std::vector<std::string>& args) {
  Common c;
  bool json = false;
  po::options_description d("hearth ckpt inspect FILE|DIR [--json] [--plugin-dir DIR]...");
  add_plugin_dir_option(d, c);
  d.add_options()("json", po::bool_switch(&json), "print one JSON object");
  bool help = false;
  auto words = positionals(args, d, help);
  if (help) return 0;
  need(words, 1, "FILE (a state dict or checkpoint, or a checkpoint directory)");
  load_plugin_dirs(c);
  const std::string path = resolve_checkpoint(words[0]);
  const std::string format = tensor_file_format_for_reading(path).name();
  auto reader = open_tensor_file(path);
  std::map<std::string, std::string> devices;
  if (auto it = reader->metadata().find(kDevicesMetadataKey); it != reader->metadata().end()) {
    auto j = nlohmann::json::parse(it->second, nullptr, false);
    if (j.is_object())
      for (auto& [k, v] : j.items())
        if (v.is_string()) devices[k] = v.get<std::string>();
  }
  size_t total = 0;
  for (const auto& e : reader->entries()) total += e.nbytes;
  if (json) {
    nlohmann::json o;
    o["file"] = path;
    o["format"] = format;
    o["metadata"] = reader->metadata();
    o["tensors"] = nlohmann::json::array();
    for (const auto& e : reader->entries()) {
      nlohmann::json t = {{"key", e.name}, {"dtype", dtype_name(e.dtype)}, {"shape", std::vector<int64_t>(e.shape.begin(), e.shape.end())}, {"bytes", e.nbytes}};
      if (auto it = devices.find(e.name); it != devices.end()) t["device"] = it->second;
      o["tensors"].push_back(t);
    }
    o["total_bytes"] = total;
    std::cout << o.dump(2) << "\n";
    return 0;
  }
  std::cout << path << "  (" << format << ", " << reader->entries().size() << " tensors, " << total << " bytes)\n";
  if (!reader->metadata().empty()) {
    std::cout << "metadata:\n";
    for (const auto& [k, v] : reader->metadata()) {
      if (k == kDevicesMetadataKey) continue;  // shown per tensor below
      std::string shown = v.size() > 160 ? v.substr(0, 160) + "... (" + std::to_string(v.size()) + " chars)" : v;
      std::cout << "  " << k << ": " << shown << "\n";
    }
  }
  size_t w = 3;
  for (const auto& e : reader->entries()) w = std::max(w, e.name.size());
  std::printf("%-*s  %-8s  %-20s  %12s  %s\n", static_cast<int>(w), "key", "dtype", "shape", "bytes", "saved on");
  for (const auto& e : reader->entries()) {
    auto it = devices.find(e.name);
    std::printf("%-*s  %-8s  %-20s  %12zu  %s\n", static_cast<int>(w), e.name.c_str(), dtype_name(e.dtype),
                shape_str(e.shape).c_str(), e.nbytes, it == devices.end() ? "-" : it->second.c_str());
  }
  return 0;
}

int convert(const std::vector<std::string>& args) {
  Common c;
  std::string strip;
  bool model_only = false;
  po::options_description d("hearth ckpt convert IN OUT [--strip-prefix P | --model-only] [--plugin-dir DIR]...\n"
                            "(the format of OUT comes from its extension: .h5/.hdf5 for HDF5, else safetensors)");
  add_plugin_dir_option(d, c);
  d.add_options()("strip-prefix", po::value<std::string>(&strip), "remove P from the start of every key that has it (e.g. module.)")(
      "model-only", po::bool_switch(&model_only),
      "from a training checkpoint (file or directory), write the model's plain state dict (its model.* tensors, "
      "without the prefix; no optimizer state)");
  bool help = false;
  auto words = positionals(args, d, help);
  if (help) return 0;
  need(words, 2, "IN OUT");
  if (strip.empty() && args.end() != std::find(args.begin(), args.end(), "--strip-prefix"))
    throw UsageError("--strip-prefix needs a non-empty prefix");
  if (model_only && !strip.empty()) throw UsageError("--model-only and --strip-prefix exclude each other");
  load_plugin_dirs(c);
  const std::string in = resolve_checkpoint(words[0]);
  SafetensorsContents src = load_tensors(in);  // host memory, as read
  if (model_only) {
    HEARTH_CHECK(src.metadata.count("hearth.training"), ValueError, "ckpt convert --model-only: '", in,
                 "' is not a training checkpoint (it is already a plain state dict)");
    // The model's tensors only, under the keys the model has; the training metadata stays behind.
    std::erase_if(src.tensors, [](const auto& kv) { return kv.first.rfind("model.", 0) != 0; });
    strip = "model.";
    std::map<std::string, std::string> kept;
    if (auto it = src.metadata.find(kDevicesMetadataKey); it != src.metadata.end()) kept.insert(*it);
    src.metadata = std::move(kept);
  }
  TensorList out;
  std::map<std::string, std::string> renamed;
  std::set<std::string> seen;
  size_t stripped = 0;
  for (auto& [k, v] : src.tensors) {
    std::string key = k;
    if (!strip.empty() && key.compare(0, strip.size(), strip) == 0 && key.size() > strip.size()) {
      key = key.substr(strip.size());
      ++stripped;
    }
    HEARTH_CHECK(seen.insert(key).second, ValueError, "ckpt convert: '", in, "': key '", key,
                 "' appears twice after removing the prefix '", strip, "'");
    renamed[k] = key;
    out.emplace_back(key, v);
  }
  auto md = src.metadata;
  if (!src.saved_devices.empty()) {  // the devices stay recorded, under the new keys
    nlohmann::json dev = nlohmann::json::object();
    for (const auto& [k, v] : src.saved_devices)
      if (auto it = renamed.find(k); it != renamed.end()) dev[it->second] = v;
    md[kDevicesMetadataKey] = dev.dump();
  }
  const TensorFileFormat& fmt = tensor_file_format_for_writing(words[1]);
  fmt.save(words[1], out, md);
  std::cout << in << " -> " << words[1] << " (" << fmt.name() << ", " << out.size() << " tensors";
  if (model_only)
    std::cout << ", the model's state dict";
  else if (!strip.empty())
    std::cout << ", prefix '" << strip << "' removed from " << stripped;
  std::cout << ")\n";
  return 0;
}

int diff(const std::vector<std::string>& args) {
  Common c;
  bool json = false;
  po::options_description d("hearth ckpt diff A B [--json] [--plugin-dir DIR]...");
  add_plugin_dir_option(d, c);
  d.add_options()("json", po::bool_switch(&json), "print one JSON object");
  bool help = false;
  auto words = positionals(args, d, help);
  if (help) return 0;
  need(words, 2, "A B");
  load_plugin_dirs(c);
  const std::string pa = resolve_checkpoint(words[0]), pb = resolve_checkpoint(words[1]);
  SafetensorsContents a = load_tensors(pa), b = load_tensors(pb);
  std::map<std::string, Tensor> bm(b.tensors.begin(), b.tensors.end());
  std::set<std::string> in_a;
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::string> only_a, only_b;
  size_t differing = 0;
  for (auto& [k, va] : a.tensors) {
    in_a.insert(k);
    auto it = bm.find(k);
    if (it == bm.end()) {
      only_a.push_back(k);
      continue;
    }
    const Tensor& vb = it->second;
    nlohmann::json r = {{"key", k}};
    if (va.dtype() != vb.dtype()) r["dtypes"] = {dtype_name(va.dtype()), dtype_name(vb.dtype())};
    if (va.sizes() != vb.sizes()) {
      r["shapes"] = {va.sizes().vec(), vb.sizes().vec()};
      r["max_abs_diff"] = nullptr;
      ++differing;
    } else {
      NoGradGuard ng;
      double m = 0;
      if (va.numel() > 0) m = (va.to(kFloat64) - vb.to(kFloat64)).abs().max().item<double>();
      r["max_abs_diff"] = std::isnan(m) ? nlohmann::json("nan") : nlohmann::json(m);
      if (m != 0 || va.dtype() != vb.dtype()) ++differing;
    }
    rows.push_back(r);
  }
  for (auto& [k, v] : b.tensors)
    if (!in_a.count(k)) only_b.push_back(k);
  if (json) {
    std::cout << nlohmann::json{{"a", pa}, {"b", pb}, {"tensors", rows}, {"only_in_a", only_a}, {"only_in_b", only_b}}.dump(2)
              << "\n";
    return 0;
  }
  size_t w = 3;
  for (auto& r : rows) w = std::max(w, r["key"].get<std::string>().size());
  std::printf("%-*s  %s\n", static_cast<int>(w), "key", "max |a - b|");
  for (auto& r : rows) {
    std::string v;
    if (r.contains("shapes"))
      v = "shape " + shape_str(r["shapes"][0].get<std::vector<int64_t>>()) + " vs " +
          shape_str(r["shapes"][1].get<std::vector<int64_t>>());
    else if (r["max_abs_diff"].is_string())
      v = "nan";
    else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.6g", r["max_abs_diff"].get<double>());
      v = buf;
    }
    if (r.contains("dtypes"))
      v += "  (dtype " + r["dtypes"][0].get<std::string>() + " vs " + r["dtypes"][1].get<std::string>() + ")";
    std::printf("%-*s  %s\n", static_cast<int>(w), r["key"].get<std::string>().c_str(), v.c_str());
  }
  for (auto& k : only_a) std::cout << "only in A: " << k << "\n";
  for (auto& k : only_b) std::cout << "only in B: " << k << "\n";
  std::cout << rows.size() << " common key(s), " << differing << " differ; " << only_a.size() << " only in A, "
            << only_b.size() << " only in B\n";
  return 0;
}

int cmd_ckpt(const std::vector<std::string>& args) {
  const char* usage =
      "hearth ckpt inspect FILE|DIR [--json]\n"
      "hearth ckpt convert IN OUT [--strip-prefix P | --model-only]\n"
      "hearth ckpt diff A B [--json]\n"
      "(FILE: safetensors or HDF5 state dict or training checkpoint; a checkpoint directory means the file its\n"
      " `latest` names; `hearth ckpt SUBCOMMAND --help` shows the options)\n";
  if (args.empty()) throw UsageError("missing subcommand: inspect, convert or diff");
  const std::string sub = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "--help" || sub == "-h") {
    std::cout << usage;
    return 0;
  }
  if (sub == "inspect") return inspect(rest);
  if (sub == "convert") return convert(rest);
  if (sub == "diff") return diff(rest);
  throw UsageError("unknown subcommand '" + sub + "' (inspect, convert, diff)");
}

}  // namespace

HEARTH_CLI_COMMAND("ckpt", "inspect, convert (safetensors <-> HDF5, --strip-prefix) and diff checkpoint files", 60,
                   cmd_ckpt);

}  // namespace hearth::cli
