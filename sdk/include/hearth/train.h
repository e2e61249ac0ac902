// The library's training loop: epochs of shuffled batches, evaluation, logging callbacks,
// checkpoint and resume, and a stop request that is safe to make from a signal handler. What
// `hearth train` drives and what a C++ user calls (docs/training.md).
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hearth/data.h"
#include "hearth/device.h"
#include "hearth/nn/module.h"
#include "hearth/optim.h"
#include "hearth/tensor.h"

namespace hearth::train {

/// Deterministic batch preprocessing: raw dataset images (N×C×H×W, e.g. uint8) to what the model
/// takes. Applied once to the whole split when the data is in memory, else to each batch.
using Preprocess = std::function<Tensor(const Tensor& images)>;
/// loss(output, target) -> 0-dim tensor; default: cross-entropy, mean.
using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;

/// x.to(float32) * scale, then (x - mean[c]) / std[c] over dim 1 (one value: all channels).
Preprocess normalize_images(std::vector<double> mean, std::vector<double> std, double scale = 1.0 / 255.0);
/// Per-channel mean and standard deviation (population) of a dataset's first `limit` images
/// (0: all), after uint8 images are scaled to [0, 1]; images N×H×W count as one channel. Read in
/// chunks, so no float copy of the whole split is made. What `--normalize auto` uses.
std::pair<std::vector<double>, std::vector<double>> image_mean_std(const data::Dataset& dataset, size_t limit = 0);
/// The normalization a known dataset spec uses (Fashion-MNIST: 0.2860 / 0.3530, as SPEC.md),
/// or nullopt when the spec names no known dataset (the caller then scales to [0, 1] only).
std::optional<std::pair<double, double>> dataset_mean_std(const std::string& spec);

struct TrainerOptions {
  int64_t epochs = 1;            ///< total epochs; a resumed run continues up to this
  int64_t batch_size = 64;
  int64_t eval_batch_size = 1000;
  bool drop_last = true;         ///< drop an epoch's last partial batch
  uint64_t seed = 0;             ///< shuffling: RandomSampler(n, seed).indices(epoch)
  size_t workers = 0;            ///< 0: batches are cut from in-memory tensors on this thread
  int64_t train_limit = 0;       ///< use the first N training samples (0: all)
  int64_t test_limit = 0;        ///< use the first N test samples (0: all)
  Device device = Device(kCPUType);
  Preprocess preprocess;         ///< empty: images are used as they are (cast to float32)
  LossFn loss;                   ///< empty: cross_entropy(output, target), mean
  bool eval_each_epoch = true;   ///< evaluate on the test set after every epoch
  int64_t log_every = 50;        ///< steps between StepInfo callbacks
  std::string checkpoint_dir;    ///< empty: no checkpoints
  int keep_last = 3;             ///< checkpoints kept in checkpoint_dir
  int64_t checkpoint_every = 0;  ///< also save every N steps (0: only at epoch ends and on stop)
  bool scheduler_per_step = false;  ///< step the scheduler after every batch instead of every epoch
  /// Recorded in every checkpoint's hearth.extra (the CLI's run configuration, "run.config").
  std::map<std::string, std::string> checkpoint_extra;
  /// Stop with a ValueError when a step's loss is NaN or infinite. A run that uses a loss scaler
  /// (which skips such steps itself) turns this off.
  bool stop_on_nonfinite_loss = true;
};

/// Progress every `log_every` steps (and at an epoch's last step).
struct StepInfo {
  int64_t epoch = 0;        ///< 0-based
  int64_t epochs = 0;
  int64_t step = 0;         ///< global optimizer steps so far (after this one)
  int64_t batch = 0;        ///< batches done in this epoch
  int64_t batches = 0;      ///< batches per epoch
  double loss = 0;          ///< mean loss over the steps since the previous StepInfo
  double lr = 0;            ///< learning rate of the first parameter group
  double samples_per_second = 0;  ///< this epoch so far
  double epoch_seconds = 0;       ///< training time in this epoch so far
};

struct EvalResult {
  double accuracy = 0;  ///< fraction in [0, 1]
  double loss = 0;      ///< mean loss over the samples
  int64_t samples = 0;
  double seconds = 0;
  Tensor logits;        ///< N×classes on the CPU, when asked for
  Tensor labels;        ///< N (int64) on the CPU, with logits
};

struct EpochResult {
  int64_t epoch = 0;             ///< 1-based, as printed
  double train_loss = 0;         ///< mean loss over the epoch's steps
  double final_loss = 0;         ///< loss of the epoch's last step
  double train_seconds = 0;      ///< the training loop only (this process's part of the epoch)
  double samples_per_second = 0;
  int64_t samples = 0;           ///< trained in this process
  std::optional<EvalResult> eval;
  double peak_rss_mb = 0;        ///< the process's peak resident set so far
  std::map<std::string, size_t> device_peak_bytes;  ///< per device that reports statistics (SEED F7)
};

struct FitResult {
  std::vector<EpochResult> epochs;  ///< the epochs this call ran (completed ones)
  double train_seconds = 0;
  double samples_per_second = 0;
  double final_loss = 0;
  bool interrupted = false;         ///< stopped by request_stop()
  std::string last_checkpoint;      ///< path of the newest checkpoint written, if any
  std::vector<float> loss_log;      ///< every step's loss, in step order (this process's steps)
};

/// Observers of a run (progress bar, CSV and TensorBoard logs). Called on the training thread.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(int64_t epoch, int64_t step, int64_t batches_per_epoch) {}
  virtual void on_step(const StepInfo& info) {}
  /// `lr`: the learning rate the epoch trained with (before an epoch scheduler's step).
  virtual void on_epoch_end(const EpochResult& result, int64_t step, double lr) {}
  virtual void on_checkpoint(const std::string& path) {}
};

