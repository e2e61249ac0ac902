// The `hearth` command: subcommands over the library. Exceptions become one line on stderr and
// exit code 1; a malformed command line exits 2 (docs/cli.md).
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hearth/hearth.h"

namespace po = boost::program_options;

namespace {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Options every op-running subcommand shares.
struct Common {
  std::string backend = "cpu";
  std::vector<std::string> plugin_dirs;
  int threads = 0;
};

void add_plugin_dir_option(po::options_description& d, Common& c) {
  d.add_options()("plugin-dir", po::value<std::vector<std::string>>(&c.plugin_dirs)->composing(),
                  "extra plugin directory (repeatable), searched before $HEARTH_PLUGIN_PATH and the default");
}

void add_common_options(po::options_description& d, Common& c) {
  add_plugin_dir_option(d, c);
  d.add_options()("backend", po::value<std::string>(&c.backend)->default_value("cpu"),
                  "device to run on (cpu, cuda, testdev, ...); strict: no fallback")(
      "threads", po::value<int>(&c.threads)->default_value(0), "intra-op threads (0 = all cores)");
}

po::variables_map parse(const std::vector<std::string>& args, const po::options_description& d, bool& help) {
  po::options_description all(d);
  all.add_options()("help,h", "show this help");
  po::variables_map vm;
  try {
    // An empty positional description makes a stray word (`plugins json`) an error; without
    // one, Boost silently drops it.
    po::positional_options_description none;
    po::store(po::command_line_parser(args).options(all).positional(none).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  help = vm.count("help") > 0;
  if (help) std::cout << all << "\n";
  return vm;
}

void apply_threads(int threads) {
  if (threads < 0) throw UsageError("--threads must be >= 0");
  if (threads > 0) {
    // OpenMP reads this when the CPU plugin's first parallel region starts.
    setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
  }
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
      o["registered"] = {{"devices", r.devices}, {"ops", r.ops}, {"kernels", r.kernels},
                         {"components", r.components}};
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

int cmd_bench(const std::vector<std::string>& args) {
  Common c;
  std::string op = "matmul";
  int64_t size = 1024;
  int iters = 10;
  po::options_description d("hearth bench [--op matmul|add] [--size N] [--iters K] [common options]");
  add_common_options(d, c);
  d.add_options()("op", po::value<std::string>(&op)->default_value("matmul"), "matmul (N x N x N) or add (N floats)")(
      "size", po::value<int64_t>(&size)->default_value(1024), "problem size N")(
      "iters", po::value<int>(&iters)->default_value(10), "timed repetitions");
  bool help;
  parse(args, d, help);
  if (help) return 0;
  if (op != "matmul" && op != "add") throw UsageError("--op must be 'matmul' or 'add', got '" + op + "'");
  if (size <= 0 || iters <= 0) throw UsageError("--size and --iters must be positive");
  apply_threads(c.threads);
  hearth::load_plugins(c.plugin_dirs);
  hearth::Device dev = hearth::require_backend(c.backend);
  auto opts = hearth::TensorOptions(hearth::kFloat32).device(dev);
  if (op == "matmul") {
    auto a = hearth::randn({size, size}, opts), b = hearth::randn({size, size}, opts);
    auto r = hearth::matmul(a, b);
    hearth::synchronize(dev);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) r = hearth::matmul(a, b);
    hearth::synchronize(dev);  // SEED E1: device work is asynchronous
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    std::printf("matmul %lldx%lldx%lld on %s: %.3f ms, %.1f GFLOP/s\n", (long long)size, (long long)size,
                (long long)size, dev.str().c_str(), s * 1e3, 2.0 * size * size * size / s / 1e9);
  } else {
    auto a = hearth::randn({size}, opts), b = hearth::randn({size}, opts);
    a.add_(b);
    hearth::synchronize(dev);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) a.add_(b);
    hearth::synchronize(dev);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    std::printf("add_ of %lld floats on %s: %.3f ms, %.2f GB/s (2 reads + 1 write)\n", (long long)size,
                dev.str().c_str(), s * 1e3, 3.0 * 4 * size / s / 1e9);
  }
  return 0;
}

void usage(std::ostream& os) {
  os << "usage: hearth <command> [options]\n\n"
        "commands:\n"
        "  plugins   list plugin files, their status and what they registered\n"
        "  bench     time a matmul or add on a backend\n\n"
        "`hearth <command> --help` shows a command's options; docs/cli.md has the full grammar.\n";
}

}  // namespace

/// Ctrl-C: exit 130 without running destructors of half-finished work (docs/cli.md).
extern "C" void on_interrupt(int) { std::_Exit(130); }

int main(int argc, char** argv) {
  // Never die on a signal: a closed pipe (`hearth plugins | head`) becomes a write error.
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_interrupt);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage(std::cerr);
    return 2;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  try {
    if (cmd == "plugins") return cmd_plugins(args);
    if (cmd == "bench") return cmd_bench(args);
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      usage(std::cout);
      return 0;
    }
    if (cmd == "--version") {
      std::cout << "hearth " << HEARTH_VERSION_STRING << "\n";
      return 0;
    }
    std::cerr << "hearth: unknown command '" << cmd << "'\n";
    usage(std::cerr);
    return 2;
  } catch (const UsageError& e) {
    std::cerr << "hearth " << cmd << ": " << e.what() << " (see `hearth " << cmd << " --help`)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hearth " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}
