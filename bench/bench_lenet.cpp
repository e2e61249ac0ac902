// lenet (SPEC.md) in hearth against LibTorch (a child process) and against the sum of oneDNN's own
// per-layer primitive times, all in one run (issue 4's benchmark): one training step (forward,
// cross-entropy, backward) at batch 64, and the eval forward (no grad) at batch 1000 (issue 8).
//   build/bin/bench_lenet [--threads N] [--iters N] [--eval-batch N] [--no-libtorch]
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
#include <functional>
#include <string>
#include <vector>

#include "lenet_onednn.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Best and mean of `iters` timed calls after `warmup` untimed ones, in ms.
std::pair<double, double> time_ms(int warmup, int iters, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  double best = 1e30, total = 0;
  for (int i = 0; i < iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = seconds_since(t0);
    best = std::min(best, s);
    total += s;
  }
  return {best * 1e3, total / iters * 1e3};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, iters = 30, eval_batch = 1000;
  bool libtorch = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--iters") && i + 1 < argc) iters = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--eval-batch") && i + 1 < argc) eval_batch = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-libtorch")) libtorch = false;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--iters N] [--eval-batch N] [--no-libtorch]\n", argv[0]);
      return 2;
    }
  }
  try {
    using namespace hearth;
    omp_set_num_threads(threads);
    // Plugins first: hearth-cpu applies HEARTH_CPU_ISA before the oneDNN sum below makes primitives.
    load_plugins();
    std::printf("isa: %s (cap: %s)\n", plugin_property("cpu.isa").c_str(), plugin_property("cpu.isa.cap").c_str());
    manual_seed(0);
    auto model = nn::create_model("lenet");
    auto seq = std::dynamic_pointer_cast<nn::SequentialImpl>(model);
    Tensor x = randn({64, 1, 28, 28});
    Tensor y = randint(0, 10, {64});
    auto step = [&] {
      model->zero_grad();
      Tensor loss = nn::functional::cross_entropy((*model)(x), y);
      loss.backward();
    };
    const auto [best, mean] = time_ms(5, iters, step);
    std::printf("hearth   lenet step (batch 64, %d threads): best %.3f ms, mean %.3f ms\n", threads, best, mean);

    // Where hearth's step goes: the forward layer by layer (Conv2d + ReLU run fused, as in
    // Sequential), the loss, and the backward as the rest of the step.
    if (seq) {
      std::vector<std::pair<std::string, double>> parts;
      std::vector<std::function<Tensor(const Tensor&)>> fwd;
      std::vector<std::string> names;
      for (size_t i = 0; i < seq->size(); ++i) {
        auto m = (*seq)[static_cast<int64_t>(i)];
        auto conv = std::dynamic_pointer_cast<nn::Conv2dImpl>(m);
        if (conv && i + 1 < seq->size() && (*seq)[static_cast<int64_t>(i + 1)]->type_name() == "ReLU") {
          fwd.push_back([conv](const Tensor& t) { return conv->forward_relu(t); });
          names.push_back(std::to_string(i) + "+" + std::to_string(i + 1) + " " + m->type_name() + "+ReLU");
          ++i;
        } else {
          fwd.push_back([m](const Tensor& t) { return (*m)(t); });
          names.push_back(std::to_string(i) + " " + m->type_name());
        }
      }
      std::vector<double> layer_best(fwd.size(), 1e30);
      double loss_best = 1e30, bwd_best = 1e30;
      for (int it = 0; it < iters + 3; ++it) {
        model->zero_grad();
        Tensor h = x;
        for (size_t k = 0; k < fwd.size(); ++k) {
          auto t0 = std::chrono::steady_clock::now();
          h = fwd[k](h);
          if (it >= 3) layer_best[k] = std::min(layer_best[k], seconds_since(t0));
        }
        auto t0 = std::chrono::steady_clock::now();
        Tensor loss = nn::functional::cross_entropy(h, y);
        if (it >= 3) loss_best = std::min(loss_best, seconds_since(t0));
        t0 = std::chrono::steady_clock::now();
        loss.backward();
        if (it >= 3) bwd_best = std::min(bwd_best, seconds_since(t0));
      }
      std::printf("  hearth forward by layer (best, ms):");
      for (size_t k = 0; k < fwd.size(); ++k) std::printf(" [%s] %.3f", names[k].c_str(), layer_best[k] * 1e3);
      std::printf("\n  hearth loss %.3f ms, backward %.3f ms\n", loss_best * 1e3, bwd_best * 1e3);
    }

    // oneDNN's own per-layer primitive times for the same step, same process, same threads.
    const auto layers = lenet_bench::onednn_lenet(64, iters, true);
    double f_sum = 0, b_sum = 0;
    std::printf("oneDNN per-layer (batch 64, best of %d each, ms):\n", iters);
    for (const auto& l : layers) {
      std::printf("  %-36s %7.3f\n", l.name.c_str(), l.ms);
      (l.backward ? b_sum : f_sum) += l.ms;
    }
    std::printf("oneDNN sum: forward %.3f + backward %.3f = %.3f ms -> hearth's step is at %.0f%% of the oneDNN sum's "
                "speed (goal >= 85%%)\n",
                f_sum, b_sum, f_sum + b_sum, 100.0 * (f_sum + b_sum) / best);

    // Evaluation: the forward at batch eval_batch in eval mode without grad (issue 8: 10k images).
    double eval_best = 0;
    {
      Tensor xe = randn({eval_batch, 1, 28, 28});
      model->eval();
      NoGradGuard ng;
      eval_best = time_ms(2, std::max(3, iters / 6), [&] { (void)(*model)(xe).argmax(1); }).first;
      model->train();
      const auto inf = lenet_bench::onednn_lenet(eval_batch, std::max(3, iters / 6), false);
      double inf_sum = 0;
      for (const auto& l : inf) inf_sum += l.ms;
      std::printf("hearth   lenet eval forward (batch %d, no grad): best %.2f ms (%.2f s per 10k images); oneDNN sum "
                  "%.2f ms -> %.0f%%\n",
                  eval_batch, eval_best, eval_best * 1e-3 * 10000.0 / eval_batch, inf_sum, 100.0 * inf_sum / eval_best);
    }

    // LibTorch in a child process, next to this program.
    const auto self = std::filesystem::read_symlink("/proc/self/exe");
    const auto lt = self.parent_path() / "bench_lenet_libtorch";
    if (!libtorch) {
    } else if (std::filesystem::exists(lt)) {
      const std::string cmd = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=" + std::to_string(threads) +
                              " '" + lt.string() + "' " + std::to_string(threads) + " " + std::to_string(iters) + " " +
                              std::to_string(eval_batch);
      FILE* p = popen(cmd.c_str(), "r");
      double lt_best = 0, lt_eval = 0;
      char line[256];
      while (p && std::fgets(line, sizeof line, p)) {
        if (std::sscanf(line, "lenet_step_ms=%lf", &lt_best) == 1) continue;
        if (std::sscanf(line, "lenet_eval_ms=%lf", &lt_eval) == 1) continue;
      }
      if (p) pclose(p);
      if (lt_best > 0)
        std::printf("LibTorch lenet step (batch 64, %d threads): best %.3f ms -> hearth %.2fx LibTorch's speed "
                    "(goal >= 1.5x, aim 2x)\n",
                    threads, lt_best, lt_best / best);
      if (lt_eval > 0)
        std::printf("LibTorch lenet eval forward (batch %d): best %.2f ms -> hearth %.1fx LibTorch's speed (goal >= "
                    "10x)\n",
                    eval_batch, lt_eval, lt_eval / eval_best);
    } else {
      std::printf("LibTorch side not built (needs Debian's libtorch-dev)\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_lenet: %s\n", e.what());
    return 1;
  }
  return 0;
}
