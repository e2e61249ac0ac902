// The training loop (hearth/train.h): it learns, both data paths give the same run, resume after
// an epoch or inside one is bitwise exact (SEED E5), Ctrl-C stops with a checkpoint, and the logs
// (metrics.csv, TensorBoard event files, SEED D3) are well framed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn/loss.h"
#include "hearth/nn/models.h"
#include "hearth/train.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace hearth;
using hearth::test::contains;
using hearth::test::message_of;

namespace {

using hearth::test::TempDir;

/// A small, learnable 10-class problem in Fashion-MNIST's shape: class c lights up row band c.
std::shared_ptr<data::TensorDataset> synthetic(int64_t n, uint64_t seed) {
  Generator g(seed);
  Tensor x = (rand({n, 1, 28, 28}, {}, &g) * 60.0).to(kUInt8);
  Tensor y = randint(0, 10, {n}, kInt64, &g);
  const int64_t* py = y.data_ptr<int64_t>();
  uint8_t* px = x.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t band = py[i] * 2 + 4;
    for (int64_t r = band; r < band + 2; ++r)
      for (int64_t cidx = 0; cidx < 28; ++cidx) px[i * 784 + r * 28 + cidx] = 250;
  }
  return std::make_shared<data::TensorDataset>(x, y);
}

struct TrainRun {
  std::shared_ptr<nn::Module> model;
  std::shared_ptr<optim::Optimizer> opt;
  std::unique_ptr<train::Trainer> trainer;
};

TrainRun make_run(const std::string& model_name, std::shared_ptr<const data::Dataset> tr,
             std::shared_ptr<const data::Dataset> te, train::TrainerOptions o) {
  manual_seed(7);
  TrainRun r;
  r.model = nn::create_model(model_name);
  r.opt = std::shared_ptr<optim::Optimizer>(
      optim::create("sgd", r.model->parameters(), {{"lr", 0.05}, {"momentum", 0.9}}));
  if (!o.preprocess) o.preprocess = train::normalize_images({0.2860}, {0.3530});
  r.trainer = std::make_unique<train::Trainer>(r.model, r.opt, tr, te, o);
  return r;
}

void expect_same_weights(nn::Module& a, nn::Module& b) {
  auto sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].first, sb[i].first);
    const Tensor& x = sa[i].second;
    const Tensor& y = sb[i].second;
    ASSERT_EQ(x.nbytes(), y.nbytes());
    EXPECT_EQ(std::memcmp(x.contiguous().data_ptr(), y.contiguous().data_ptr(), x.nbytes()), 0)
        << "tensor " << sa[i].first << " differs";
  }
}

/// Stops the run after `at` optimizer steps, as Ctrl-C would.
struct StopAt : train::Callback {
  int64_t at;
  explicit StopAt(int64_t s) : at(s) {}
  void on_step(const train::StepInfo& s) override {
    if (s.step >= at) train::Trainer::request_stop();
  }
};

}  // namespace

TEST(Train, LenetLearnsFashionMnistSubset) {
  auto tr = data::load_dataset("fashion-mnist", true);
  auto te = data::load_dataset("fashion-mnist", false);
  train::TrainerOptions o;
  o.train_limit = 2048;
  o.test_limit = 500;
  o.log_every = 8;
  TrainRun r = make_run("lenet", tr, te, o);
  std::vector<train::StepInfo> steps;
  struct Rec : train::Callback {
    std::vector<train::StepInfo>* out;
    void on_step(const train::StepInfo& s) override { out->push_back(s); }
  };
  auto rec = std::make_shared<Rec>();
  rec->out = &steps;
  r.trainer->add_callback(rec);
  train::FitResult res = r.trainer->fit();
  ASSERT_EQ(res.epochs.size(), 1u);
  EXPECT_FALSE(res.interrupted);
  EXPECT_EQ(res.loss_log.size(), 32u);  // 2048 / 64 steps
  EXPECT_EQ(r.trainer->step(), 32);
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps.back().batch, 32);
  EXPECT_EQ(steps.back().batches, 32);
  EXPECT_NEAR(steps.back().lr, 0.05, 1e-12);
  // The epoch's mean loss is the mean of the logged steps; early steps are near ln 10.
  double sum = 0;
  for (float v : res.loss_log) sum += v;
  EXPECT_NEAR(res.epochs[0].train_loss, sum / 32, 1e-6);
  EXPECT_NEAR(res.loss_log.front(), std::log(10.0), 0.3);
  ASSERT_TRUE(res.epochs[0].eval.has_value());
  EXPECT_GT(res.epochs[0].eval->accuracy, 0.6);  // well above chance after 2k images
  EXPECT_EQ(res.epochs[0].eval->samples, 500);
  EXPECT_GT(res.epochs[0].samples_per_second, 0);
  EXPECT_GT(res.epochs[0].peak_rss_mb, 1.0);
  EXPECT_TRUE(res.epochs[0].device_peak_bytes.count("cpu"));
  EXPECT_TRUE(r.model->is_training());  // evaluate() restored the mode
}

