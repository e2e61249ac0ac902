// The data pipeline: datasets, seeded transforms, samplers, the threaded DataLoader and the
// "dataset" component front end (SEED C1, C3; contract in docs/data.md).
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "hearth/device.h"
#include "hearth/error.h"
#include "hearth/generator.h"
#include "hearth/tensor.h"

namespace hearth::data {

/// One sample: its input and its target (a 0-dim int64 class label for classification sets).
struct Example {
  Tensor data;
  Tensor target;
};

/// A collated batch: data and targets stacked on a new dim 0, and the dataset indices they came
/// from (in batch order).
struct Batch {
  Tensor data;
  Tensor target;
  std::vector<int64_t> indices;
};

/// Random-access dataset. get() and get_batch() are called from several worker threads at once
/// and must be thread-safe (a const read of shared tensors is).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual Example get(size_t index) const = 0;
  /// The samples at `indices`, in that order (LibTorch's get_batch, PyTorch's __getitems__).
  /// The DataLoader calls it once per batch with in-range indices, so a reader can fetch runs of
  /// consecutive indices in one read (hearth-hdf5 does). The default calls get(i) for each index
  /// and wraps a failure as SampleError(i, ...). An override should throw SampleError to name the
  /// failing sample (other exceptions are reported at the batch's first index). Once `stop` is
  /// requested it may return early with fewer examples: the loader is shutting down and discards
  /// the result.
  virtual std::vector<Example> get_batch(const std::vector<int64_t>& indices, std::stop_token stop = {}) const;
};

/// Rows of two tensors: get(i) = {data[i], target[i]}. Sizes of dim 0 must match.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor data, Tensor targets);
  size_t size() const override { return n_; }
  Example get(size_t index) const override;
  const Tensor& data() const { return data_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor data_, targets_;
  size_t n_;
};

/// A worker's failure while producing sample `index`: the message names the index and the
/// original error; cause() rethrows the original exception (its type intact).
class SampleError : public Error {
 public:
  SampleError(int64_t index, std::exception_ptr cause, const std::string& msg)
      : Error(msg), index_(index), cause_(std::move(cause)) {}
  int64_t index() const { return index_; }
  [[noreturn]] void rethrow_cause() const { std::rethrow_exception(cause_); }
  std::exception_ptr cause() const { return cause_; }

 private:
  int64_t index_;
  std::exception_ptr cause_;
};

/// The DataLoader waited longer than its timeout for a batch.
class TimeoutError : public Error { using Error::Error; };

// ---- transforms (SEED C3) ----

/// The seed of one sample's randomness: a hash of (base seed, epoch, sample index). It does not
/// involve the worker, so augmentations never depend on the number of workers.
uint64_t sample_seed(uint64_t seed, uint64_t epoch, uint64_t index);

/// A transform of a sample's data. `gen` is the sample's own generator (seeded with
/// sample_seed); random transforms reserve counters from it, deterministic ones ignore it.
class Transform {
 public:
  virtual ~Transform() = default;
  virtual Tensor operator()(const Tensor& x, Generator& gen) const = 0;
  /// Convenience: runs with the generator of (seed, epoch, index).
  Tensor apply(const Tensor& x, uint64_t seed, uint64_t epoch, uint64_t index) const;
};

/// x.to(float32) * scale: uint8 images in [0, 255] become [0, 1] with the default scale.
class ToFloat : public Transform {
 public:
  explicit ToFloat(double scale = 1.0 / 255.0) : scale_(scale) {}
  Tensor operator()(const Tensor& x, Generator& gen) const override;

 private:
  double scale_;
};

/// (x - mean[c]) / std[c] per channel (dim 0 of a C×H×W sample; one value applies to all
/// channels). Non-floating input is converted to float32 first, unscaled.
class Normalize : public Transform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor operator()(const Tensor& x, Generator& gen) const override;

 private:
  std::vector<double> mean_, std_;
};

/// Pads the last two dims by `padding` zeros on each side, then crops size×size at a random
/// offset.
class RandomCrop : public Transform {
 public:
  RandomCrop(int64_t size, int64_t padding = 0) : RandomCrop(size, size, padding) {}
  RandomCrop(int64_t height, int64_t width, int64_t padding);
  Tensor operator()(const Tensor& x, Generator& gen) const override;

 private:
  int64_t h_, w_, pad_;
};

/// Flips the last dim with probability p.
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor operator()(const Tensor& x, Generator& gen) const override;

 private:
  double p_;
};

/// Runs transforms in order, all on the same sample generator.
class Compose : public Transform {
 public:
  explicit Compose(std::vector<std::shared_ptr<const Transform>> ts) : ts_(std::move(ts)) {}
  Tensor operator()(const Tensor& x, Generator& gen) const override;

 private:
  std::vector<std::shared_ptr<const Transform>> ts_;
};

