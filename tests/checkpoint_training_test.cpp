// Training checkpoints (issue #7): what a checkpoint holds and restores (SEED E5), the
// CheckpointManager's files, `latest` and keep-last-K, bad checkpoints as FormatErrors naming file
// and field, and device mapping on testdev: loading allocates nothing but testdev memory and
// counted host staging (SEED E6).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "hearth/optim.h"
#include "test_util.h"

using namespace hearth;
using hearth::test::contains;
using hearth::test::message_of;
namespace fs = std::filesystem;

namespace {

class CkptTraining : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_ / name; }
  test::TempDir dir_{"hearth_ckpt_train"};
};

std::shared_ptr<nn::SequentialImpl> model(uint64_t seed = 5) {
  manual_seed(seed);
  return std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::LinearImpl>(6, 8), std::make_shared<nn::BatchNorm1dImpl>(8), std::make_shared<nn::ReLUImpl>(),
      std::make_shared<nn::LinearImpl>(8, 3)});
}

/// A model, SGD with momentum and a StepLR, trained `steps` steps on random data.
struct TrainRun {
  std::shared_ptr<nn::SequentialImpl> m;
  std::unique_ptr<optim::SGD> opt;
  std::unique_ptr<optim::StepLR> sched;
  explicit TrainRun(Device dev = Device("cpu")) {
    m = model();
    m->to(dev);
    opt = std::make_unique<optim::SGD>(m->parameters(), optim::SGDOptions().lr(0.1).momentum(0.9));
    sched = std::make_unique<optim::StepLR>(*opt, 2, 0.5);
  }
  float step() {
    Tensor x = randn({4, 6}).to(m->parameters()[0].device());
    Tensor y = randn({4, 3}).to(x.device());
    opt->zero_grad();
    Tensor loss = ((*m)(x) - y).pow(2).mean();
    loss.backward();
    opt->step();
    sched->step();
    return loss.to(Device("cpu")).item<float>();
  }
  TrainingState state() {
    TrainingState s;
    s.model = m.get();
    s.optimizer = opt.get();
    s.schedulers = {sched.get()};
    return s;
  }
};

void expect_bitwise(const TensorList& a, const TensorList& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    Tensor x = a[i].second.to(Device("cpu")), y = b[i].second.to(Device("cpu"));
    ASSERT_EQ(x.nbytes(), y.nbytes()) << a[i].first;
    EXPECT_EQ(std::memcmp(x.contiguous().data_ptr(), y.contiguous().data_ptr(), x.nbytes()), 0) << a[i].first;
  }
}

}  // namespace

TEST_F(CkptTraining, SaveAndLoadRestoreEverythingBitwise) {  // SEED E5
  for (const std::string name : {"c.safetensors", "c.h5"}) {
    TrainRun a;
    for (int i = 0; i < 3; ++i) a.step();
    TrainingState s = a.state();
    s.epoch = 2;
    s.global_step = 3;
    s.batch_in_epoch = 1;
    s.shuffle_seed = 0xFFFFFFFFFFFFFFF1ull;
    s.extra = {{"loss_sum", "0x1.8p-3"}, {"note", "ünïcode"}};
    s.extra_tensors = {{"loss_log", tensor(std::vector<double>{0.5, 0.25, 0.125}, TensorOptions(kFloat64))}};
    manual_seed(77);
    (void)randn({3});  // the generator mid-stream
    save_training_checkpoint(path(name), s);
    std::vector<float> want;
    for (int i = 0; i < 3; ++i) want.push_back(a.step());

    TrainRun b;
    for (int i = 0; i < 5; ++i) b.step();  // a different state, overwritten by the load
    manual_seed(1);
    TrainingState t = b.state();
    EXPECT_EQ(load_training_checkpoint(path(name), t), path(name));
    EXPECT_EQ(t.epoch, 2);
    EXPECT_EQ(t.global_step, 3);
    EXPECT_EQ(t.batch_in_epoch, 1);
    EXPECT_EQ(t.shuffle_seed, 0xFFFFFFFFFFFFFFF1ull);
    EXPECT_EQ(t.extra, s.extra);
    ASSERT_EQ(t.extra_tensors.size(), 1u);
    EXPECT_TRUE(equal(t.extra_tensors[0].second, s.extra_tensors[0].second));
    ASSERT_EQ(t.rng.size(), 1u);
    EXPECT_EQ(t.rng[0].device, "cpu");
    std::vector<float> got;
    for (int i = 0; i < 3; ++i) got.push_back(b.step());
    EXPECT_EQ(got, want) << name;
    expect_bitwise(a.m->state_dict(), b.m->state_dict());
    EXPECT_EQ(a.opt->param_groups()[0].lr(), b.opt->param_groups()[0].lr());
  }
}