TEST(Train, InMemoryAndDataLoaderPathsGiveTheSameRun) {
  auto tr = synthetic(640, 1), te = synthetic(200, 2);
  train::TrainerOptions o;
  o.epochs = 2;
  TrainRun a = make_run("mlp", tr, te, o);
  o.workers = 2;  // DataLoader with threads, per-batch preprocessing
  TrainRun b = make_run("mlp", tr, te, o);
  auto ra = a.trainer->fit();
  auto rb = b.trainer->fit();
  EXPECT_EQ(ra.loss_log, rb.loss_log);
  expect_same_weights(*a.model, *b.model);
  ASSERT_EQ(ra.epochs.size(), 2u);
  EXPECT_EQ(ra.epochs[1].eval->accuracy, rb.epochs[1].eval->accuracy);
  EXPECT_GT(ra.epochs[1].eval->accuracy, 0.9);
}

// The whole training step against PyTorch: from the same weights, on the same Fashion-MNIST
// batches, 10 SGD steps give PyTorch's losses and weights (tests/golden/gen_lenet_train_fixture.py).
TEST(Train, TenLenetStepsFollowPyTorch) {
  const std::string dir = std::string(HEARTH_TEST_DATA_DIR) + "/golden/";
  auto init = load_safetensors(dir + "lenet_fixture.safetensors");
  auto ref = load_safetensors(dir + "lenet_train_fixture.safetensors");
  std::map<std::string, Tensor> r;
  for (auto& [k, t] : ref.tensors) r[k] = t;
  TensorList weights;
  for (auto& [k, t] : init.tensors)
    if (k.rfind("module.", 0) == 0) weights.emplace_back(k, t);
  auto model = nn::create_model("lenet");
  model->load_state_dict(weights);  // strips "module."
  auto tr = std::dynamic_pointer_cast<const data::TensorDataset>(data::load_dataset("fashion-mnist", true));
  ASSERT_TRUE(tr);
  const Tensor x = train::normalize_images({0.2860}, {0.3530})(tr->data().narrow(0, 0, 640));
  const Tensor y = tr->targets().narrow(0, 0, 640);
  auto opt = optim::create("sgd", model->parameters(), {{"lr", 0.05}, {"momentum", 0.9}});
  model->train();
  const float* want = r["losses"].data_ptr<float>();
  for (int64_t s = 0; s < 10; ++s) {
    Tensor idx = r["order"].narrow(0, s * 64, 64);
    Tensor loss = nn::functional::cross_entropy((*model)(x.index_select(0, idx)), y.index_select(0, idx));
    opt->zero_grad();
    loss.backward();
    opt->step();
    EXPECT_NEAR(loss.item<float>(), want[s], 2e-4 * std::max(1.0f, want[s])) << "step " << s;
  }
  auto sd = model->state_dict();
  for (auto& [k, t] : sd) {
    auto it = r.find("final." + k);
    if (it == r.end()) continue;
    const double err = (t - it->second).abs().max().item<float>();
    const double scale = it->second.abs().max().item<float>();
    EXPECT_LT(err, 1e-3 * std::max(1.0, scale)) << k;
  }
}

