// Data pipeline: DataLoader order and determinism across worker counts, seeded transforms
// (SEED C3), error propagation with the sample index and prompt shutdown (C1), samplers,
// pin_memory and the DevicePrefetcher on testdev (C4).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <thread>

#include "hearth/hearth.h"

using namespace hearth;
using namespace hearth::data;

namespace {

/// N samples of 1×8×8 float data whose values encode the index; target = index.
std::shared_ptr<TensorDataset> make_ds(int64_t n) {
  Tensor d = arange(n * 64, TensorOptions(kFloat32)).reshape({n, 1, 8, 8});
  Tensor t = arange(n, TensorOptions(kInt64));
  return std::make_shared<TensorDataset>(d, t);
}

std::shared_ptr<const Transform> augment() {
  return std::make_shared<Compose>(std::vector<std::shared_ptr<const Transform>>{
      std::make_shared<RandomCrop>(8, 2), std::make_shared<RandomHorizontalFlip>(0.5),
      std::make_shared<Normalize>(std::vector<double>{1.0}, std::vector<double>{2.0})});
}

std::vector<Batch> run_epochs(size_t workers, int epochs, bool shuffle, uint64_t seed = 7,
                              bool persistent = false) {
  DataLoaderOptions o;
  o.batch_size = 5;
  o.shuffle = shuffle;
  o.num_workers = workers;
  o.seed = seed;
  o.transform = augment();
  o.persistent_workers = persistent;
  DataLoader dl(make_ds(23), o);
  std::vector<Batch> out;
  for (int e = 0; e < epochs; ++e)
    for (const Batch& b : dl) out.push_back(b);
  return out;
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].indices, b[i].indices) << "batch " << i;
    EXPECT_TRUE(equal(a[i].data, b[i].data)) << "batch " << i;
    EXPECT_TRUE(equal(a[i].target, b[i].target)) << "batch " << i;
  }
}

/// A dataset that throws at one index and can be slow.
class Faulty : public Dataset {
 public:
  Faulty(size_t n, int64_t bad, int sleep_ms = 0) : n_(n), bad_(bad), sleep_ms_(sleep_ms) {}
  size_t size() const override { return n_; }
  Example get(size_t i) const override {
    if (sleep_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    HEARTH_CHECK(static_cast<int64_t>(i) != bad_, FormatError, "corrupt record");
    return {full({2}, static_cast<double>(i)), scalar_tensor(static_cast<int64_t>(i))};
  }

 private:
  size_t n_;
  int64_t bad_;
  int sleep_ms_;
};

}  // namespace

TEST(DataLoader, SequentialBatchesShapesAndLast) {
  DataLoaderOptions o;
  o.batch_size = 5;
  DataLoader dl(make_ds(23), o);
  EXPECT_EQ(dl.size(), 5u);
  std::vector<Batch> bs;
  for (const Batch& b : dl) bs.push_back(b);
  ASSERT_EQ(bs.size(), 5u);
  EXPECT_EQ(bs[0].data.sizes(), (IntArrayRef{5, 1, 8, 8}));
  EXPECT_EQ(bs[4].data.size(0), 3);
  EXPECT_EQ(bs[4].target[2].item<int64_t>(), 22);
  o.drop_last = true;
  DataLoader dl2(make_ds(23), o);
  EXPECT_EQ(dl2.size(), 4u);
  size_t n = 0;
  for (const Batch& b : dl2) { EXPECT_EQ(b.data.size(0), 5); ++n; }
  EXPECT_EQ(n, 4u);
}

TEST(DataLoader, SameBatchesFor0_2_4Workers) {  // SEED C1, C3
  auto ref = run_epochs(0, 3, true);
  expect_same(ref, run_epochs(2, 3, true));
  expect_same(ref, run_epochs(4, 3, true));
  expect_same(ref, run_epochs(4, 3, true, 7, /*persistent=*/true));
  // Each epoch visits every index once.
  for (int e = 0; e < 3; ++e) {
    std::multiset<int64_t> seen;
    for (int b = 0; b < 5; ++b) for (int64_t i : ref[e * 5 + b].indices) seen.insert(i);
    EXPECT_EQ(seen.size(), 23u);
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 23u);
  }
  // Shuffle order differs between epochs.
  EXPECT_NE(ref[0].indices, ref[5].indices);
}