/// Trains `model` with `optimizer` on `train_set`, evaluating on `test_set`. Either set may be
/// null (no fit() without a training set; no evaluate() without a test set).
/// The model, optimizer and scheduler are shared with the caller, who may inspect them after.
class Trainer {
 public:
  Trainer(std::shared_ptr<nn::Module> model, std::shared_ptr<optim::Optimizer> optimizer,
          std::shared_ptr<const data::Dataset> train_set, std::shared_ptr<const data::Dataset> test_set,
          TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  void set_scheduler(std::shared_ptr<optim::LRScheduler> scheduler);
  void add_callback(std::shared_ptr<Callback> callback);

  /// Restores model, optimizer, scheduler, RNG, epoch, step and the position in the epoch from a
  /// checkpoint file or directory (its latest). The next fit() continues from there.
  void resume(const std::string& path_or_dir);
  /// Runs the remaining epochs up to options.epochs. Returns early, with `interrupted` set and a
  /// checkpoint saved when checkpoint_dir is set, once request_stop() was called.
  FitResult fit();
  /// Accuracy and mean loss on the test set (eval mode, no grad), restoring the model's mode.
  EvalResult evaluate(bool keep_logits = false);

  /// Asks every running fit() to stop after its current step. Async-signal-safe.
  static void request_stop() noexcept;
  static bool stop_requested() noexcept;
  /// Clears a previous request (before a new fit()).
  static void clear_stop() noexcept;

  int64_t epoch() const;  ///< completed epochs
  int64_t step() const;   ///< global optimizer steps
  const TrainerOptions& options() const;
  /// Writes a checkpoint now (into options.checkpoint_dir); returns its path.
  std::string save_checkpoint();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The process's peak resident set size in MiB (getrusage).
double peak_rss_mb();

// ---- logs a user can plot (SEED D3) ----

/// Writes TensorBoard event files: `log_dir/events.out.tfevents.<seconds>.<host>.hearth`, a
/// TFRecord stream (length, masked CRC-32C, an Event protobuf, masked CRC-32C) of scalar
/// summaries that `tensorboard --logdir` plots. Each add_scalar is flushed to the file at once.
class SummaryWriter {
 public:
  explicit SummaryWriter(const std::string& log_dir);
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;
  void add_scalar(const std::string& tag, double value, int64_t step);
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);
  std::string path_;
  std::FILE* file_ = nullptr;
};

/// CRC-32C (Castagnoli), as TFRecord frames use; `crc` continues a previous value.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
/// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t n);

/// A callback writing `log_dir/metrics.csv` (step, epoch, loss, lr, samples_per_second,
/// test_accuracy) and TensorBoard scalars (train/loss, train/lr, train/samples_per_second,
/// test/accuracy, test/loss) at every StepInfo and epoch end. Appends when resuming.
std::shared_ptr<Callback> make_log_dir_callback(const std::string& log_dir);

}  // namespace hearth::train
