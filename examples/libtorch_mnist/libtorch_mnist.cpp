// A LibTorch C++-frontend program (issue #15) that builds unchanged against hearth: only the
// include and `namespace torch = hearth;` differ (the HEARTH_PORT_USE_LIBTORCH switch below), plus
// the data loading, where hearth's data API stands in for torch::data (docs/libtorch.md).
// Trains a LeNet-style Net on Fashion-MNIST, saves it with torch::save, loads it into a fresh Net
// with torch::load and evaluates both. Prints "test_acc=<float> reloaded_acc=<float>".
// Usage: libtorch_mnist [--seed N] [--epochs N] [--limit N] [--test-limit N] [--data DIR] [--out FILE]
#ifdef HEARTH_PORT_USE_LIBTORCH
#include <torch/torch.h>
#include <zlib.h>
#else
#include <hearth/hearth.h>
namespace torch = hearth;
#endif

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

// ---- the model: LibTorch's idioms (Impl + TORCH_MODULE, holders, options, register_module) ----
struct NetImpl : torch::nn::Module {
  NetImpl()
      : conv1(torch::nn::Conv2dOptions(1, 32, 3).padding(1)),
        conv2(torch::nn::Conv2dOptions(32, 64, 3).stride(1).padding(1)),
        fc1(64 * 7 * 7, 128),
        fc2(torch::nn::LinearOptions(128, 10).bias(true)) {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }

  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2->forward(x)), 2);
    x = x.view({x.size(0), -1});
    x = torch::relu(fc1->forward(x));
    return torch::log_softmax(fc2->forward(x), /*dim=*/1);
  }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Net);

// ---- data: the one part that differs (uint8 images N×1×28×28, int64 labels) ----
struct Split {
  torch::Tensor images, labels;
};

#ifdef HEARTH_PORT_USE_LIBTORCH
// LibTorch's torch::data::datasets::MNIST reads only uncompressed files; Debian ships .gz.
static std::vector<uint8_t> gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  gzclose(f);
  if (out.size() < 16) throw std::runtime_error(path + " is too short for an IDX file");
  return out;
}
static int64_t be32(const uint8_t* p) {
  return (int64_t(p[0]) << 24) | (int64_t(p[1]) << 16) | (int64_t(p[2]) << 8) | int64_t(p[3]);
}
static Split load_split(const std::string& dir, bool train) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  auto img = gunzip(prefix + "-images-idx3-ubyte.gz"), lab = gunzip(prefix + "-labels-idx1-ubyte.gz");
  const int64_t n = be32(&img[4]), r = be32(&img[8]), c = be32(&img[12]);
  return {torch::from_blob(img.data() + 16, {n, 1, r, c}, torch::kUInt8).clone(),
          torch::from_blob(lab.data() + 8, {n}, torch::kUInt8).to(torch::kLong)};
}
#else
// hearth's IDX dataset reader (the hearth-idx plugin) in place of torch::data.
static Split load_split(const std::string& dir, bool train) {
  auto set = std::dynamic_pointer_cast<hearth::data::TensorDataset>(hearth::data::load_dataset("idx:" + dir, train));
  if (!set) throw std::runtime_error("idx:" + dir + " is not an in-memory dataset");
  return {set->data(), set->targets().to(torch::kLong)};
}
#endif

// ---- everything below is the same source for both frameworks ----
static torch::Tensor normalize(const torch::Tensor& images) {
  return (images.to(torch::kFloat32).div(255.0) - 0.2860) / 0.3530;
}

static double evaluate(Net& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  model->eval();
  int64_t correct = 0;
  for (int64_t i = 0; i < x.size(0); i += 1000) {
    const int64_t len = std::min<int64_t>(1000, x.size(0) - i);
    torch::Tensor pred = model->forward(x.narrow(0, i, len)).argmax(1);
    correct += pred.eq(y.narrow(0, i, len)).sum().item<int64_t>();
  }
  return double(correct) / double(x.size(0));
}

int main(int argc, char** argv) {
  int64_t seed = 0, epochs = 1, limit = 0, test_limit = 0;
  std::string dir = "/usr/share/datasets/fashion-mnist", out = "libtorch_mnist_net.pt";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--seed") seed = std::atoll(v.c_str());
    else if (k == "--epochs") epochs = std::atoll(v.c_str());
    else if (k == "--limit") limit = std::atoll(v.c_str());
    else if (k == "--test-limit") test_limit = std::atoll(v.c_str());
    else if (k == "--data") dir = v;
    else if (k == "--out") out = v;
    else {
      std::fprintf(stderr, "usage: %s [--seed N] [--epochs N] [--limit N] [--test-limit N] [--data DIR] [--out FILE]\n",
                   argv[0]);
      return 2;
    }
  }
  try {
    torch::manual_seed(seed);
    torch::Device device(torch::kCPU);

    Split train = load_split(dir, true), test = load_split(dir, false);
    int64_t n = train.images.size(0), nt = test.images.size(0);
    if (limit > 0 && limit < n) n = limit;
    if (test_limit > 0 && test_limit < nt) nt = test_limit;
    const torch::Tensor x = normalize(train.images.narrow(0, 0, n)).to(device), y = train.labels.narrow(0, 0, n).to(device);
    const torch::Tensor xt = normalize(test.images.narrow(0, 0, nt)).to(device), yt = test.labels.narrow(0, 0, nt).to(device);

    Net model;
    model->to(device);
    torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));

    const int64_t batch = 64;
    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      model->train();
      const torch::Tensor perm = torch::randperm(n, torch::kLong);
      double loss_sum = 0;
      int64_t steps = 0;
      for (int64_t i = 0; i + batch <= n; i += batch, ++steps) {
        const torch::Tensor idx = perm.narrow(0, i, batch);
        optimizer.zero_grad();
        torch::Tensor loss = torch::nll_loss(model->forward(x.index_select(0, idx)), y.index_select(0, idx));
        loss.backward();
        optimizer.step();
        loss_sum += loss.item<double>();
      }
      std::printf("epoch %lld loss %.4f\n", (long long)epoch + 1, steps ? loss_sum / steps : 0.0);
    }

    const double acc = evaluate(model, xt, yt);
    torch::save(model, out);
    Net reloaded;
    torch::load(reloaded, out);
    const double acc2 = evaluate(reloaded, xt, yt);
    std::printf("test_acc=%.4f reloaded_acc=%.4f\n", acc, acc2);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
