// One lenet training step (forward, cross-entropy, backward; batch 64) in hearth and, in a child
// process, LibTorch, in the same run (issue 4's benchmark; the oneDNN per-layer ceiling is to come).
//   build/bin/bench_lenet [--threads N] [--iters N]
#include <hearth/hearth.h>
#include <hearth/nn.h>
#include <hearth/nn/loss.h>
#include <hearth/nn/models.h>
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  int threads = 2, iters = 30;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--iters") && i + 1 < argc) iters = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--iters N]\n", argv[0]);
      return 2;
    }
  }
  try {
    using namespace hearth;
    omp_set_num_threads(threads);
    manual_seed(0);
    auto model = nn::create_model("lenet");
    Tensor x = randn({64, 1, 28, 28});
    Tensor y = randint(0, 10, {64});
    auto step = [&] {
      model->zero_grad();
      Tensor loss = nn::functional::cross_entropy((*model)(x), y);
      loss.backward();
    };
    for (int i = 0; i < 5; ++i) step();
    double best = 1e30, total = 0;
    for (int i = 0; i < iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      step();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, s);
      total += s;
    }
    std::printf("hearth   lenet step (batch 64, %d threads): best %.3f ms, mean %.3f ms\n", threads, best * 1e3,
                total / iters * 1e3);
    // LibTorch in a child process, next to this program.
    const auto self = std::filesystem::read_symlink("/proc/self/exe");
    const auto lt = self.parent_path() / "bench_lenet_libtorch";
    if (std::filesystem::exists(lt)) {
      const std::string cmd = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=" + std::to_string(threads) +
                              " '" + lt.string() + "' " + std::to_string(threads) + " " + std::to_string(iters);
      FILE* p = popen(cmd.c_str(), "r");
      double lt_best = 0;
      char line[256];
      while (p && std::fgets(line, sizeof line, p)) {
        if (std::sscanf(line, "lenet_step_ms=%lf", &lt_best) == 1) continue;
      }
      if (p) pclose(p);
      if (lt_best > 0)
        std::printf("LibTorch lenet step (batch 64, %d threads): best %.3f ms -> hearth %.2fx LibTorch's speed "
                    "(goal >= 1.5x)\n",
                    threads, lt_best, lt_best / (best * 1e3));
    } else {
      std::printf("LibTorch side not built (needs Debian's libtorch-dev)\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_lenet: %s\n", e.what());
    return 1;
  }
  return 0;
}