TEST(DataLoader, TransformsRepeatAcrossRunsDifferAcrossSamplesAndEpochs) {  // SEED C3
  auto t = augment();
  Tensor x = arange(64, TensorOptions(kFloat32)).reshape({1, 8, 8});
  EXPECT_TRUE(equal(t->apply(x, 1, 0, 5), t->apply(x, 1, 0, 5)));
  int diff_samples = 0, diff_epochs = 0, diff_seeds = 0;
  for (uint64_t i = 0; i < 20; ++i) {
    diff_samples += !equal(t->apply(x, 1, 0, i), t->apply(x, 1, 0, i + 1));
    diff_epochs += !equal(t->apply(x, 1, 0, i), t->apply(x, 1, 1, i));
    diff_seeds += !equal(t->apply(x, 1, 0, i), t->apply(x, 2, 0, i));
  }
  EXPECT_GE(diff_samples, 15);
  EXPECT_GE(diff_epochs, 15);
  EXPECT_GE(diff_seeds, 15);
  // A different base seed changes the loader's stream; the same one repeats it.
  auto a = run_epochs(2, 1, false, 7), b = run_epochs(2, 1, false, 8);
  bool any = false;
  for (size_t i = 0; i < a.size(); ++i) any |= !equal(a[i].data, b[i].data);
  EXPECT_TRUE(any);
}

TEST(Transforms, CropFlipNormalizeValues) {
  Tensor x = arange(16, TensorOptions(kFloat32)).reshape({1, 4, 4});
  Generator g(3);
  EXPECT_TRUE(equal(RandomCrop(4, 0)(x, g), x));
  Tensor c = RandomCrop(4, 1)(x, g);
  EXPECT_EQ(c.sizes(), (IntArrayRef{1, 4, 4}));
  EXPECT_TRUE(equal(RandomHorizontalFlip(1.0)(x, g)[0][0], tensor({3.f, 2.f, 1.f, 0.f})));
  EXPECT_TRUE(equal(RandomHorizontalFlip(0.0)(x, g), x));
  Tensor n = Normalize({1.0}, {2.0})(x, g);
  EXPECT_FLOAT_EQ(n[0][0][3].item<float>(), 1.0f);
  Tensor img = full({3, 2, 2}, 255, TensorOptions(kUInt8));
  Tensor f = ToFloat()(img, g);
  EXPECT_EQ(f.dtype(), kFloat32);
  EXPECT_FLOAT_EQ(f[2][1][1].item<float>(), 1.0f);
  Tensor nc = Normalize({0.0, 1.0, 2.0}, {1.0, 1.0, 1.0})(f, g);
  EXPECT_FLOAT_EQ(nc[2][0][0].item<float>(), -1.0f);
  EXPECT_THROW(Normalize({0.0, 1.0}, {1.0, 1.0})(f, g), ShapeError);
  EXPECT_THROW(RandomCrop(9, 0)(x, g), ShapeError);
  EXPECT_THROW(Normalize({0.0}, {0.0}), ValueError);
}

