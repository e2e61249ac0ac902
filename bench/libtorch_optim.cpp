// bench_optim_libtorch: LibTorch 1.13's C++ optimizers (a per-parameter loop of tensor ops) on the
// same parameter sets as bench_optim, for its third column. bench_optim runs it as a child.
// Output: one line per case, "<set index> <optimizer> <ms per step>".
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

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

std::vector<std::vector<int64_t>> mlp_shapes() {
  std::vector<std::vector<int64_t>> s;
  for (int i = 0; i < 100; ++i) {
    s.push_back({45, 45});
    s.push_back({45});
  }
  return s;
}

std::unique_ptr<torch::optim::Optimizer> make(const std::string& name, std::vector<torch::Tensor> ps) {
  using namespace torch::optim;
  if (name == "sgd") return std::make_unique<SGD>(ps, SGDOptions(0.1).momentum(0.9).weight_decay(1e-4));
  if (name == "adam") return std::make_unique<Adam>(ps, AdamOptions(1e-3));
  if (name == "adamw") return std::make_unique<AdamW>(ps, AdamWOptions(1e-3).weight_decay(1e-2));
  if (name == "rmsprop") return std::make_unique<RMSprop>(ps, RMSpropOptions(1e-2).momentum(0.9));
  return std::make_unique<Adagrad>(ps, AdagradOptions(1e-2));
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
  }
  torch::set_num_threads(threads);
  torch::manual_seed(1);
  const std::vector<std::vector<int64_t>> sets[] = {resnet18_shapes(), mlp_shapes()};
  const int steps[] = {quick ? 3 : 10, quick ? 20 : 200};
  for (int si = 0; si < 2; ++si) {
    for (const char* name : {"sgd", "adam", "adamw", "rmsprop", "adagrad"}) {
      std::vector<torch::Tensor> ps;
      for (const auto& s : sets[si]) {
        auto p = torch::randn(s).requires_grad_();
        p.mutable_grad() = torch::randn(s) * 1e-3;
        ps.push_back(p);
      }
      auto opt = make(name, ps);
      for (int i = 0; i < 3; ++i) opt->step();
      double best = 1e30;
      for (int rep = 0; rep < 3; ++rep) {
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < steps[si]; ++i) opt->step();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps[si]);
      }
      std::printf("%d %s %.4f\n", si, name, best * 1e3);
    }
  }
  return 0;
}
