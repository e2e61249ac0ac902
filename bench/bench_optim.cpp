// bench_optim: one optimizer step with hearth-optim's fused CPU update (one pass over all
// parameters of the group, SEED F9) against PyTorch's per-parameter loop of tensor ops (the
// same optimizer with fused(false)), on two parameter sets: ResNet-18's 62 tensors (11.7M
// floats) and a deep MLP's 200 small tensors (0.2M floats, where per-op overhead dominates).
// LibTorch 1.13's C++ optimizers run in bench_optim_libtorch (next to this program, when built),
// started as a child with the same thread count, for a third column.
// Run: build/bin/bench_optim [--threads N] [--quick]
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "hearth/hearth.h"
#include "hearth/optim.h"

using namespace hearth;

namespace {

/// ResNet-18's parameter shapes (conv weights, batch-norm weights and biases, fc).
std::vector<std::vector<int64_t>> resnet18_shapes() {
  std::vector<std::vector<int64_t>> s;
  auto conv = [&](int64_t o, int64_t i, int64_t k) { s.push_back({o, i, k, k}); };
  auto bn = [&](int64_t c) {
    s.push_back({c});
    s.push_back({c});
  };
  conv(64, 3, 7);
  bn(64);
  const int64_t widths[] = {64, 128, 256, 512};
  int64_t in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t w = widths[stage];
    for (int block = 0; block < 2; ++block) {
      conv(w, block == 0 ? in : w, 3);
      bn(w);
      conv(w, w, 3);
      bn(w);
      if (block == 0 && stage > 0) {
        conv(w, in, 1);
        bn(w);
      }
    }
    in = w;
  }
  s.push_back({1000, 512});
  s.push_back({1000});
  return s;
}

/// 100 Linear(45, 45) layers: weights and biases.
std::vector<std::vector<int64_t>> mlp_shapes() {
  std::vector<std::vector<int64_t>> s;
  for (int i = 0; i < 100; ++i) {
    s.push_back({45, 45});
    s.push_back({45});
  }
  return s;
}

double time_steps(const std::string& name, const std::map<std::string, double>& opts,
                  const std::vector<std::vector<int64_t>>& shapes, int steps) {
  manual_seed(1);
  std::vector<Tensor> ps;
  for (const auto& s : shapes) {
    Tensor p = randn(s).requires_grad_();
    p.mutable_grad() = randn(s).mul(1e-3);
    ps.push_back(p);
  }
  auto opt = optim::create(name, ps, opts);
  for (int i = 0; i < 3; ++i) opt->step();  // state allocation and warm caches
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) opt->step();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps);
  }
  return best * 1e3;
}

/// LibTorch's figures by (set index, optimizer), from the child program; empty if not built.
std::map<std::pair<int, std::string>, double> libtorch_figures(int threads, bool quick) {
  std::map<std::pair<int, std::string>, double> out;
  const auto self = std::filesystem::read_symlink("/proc/self/exe");
  const auto child = self.parent_path() / "bench_optim_libtorch";
  if (!std::filesystem::exists(child)) return out;
  const std::string cmd = "OMP_NUM_THREADS=" + std::to_string(threads) + " '" + child.string() + "' --threads " +
                          std::to_string(threads) + (quick ? " --quick" : "");
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  int si;
  char name[32];
  double ms;
  while (std::fscanf(f, "%d %31s %lf", &si, name, &ms) == 3) out[{si, name}] = ms;
  pclose(f);
  return out;
}

std::string loadavg() {
  FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "?";
  char buf[64] = {0};
  if (!std::fgets(buf, sizeof buf, f)) buf[0] = 0;
  std::fclose(f);
  std::string s(buf);
  return s.substr(0, s.find(' '));
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) omp_set_num_threads(std::atoi(argv[++i]));
  }
  try {
    load_plugins();
    struct Set {
      const char* name;
      std::vector<std::vector<int64_t>> shapes;
      int steps;
    };
    const Set sets[] = {{"resnet18 (62 tensors, 11.7M)", resnet18_shapes(), quick ? 3 : 10},
                        {"mlp (200 tensors, 0.21M)", mlp_shapes(), quick ? 20 : 200}};
    const std::pair<const char*, std::map<std::string, double>> opts[] = {
        {"sgd momentum", {{"lr", 0.1}, {"momentum", 0.9}, {"weight_decay", 1e-4}}},
        {"adam", {{"lr", 1e-3}}},
        {"adamw", {{"lr", 1e-3}, {"weight_decay", 1e-2}}},
        {"rmsprop", {{"lr", 1e-2}, {"momentum", 0.9}}},
        {"adagrad", {{"lr", 1e-2}}},
    };
    const char* rule[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    const int threads = omp_get_max_threads();
    std::printf("threads: %d (OpenMP max), load average before: %s\n", threads, loadavg().c_str());
    std::printf("isa: %s (cap: %s)\n", hearth::plugin_property("cpu.isa").c_str(),
                hearth::plugin_property("cpu.isa.cap").c_str());
    const auto torch = libtorch_figures(threads, quick);
    std::printf("%-30s %-14s %14s %14s %8s %14s\n", "parameters", "optimizer", "per-param ms", "fused ms", "speedup",
                "LibTorch ms");
    int si = -1;
    for (const auto& set : sets) {
      ++si;
      for (size_t k = 0; k < 5; ++k) {
        auto o = opts[k].second;
        o["fused"] = 0;
        const double loop = time_steps(rule[k], o, set.shapes, set.steps);
        o["fused"] = 1;
        const double fused = time_steps(rule[k], o, set.shapes, set.steps);
        auto it = torch.find({si, rule[k]});
        char lt[32] = "-";
        if (it != torch.end()) std::snprintf(lt, sizeof lt, "%.3f", it->second);
        std::printf("%-30s %-14s %14.3f %14.3f %7.1fx %14s\n", set.name, opts[k].first, loop, fused, loop / fused, lt);
      }
    }
    std::printf("load average after: %s\n", loadavg().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_optim: %s\n", e.what());
    return 1;
  }
  return 0;
}
