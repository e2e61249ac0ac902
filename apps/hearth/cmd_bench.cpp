// `hearth bench`: time a matmul or an add on a backend, synchronizing the device (SEED E1).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli.h"
#include "hearth/hearth.h"

namespace hearth::cli {
namespace {

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
  load_plugin_dirs(c);
  hearth::Device dev = hearth::require_backend(c.backend);
  auto opts = hearth::TensorOptions(hearth::kFloat32).device(dev);
  // Which code the CPU figures come from (HEARTH_CPU_ISA caps it).
  const std::string isa = dev.is_cpu() ? " (isa " + hearth::plugin_property("cpu.isa") + ")" : "";
  if (op == "matmul") {
    auto a = hearth::randn({size, size}, opts), b = hearth::randn({size, size}, opts);
    auto r = hearth::matmul(a, b);
    hearth::synchronize(dev);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) r = hearth::matmul(a, b);
    hearth::synchronize(dev);  // SEED E1: device work is asynchronous
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    std::printf("matmul %lldx%lldx%lld on %s%s: %.3f ms, %.1f GFLOP/s\n", (long long)size, (long long)size,
                (long long)size, dev.str().c_str(), isa.c_str(), s * 1e3, 2.0 * size * size * size / s / 1e9);
  } else {
    auto a = hearth::randn({size}, opts), b = hearth::randn({size}, opts);
    a.add_(b);
    hearth::synchronize(dev);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) a.add_(b);
    hearth::synchronize(dev);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    std::printf("add_ of %lld floats on %s%s: %.3f ms, %.2f GB/s (2 reads + 1 write)\n", (long long)size,
                dev.str().c_str(), isa.c_str(), s * 1e3, 3.0 * 4 * size / s / 1e9);
  }
  return 0;
}

}  // namespace

HEARTH_CLI_COMMAND("bench", "time a matmul or add on a backend", 90, cmd_bench);

}  // namespace hearth::cli
