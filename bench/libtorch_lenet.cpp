// LibTorch's side of bench_lenet: one lenet training step (forward, cross-entropy, backward) at
// batch 64, and the eval forward without grad at batch E (default 1000), 1 or N threads; prints
// key=value lines.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2, iters = argc > 2 ? std::atoi(argv[2]) : 30,
            eval_batch = argc > 3 ? std::atoi(argv[3]) : 1000;
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  namespace nn = torch::nn;
  nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(1, 32, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Flatten(), nn::Linear(3136, 128), nn::ReLU(), nn::Linear(128, 10));
  auto x = torch::randn({64, 1, 28, 28});
  auto y = torch::randint(0, 10, {64});
  auto step = [&] {
    model->zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
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
  std::printf("lenet_step_ms=%.3f\nlenet_step_mean_ms=%.3f\n", best * 1e3, total / iters * 1e3);
  {
    torch::NoGradGuard ng;
    model->eval();
    auto xe = torch::randn({eval_batch, 1, 28, 28});
    double eval_best = 1e30;
    const int reps = std::max(3, iters / 6);
    for (int i = 0; i < reps + 1; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      auto pred = model->forward(xe).argmax(1);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i > 0) eval_best = std::min(eval_best, s);
    }
    std::printf("lenet_eval_ms=%.3f\n", eval_best * 1e3);
  }
  return 0;
}