// SEED E5: two epochs straight, and the same run stopped after epoch 1 or inside an epoch and
// resumed in a fresh process state, end bitwise equal with the same loss log.
TEST(Train, ResumeAfterAnEpochAndInsideOneIsBitwiseExact) {
  auto tr = data::load_dataset("fashion-mnist", true);
  train::TrainerOptions o;
  o.epochs = 2;
  o.train_limit = 2000;
  o.eval_each_epoch = false;
  o.log_every = 5;
  TrainRun straight = make_run("lenet", tr, nullptr, o);
  auto full = straight.trainer->fit();
  ASSERT_EQ(full.loss_log.size(), 62u);  // 31 full batches of 64 per epoch

  for (int64_t stop_at : {31, 45}) {  // after epoch 1; inside epoch 2 (not on a log boundary)
    SCOPED_TRACE("stopped at step " + std::to_string(stop_at));
    TempDir dir;
    o.checkpoint_dir = dir.str();
    TrainRun first = make_run("lenet", tr, nullptr, o);
    first.trainer->add_callback(std::make_shared<StopAt>(stop_at));
    train::Trainer::clear_stop();
    auto part1 = first.trainer->fit();
    train::Trainer::clear_stop();
    EXPECT_TRUE(part1.interrupted);
    EXPECT_EQ(first.trainer->step(), stop_at);
    ASSERT_FALSE(part1.last_checkpoint.empty());

    // A fresh model (other initial weights and generator state) resumed from the directory.
    manual_seed(12345);
    (void)randn({10});
    TrainRun second = make_run("lenet", tr, nullptr, o);
    for (auto& p : second.model->parameters()) {
      NoGradGuard ng;
      p.fill_(0.5);
    }
    second.trainer->resume(dir.str());
    EXPECT_EQ(second.trainer->step(), stop_at);
    auto part2 = second.trainer->fit();
    EXPECT_FALSE(part2.interrupted);
    std::vector<float> log = part1.loss_log;
    log.insert(log.end(), part2.loss_log.begin(), part2.loss_log.end());
    EXPECT_EQ(log, full.loss_log);
    expect_same_weights(*straight.model, *second.model);
    EXPECT_EQ(part2.epochs.back().train_loss, full.epochs.back().train_loss);
  }
}

TEST(Train, ResumeRefusesAnotherBatchSizeOrSubset) {
  auto tr = synthetic(256, 3);
  TempDir dir;
  train::TrainerOptions o;
  o.checkpoint_dir = dir.str();
  o.eval_each_epoch = false;
  TrainRun a = make_run("mlp", tr, nullptr, o);
  a.trainer->fit();
  o.batch_size = 32;
  TrainRun b = make_run("mlp", tr, nullptr, o);
  EXPECT_TRUE(contains(message_of([&] { b.trainer->resume(dir.str()); }), "batch 64"));
  o.batch_size = 64;
  o.train_limit = 128;
  TrainRun c = make_run("mlp", tr, nullptr, o);
  EXPECT_TRUE(contains(message_of([&] { c.trainer->resume(dir.str()); }), "256 samples"));
}

TEST(Train, CheckpointEveryKeepsTheLastK) {
  auto tr = synthetic(640, 4);
  TempDir dir;
  train::TrainerOptions o;
  o.checkpoint_dir = dir.str();
  o.checkpoint_every = 3;
  o.keep_last = 2;
  o.eval_each_epoch = false;
  TrainRun a = make_run("mlp", tr, nullptr, o);
  std::vector<std::string> saved;
  struct Rec : train::Callback {
    std::vector<std::string>* out;
    void on_checkpoint(const std::string& p) override { out->push_back(p); }
  };
  auto rec = std::make_shared<Rec>();
  rec->out = &saved;
  a.trainer->add_callback(rec);
  auto res = a.trainer->fit();
  EXPECT_EQ(saved.size(), 4u);  // steps 3, 6, 9 and the epoch's end (10)
  CheckpointManager mgr(dir.str(), 2);
  EXPECT_EQ(mgr.list().size(), 2u);
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_EQ(*mgr.latest(), res.last_checkpoint);
}

