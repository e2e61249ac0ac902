// `hearth export`: trace a zoo model (optionally with trained weights) into an ONNX file for
// Netron and other runtimes (SEED A5; docs/onnx.md, docs/cli.md).
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "run_config.h"
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
  std::string model_opt, weights, input, out;
  po::options_description d(
      "hearth export [--model NAME[:ARGS]] [--weights FILE|DIR] [--input 1,1,28,28] --out FILE.onnx [--plugin-dir DIR]");
  add_plugin_dir_option(d, c);
  d.add_options()("model", po::value<std::string>(&model_opt),
                  "zoo model (hearth plugins lists them; default: the training checkpoint's)")(
      "weights", po::value<std::string>(&weights),
      "state dict (safetensors, or HDF5 with hearth-hdf5), training checkpoint, or checkpoint directory")(
      "input", po::value<std::string>(&input), "example input shape (float32 zeros; default: the model's, as summary)")(
      "out", po::value<std::string>(&out)->required(), "the ONNX file to write");
  bool help;
  parse(args, d, help);
  if (help) return 0;
  if (!input.empty()) (void)parse_shape(input);  // a malformed shape is a usage error before any work
  load_plugin_dirs(c);
  const std::optional<nlohmann::json> cfg = weights.empty() ? std::nullopt : checkpoint_run_config(weights);
  const std::string model = model_spec_for(model_opt, weights, "");
  if (model.empty())
    throw UsageError(weights.empty() ? "--model is required without --weights"
                                     : "--model is required: '" + weights + "' records no model spec (a plain state "
                                       "dict or a checkpoint written without one)");
  std::vector<int64_t> shape;
  if (input.empty()) {
    const DimVector def = default_input(model);
    shape.assign(def.begin(), def.end());
  } else {
    shape = parse_shape(input);
  }
  auto m = nn::create_model(model);
  if (!weights.empty()) load_weights(weights, *m);
  m->eval();
  onnx::ExportOptions eo;
  eo.metadata["hearth.model"] = model;
  // How the inputs must be prepared: (image / 255 - mean) / std per channel for uint8 images.
  if (cfg && cfg->contains("normalization")) {
    const Normalization n = Normalization::from_json((*cfg)["normalization"], "training checkpoint '" + weights + "'");
    std::ostringstream mean, sd;
    mean.precision(8);
    sd.precision(8);
    for (size_t i = 0; i < n.mean.size(); ++i) mean << (i ? "," : "") << n.mean[i];
    for (size_t i = 0; i < n.std.size(); ++i) sd << (i ? "," : "") << n.std[i];
    eo.metadata["hearth.normalize.mean"] = mean.str();
    eo.metadata["hearth.normalize.std"] = sd.str();
    eo.metadata["hearth.normalize"] = "input = (image / 255 - mean) / std per channel (image: uint8 pixels)";
  }
  onnx::export_module(*m, hearth::zeros(shape), out, eo);
  std::string shape_s;
  for (size_t i = 0; i < shape.size(); ++i) shape_s += (i ? "," : "") + std::to_string(shape[i]);
  std::cout << "wrote " << out << " (" << model << ", input " << shape_s << ", opset " << onnx::kExportOpset << ")\n";
  return 0;
}

}  // namespace

HEARTH_CLI_COMMAND("export", "export a model to ONNX (for Netron and other runtimes)", 55, cmd_export);

}  // namespace hearth::cli
