// `hearth summary` (SEED A3, A6) and `hearth graph` (SEED A2): a model's layers and counts, and
// its autograd graph as Graphviz dot (docs/cli.md).
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.h"
#include "run_config.h"
#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn/models.h"
#include "hearth/nn/summary.h"

namespace hearth::cli {
namespace {

/// "1,1,28,28" -> {1, 1, 28, 28}; UsageError for anything else.
DimVector parse_shape(const std::string& s) {
  DimVector out;
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = std::min(s.find(',', pos), s.size());
    const std::string item = s.substr(pos, comma - pos);
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v <= 0)
      throw UsageError("--input takes positive sizes separated by commas (e.g. 1,1,28,28), got '" + s + "'");
    out.push_back(v);
    pos = comma + 1;
  }
  return out;
}

std::vector<DimVector> input_shapes(const std::vector<std::string>& inputs, const std::string& model) {
  std::vector<DimVector> shapes;
  for (const auto& s : inputs) shapes.push_back(parse_shape(s));
  if (shapes.empty()) shapes.push_back(default_input(model));
  return shapes;
}

std::string shape_text(const DimVector& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

int cmd_summary(const std::vector<std::string>& args) {
  Common c;
  std::string model_opt, weights;
  std::vector<std::string> inputs;
  bool as_json = false;
  po::options_description d("hearth summary [--model NAME] [--weights FILE|DIR] [--input 1,1,28,28]... [--json]");
  add_common_options(d, c);
  d.add_options()("model", po::value(&model_opt), "model spec (default: the --weights checkpoint's, else lenet)")(
      "weights", po::value(&weights), "state dict, training checkpoint or checkpoint directory to load")(
      "input", po::value(&inputs)->composing(), "input shape incl. batch (repeatable for several inputs)")(
      "json", po::bool_switch(&as_json), "print JSON instead of the table");
  bool help;
  parse(args, d, help);
  if (help) return 0;
  apply_common(c);
  const std::string model_spec = model_spec_for(model_opt, weights, "lenet");
  const std::vector<DimVector> shapes = input_shapes(inputs, model_spec);
  const Device dev = require_backend(c.backend);
  auto model = nn::create_model(model_spec);
  model->to(dev);
  if (!weights.empty()) load_weights(weights, *model);
  model->eval();
  std::function<void(const std::vector<Tensor>&)> run;
  if (shapes.size() > 1) {
    // Modules take one tensor; a model with several inputs concatenates them along dim 1 only
    // if it says so, so refuse rather than guess.
    throw ValueError("model '" + model_spec + "' takes one input tensor, but " + std::to_string(shapes.size()) +
                     " --input shapes were given");
  }
  nn::ModelSummary s = nn::summary(*model, shapes, run, TensorOptions(kFloat32).device(dev));
  if (as_json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : s.layers) {
      layers.push_back({{"name", l.name},
                        {"type", l.type},
                        {"kernel", l.kernel},
                        {"output_shape", std::vector<int64_t>(l.output_shape.begin(), l.output_shape.end())},
                        {"params", l.params},
                        {"mult_adds", l.mult_adds}});
    }
    nlohmann::json j = {{"model", model_spec},
                        {"inputs", nlohmann::json::array()},
                        {"layers", layers},
                        {"total_params", s.total_params},
                        {"trainable_params", s.trainable_params},
                        {"total_mult_adds", s.total_mult_adds}};
    for (const auto& sh : shapes) j["inputs"].push_back(std::vector<int64_t>(sh.begin(), sh.end()));
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "model " << model_spec << ", input";
  for (const auto& sh : shapes) std::cout << " " << shape_text(sh);
  std::cout << "\n" << s.table();
  return 0;
}

int cmd_graph(const std::vector<std::string>& args) {
  Common c;
  std::string model_opt, weights, input, out, render;
  po::options_description d(
      "hearth graph [--model NAME] [--weights FILE|DIR] [--input 1,1,28,28] --out FILE.dot [--render png|svg|pdf]");
  add_common_options(d, c);
  d.add_options()("model", po::value(&model_opt), "model spec (default: the --weights checkpoint's, else lenet)")(
      "weights", po::value(&weights), "state dict, training checkpoint or checkpoint directory to load")(
      "input", po::value(&input), "input shape incl. batch")(
      "out", po::value(&out)->required(), "the .dot file to write")(
      "render", po::value(&render), "also run graphviz: png, svg or pdf");
  bool help;
  parse(args, d, help);
  if (help) return 0;
  if (!render.empty() && render != "png" && render != "svg" && render != "pdf")
    throw UsageError("--render must be png, svg or pdf, got '" + render + "'");
  if (!input.empty()) (void)parse_shape(input);  // a usage error before any work
  apply_common(c);
  const std::string model_spec = model_spec_for(model_opt, weights, "lenet");
  const DimVector shape = input.empty() ? default_input(model_spec) : parse_shape(input);
  const Device dev = require_backend(c.backend);
  auto model = nn::create_model(model_spec);
  model->to(dev);
  if (!weights.empty()) load_weights(weights, *model);
  // The inference graph (dropout off, BatchNorm on running statistics): training-mode BatchNorm
  // cannot normalize one value per channel, which resnet18 reaches with --input 1,3,32,32.
  model->eval();
  Tensor x = zeros(shape, TensorOptions(kFloat32).device(dev));
  Tensor y = (*model)(x);
  std::map<std::string, Tensor> params;
  for (const auto& [name, t] : model->named_parameters()) params[name] = t;
  const std::string dot = autograd::to_dot(y, params);
  write_file_atomically(out, [&](const std::string& tmp) {
    std::ofstream f(tmp);
    f << dot;
    if (!f.flush()) throw FormatError("cannot write '" + tmp + "'");
  });
  std::printf("wrote %s (%zu bytes)\n", out.c_str(), dot.size());
  if (!render.empty()) {
    const std::string image = out + "." + render;
    // Arguments are quoted for the shell; paths with a single quote are refused.
    if (out.find('\'') != std::string::npos) throw ValueError("--render: the path must not contain a single quote");
    const std::string cmd = "dot -T" + render + " '" + out + "' -o '" + image + "'";
    const int rc = std::system(cmd.c_str());
    if (rc != 0)
      throw ValueError("--render: `" + cmd + "` failed (exit " + std::to_string(WIFEXITED(rc) ? WEXITSTATUS(rc) : rc) +
                       "); is graphviz installed? (apt-get install graphviz)");
    std::printf("wrote %s\n", image.c_str());
  }
  return 0;
}

}  // namespace

HEARTH_CLI_COMMAND("summary", "a model's layers, output shapes, parameters and mult-adds", 40, cmd_summary);
HEARTH_CLI_COMMAND("graph", "a model's autograd graph as Graphviz dot", 50, cmd_graph);

}  // namespace hearth::cli