TEST(Train, BadOptionsAreClearErrors) {
  auto tr = synthetic(32, 5);
  train::TrainerOptions o;
  EXPECT_TRUE(contains(message_of([&] { make_run("mlp", tr, nullptr, o); }), "no full batch of 64"));
  o.batch_size = 0;
  EXPECT_TRUE(contains(message_of([&] { make_run("mlp", tr, nullptr, o); }), "batch sizes must be positive"));
  o.batch_size = 8;
  TrainRun r = make_run("mlp", tr, nullptr, o);
  EXPECT_TRUE(contains(message_of([&] { r.trainer->evaluate(); }), "no test dataset"));
  TrainRun e = make_run("mlp", nullptr, tr, o);
  EXPECT_TRUE(contains(message_of([&] { e.trainer->fit(); }), "no training dataset"));
  EXPECT_NEAR(e.trainer->evaluate().samples, 32, 0);
  EXPECT_TRUE(contains(message_of([] { train::normalize_images({0.1, 0.2}, {0.3}); }), "same, non-zero number"));
}

TEST(Train, NormalizeImagesPerChannel) {
  Tensor x = full({2, 3, 2, 2}, 255.0, TensorOptions(kUInt8));
  Tensor y = train::normalize_images({0.5, 0.0, 1.0}, {0.5, 2.0, 1.0})(x);
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_FLOAT_EQ(y.index({0, 0, 0, 0}).item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(y.index({1, 1, 1, 1}).item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(y.index({1, 2, 0, 1}).item<float>(), 0.0f);
  EXPECT_TRUE(contains(message_of([&] { train::normalize_images({0.5, 0.5}, {1, 1})(x); }), "2 channel means"));
}

// ---- logs (SEED D3) ----

// Issue #15: --normalize auto's statistics, per channel, against a direct computation; uint8
// images in [0, 1] units, float images as they are.
TEST(Train, ImageMeanStdPerChannel) {
  Generator g(5);
  const Tensor x = rand({10, 3, 4, 5}, {}, &g) * 200.0;
  const Tensor y = zeros({10}, TensorOptions(kInt64));
  auto [m8, s8] = train::image_mean_std(data::TensorDataset(x.to(kUInt8), y));
  auto [mf, sf] = train::image_mean_std(data::TensorDataset(x.to(kUInt8).to(kFloat32), y));
  ASSERT_EQ(m8.size(), 3u);
  ASSERT_EQ(mf.size(), 3u);
  const Tensor xd = x.to(kUInt8).to(kFloat64);
  for (int64_t c = 0; c < 3; ++c) {
    const Tensor ch = xd.narrow(1, c, 1);
    const double mean = ch.mean().item<double>();
    const double sd = std::sqrt((ch - mean).pow(2).mean().item<double>());
    EXPECT_NEAR(mf[static_cast<size_t>(c)], mean, 1e-9);
    EXPECT_NEAR(sf[static_cast<size_t>(c)], sd, 1e-9);
    EXPECT_NEAR(m8[static_cast<size_t>(c)], mean / 255.0, 1e-12);
    EXPECT_NEAR(s8[static_cast<size_t>(c)], sd / 255.0, 1e-12);
  }
}

// Issue #15: a NaN loss stops fit() with an error naming the step, instead of training on.
TEST(Train, ANonFiniteLossStopsTheRun) {
  auto tr = synthetic(256, 1);
  train::TrainerOptions o;
  o.log_every = 1000;  // the check does not depend on logging
  o.loss = [](const Tensor& out, const Tensor& y) {
    return nn::functional::cross_entropy(out, y) * std::numeric_limits<double>::quiet_NaN();
  };
  auto r = make_run("mlp", tr, nullptr, o);
  const std::string msg = message_of([&] { r.trainer->fit(); });
  EXPECT_TRUE(contains(msg, "training diverged: the loss is nan at step 1 (epoch 1")) << msg;
  o.stop_on_nonfinite_loss = false;
  auto q = make_run("mlp", tr, nullptr, o);
  EXPECT_NO_THROW(q.trainer->fit());
}

TEST(TrainLogs, Crc32cKnownValues) {
  // The check value of CRC-32C, and RFC 3720's 32 zero bytes.
  EXPECT_EQ(train::crc32c("123456789", 9), 0xE3069283u);
  const std::vector<unsigned char> zeros(32, 0);
  EXPECT_EQ(train::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

namespace {

struct Record {
  std::string data;
};

/// Reads a TFRecord file, checking both CRCs of every record.
std::vector<Record> read_tfrecords(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<Record> out;
  size_t pos = 0;
  while (pos < all.size()) {
    EXPECT_GE(all.size() - pos, 12u);
    uint64_t len;
    std::memcpy(&len, all.data() + pos, 8);
    uint32_t len_crc, data_crc;
    std::memcpy(&len_crc, all.data() + pos + 8, 4);
    EXPECT_EQ(len_crc, train::masked_crc32c(all.data() + pos, 8));
    EXPECT_GE(all.size() - pos - 12, len + 4);
    std::string data = all.substr(pos + 12, len);
    std::memcpy(&data_crc, all.data() + pos + 12 + len, 4);
    EXPECT_EQ(data_crc, train::masked_crc32c(data.data(), data.size()));
    out.push_back({data});
    pos += 12 + len + 4;
  }
  return out;
}

std::string event_file(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (contains(e.path().filename().string(), "tfevents")) return e.path().string();
  return "";
}

}  // namespace

TEST(TrainLogs, EventFileFramingAndScalars) {
  TempDir dir;
  {
    train::SummaryWriter w(dir.str());
    w.add_scalar("train/loss", 0.25, 7);
    w.add_scalar("test/accuracy", 0.875, 9);
  }
  const std::string file = event_file(dir.str());
  ASSERT_FALSE(file.empty());
  auto recs = read_tfrecords(file);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_TRUE(contains(recs[0].data, "brain.Event:2"));
  EXPECT_TRUE(contains(recs[1].data, "train/loss"));
  // simple_value (field 2, fixed32) follows the tag inside Summary.Value.
  float v = 0;
  const size_t at = recs[1].data.find("train/loss") + std::strlen("train/loss");
  ASSERT_EQ(static_cast<unsigned char>(recs[1].data[at]), 0x15);
  std::memcpy(&v, recs[1].data.data() + at + 1, 4);
  EXPECT_FLOAT_EQ(v, 0.25f);
  // step (field 2, varint 7) right after wall_time (tag 0x09 + 8 bytes).
  EXPECT_EQ(static_cast<unsigned char>(recs[1].data[9]), 0x10);
  EXPECT_EQ(static_cast<unsigned char>(recs[1].data[10]), 7);

  // TensorBoard's own reader, where the package is installed (optional; the framing above is
  // checked everywhere).
  const std::string py =
      "import sys\n"
      "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
      "ea = EventAccumulator(sys.argv[1]); ea.Reload()\n"
      "s = ea.Scalars('train/loss'); a = ea.Scalars('test/accuracy')\n"
      "assert len(s) == 1 and s[0].step == 7 and abs(s[0].value - 0.25) < 1e-7, s\n"
      "assert a[0].step == 9 and abs(a[0].value - 0.875) < 1e-7, a\n";
  std::ofstream(dir.str("check.py")) << py;
  if (std::system("/usr/bin/python3 -c 'import tensorboard' >/dev/null 2>&1") == 0) {
    EXPECT_EQ(std::system(("/usr/bin/python3 " + dir.str("check.py") + " " + dir.str()).c_str()), 0);
  }
}

TEST(TrainLogs, LogDirCallbackWritesCsvAndEvents) {
  auto tr = synthetic(320, 6), te = synthetic(64, 7);
  TempDir dir;
  train::TrainerOptions o;
  o.log_every = 2;
  o.epochs = 2;
  TrainRun r = make_run("mlp", tr, te, o);
  r.trainer->add_callback(train::make_log_dir_callback(dir.str()));
  r.trainer->fit();
  std::ifstream csv(dir.str("metrics.csv"));
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(csv, line)) rows.push_back(line);
  ASSERT_EQ(rows.size(), 1u + 2 * (3 + 1));  // header, per epoch: steps 2, 4, 5 and the epoch row
  // One row kind per meaning (issue #15): "step" rows for log intervals, "epoch" rows with test loss.
  EXPECT_EQ(rows[0], "kind,step,epoch,loss,lr,samples_per_second,test_loss,test_accuracy");
  EXPECT_TRUE(rows[1].rfind("step,2,1,", 0) == 0) << rows[1];
  EXPECT_TRUE(rows[3].rfind("step,5,1,", 0) == 0) << rows[3];
  EXPECT_TRUE(rows[3].ends_with(",,")) << rows[3];  // no test figures on a step row
  EXPECT_TRUE(rows[4].rfind("epoch,5,1,", 0) == 0) << rows[4];
  EXPECT_NE(rows[4].back(), ',');  // the epoch row has the test loss and accuracy
  auto recs = read_tfrecords(event_file(dir.str()));
  // file_version + 6 step points x 3 scalars + 2 epochs x 2 scalars
  EXPECT_EQ(recs.size(), 1u + 6 * 3 + 2 * 2);
}

// Issue #15: labels outside the model's classes fail before the first step, naming where the
// labels are, the first bad index and the class count (not cross_entropy's "Target 12 is out of
// bounds" mid-epoch), on the in-memory path, the DataLoader path and in evaluate().
TEST(Train, LabelsOutsideTheModelsClassesFailBeforeTheFirstStep) {
  auto tr = synthetic(128, 1), te = synthetic(64, 2);
  tr->targets().data_ptr<int64_t>()[3] = 12;
  for (size_t workers : {size_t{0}, size_t{2}}) {
    SCOPED_TRACE(workers);
    train::TrainerOptions o;
    o.workers = workers;
    TrainRun r = make_run("mlp", tr, te, o);
    const std::string m = message_of([&] { r.trainer->fit(); });
    EXPECT_TRUE(contains(m, "the training dataset's labels: label 12 at index 3 is outside the model's 10 classes (0..9)"))
        << m;
    EXPECT_TRUE(contains(m, "1 of 128 labels")) << m;
    EXPECT_EQ(r.trainer->step(), 0);
  }
  auto bad_test = synthetic(64, 2);
  bad_test->targets().data_ptr<int64_t>()[60] = -1;
  TrainRun e = make_run("mlp", nullptr, bad_test, train::TrainerOptions{});
  EXPECT_TRUE(contains(message_of([&] { e.trainer->evaluate(); }), "the test dataset's labels: label -1 at index 60"));
  // Beyond --train-limit the labels are not used, so not checked.
  train::TrainerOptions lim;
  lim.train_limit = 64;
  lim.test_limit = 32;
  auto tail_bad = synthetic(128, 3);
  tail_bad->targets().data_ptr<int64_t>()[100] = 99;
  TrainRun ok = make_run("mlp", tail_bad, te, lim);
  EXPECT_NO_THROW(ok.trainer->fit());
}

// Issue #15: a metrics.csv of an older layout is moved aside, not appended to with other columns.
TEST(TrainLogs, OlderMetricsCsvIsMovedAside) {
  TempDir dir;
  std::ofstream(dir.str("metrics.csv")) << "step,epoch,loss,lr,samples_per_second,test_accuracy\n1,1,0.5,0.1,10,\n";
  { auto cb = train::make_log_dir_callback(dir.str()); }
  std::ifstream csv(dir.str("metrics.csv"));
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "kind,step,epoch,loss,lr,samples_per_second,test_loss,test_accuracy");
  std::ifstream old(dir.str("metrics.csv.old"));
  std::getline(old, header);
  EXPECT_EQ(header, "step,epoch,loss,lr,samples_per_second,test_accuracy");
}
