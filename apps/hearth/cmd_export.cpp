// `hearth export`: trace a zoo model (optionally with trained weights) into an ONNX file for
// Netron and other runtimes (SEED A5; docs/onnx.md, docs/cli.md).
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "hearth/hearth.h"
#include "hearth/nn/models.h"
#include "hearth/onnx.h"

namespace hearth::cli {
namespace {

std::vector<int64_t> parse_shape(const std::string& s) {
  std::vector<int64_t> dims;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0) throw std::invalid_argument(part);
      dims.push_back(v);
    } catch (const std::exception&) {
      throw UsageError("--input must be comma-separated positive sizes such as 1,1,28,28, got '" + s + "'");
    }
  }
  if (dims.empty()) throw UsageError("--input must not be empty");
  return dims;
}

int cmd_export(const std::vector<std::string>& args) {
  Common c;
  std::string model, weights, input, out;
  po::options_description d(
      "hearth export --model NAME[:ARGS] [--weights FILE] --input 1,1,28,28 --out FILE.onnx [--plugin-dir DIR]");
  add_plugin_dir_option(d, c);
  d.add_options()("model", po::value<std::string>(&model)->required(), "zoo model (hearth plugins lists them)")(
      "weights", po::value<std::string>(&weights), "state dict to load first (safetensors, or HDF5 with hearth-hdf5)")(
      "input", po::value<std::string>(&input)->required(), "example input shape, e.g. 1,1,28,28 (float32 zeros)")(
      "out", po::value<std::string>(&out)->required(), "the ONNX file to write");
  bool help;
  parse(args, d, help);
  if (help) return 0;
  const auto shape = parse_shape(input);
  load_plugin_dirs(c);
  auto m = nn::create_model(model);
  if (!weights.empty()) hearth::load_state_dict(weights, *m);
  m->eval();
  onnx::export_module(*m, hearth::zeros(shape), out);
  std::cout << "wrote " << out << " (" << model << ", input " << input << ", opset " << onnx::kExportOpset << ")\n";
  return 0;
}

}  // namespace

HEARTH_CLI_COMMAND("export", "export a model to ONNX (for Netron and other runtimes)", 55, cmd_export);

}  // namespace hearth::cli
