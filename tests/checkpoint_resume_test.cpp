// Exact resume (SEED E5, issue #7 acceptance): lenet with SGD (lr 0.05, momentum 0.9) on 2,000
// Fashion-MNIST images for 2 epochs straight, versus stopped after epoch 1 and versus stopped in
// the middle of an epoch, each resumed from a checkpoint into a fresh model and optimizer: bitwise
// identical weights and identical per-step loss logs. A small hand-written loop: shuffling is a
// pure function of (seed, epoch), and the inputs get noise from the default generator so the
// restored RNG state matters too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>

#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "hearth/nn/models.h"
#include "hearth/optim.h"
#include "test_util.h"

using namespace hearth;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kImages = 2000;
constexpr int64_t kBatch = 64;
constexpr int64_t kEpochs = 2;
constexpr uint64_t kShuffleSeed = 1234;

struct Data {
  Tensor images;  // [N, 1, 28, 28] float32 in [0, 1]
  Tensor labels;  // [N] int64
};

/// The first 2,000 training images of Fashion-MNIST (Debian's dataset-fashion-mnist, which the
/// quick start installs); a deterministic synthetic set where it is absent, except under CI.
const Data& data() {
  static const Data d = [] {
    Data out;
    if (fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
      auto ds = data::load_dataset("fashion-mnist", true);
      std::vector<int64_t> idx(kImages);
      for (int64_t i = 0; i < kImages; ++i) idx[i] = i;
      auto ex = ds->get_batch(idx);
      std::vector<Tensor> xs, ys;
      for (auto& e : ex) {
        xs.push_back(e.data.to(kFloat32).reshape({1, 1, 28, 28}));
        ys.push_back(e.target.reshape({1}));
      }
      out.images = cat(xs, 0) / 255.0;
      out.labels = cat(ys, 0).to(kInt64);
    } else {
      const char* ci = std::getenv("CI");
      if (ci && std::string(ci) == "true") ADD_FAILURE() << "Fashion-MNIST missing under CI (quickstart.sh installs it)";
      Generator g(99);
      out.images = rand({kImages, 1, 28, 28}, {}, &g);
      out.labels = (rand({kImages}, {}, &g) * 10).to(kInt64).clamp(0, 9);
    }
    return out;
  }();
  return d;
}

/// One training run's objects; a fresh one starts from different weights, so a resume that
/// missed anything shows.
struct Trainer {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::SGD> opt;
  std::vector<float> log;  // per-step losses
  double epoch_loss_sum = 0;
  int64_t epoch = 0, batch = 0, step = 0;

  explicit Trainer(uint64_t init_seed) {
    manual_seed(init_seed);
    model = nn::create_model("lenet");
    opt = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions().lr(0.05).momentum(0.9));
  }

  /// Batches of `epoch` in order: a permutation from (seed, epoch), cut into kBatch.
  static std::vector<std::vector<int64_t>> batches(int64_t epoch) {
    auto order = data::RandomSampler(kImages, kShuffleSeed).indices(static_cast<uint64_t>(epoch));
    std::vector<std::vector<int64_t>> out;
    for (size_t i = 0; i < order.size(); i += kBatch)
      out.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(i),
                       order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), i + kBatch)));
    return out;
  }

  /// Trains to the end; `at_batch(epoch, batch)` is called before each batch (the straight run
  /// saves its checkpoints there).
  void run(const std::function<void(Trainer&)>& at_batch = {}) {
    for (; epoch < kEpochs; ++epoch, batch = 0, epoch_loss_sum = 0) {
      const auto bs = batches(epoch);
      for (; batch < static_cast<int64_t>(bs.size()); ++batch) {
        if (at_batch) at_batch(*this);
        Tensor idx = tensor(bs[static_cast<size_t>(batch)], TensorOptions(kInt64));
        Tensor x = data().images.index_select(0, idx);
        x = x + randn(x.sizes()) * 0.01;  // uses the default generator
        Tensor y = data().labels.index_select(0, idx);
        opt->zero_grad();
        Tensor loss = nn::functional::cross_entropy((*model)(x), y);
        loss.backward();
        opt->step();
        log.push_back(loss.item<float>());
        epoch_loss_sum += log.back();
        ++step;
      }
    }
  }

  TrainingState state() {
    TrainingState s;
    s.model = model.get();
    s.optimizer = opt.get();
    s.epoch = epoch;
    s.batch_in_epoch = batch;
    s.global_step = step;
    s.shuffle_seed = kShuffleSeed;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%a", epoch_loss_sum);  // exact: hex float
    s.extra["epoch_loss_sum"] = buf;
    s.extra_tensors = {{"loss_log", tensor(log, TensorOptions(kFloat32))}};
    return s;
  }

  void restore(TrainingState& s) {
    epoch = s.epoch;
    batch = s.batch_in_epoch;
    step = s.global_step;
    ASSERT_EQ(s.shuffle_seed, kShuffleSeed);
    epoch_loss_sum = std::strtod(s.extra.at("epoch_loss_sum").c_str(), nullptr);
    ASSERT_EQ(s.extra_tensors.size(), 1u);
    Tensor l = s.extra_tensors[0].second.contiguous();
    log.assign(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
  }
};

void expect_bitwise(nn::Module& a, nn::Module& b) {
  auto sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].second.nbytes(), sb[i].second.nbytes());
    EXPECT_EQ(std::memcmp(sa[i].second.contiguous().data_ptr(), sb[i].second.contiguous().data_ptr(), sa[i].second.nbytes()), 0)
        << sa[i].first << " differs";
  }
}

}  // namespace

TEST(CkptResume, LenetTwoEpochsStraightEqualsStoppedAndResumed) {  // SEED E5
  // One OpenMP thread unless told otherwise: on a busy machine (ctest -j, builds) spinning OpenMP
  // threads make this 20x slower. Set before the CPU plugin starts its thread pool.
  setenv("OMP_NUM_THREADS", "1", /*overwrite=*/0);
  const test::TempDir tmp("hearth_ckpt_resume");
  const fs::path root = tmp.str();
  struct Case {
    const char* what;
    int64_t epoch, batch;
    const char* ext;
  };
  const std::vector<Case> cases = {{"after epoch 1", 1, 0, ".safetensors"},
                                   {"mid epoch 2", 1, 13, ".safetensors"},
                                   {"mid epoch 1 (HDF5)", 0, 20, ".h5"}};
  // The straight run saves a checkpoint where each stopped run would stop; saving must not
  // disturb it (it is compared below with runs that never saved).
  Trainer straight(7);
  manual_seed(42);
  straight.run([&](Trainer& t) {
    for (const Case& c : cases)
      if (t.epoch == c.epoch && t.batch == c.batch) CheckpointManager((root / c.what).string(), 2, c.ext).save(t.state());
  });
  ASSERT_EQ(straight.log.size(), static_cast<size_t>(kEpochs * ((kImages + kBatch - 1) / kBatch)));
  EXPECT_LT(straight.log.back(), straight.log.front());  // it learns

  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    // A fresh process's worth of state: other initial weights, other generator state.
    Trainer resumed(8);
    manual_seed(9999);
    TrainingState s = resumed.state();
    load_training_checkpoint((root / c.what).string(), s);  // the directory: follows `latest`
    resumed.restore(s);
    EXPECT_EQ(resumed.epoch, c.epoch);
    EXPECT_EQ(resumed.batch, c.batch);
    resumed.run();
    EXPECT_EQ(resumed.log, straight.log);
    EXPECT_EQ(resumed.step, straight.step);
    expect_bitwise(*straight.model, *resumed.model);
  }
}