TEST(DataLoader, WorkerExceptionCarriesIndex) {  // SEED C1
  for (size_t w : {0u, 2u, 4u}) {
    DataLoaderOptions o;
    o.batch_size = 4;
    o.num_workers = w;
    DataLoader dl(std::make_shared<Faulty>(40, 13), o);
    size_t got = 0;
    try {
      for (const Batch& b : dl) { (void)b; ++got; }
      ADD_FAILURE() << "no exception with " << w << " workers";
    } catch (const SampleError& e) {
      EXPECT_EQ(e.index(), 13);
      EXPECT_NE(std::string(e.what()).find("sample 13"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("corrupt record"), std::string::npos) << e.what();
      EXPECT_THROW(e.rethrow_cause(), FormatError);
    }
    EXPECT_EQ(got, 3u) << "batches before the bad one, in order";
  }
}

TEST(DataLoader, DestructorIsPromptMidEpochAndAfterError) {  // SEED C1 / F6
  for (int bad : {-1, 3}) {
    auto t0 = std::chrono::steady_clock::now();
    {
      DataLoaderOptions o;
      o.batch_size = 8;
      o.num_workers = 4;
      o.prefetch_factor = 4;
      DataLoader dl(std::make_shared<Faulty>(100000, bad, 5), o);
      try { auto b = dl.next(); } catch (const SampleError&) {}
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // One batch is 8 × 5 ms; a full epoch would take ~60 s. Shutdown waits for at most one sample.
    EXPECT_LT(s, 2.0) << "bad=" << bad;
  }
}

TEST(DataLoader, TimeoutThrows) {
  DataLoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 1;
  o.timeout = std::chrono::milliseconds(20);
  DataLoader dl(std::make_shared<Faulty>(8, -1, 200), o);
  EXPECT_THROW(dl.next(), TimeoutError);
}

TEST(Collate, EmptyAndRaggedNameTheSample) {
  std::vector<Example> none;
  EXPECT_THROW(default_collate(none, {}), ValueError);
  std::vector<Example> ex = {{zeros({2, 2}), scalar_tensor(int64_t{0})},
                             {zeros({2, 3}), scalar_tensor(int64_t{1})}};
  try {
    default_collate(ex, {10, 42});
    ADD_FAILURE();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("sample 42"), std::string::npos) << e.what();
  }
  // A custom collate may drop bad samples.
  DataLoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 2;
  o.collate = [](std::vector<Example>& ex, const std::vector<int64_t>& idx) {
    std::vector<Example> keep;
    std::vector<int64_t> ki;
    for (size_t i = 0; i < ex.size(); ++i)
      if (idx[i] % 2 == 0) { keep.push_back(ex[i]); ki.push_back(idx[i]); }
    return default_collate(keep, ki);
  };
  DataLoader dl(make_ds(8), o);
  for (const Batch& b : dl) EXPECT_EQ(b.data.size(0), 2);
}

TEST(Samplers, RandomIsPermutationPerEpochAndRepeats) {
  RandomSampler s(50, 3);
  auto a = s.indices(0), b = s.indices(1);
  EXPECT_EQ(a, RandomSampler(50, 3).indices(0));
  EXPECT_NE(a, b);
  std::sort(a.begin(), a.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(a[i], i);
  SubsetRandomSampler sub({3, 9, 27, 81}, 1);
  auto v = sub.indices(2);
  std::sort(v.begin(), v.end());
  EXPECT_EQ(v, (std::vector<int64_t>{3, 9, 27, 81}));
}

TEST(Samplers, DistributedEqualSharesEveryIndexOnce) {
  for (bool drop : {false, true}) {
    for (size_t n : {20u, 23u}) {
      const size_t world = 4;
      std::multiset<int64_t> all;
      size_t share = 0;
      for (size_t r = 0; r < world; ++r) {
        DistributedSampler s(n, r, world, true, 5, drop);
        auto v = s.indices(1);
        EXPECT_EQ(v.size(), s.size());
        if (r == 0) share = v.size();
        EXPECT_EQ(v.size(), share) << "equal shares";
        all.insert(v.begin(), v.end());
      }
      std::set<int64_t> uniq(all.begin(), all.end());
      if (drop) {
        EXPECT_EQ(all.size(), (n / world) * world);
        EXPECT_EQ(uniq.size(), all.size()) << "no index twice";
      } else {
        EXPECT_EQ(uniq.size(), n) << "every index at least once";
        EXPECT_EQ(all.size(), ((n + world - 1) / world) * world);
      }
    }
  }
  EXPECT_THROW(DistributedSampler(10, 4, 4), ValueError);
}

TEST(Samplers, WeightedAndBatch) {
  WeightedRandomSampler w({0.0, 1.0, 0.0, 3.0}, 400, true, 9);
  auto v = w.indices(0);
  int ones = 0, threes = 0;
  for (int64_t i : v) { EXPECT_TRUE(i == 1 || i == 3) << i; ones += i == 1; threes += i == 3; }
  EXPECT_GT(threes, 2 * ones);
  WeightedRandomSampler nr({1, 1, 1, 0}, 3, false, 9);
  auto u = nr.indices(0);
  std::sort(u.begin(), u.end());
  EXPECT_EQ(u, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_THROW(WeightedRandomSampler({0, 0}, 1), ValueError);
  BatchSampler bs(std::make_shared<SequentialSampler>(10), 4, false);
  auto b = bs.batches(0);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[2], (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(BatchSampler(std::make_shared<SequentialSampler>(10), 4, true).batches(0).size(), 2u);
  // A batch sampler given to the loader wins.
  DataLoaderOptions o;
  o.batch_sampler = std::make_shared<BatchSampler>(std::make_shared<SequentialSampler>(10), 3, true);
  o.num_workers = 2;
  DataLoader dl(make_ds(10), o);
  EXPECT_EQ(dl.size(), 3u);
}

TEST(DataLoader, UnknownDatasetSpecNamesRegistered) {
  EXPECT_THROW(load_dataset("no-such-set", true), ValueError);
}

TEST(DataLoader, AbandonedEpochThenFullEpochAndSetEpoch) {
  DataLoaderOptions o;
  o.batch_size = 3;
  o.shuffle = true;
  o.num_workers = 3;
  o.seed = 11;
  DataLoader dl(make_ds(20), o);
  for (const Batch& b : dl) { (void)b; break; }  // epoch 0, abandoned after one batch
  EXPECT_EQ(dl.epoch(), 0u);
  std::vector<int64_t> seen;
  for (const Batch& b : dl) seen.insert(seen.end(), b.indices.begin(), b.indices.end());
  EXPECT_EQ(dl.epoch(), 1u);
  EXPECT_EQ(seen, RandomSampler(20, 11).indices(1));
  dl.set_epoch(7);
  auto b = *dl.begin();
  EXPECT_EQ(dl.epoch(), 7u);
  auto want = RandomSampler(20, 11).indices(7);
  EXPECT_EQ(b.indices, std::vector<int64_t>(want.begin(), want.begin() + 3));
}

TEST(DataLoader, BadSamplerIndexIsSampleError) {
  DataLoaderOptions o;
  o.batch_size = 2;
  o.sampler = std::make_shared<SubsetRandomSampler>(std::vector<int64_t>{0, 99}, 1);
  DataLoader dl(make_ds(4), o);
  try {
    dl.next();
    ADD_FAILURE();
  } catch (const SampleError& e) {
    EXPECT_EQ(e.index(), 99);
  }
}

namespace {
/// A device type without pinned memory (allocate_pinned returns nullptr), registered by the test.
class NoPinDevice final : public DeviceInterface {
 public:
  int device_count() const override { return 1; }
  void* allocate(size_t n, int) override { return std::malloc(n ? n : 1); }
  void deallocate(void* p, size_t, int) noexcept override { std::free(p); }
  void copy_from_host(void* d, const void* s, size_t n, int) override { std::memcpy(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n, int) override { std::memcpy(d, s, n); }
  void copy_within(void* d, int, const void* s, int, size_t n) override { std::memmove(d, s, n); }
  void synchronize(int) override {}
};
Device nopin_device() {
  static NoPinDevice dev;
  static DeviceTypeId id = register_device_type("test-nopin", &dev);
  return Device(id);
}

/// testdev's test queries (plugins/testdev): is p inside a live pinned block; live pinned bytes.
bool testdev_is_pinned(const void* p) {
  load_plugins();
  auto f = reinterpret_cast<bool (*)(const void*)>(find_component("testdev", "is_pinned"));
  EXPECT_TRUE(f) << "hearth-testdev not loaded";
  return f && f(p);
}
size_t testdev_pinned_bytes() {
  load_plugins();
  auto f = reinterpret_cast<size_t (*)()>(find_component("testdev", "pinned_bytes"));
  EXPECT_TRUE(f) << "hearth-testdev not loaded";
  return f ? f() : 0;
}
}  // namespace

TEST(DataLoader, PinMemoryIsNoOpWithoutPinnedAllocator) {
  for (Device d : {Device(kCPUType), nopin_device()}) {
    DataLoaderOptions o;
    o.batch_size = 4;
    o.num_workers = 2;
    o.pin_memory = true;
    o.pin_device = d;
    DataLoader dl(make_ds(8), o);
    size_t n = 0;
    for (const Batch& b : dl) {
      EXPECT_TRUE(b.data.is_cpu());
      EXPECT_EQ(b.data.size(0), 4);
      ++n;
    }
    EXPECT_EQ(n, 2u) << d;
  }
}

TEST(DataLoader, PinMemoryUsesTheDevicesPinnedAllocator) {  // SEED C1, F6
  const size_t before = testdev_pinned_bytes();
  {
    std::vector<Batch> pinned;
    for (size_t w : {0u, 2u}) {
      DataLoaderOptions o;
      o.batch_size = 5;
      o.shuffle = true;
      o.seed = 7;
      o.num_workers = w;
      o.transform = augment();
      o.pin_memory = true;
      o.pin_device = Device("testdev");
      DataLoader dl(make_ds(23), o);
      std::vector<Batch> got;
      for (const Batch& b : dl) {
        EXPECT_TRUE(b.data.is_cpu()) << "pinned memory is host memory";
        EXPECT_TRUE(testdev_is_pinned(b.data.data_ptr())) << "batch data not from allocate_pinned";
        EXPECT_TRUE(testdev_is_pinned(b.target.data_ptr())) << "batch target not from allocate_pinned";
        EXPECT_TRUE(testdev_is_pinned(static_cast<const char*>(b.data.data_ptr()) + b.data.nbytes() - 1));
        got.push_back(b);
      }
      if (w == 0) pinned = got;
      else expect_same(pinned, got);
    }
    EXPECT_GT(testdev_pinned_bytes(), before);
    expect_same(pinned, run_epochs(0, 1, true));  // the same batches as without pinning
    // An unpinned batch is not reported as pinned.
    EXPECT_FALSE(testdev_is_pinned(run_epochs(0, 1, true)[0].data.data_ptr()));
  }
  EXPECT_EQ(testdev_pinned_bytes(), before) << "every pinned block freed with its batch";
}

namespace {
/// Batches of a prefetcher, brought back to the cpu (testdev memory is scrambled on the host).
std::vector<Batch> to_cpu(DevicePrefetcher& p, Device dev) {
  std::vector<Batch> out;
  for (const Batch& b : p) {
    EXPECT_EQ(b.data.device(), dev);
    EXPECT_EQ(b.target.device(), dev);
    out.push_back({b.data.to(Device(kCPUType)), b.target.to(Device(kCPUType)), b.indices});
  }
  return out;
}

/// Counts get() calls; each takes `sleep_ms`.
class Counting : public Dataset {
 public:
  Counting(size_t n, int sleep_ms) : n_(n), sleep_ms_(sleep_ms) {}
  size_t size() const override { return n_; }
  Example get(size_t i) const override {
    if (sleep_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    gets.fetch_add(1);
    return {full({4}, static_cast<double>(i)), scalar_tensor(static_cast<int64_t>(i))};
  }
  mutable std::atomic<int> gets{0};

 private:
  size_t n_;
  int sleep_ms_;
};
}  // namespace

TEST(DevicePrefetcher, SameBatchesOnTheDevice) {  // SEED C4
  const Device dev("testdev:1");
  for (size_t w : {0u, 2u}) {
    for (size_t depth : {1u, 3u}) {
      for (bool pin : {false, true}) {
        DataLoaderOptions o;
        o.batch_size = 5;
        o.shuffle = true;
        o.num_workers = w;
        o.seed = 7;
        o.transform = augment();
        o.pin_memory = pin;
        o.pin_device = Device("testdev");
        DataLoader dl(make_ds(23), o);
        DevicePrefetcher p(dl, dev, depth);
        EXPECT_EQ(p.size(), 5u);
        std::vector<Batch> got;
        for (int e = 0; e < 3; ++e) {
          auto epoch = to_cpu(p, dev);
          got.insert(got.end(), epoch.begin(), epoch.end());
        }
        expect_same(run_epochs(0, 3, true), got);
      }
    }
  }
  EXPECT_THROW(DevicePrefetcher(*std::make_unique<DataLoader>(make_ds(4)), Device("testdev:7")), DeviceError);
}

TEST(DevicePrefetcher, CopiesTheNextBatchWhileTheConsumerWorks) {  // SEED C4
  auto ds = std::make_shared<Counting>(40, 0);
  DataLoaderOptions o;
  o.batch_size = 4;
  DataLoader dl(ds, o);  // 0 workers: the prefetcher's thread makes the batches
  DevicePrefetcher p(dl, Device("testdev"), 1);
  auto b0 = p.next();
  ASSERT_TRUE(b0);
  // Without asking, batch 1 gets made and copied while we hold batch 0 ...
  auto t0 = std::chrono::steady_clock::now();
  while (ds->gets.load() < 8 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(ds->gets.load(), 8);
  // ... and no more than that (depth 1).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ds->gets.load(), 8);
  auto b1 = p.next();
  ASSERT_TRUE(b1);
  EXPECT_EQ(b1->indices, (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(b1->target.to(Device(kCPUType))[3].item<int64_t>(), 7);
}

TEST(DevicePrefetcher, WorkerErrorsReachTheConsumerInPlace) {  // SEED C1, C4
  for (size_t w : {0u, 2u}) {
    DataLoaderOptions o;
    o.batch_size = 4;
    o.num_workers = w;
    DataLoader dl(std::make_shared<Faulty>(40, 13), o);
    DevicePrefetcher p(dl, Device("testdev"));
    size_t got = 0;
    try {
      for (const Batch& b : p) { (void)b; ++got; }
      ADD_FAILURE() << "no exception with " << w << " workers";
    } catch (const SampleError& e) {
      EXPECT_EQ(e.index(), 13);
      EXPECT_THROW(e.rethrow_cause(), FormatError);
    }
    EXPECT_EQ(got, 3u) << "batches before the bad one, in order";
    // As with the loader, next() goes on with the following batch.
    auto b = p.next();
    ASSERT_TRUE(b);
    EXPECT_EQ(b->indices, (std::vector<int64_t>{16, 17, 18, 19}));
    EXPECT_EQ(b->data.device(), Device("testdev"));
  }
}

TEST(DevicePrefetcher, DestructorIsPromptMidEpochAndAfterError) {  // SEED C4 / F6
  for (int bad : {-1, 3}) {
    for (size_t w : {0u, 4u}) {
      auto t0 = std::chrono::steady_clock::now();
      {
        DataLoaderOptions o;
        o.batch_size = 8;
        o.num_workers = w;
        o.prefetch_factor = 4;
        DataLoader dl(std::make_shared<Faulty>(100000, bad, 5), o);
        DevicePrefetcher p(dl, Device("testdev"), 2);
        try { auto b = p.next(); } catch (const SampleError&) {}
      }
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // A batch is 8 × 5 ms; the epoch would take minutes. Shutdown waits for one batch at most.
      EXPECT_LT(s, 2.0) << "bad=" << bad << " workers=" << w;
    }
  }
  // A reset mid-epoch abandons the copies in flight and starts the next epoch.
  DataLoaderOptions o;
  o.batch_size = 3;
  o.num_workers = 2;
  DataLoader dl(make_ds(20), o);
  DevicePrefetcher p(dl, Device("testdev"), 2);
  for (const Batch& b : p) { (void)b; break; }
  std::vector<int64_t> seen;
  for (const Batch& b : p) seen.insert(seen.end(), b.indices.begin(), b.indices.end());
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(dl.epoch(), 1u);
}
