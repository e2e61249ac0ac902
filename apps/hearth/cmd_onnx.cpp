// `hearth onnx run|test|ops`: run an ONNX model through hearth's ops, run ONNX node-test
// directories against their references, print the support table (docs/onnx.md, docs/cli.md).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli.h"
#include "hearth/hearth.h"
#include "hearth/onnx.h"

namespace hearth::cli {
namespace {

namespace fs = std::filesystem;

/// An input file: an ONNX TensorProto (.pb) or a safetensors file (the tensor named `name`,
/// or its only tensor).
Tensor read_input(const std::string& name, const std::string& path) {
  if (path.size() > 3 && path.substr(path.size() - 3) == ".pb") return onnx::load_tensor_pb(path);
  auto st = hearth::load_safetensors(path);
  for (const auto& [k, v] : st.tensors)
    if (k == name) return v;
  HEARTH_CHECK(st.tensors.size() == 1, ValueError, "onnx run: '", path, "' holds ", st.tensors.size(),
               " tensors and none is named '", name, "'");
  return st.tensors[0].second;
}

int onnx_run(const std::vector<std::string>& args) {
  Common c;
  std::string model, out;
  std::vector<std::string> inputs;
  po::options_description d("hearth onnx run FILE.onnx [--input NAME=FILE]... [--out FILE.safetensors] [common options]");
  add_common_options(d, c);
  d.add_options()("model", po::value<std::string>(&model)->required(), "the ONNX model (positional)")(
      "input", po::value<std::vector<std::string>>(&inputs)->composing(),
      "NAME=FILE: a graph input from an ONNX TensorProto (.pb) or safetensors file; FILE alone for a one-input model")(
      "out", po::value<std::string>(&out), "write every graph output to this safetensors file");
  po::positional_options_description pos;
  pos.add("model", 1);
  bool help;
  parse(args, d, help, &pos);
  if (help) return 0;
  apply_common(c);
  const Device dev = hearth::require_backend(c.backend);
  onnx::Model m = onnx::Model::load(model);
  std::map<std::string, Tensor> feeds;
  for (const auto& spec : inputs) {
    const auto eq = spec.find('=');
    std::string name, file;
    if (eq == std::string::npos) {
      if (m.inputs().size() != 1)
        throw UsageError("--input " + spec + ": the model has " + std::to_string(m.inputs().size()) +
                         " inputs, so give NAME=FILE");
      name = m.inputs()[0].name;
      file = spec;
    } else {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    feeds[name] = read_input(name, file);
  }
  auto result = m.run(feeds, dev);
  TensorList list;
  for (const auto& o : m.outputs()) {
    Tensor t = result.at(o.name).cpu();
    std::cout << o.name << ": " << t.dtype() << " " << t.sizes() << "\n";
    list.emplace_back(o.name, t.contiguous());
  }
  if (!out.empty()) {
    hearth::save_safetensors(out, list);
    std::cout << "wrote " << out << "\n";
  }
  return 0;
}

/// Test directories: DIR itself when it has model.onnx, else its sub-directories that have one.
std::vector<std::string> test_dirs(const std::string& dir) {
  HEARTH_CHECK(fs::is_directory(dir), ValueError, "onnx test: '", dir, "' is not a directory");
  if (fs::exists(fs::path(dir) / "model.onnx")) return {dir};
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  HEARTH_CHECK(!out.empty(), ValueError, "onnx test: '", dir, "' has no model.onnx and no test directories");
  return out;
}

int onnx_test(const std::vector<std::string>& args) {
  Common c;
  std::vector<std::string> dirs;
  po::options_description d("hearth onnx test DIR... [common options]");
  add_common_options(d, c);
  d.add_options()("dir", po::value<std::vector<std::string>>(&dirs)->required(),
                  "ONNX node-test directories, or directories of them (positional)");
  po::positional_options_description pos;
  pos.add("dir", -1);
  bool help;
  parse(args, d, help, &pos);
  if (help) return 0;
  apply_common(c);
  const Device dev = hearth::require_backend(c.backend);
  int passed = 0, failed = 0, unsupported = 0;
  for (const auto& top : dirs)
    for (const auto& t : test_dirs(top)) {
      onnx::TestResult r = onnx::run_node_test(t, dev);
      std::cout << r.line() << std::endl;
      if (r.status == onnx::TestResult::Status::Pass) ++passed;
      else if (r.status == onnx::TestResult::Status::Unsupported) ++unsupported;
      else ++failed;
    }
  std::cout << "passed=" << passed << " failed=" << failed << " unsupported=" << unsupported << std::endl;
  return failed > 0 ? 1 : 0;
}

int onnx_ops(const std::vector<std::string>& args) {
  po::options_description d("hearth onnx ops  (prints the support table as Markdown)");
  bool help;
  parse(args, d, help);
  if (help) return 0;
  std::cout << onnx::support_table_markdown();
  return 0;
}

int cmd_onnx(const std::vector<std::string>& args) {
  const std::string usage = "usage: hearth onnx run|test|ops ... (hearth onnx SUBCOMMAND --help)";
  if (args.empty()) throw UsageError(usage);
  if (args[0] == "--help" || args[0] == "-h") {
    std::cout << usage << "\n  run   run a model on given inputs\n  test  run ONNX node-test directories\n"
              << "  ops   print the support table\n";
    return 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "run") return onnx_run(rest);
  if (args[0] == "test") return onnx_test(rest);
  if (args[0] == "ops") return onnx_ops(rest);
  throw UsageError("unknown onnx subcommand '" + args[0] + "'; " + usage);
}

}  // namespace

HEARTH_CLI_COMMAND("onnx", "run ONNX models and ONNX's node tests through hearth's ops", 60, cmd_onnx);

}  // namespace hearth::cli