TEST_F(CkptTraining, ManagerKeepsLastKAndLatestPointsAtTheNewest) {
  TrainRun a;
  CheckpointManager mgr(path("run"), 2);
  EXPECT_FALSE(mgr.latest().has_value());
  TrainingState none = a.state();
  EXPECT_FALSE(mgr.load_latest(none));
  EXPECT_THROW(resolve_checkpoint(path("run")), FormatError);  // no `latest` yet
  std::vector<std::string> written;
  for (int i = 1; i <= 4; ++i) {
    a.step();
    TrainingState s = a.state();
    s.global_step = i * 10;
    written.push_back(mgr.save(s));
  }
  EXPECT_EQ(fs::path(written.back()).filename(), "ckpt-0000000040.safetensors");
  EXPECT_EQ(mgr.list(), (std::vector<std::string>{written[2], written[3]}));
  EXPECT_EQ(*mgr.latest(), written[3]);
  EXPECT_EQ(resolve_checkpoint(path("run")), written[3]);
  std::ifstream in(path("run/latest"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "ckpt-0000000040.safetensors");
  TrainRun b;
  TrainingState t = b.state();
  EXPECT_TRUE(mgr.load_latest(t));
  EXPECT_EQ(t.global_step, 40);
  expect_bitwise(a.m->state_dict(), b.m->state_dict());
  // load of the directory follows `latest`.
  TrainRun c;
  TrainingState u = c.state();
  EXPECT_EQ(load_training_checkpoint(path("run"), u), written[3]);
  // HDF5 checkpoints through the same manager; only directory entries of its own are touched.
  { std::ofstream(path("run/notes.txt")) << "mine"; }
  CheckpointManager h5(path("run"), 1, ".h5");
  TrainingState s = a.state();
  s.global_step = 50;
  const std::string p = h5.save(s);
  EXPECT_EQ(fs::path(p).filename(), "ckpt-0000000050.h5");
  EXPECT_EQ(resolve_checkpoint(path("run")), p);
  EXPECT_TRUE(fs::exists(path("run/notes.txt")));
  EXPECT_THROW(CheckpointManager(path("run"), 0), ValueError);
  // A loader that takes either kind of file asks is_training_checkpoint (the header only).
  EXPECT_TRUE(is_training_checkpoint(p));
  EXPECT_TRUE(is_training_checkpoint(path("run")));
  save_state_dict(path("weights.safetensors"), *a.m);
  EXPECT_FALSE(is_training_checkpoint(path("weights.safetensors")));
  { std::ofstream(path("junk.safetensors")) << "not a tensor file"; }
  EXPECT_THROW(is_training_checkpoint(path("junk.safetensors")), FormatError);
}

TEST_F(CkptTraining, LatestToAMissingFileIsAFormatErrorNamingIt) {
  TrainRun a;
  CheckpointManager mgr(path("run"), 3);
  const std::string p = mgr.save(a.state());
  fs::remove(p);
  for (auto f : std::vector<std::function<void()>>{[&] { resolve_checkpoint(path("run")); },
                                                    [&] {
                                                      TrainingState s = a.state();
                                                      load_training_checkpoint(path("run"), s);
                                                    },
                                                    [&] { mgr.latest(); }}) {
    std::string msg;
    try {
      f();
    } catch (const FormatError& e) {
      msg = e.what();
    }
    EXPECT_TRUE(contains(msg, "field 'latest'") && contains(msg, "ckpt-0000000000.safetensors") &&
                contains(msg, "does not exist") && contains(msg, path("run")))
        << msg;
  }
}

TEST_F(CkptTraining, MissingEntriesAreFormatErrorsAndChangeNothing) {
  TrainRun a;
  a.step();
  // Build files missing one entry each by rewriting a good one without it.
  save_training_checkpoint(path("good.safetensors"), a.state());
  auto full = load_tensors(path("good.safetensors"));
  auto without = [&](const std::string& name, const std::string& meta_key, const std::string& tensor_prefix) {
    TensorList t;
    for (auto& [k, v] : full.tensors)
      if (tensor_prefix.empty() || k.rfind(tensor_prefix, 0) != 0) t.emplace_back(k, v);
    auto md = full.metadata;
    if (!meta_key.empty()) md.erase(meta_key);
    tensor_file_format_for_writing(path(name)).save(path(name), t, md);
    return path(name);
  };
  struct Case {
    std::string file, field;
  };
  const std::vector<Case> cases = {
      {without("noopt.safetensors", "hearth.optimizer", "optimizer."), "field 'hearth.optimizer': missing"},
      {without("noopt_tensors.h5", "", "optimizer."), "field 'hearth.optimizer'"},
      {without("norng.h5", "hearth.rng", ""), "field 'hearth.rng': missing"},
      {without("nomodel.safetensors", "", "model."), "missing key(s): model.0.weight"},
      {without("notraining.safetensors", "hearth.training", ""), "field 'hearth.training': missing"},
      {without("nosched.h5", "hearth.lr_schedulers", ""), "field 'hearth.lr_schedulers': missing"},
  };
  for (const Case& c : cases) {
    TrainRun b;
    b.step();
    b.step();
    const TensorList before = b.m->state_dict();
    std::vector<Tensor> copies;
    for (auto& [k, v] : before) copies.push_back(v.clone());
    const double lr = b.opt->param_groups()[0].lr();
    TrainingState s = b.state();
    s.epoch = 9;
    std::string msg;
    try {
      load_training_checkpoint(c.file, s);
    } catch (const FormatError& e) {
      msg = e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << c.file << ": not a FormatError: " << e.what();
    }
    EXPECT_TRUE(contains(msg, c.file) && contains(msg, c.field)) << c.file << ": " << msg;
    EXPECT_EQ(s.epoch, 9);
    EXPECT_EQ(b.opt->param_groups()[0].lr(), lr);
    for (size_t i = 0; i < copies.size(); ++i) EXPECT_TRUE(equal(copies[i], b.m->state_dict()[i].second)) << c.file;
  }
  // A bad RNG value and a bad counter.
  auto md_bad = [&](const std::string& name, const std::string& key, const std::string& value) {
    auto md = full.metadata;
    md[key] = value;
    tensor_file_format_for_writing(path(name)).save(path(name), full.tensors, md);
    TrainingState s = a.state();
    return message_of([&] { load_training_checkpoint(path(name), s); });
  };
  EXPECT_TRUE(contains(md_bad("r.st", "hearth.rng", "{\"cpu\": {\"seed\": -1, \"offset\": 0}}"), "field 'hearth.rng.cpu.seed'"));
  EXPECT_TRUE(contains(md_bad("r2.st", "hearth.rng", "{\"cuda:0\": {\"seed\": 1, \"offset\": 0}}"), "field 'hearth.rng.cpu': missing"));
  EXPECT_TRUE(contains(md_bad("e.st", "hearth.training", "{\"epoch\": \"1\"}"), "field 'hearth.training.epoch'"));
  EXPECT_TRUE(contains(md_bad("j.st", "hearth.training", "{nope"), "field 'hearth.training': not valid JSON"));
  // A checkpoint with a cuda generator's entry loads here: that generator is skipped (E6).
  auto md = full.metadata;
  md["hearth.rng"] = "{\"cpu\": {\"seed\": 11, \"offset\": 8}, \"cuda:0\": {\"seed\": 3, \"offset\": 4}}";
  tensor_file_format_for_writing(path("cuda_rng.st")).save(path("cuda_rng.st"), full.tensors, md);
  TrainingState s = a.state();
  load_training_checkpoint(path("cuda_rng.st"), s);
  EXPECT_EQ(default_generator().seed(), 11u);
  EXPECT_EQ(default_generator().offset(), 8u);
}

namespace {
MemoryStats stats(const char* d) { return memory_stats(Device(d)); }
}  // namespace

TEST_F(CkptTraining, LoadingIntoTestdevAllocatesOnlyTestdevAndStaging) {  // SEED E6
  // A model with one large layer (8 MB), so an ordinary host copy of it would show.
  auto build = [] {
    manual_seed(2);
    auto m = std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::LinearImpl>(1024, 2048), std::make_shared<nn::BatchNorm1dImpl>(2048)});
    return m;
  };
  auto a = build();
  save_state_dict(path("big.safetensors"), *a);
  save_state_dict(path("big.h5"), *a);
  TrainingState sa;
  sa.model = a.get();
  save_training_checkpoint(path("big_ckpt.safetensors"), sa);
  for (const std::string name : {"big.safetensors", "big.h5", "big_ckpt.safetensors"}) {
    auto b = build();
    b->to(Device("testdev:0"));
    {
      NoGradGuard ng;
      for (auto& p : b->parameters()) p.zero_();
    }
    // With the cpu cache empty, any ordinary host block of 1 MiB or more that the load allocates
    // stays visible: live in `allocated`, or cached on free in `reserved`.
    empty_cache(Device("cpu"));
    const MemoryStats cpu0 = stats("cpu"), td0 = stats("testdev:0"), td1 = stats("testdev:1");
    reset_host_staging_peak();
    const MemoryStats st0 = host_staging_stats();
    if (name == "big_ckpt.safetensors") {
      TrainingState s;
      s.model = b.get();
      load_training_checkpoint(path(name), s, {.strict = true, .restore_rng = false});
    } else {
      EXPECT_TRUE(load_state_dict(path(name), *b).ok());
    }
    const MemoryStats cpu1 = stats("cpu"), td1b = stats("testdev:1"), td0b = stats("testdev:0");
    const MemoryStats st1 = host_staging_stats();
    // Nothing new on testdev:0 (each tensor copied into its parameter's memory), nothing on
    // testdev:1, no ordinary host memory: only staging, which is all returned.
    EXPECT_EQ(td0b.allocated, td0.allocated) << name;
    EXPECT_EQ(td0b.peak, td0.peak) << name;
    EXPECT_EQ(td1b.allocated, td1.allocated) << name;
    EXPECT_EQ(td1b.peak, td1.peak) << name;
    EXPECT_EQ(cpu1.allocated, cpu0.allocated) << name;
    EXPECT_EQ(cpu1.reserved, cpu0.reserved) << name << ": ordinary host memory was used";
    EXPECT_GE(st1.peak, size_t{1024} * 2048 * 4) << name;
    EXPECT_EQ(st1.allocated, st0.allocated) << name;
    for (auto& p : b->parameters()) EXPECT_EQ(p.device(), Device("testdev:0"));
    // The values arrived intact through testdev's scrambled memory.
    expect_bitwise(a->state_dict(), b->state_dict());
  }
}

TEST_F(CkptTraining, TestdevTrainingCheckpointResumes) {  // SEED E5, E6
  TrainRun a(Device("testdev:1"));
  // testdev implements a subset of ops; this checks only what a checkpoint carries across devices.
  save_training_checkpoint(path("td.safetensors"), a.state());
  auto c = load_tensors(path("td.safetensors"));
  EXPECT_EQ(c.saved_devices.at("model.0.weight"), "testdev:1");
  TrainRun b(Device("testdev:0"));
  TrainingState s = b.state();
  load_training_checkpoint(path("td.safetensors"), s);
  for (auto& p : b.m->parameters()) EXPECT_EQ(p.device(), Device("testdev:0"));
  expect_bitwise(a.m->state_dict(), b.m->state_dict());
}