// ---- samplers: pure functions of the epoch, so any thread may ask ----

class Sampler {
 public:
  virtual ~Sampler() = default;
  /// The dataset indices of one epoch, in order.
  virtual std::vector<int64_t> indices(uint64_t epoch) const = 0;
  /// How many indices indices() returns.
  virtual size_t size() const = 0;
};

/// 0, 1, ..., n-1.
class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(size_t n) : n_(n) {}
  std::vector<int64_t> indices(uint64_t epoch) const override;
  size_t size() const override { return n_; }

 private:
  size_t n_;
};

/// A permutation of 0..n-1 from (seed, epoch): a new order each epoch, the same across runs.
class RandomSampler : public Sampler {
 public:
  RandomSampler(size_t n, uint64_t seed = 0) : n_(n), seed_(seed) {}
  std::vector<int64_t> indices(uint64_t epoch) const override;
  size_t size() const override { return n_; }

 private:
  size_t n_;
  uint64_t seed_;
};

/// A permutation of the given indices from (seed, epoch).
class SubsetRandomSampler : public Sampler {
 public:
  SubsetRandomSampler(std::vector<int64_t> subset, uint64_t seed = 0)
      : subset_(std::move(subset)), seed_(seed) {}
  std::vector<int64_t> indices(uint64_t epoch) const override;
  size_t size() const override { return subset_.size(); }

 private:
  std::vector<int64_t> subset_;
  uint64_t seed_;
};

/// num_samples indices drawn with probability proportional to weights (with or without
/// replacement). Weights must be finite, >= 0, and not all zero.
class WeightedRandomSampler : public Sampler {
 public:
  WeightedRandomSampler(std::vector<double> weights, size_t num_samples, bool replacement = true,
                        uint64_t seed = 0);
  std::vector<int64_t> indices(uint64_t epoch) const override;
  size_t size() const override { return num_samples_; }

 private:
  std::vector<double> weights_;
  size_t num_samples_;
  bool replacement_;
  uint64_t seed_;
};

/// Rank `rank`'s share of 0..n-1 (shuffled by (seed, epoch) if shuffle): every rank gets the
/// same number of indices, by padding with indices from the start (drop_last = false) or by
/// dropping the tail (drop_last = true). Ranks together cover every index (pad) or every kept
/// index (drop) exactly once, apart from the padding.
class DistributedSampler : public Sampler {
 public:
  DistributedSampler(size_t n, size_t rank, size_t world_size, bool shuffle = true,
                     uint64_t seed = 0, bool drop_last = false);
  std::vector<int64_t> indices(uint64_t epoch) const override;
  size_t size() const override { return per_rank_; }

 private:
  size_t n_, rank_, world_, per_rank_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
};

/// Groups a sampler's indices into batches of batch_size (the last one shorter unless
/// drop_last).
class BatchSampler {
 public:
  BatchSampler(std::shared_ptr<const Sampler> sampler, size_t batch_size, bool drop_last = false);
  std::vector<std::vector<int64_t>> batches(uint64_t epoch) const;
  size_t size() const;

 private:
  std::shared_ptr<const Sampler> sampler_;
  size_t batch_size_;
  bool drop_last_;
};

// ---- DataLoader (SEED C1) ----

/// Turns the examples of one batch into a Batch. A custom collate may drop bad samples.
using CollateFn = std::function<Batch(std::vector<Example>& examples, const std::vector<int64_t>& indices)>;
/// Stacks data and targets. Throws ValueError on an empty batch and ShapeError on a ragged one,
/// naming the offending sample's dataset index.
Batch default_collate(std::vector<Example>& examples, const std::vector<int64_t>& indices);

struct DataLoaderOptions {
  size_t batch_size = 1;
  bool shuffle = false;  ///< RandomSampler(seed) when no sampler is given
  bool drop_last = false;
  std::shared_ptr<const Sampler> sampler;            ///< overrides shuffle
  std::shared_ptr<const BatchSampler> batch_sampler; ///< overrides batch_size, shuffle, sampler, drop_last
  size_t num_workers = 0;       ///< 0: batches are made on the consumer's thread
  size_t prefetch_factor = 2;   ///< batches in flight per worker
  std::chrono::milliseconds timeout{0};  ///< 0: wait forever for a batch
  bool persistent_workers = false;       ///< keep worker threads between epochs
  /// Copy each batch into page-locked host memory from pin_device's plugin (allocate_pinned),
  /// for fast transfers to it; a no-op where that device offers none or pin_device is cpu.
  bool pin_memory = false;
  Device pin_device = Device(kCPUType);
  uint64_t seed = 0;            ///< base seed of shuffling and of transforms (SEED C3)
  std::shared_ptr<const Transform> transform;  ///< applied to each Example's data
  CollateFn collate;            ///< default_collate if empty
};

