// Trains SPEC.md's lenet on Fashion-MNIST through hearth's C++ API: a model defined in code, an
// optimizer, a shuffled in-memory epoch, evaluation, and a safetensors state dict PyTorch can read.
// Usage: train_lenet [--limit N] [--epochs N] [--out FILE.safetensors]
#include <hearth/checkpoint.h>
#include <hearth/hearth.h>
#include <hearth/nn.h>
#include <hearth/optim.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace hearth;

int main(int argc, char** argv) {
  int64_t limit = 0, epochs = 1;
  std::string out = "lenet.safetensors";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--limit") limit = std::atoll(argv[i + 1]);
    else if (k == "--epochs") epochs = std::atoll(argv[i + 1]);
    else if (k == "--out") out = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: %s [--limit N] [--epochs N] [--out FILE]\n", argv[0]);
      return 2;
    }
  }
  try {
    manual_seed(0);
    // Layers are registered under their position, so the state-dict keys are PyTorch's
    // ("0.weight", "3.weight", ...) and the file loads into torch.nn.Sequential as well.
    nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(1, 32, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                         nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                         nn::Flatten(), nn::Linear(3136, 128), nn::ReLU(), nn::Linear(128, 10));
    optim::SGD opt(model->parameters(), optim::SGDOptions().lr(0.05).momentum(0.9));

    // Fashion-MNIST from Debian's dataset-fashion-mnist (or $HEARTH_DATA), uint8 N×1×28×28.
    auto train_set = std::dynamic_pointer_cast<data::TensorDataset>(data::load_dataset("fashion-mnist", true));
    auto test_set = std::dynamic_pointer_cast<data::TensorDataset>(data::load_dataset("fashion-mnist", false));
    auto normalize = [](const Tensor& images) { return (images.to(kFloat32) * (1.0 / 255.0) - 0.2860) * (1.0 / 0.3530); };
    int64_t n = train_set->data().size(0);
    if (limit > 0 && limit < n) n = limit;
    const Tensor x = normalize(train_set->data().narrow(0, 0, n)), y = train_set->targets().narrow(0, 0, n);
    const Tensor xt = normalize(test_set->data()), yt = test_set->targets();

    const int64_t batch = 64;
    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      model->train();
      const auto t0 = std::chrono::steady_clock::now();
      const Tensor perm = randperm(n);
      double loss_sum = 0;
      int64_t steps = 0;
      for (int64_t i = 0; i + batch <= n; i += batch, ++steps) {
        const Tensor idx = perm.narrow(0, i, batch);
        Tensor loss = nn::functional::cross_entropy((*model)(x.index_select(0, idx)), y.index_select(0, idx));
        opt.zero_grad();
        loss.backward();
        opt.step();
        loss_sum += loss.item<float>();
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

      model->eval();  // eval mode and no graph: two different things (SEED E2)
      NoGradGuard no_grad;
      int64_t correct = 0;
      for (int64_t i = 0; i < xt.size(0); i += 1000) {
        const int64_t len = std::min<int64_t>(1000, xt.size(0) - i);
        correct += (*model)(xt.narrow(0, i, len)).argmax(1).eq(yt.narrow(0, i, len)).sum().item<int64_t>();
      }
      std::printf("epoch %lld  loss %.4f  test_acc %.4f  %.0f samples/s\n", (long long)epoch + 1,
                  steps ? loss_sum / steps : 0.0, correct / double(xt.size(0)), steps * batch / secs);
    }
    save_state_dict(out, *model);  // atomic; `hearth eval --weights` and PyTorch read it
    std::printf("saved %s\n", out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_lenet: %s\n", e.what());
    return 1;
  }
}
