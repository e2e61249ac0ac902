// LibTorch's side of bench_ops: the same workloads (tiny add, f32 matmul 1024³, in-place add_ of 16M floats), key=value lines.
//
// Normally run by bench_ops as a child process (with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset and
// OMP_NUM_THREADS set); can be run by hand:
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2 build/bin/bench_ops_libtorch [--quick] [--threads N]
// The workloads are ../shared/bench/libtorch/dispatch.cpp's (the reference behind SPEC.md's numbers), timed as
// bench_ops times hearth's: the fastest window of 10k tiny adds (of 200k, 1 thread; the mean over all 200k,
// dispatch.cpp's figure, is printed too), and the fastest single call for matmul and add_.
#include <torch/torch.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using clk = std::chrono::steady_clock;

double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// OpenBLAS picks its kernels at run time (DYNAMIC_ARCH); which one it took explains most matmul surprises.
std::string blas_core() {
  using Fn = char* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!fn) {
    // libtorch_cpu links libblas.so.3 (the alternative); OpenBLAS's symbol is in libopenblas.so.0 if that is it.
    if (void* h = dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_NOLOAD)) fn = reinterpret_cast<Fn>(dlsym(h, "openblas_get_corename"));
  }
  return fn ? std::string(fn()) : std::string("not-openblas");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int threads = 2;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--threads N]\n", argv[0]);
      return 2;
    }
  }
  const int tiny_iters = 200000;
  const int mm_iters = quick ? 5 : 20;
  const int add_iters = quick ? 5 : 20;

  std::printf("torch_version=%d.%d.%d\n", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
  const char* omp = std::getenv("OMP_NUM_THREADS");
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  const char* l2 = std::getenv("OPENBLAS_L2_SIZE");
  std::printf("env_OMP_NUM_THREADS=%s\nenv_OPENBLAS_CORETYPE=%s\nenv_OPENBLAS_L2_SIZE=%s\n", omp ? omp : "(unset)",
              core ? core : "(unset)", l2 ? l2 : "(unset)");

  // Tiny add, no grad, 1 thread (dispatch.cpp's loop, in windows).
  {
    torch::set_num_threads(1);
    torch::NoGradGuard ng;
    auto a = torch::ones({4}), b = torch::ones({4});
    auto c = a + b;
    for (int i = 0; i < 1000; ++i) c = a + b;
    const int window = 10000;
    double best = 1e30;
    const auto t_all = clk::now();
    for (int w = 0; w < tiny_iters / window; ++w) {
      const auto t0 = clk::now();
      for (int i = 0; i < window; ++i) c = a + b;
      best = std::min(best, seconds_since(t0) * 1e9 / window);
    }
    const double mean = seconds_since(t_all) * 1e9 / tiny_iters;
    if (c[0].item<float>() != 2.f) return 1;
    std::printf("add_nograd_ns=%.1f\nadd_nograd_mean_ns=%.1f\n", best, mean);
  }

  // Tiny add forward+backward, 1 thread (dispatch.cpp's loop: 50 adds then sum().backward(), per add),
  // in windows of 200 loops; the fastest window and the mean over all.
  {
    torch::set_num_threads(1);
    auto x = torch::ones({4}, torch::requires_grad()), b = torch::ones({4});
    const int loops = 2000, chain = 50, window = 200;
    auto one = [&] {
      auto y = x;
      for (int j = 0; j < chain; ++j) y = y + b;
      y.sum().backward();
    };
    for (int i = 0; i < 50; ++i) one();
    double best = 1e30;
    const auto t_all = clk::now();
    for (int w = 0; w < loops / window; ++w) {
      const auto t0 = clk::now();
      for (int i = 0; i < window; ++i) one();
      best = std::min(best, seconds_since(t0) * 1e9 / (window * chain));
    }
    const double mean = seconds_since(t_all) * 1e9 / (loops * chain);
    if (x.grad()[0].item<float>() != float((loops + 50) * 1)) return 1;
    std::printf("add_fwd_bwd_ns=%.1f\nadd_fwd_bwd_mean_ns=%.1f\n", best, mean);
  }

  torch::set_num_threads(threads);
  std::printf("torch_threads=%d\n", torch::get_num_threads());

  // f32 matmul 1024³.
  {
    torch::NoGradGuard ng;
    auto m = torch::randn({1024, 1024}), k = torch::randn({1024, 1024});
    auto c = torch::mm(m, k);
    for (int i = 0; i < 2; ++i) c = torch::mm(m, k);
    double best = 1e30, total = 0;
    for (int i = 0; i < mm_iters; ++i) {
      const auto t0 = clk::now();
      c = torch::mm(m, k);
      const double s = seconds_since(t0);
      best = std::min(best, s);
      total += s;
    }
    const double flop = 2.0 * 1024 * 1024 * 1024;
    std::printf("sgemm1024_gflops=%.1f\nsgemm1024_mean_gflops=%.1f\n", flop / best / 1e9, flop / (total / mm_iters) / 1e9);
    std::printf("blas_core=%s\n", blas_core().c_str());
  }

  // In-place add_ of two 16M-float tensors: 2 reads + 1 write = 12 bytes per element.
  {
    torch::NoGradGuard ng;
    const int64_t n = int64_t(16) << 20;
    auto a = torch::ones({n}), b = torch::ones({n});
    // bench_ops times hearth's add_ between other 64 MB sweeps, so every call starts with a and b out of
    // the caches; back-to-back calls would find part of them still in L3. Sweep the same way here.
    auto s = torch::ones({n}), d = torch::empty({n});
    for (int i = 0; i < 2; ++i) a.add_(b);
    double best = 1e30;
    for (int i = 0; i < add_iters; ++i) {
      d.copy_(s);
      const auto t0 = clk::now();
      a.add_(b);
      best = std::min(best, seconds_since(t0));
    }
    std::printf("add_inplace_16M_gbs=%.2f\n", 12.0 * double(n) / best / 1e9);
  }
  return 0;
}