/// Input iterator over a batch source's next(): `for (const Batch& b : loader)`.
template <typename Source>
class BatchIterator {
 public:
  BatchIterator() = default;
  explicit BatchIterator(Source* src) : src_(src) { advance(); }
  const Batch& operator*() const { return *cur_; }
  const Batch* operator->() const { return &*cur_; }
  BatchIterator& operator++() {
    advance();
    return *this;
  }
  bool operator==(const BatchIterator& o) const { return !cur_ && !o.cur_; }
  bool operator!=(const BatchIterator& o) const { return !(*this == o); }

 private:
  void advance() { cur_ = src_->next(); }
  Source* src_ = nullptr;
  std::optional<Batch> cur_;
};

/// Iterates batches in the sampler's order whatever num_workers. Each begin() (or reset())
/// starts an epoch: the one set by set_epoch, else 0, 1, 2, ... in turn.
class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// The epoch the next reset() starts.
  void set_epoch(uint64_t epoch) { next_epoch_ = epoch; }
  /// Starts an epoch (abandoning any batches of the current one).
  void reset();
  /// The next batch of the current epoch, or nullopt at its end. A worker's error is thrown
  /// here as SampleError (with the index), in the batch's place.
  std::optional<Batch> next();
  /// Batches per epoch.
  size_t size() const;
  uint64_t epoch() const { return epoch_; }

  using Iterator = BatchIterator<DataLoader>;
  Iterator begin() { reset(); return Iterator(this); }
  Iterator end() { return Iterator(); }

 private:
  struct Result {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };
  Batch make_batch(const std::vector<int64_t>& idx, uint64_t epoch, std::stop_token stop) const;
  Tensor pin(const Tensor& t) const;
  void start_workers();
  void stop_workers();
  void worker_loop();

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions opt_;
  std::shared_ptr<const BatchSampler> batches_sampler_;
  uint64_t next_epoch_ = 0, epoch_ = 0;

  // Shared with the workers, under mu_.
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::vector<int64_t>> batches_;
  std::map<size_t, Result> results_;
  size_t dispatched_ = 0, consumed_ = 0;
  uint64_t generation_ = 0;
  // Requested by stop_workers; workers and Dataset::get_batch poll it between samples, so
  // shutdown is prompt. A fresh source for each start of the workers.
  std::stop_source stop_src_;
  bool started_ = false;
  std::vector<std::thread> workers_;
};

// ---- device prefetcher (SEED C4) ----

/// Moves a DataLoader's batches to `device` ahead of the consumer (like timm's PrefetchLoader or
/// NVIDIA apex's data_prefetcher): while the consumer works on batch i, a background thread
/// already takes batch i+1 from the loader and copies it to the device (up to `depth` batches
/// ahead). The DeviceInterface has no streams, so the copy runs synchronously on that thread; with
/// `pin_memory` on the loader it copies from page-locked memory. Batches come in the loader's
/// order; a loader error (SampleError, TimeoutError) is thrown from next() in its batch's place,
/// and next() again goes on with the following batch. The loader must outlive the prefetcher and
/// must not be used directly while the prefetcher runs an epoch. Destroying the prefetcher (or
/// reset()) mid-epoch returns once the batch being made or copied is done.
class DevicePrefetcher {
 public:
  DevicePrefetcher(DataLoader& loader, Device device, size_t depth = 1);
  ~DevicePrefetcher();
  DevicePrefetcher(const DevicePrefetcher&) = delete;
  DevicePrefetcher& operator=(const DevicePrefetcher&) = delete;

  /// Starts an epoch of the loader (abandoning the current one) and the copy thread.
  void reset();
  /// The next batch, its data and target on device(); nullopt at the end of the epoch.
  std::optional<Batch> next();
  Device device() const { return device_; }
  size_t size() const { return loader_.size(); }

  using Iterator = BatchIterator<DevicePrefetcher>;
  Iterator begin() { reset(); return Iterator(this); }
  Iterator end() { return Iterator(); }

 private:
  struct Item {
    std::optional<Batch> batch;  // nullopt with no error: end of the epoch
    std::exception_ptr error;
  };
  void run(std::stop_token stop);
  void stop_thread();

  DataLoader& loader_;
  Device device_;
  size_t depth_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Item> queue_;  // under mu_
  bool started_ = false, finished_ = false;
  std::jthread thread_;
};

// ---- datasets by spec (components of kind "dataset") ----

/// The factory a plugin registers with PluginRegistrar::component("dataset", name, factory):
/// `arg` is the part of the spec after "name:" (empty if none).
using DatasetFactory = std::shared_ptr<Dataset> (*)(const std::string& arg, bool train);

/// "fashion-mnist", "idx:DIR", "NAME:ARG": finds the "dataset" component NAME and calls it.
/// Throws ValueError naming the registered dataset kinds when NAME is unknown.
std::shared_ptr<Dataset> load_dataset(const std::string& spec, bool train);

}  // namespace hearth::data
