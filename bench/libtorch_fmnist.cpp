// LibTorch's side of the Fashion-MNIST comparison (bench/fmnist_compare.sh): SPEC.md's mlp and
// lenet workloads, timed as `hearth train` times them; prints one JSON object with the keys of
// `hearth train --metrics-json`.
#include <torch/torch.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::vector<uint8_t> gunzip(const std::string& path) {
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
uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }

torch::Tensor images(const std::string& path) {
  auto d = gunzip(path);
  const int64_t n = be32(&d[4]), r = be32(&d[8]), c = be32(&d[12]);
  auto t = torch::from_blob(d.data() + 16, {n, 1, r, c}, torch::kUInt8).to(torch::kFloat32).div(255.0);
  return (t - 0.2860) / 0.3530;  // SPEC.md's normalization
}
torch::Tensor labels(const std::string& path) {
  auto d = gunzip(path);
  const int64_t n = be32(&d[4]);
  return torch::from_blob(d.data() + 8, {n}, torch::kUInt8).to(torch::kInt64);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "lenet", dir = "/usr/share/datasets/fashion-mnist";
  int epochs = 1, threads = 2, batch = 64, seed = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model_name = v;
    else if (k == "--epochs") epochs = std::atoi(v.c_str());
    else if (k == "--threads") threads = std::atoi(v.c_str());
    else if (k == "--batch") batch = std::atoi(v.c_str());
    else if (k == "--data") dir = v;
    else if (k == "--seed") seed = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "usage: %s [--model mlp|lenet] [--epochs N] [--threads N] [--batch N] [--data DIR] [--seed N]\n",
                   argv[0]);
      return 2;
    }
  }
  torch::set_num_threads(threads);
  torch::manual_seed(seed);
  auto xtr = images(dir + "/train-images-idx3-ubyte.gz"), ytr = labels(dir + "/train-labels-idx1-ubyte.gz");
  auto xte = images(dir + "/t10k-images-idx3-ubyte.gz"), yte = labels(dir + "/t10k-labels-idx1-ubyte.gz");
  namespace nn = torch::nn;
  nn::Sequential model;
  if (model_name == "lenet") {
    model = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 32, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                           nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                           nn::Flatten(), nn::Linear(64 * 7 * 7, 128), nn::ReLU(), nn::Linear(128, 10));
  } else if (model_name == "mlp") {
    model = nn::Sequential(nn::Flatten(), nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 128), nn::ReLU(),
                           nn::Linear(128, 10));
  } else {
    std::fprintf(stderr, "unknown model '%s' (mlp or lenet)\n", model_name.c_str());
    return 2;
  }
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  const int64_t n = xtr.size(0);
  torch::Tensor loss;
  double train_s = 0;
  std::string per_epoch;
  for (int ep = 0; ep < epochs; ++ep) {
    model->train();
    auto t0 = std::chrono::steady_clock::now();
    auto perm = torch::randperm(n);
    for (int64_t i = 0; i + batch <= n; i += batch) {
      auto b = perm.slice(0, i, i + batch);
      loss = torch::nn::functional::cross_entropy(model->forward(xtr.index_select(0, b)), ytr.index_select(0, b));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_s += s;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s{\"epoch\": %d, \"train_seconds\": %.4f, \"samples_per_second\": %.1f}",
                  ep ? ", " : "", ep + 1, s, double(n / batch * batch) / s);
    per_epoch += buf;
  }
  model->eval();
  auto t1 = std::chrono::steady_clock::now();
  int64_t correct = 0;
  {
    torch::NoGradGuard ng;
    for (int64_t i = 0; i < xte.size(0); i += 1000)
      correct += model->forward(xte.slice(0, i, i + 1000)).argmax(1).eq(yte.slice(0, i, i + 1000)).sum().item<int64_t>();
  }
  const double eval_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const int64_t samples = int64_t(epochs) * (n / batch) * batch;
  std::printf("{\"implementation\": \"libtorch\", \"model\": \"%s\", \"epochs\": %d, \"batch\": %d, \"threads\": %d, "
              "\"train_seconds\": %.4f, \"samples_per_second\": %.1f, \"eval_seconds\": %.4f, \"test_accuracy\": %.4f, "
              "\"final_loss\": %.4f, \"per_epoch\": [%s]}\n",
              model_name.c_str(), epochs, batch, threads, train_s, samples / train_s, eval_s,
              correct / double(xte.size(0)), loss.item<float>(), per_epoch.c_str());
  return 0;
}
