// The training loop of hearth/train.h: in-memory or DataLoader batches, evaluation, callbacks,
// checkpoints and resume (docs/training.md).
#include "hearth/train.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "hearth/checkpoint.h"
#include "hearth/data/label_source.h"
#include "hearth/error.h"
#include "hearth/functions.h"
#include "hearth/nn/loss.h"

namespace hearth::train {

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_stop must be async-signal-safe");

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// The first `limit` samples of a dataset (0 or >= size: all of it).
class PrefixDataset : public data::Dataset {
 public:
  PrefixDataset(std::shared_ptr<const data::Dataset> base, size_t n) : base_(std::move(base)), n_(n) {}
  size_t size() const override { return n_; }
  data::Example get(size_t i) const override { return base_->get(i); }
  std::vector<data::Example> get_batch(const std::vector<int64_t>& idx, std::stop_token stop) const override {
    return base_->get_batch(idx, stop);
  }

 private:
  std::shared_ptr<const data::Dataset> base_;
  size_t n_;
};

/// One epoch's indices with the first `skip` of them left out (resuming inside an epoch).
class SkipSampler : public data::Sampler {
 public:
  SkipSampler(std::shared_ptr<const data::Sampler> base, size_t skip) : base_(std::move(base)), skip_(skip) {}
  std::vector<int64_t> indices(uint64_t epoch) const override {
    auto all = base_->indices(epoch);
    all.erase(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min(skip_, all.size())));
    return all;
  }
  size_t size() const override { return base_->size() - std::min(skip_, base_->size()); }

 private:
  std::shared_ptr<const data::Sampler> base_;
  size_t skip_;
};

size_t limited(size_t n, int64_t limit) {
  return limit > 0 ? std::min(n, static_cast<size_t>(limit)) : n;
}

std::string format_floats(const std::vector<float>& v) {
  std::string s;
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.9g", i ? "," : "", static_cast<double>(v[i]));
    s += buf;
  }
  return s;
}

std::vector<float> parse_floats(const std::string& s, const std::string& what) {
  std::vector<float> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      v.push_back(std::stof(item));
    } catch (const std::exception&) {
      throw FormatError("training checkpoint: field '" + what + "' holds '" + item + "', not a number");
    }
  }
  return v;
}

}  // namespace

Preprocess normalize_images(std::vector<double> mean, std::vector<double> std, double scale) {
  HEARTH_CHECK(!mean.empty() && mean.size() == std.size(), ValueError,
               "normalize_images: mean and std need the same, non-zero number of values (got " +
                   std::to_string(mean.size()) + " and " + std::to_string(std.size()) + ")");
  for (double s : std) HEARTH_CHECK(s > 0 && std::isfinite(s), ValueError, "normalize_images: std must be positive");
  return [mean = std::move(mean), sd = std::move(std), scale](const Tensor& images) {
    // One float copy, then in place: a whole split (60k Fashion-MNIST images = 188 MB as
    // float32) must not exist four times over at its peak.
    Tensor x = images.to(kFloat32, /*copy=*/images.dtype() == kFloat32);
    if (mean.size() == 1) {
      if (scale != 1.0) x.mul_(scale);
      return x.sub_(mean[0]).mul_(1.0 / sd[0]);
    }
    if (x.dim() < 2 || x.size(1) != static_cast<int64_t>(mean.size())) {
      std::ostringstream os;
      os << "normalize_images: " << mean.size() << " channel means for images of shape " << x.sizes();
      throw ShapeError(os.str());
    }
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = x.size(1);
    std::vector<float> m, inv;
    for (double v : mean) m.push_back(static_cast<float>(v / scale));  // (x*s - m)/sd = (x - m/s) * (s/sd)
    for (double v : sd) inv.push_back(static_cast<float>(scale / v));
    Tensor mt = tensor(m, TensorOptions(kFloat32).device(x.device())).view(shape);
    Tensor it = tensor(inv, TensorOptions(kFloat32).device(x.device())).view(shape);
    return x.sub_(mt).mul_(it);
  };
}

std::pair<std::vector<double>, std::vector<double>> image_mean_std(const data::Dataset& dataset, size_t limit) {
  const size_t n = limited(dataset.size(), static_cast<int64_t>(limit));
  HEARTH_CHECK(n > 0, ValueError, "image_mean_std: the dataset is empty");
  auto* td = dynamic_cast<const data::TensorDataset*>(&dataset);
  std::vector<double> sum, sq;
  double per_channel = 0;  // values per channel seen so far
  double scale = 1.0;
  const auto add = [&](const Tensor& images) {
    // N×C×H×W: channel dim 1; N×H×W or N×D: one channel.
    const int64_t c = images.dim() == 4 ? images.size(1) : 1;
    if (images.dtype() == kUInt8) scale = 1.0 / 255.0;
    Tensor x = images.to(kFloat64).contiguous();
    if (sum.empty()) sum.assign(static_cast<size_t>(c), 0), sq.assign(static_cast<size_t>(c), 0);
    HEARTH_CHECK(static_cast<int64_t>(sum.size()) == c, ShapeError, "image_mean_std: images of ", c,
                 " channels after ", sum.size());
    const double* p = x.data_ptr<double>();
    const int64_t nb = x.size(0), inner = c > 0 ? x.numel() / (nb * c) : 0;
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t ch = 0; ch < c; ++ch) {
        const double* q = p + (i * c + ch) * inner;
        double s1 = 0, s2 = 0;
        for (int64_t k = 0; k < inner; ++k) s1 += q[k], s2 += q[k] * q[k];
        sum[static_cast<size_t>(ch)] += s1;
        sq[static_cast<size_t>(ch)] += s2;
      }
    per_channel += static_cast<double>(nb * inner);
  };
  constexpr size_t kChunk = 4096;
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t len = std::min(kChunk, n - i);
    if (td) {
      add(td->data().narrow(0, static_cast<int64_t>(i), static_cast<int64_t>(len)));
    } else {
      std::vector<Tensor> xs;
      for (size_t k = i; k < i + len; ++k) xs.push_back(dataset.get(k).data);
      add(stack(xs, 0));
    }
  }
  std::vector<double> mean, sd;
  for (size_t ch = 0; ch < sum.size(); ++ch) {
    const double m = sum[ch] / per_channel;
    const double var = std::max(0.0, sq[ch] / per_channel - m * m);
    mean.push_back(m * scale);
    sd.push_back(std::sqrt(var) * scale);
  }
  return {mean, sd};
}

std::optional<std::pair<double, double>> dataset_mean_std(const std::string& spec) {
  const std::string name = spec.substr(0, spec.find(':'));
  if (name == "fashion-mnist") return std::make_pair(0.2860, 0.3530);
  if (name == "mnist") return std::make_pair(0.1307, 0.3081);
  return std::nullopt;
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

struct Trainer::Impl {
  std::shared_ptr<nn::Module> model;
  std::shared_ptr<optim::Optimizer> optimizer;
  std::shared_ptr<optim::LRScheduler> scheduler;
  std::shared_ptr<const data::Dataset> train_set, test_set;
  TrainerOptions opt;
  std::vector<std::shared_ptr<Callback>> callbacks;

  // Progress, saved in checkpoints.
  int64_t epoch = 0;          // completed epochs
  int64_t step = 0;           // optimizer steps
  int64_t batch_in_epoch = 0; // batches of the current epoch already trained
  double epoch_loss_sum = 0;  // over the current epoch's steps so far
  std::vector<float> interval_losses;  // steps since the last StepInfo

  // In-memory splits (workers == 0 and a TensorDataset): preprocessed once, on the device.
  bool in_memory = false;
  bool has_train = false, has_test = false;
  Tensor train_x, train_y, test_x, test_y;
  size_t n_train = 0, n_test = 0;

  std::string last_checkpoint;
  std::unique_ptr<CheckpointManager> manager;

  LossFn loss_fn() const {
    if (opt.loss) return opt.loss;
    return [](const Tensor& out, const Tensor& y) { return nn::functional::cross_entropy(out, y); };
  }

  Tensor prep(const Tensor& images) const {
    Tensor x = opt.preprocess ? opt.preprocess(images) : images.to(kFloat32);
    return x.to(opt.device);
  }

  void setup_data() {
    HEARTH_CHECK(opt.batch_size > 0 && opt.eval_batch_size > 0, ValueError,
                 "Trainer: batch sizes must be positive (batch_size " + std::to_string(opt.batch_size) +
                     ", eval_batch_size " + std::to_string(opt.eval_batch_size) + ")");
    HEARTH_CHECK(opt.epochs >= 0, ValueError, "Trainer: epochs must be >= 0");
    n_train = train_set ? limited(train_set->size(), opt.train_limit) : 0;
    n_test = test_set ? limited(test_set->size(), opt.test_limit) : 0;
    has_train = train_set != nullptr;
    has_test = test_set != nullptr;
    HEARTH_CHECK(!train_set || !opt.drop_last || n_train >= static_cast<size_t>(opt.batch_size), ValueError,
                 "Trainer: " + std::to_string(n_train) + " training samples make no full batch of " +
                     std::to_string(opt.batch_size) + " (drop_last)");
    auto* tr = train_set ? dynamic_cast<const data::TensorDataset*>(train_set.get()) : nullptr;
    auto* te = test_set ? dynamic_cast<const data::TensorDataset*>(test_set.get()) : nullptr;
    keep_labels(train_set.get(), n_train, "training", train_labels);
    keep_labels(test_set.get(), n_test, "test", test_labels);
    // A copy: a view would keep a whole in-memory split alive after it is released below.
    if (train_set && n_train > 0) {
      sample_input = train_set->get(0).data.unsqueeze(0).clone();
    } else if (test_set && n_test > 0) {
      sample_input = test_set->get(0).data.unsqueeze(0).clone();
    }
    in_memory = opt.workers == 0 && (!train_set || tr) && (!test_set || te);
    if (!in_memory) return;
    // The whole split preprocessed at once: one pass of a few vectorized ops instead of a
    // per-sample transform, and batches become one index_select each (as LibTorch's loop).
    NoGradGuard ng;
    if (tr) {
      train_x = prep(tr->data().narrow(0, 0, static_cast<int64_t>(n_train)));
      train_y = tr->targets().narrow(0, 0, static_cast<int64_t>(n_train)).to(kInt64).to(opt.device);
    }
    if (te) {
      test_x = prep(te->data().narrow(0, 0, static_cast<int64_t>(n_test)));
      test_y = te->targets().narrow(0, 0, static_cast<int64_t>(n_test)).to(kInt64).to(opt.device);
    }
    // The raw images are no longer needed here; a caller that handed over its only reference
    // gets their memory back.
    train_set.reset();
    test_set.reset();
  }

  /// A split's labels kept for check_labels(): where they come from and the first n of them.
  struct SplitLabels {
    std::string origin;
    Tensor labels;  // int64 on the CPU; undefined when the dataset cannot list them cheaply
  };
  SplitLabels train_labels, test_labels;
  Tensor sample_input;  // (1, ...) one raw input, to ask the model how many classes it has
  bool labels_checked = false;

  void keep_labels(const data::Dataset* ds, size_t n, const std::string& split, SplitLabels& out) {
    if (!ds || n == 0 || opt.loss) return;  // a custom loss may take any targets
    if (auto* ls = dynamic_cast<const data::LabelSource*>(ds)) {
      out.origin = ls->labels_origin() + " (" + split + " split)";
      out.labels = ls->labels(n);
    } else if (auto* td = dynamic_cast<const data::TensorDataset*>(ds)) {
      out.origin = "the " + split + " dataset's labels";
      out.labels = td->targets().narrow(0, 0, static_cast<int64_t>(n));
    } else {
      return;
    }
    if (out.labels.dim() != 1 || is_floating_point(out.labels.dtype()) || out.labels.dtype() == kBool) {
      out.labels = Tensor();  // not class indices: nothing to check
      return;
    }
    out.labels = out.labels.to(Device(kCPUType), kInt64).contiguous();
  }

  /// Labels outside the model's classes fail here, before any training, naming the labels' file,
  /// the first bad index and the class count, instead of as cross_entropy's "Target 200 is out of
  /// bounds" in the middle of an epoch.
  void check_labels() {
    if (labels_checked || !sample_input.defined() || (!train_labels.labels.defined() && !test_labels.labels.defined()))
      return;
    labels_checked = true;
    int64_t classes = 0;
    {
      NoGradGuard ng;
      const bool was_training = model->is_training();
      model->eval();
      Tensor out = (*model)(prep(sample_input));
      if (was_training) model->train();
      if (out.dim() != 2) return;  // not a classifier's (N, classes) output
      classes = out.size(1);
    }
    for (const SplitLabels* s : {&train_labels, &test_labels}) {
      if (!s->labels.defined()) continue;
      const int64_t* p = s->labels.data_ptr<int64_t>();
      const int64_t n = s->labels.numel();
      int64_t bad = 0, first = -1;
      for (int64_t i = 0; i < n; ++i)
        if (p[i] < 0 || p[i] >= classes) {
          if (first < 0) first = i;
          ++bad;
        }
      HEARTH_CHECK(first < 0, ValueError, s->origin, ": label ", first < 0 ? 0 : p[first], " at index ", first,
                   " is outside the model's ", classes, " classes (0..", classes - 1, "); ", bad, " of ", n,
                   " labels are out of range (a model with more classes, e.g. --model NAME:num_classes=K?)");
    }
    train_labels.labels = Tensor();
    test_labels.labels = Tensor();
    sample_input = Tensor();
  }

  int64_t batches_per_epoch() const {
    const auto bs = static_cast<size_t>(opt.batch_size);
    return static_cast<int64_t>(opt.drop_last ? n_train / bs : (n_train + bs - 1) / bs);
  }

  double current_lr() const {
    const auto& groups = optimizer->param_groups();
    return groups.empty() ? 0.0 : groups[0].lr();
  }

  /// One optimizer step on (x, y); returns the detached loss.
  Tensor train_step(const Tensor& x, const Tensor& y, const LossFn& loss) {
    Tensor out = (*model)(x);
    Tensor l = loss(out, y);
    optimizer->zero_grad();
    l.backward();
    optimizer->step();
    if (scheduler && opt.scheduler_per_step) scheduler->step();
    return l.detach();
  }

  void emit_step(int64_t batches, double epoch_seconds, int64_t samples_this_epoch) {
    if (interval_losses.empty() || callbacks.empty()) {
      interval_losses.clear();
      return;
    }
    double sum = 0;
    for (float v : interval_losses) sum += v;
    StepInfo info;
    info.epoch = epoch;
    info.epochs = opt.epochs;
    info.step = step;
    info.batch = batch_in_epoch;
    info.batches = batches;
    info.loss = sum / static_cast<double>(interval_losses.size());
    info.lr = current_lr();
    info.epoch_seconds = epoch_seconds;
    info.samples_per_second = epoch_seconds > 0 ? static_cast<double>(samples_this_epoch) / epoch_seconds : 0;
    interval_losses.clear();
    for (auto& c : callbacks) c->on_step(info);
  }

  TrainingState state_view() {
    TrainingState s;
    s.model = model.get();
    s.optimizer = optimizer.get();
    if (scheduler) s.schedulers.push_back(scheduler.get());
    s.epoch = epoch;
    s.global_step = step;
    s.batch_in_epoch = batch_in_epoch;
    s.shuffle_seed = opt.seed;
    s.extra["trainer.epoch_loss_sum"] = format_double(epoch_loss_sum);
    s.extra["trainer.interval_losses"] = format_floats(interval_losses);
    s.extra["trainer.batch_size"] = std::to_string(opt.batch_size);
    s.extra["trainer.train_samples"] = std::to_string(n_train);
    for (const auto& [k, v] : opt.checkpoint_extra) s.extra.emplace(k, v);
    return s;
  }

  static std::string format_double(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  }

  std::string save() {
    HEARTH_CHECK(!opt.checkpoint_dir.empty(), ValueError, "Trainer::save_checkpoint: no checkpoint_dir set");
    if (!manager) manager = std::make_unique<CheckpointManager>(opt.checkpoint_dir, opt.keep_last);
    TrainingState s = state_view();
    last_checkpoint = manager->save(s);
    for (auto& c : callbacks) c->on_checkpoint(last_checkpoint);
    return last_checkpoint;
  }

  void resume(const std::string& path) {
    TrainingState s;
    s.model = model.get();
    s.optimizer = optimizer.get();
    if (scheduler) s.schedulers.push_back(scheduler.get());
    const std::string file = load_training_checkpoint(path, s);
    const auto get = [&](const std::string& key) -> std::string {
      auto it = s.extra.find(key);
      if (it == s.extra.end()) throw FormatError("training checkpoint '" + file + "': missing field '" + key + "'");
      return it->second;
    };
    // A different batch size or data subset would silently change what "batch k" means.
    if (get("trainer.batch_size") != std::to_string(opt.batch_size))
      throw ValueError("resume: checkpoint '" + path + "' was trained with batch " + get("trainer.batch_size") +
                       ", this run uses " + std::to_string(opt.batch_size));
    if (get("trainer.train_samples") != std::to_string(n_train))
      throw ValueError("resume: checkpoint '" + path + "' was trained on " + get("trainer.train_samples") +
                       " samples, this run has " + std::to_string(n_train));
    if (s.shuffle_seed != opt.seed)
      throw ValueError("resume: checkpoint '" + path + "' was shuffled with seed " + std::to_string(s.shuffle_seed) +
                       ", this run uses " + std::to_string(opt.seed));
    epoch = s.epoch;
    step = s.global_step;
    batch_in_epoch = s.batch_in_epoch;
    try {
      epoch_loss_sum = std::stod(get("trainer.epoch_loss_sum"));
    } catch (const std::invalid_argument&) {
      throw FormatError("training checkpoint '" + path + "': field 'trainer.epoch_loss_sum' is not a number");
    }
    interval_losses = parse_floats(get("trainer.interval_losses"), "trainer.interval_losses");
  }

  EvalResult evaluate(bool keep_logits) {
    EvalResult r;
    HEARTH_CHECK(has_test, ValueError, "Trainer::evaluate: no test dataset");
    check_labels();
    const bool was_training = model->is_training();
    model->eval();
    auto t0 = Clock::now();
    const LossFn loss = loss_fn();
    NoGradGuard ng;
    Tensor correct = zeros({}, TensorOptions(kInt64).device(opt.device));
    Tensor loss_sum = zeros({}, TensorOptions(kFloat64).device(opt.device));
    std::vector<Tensor> logits, labels;
    auto consume = [&](const Tensor& x, const Tensor& y) {
      Tensor out = (*model)(x);
      const auto n = static_cast<double>(y.size(0));
      loss_sum.add_(loss(out, y).to(kFloat64) * n);
      correct.add_(out.argmax(1).eq(y).sum());
      if (keep_logits) {
        logits.push_back(out.to(Device(kCPUType)));
        labels.push_back(y.to(Device(kCPUType)));
      }
    };
    const auto eb = static_cast<size_t>(opt.eval_batch_size);
    if (in_memory) {
      for (size_t i = 0; i < n_test; i += eb) {
        const auto len = static_cast<int64_t>(std::min(eb, n_test - i));
        consume(test_x.narrow(0, static_cast<int64_t>(i), len), test_y.narrow(0, static_cast<int64_t>(i), len));
      }
    } else {
      data::DataLoaderOptions lo;
      lo.batch_size = eb;
      lo.num_workers = opt.workers;
      auto ds = std::make_shared<PrefixDataset>(test_set, n_test);
      data::DataLoader loader(ds, lo);
      for (const data::Batch& b : loader) consume(prep(b.data), b.target.to(kInt64).to(opt.device));
    }
    r.samples = static_cast<int64_t>(n_test);
    const double n = std::max<double>(1.0, static_cast<double>(n_test));
    r.accuracy = static_cast<double>(correct.item<int64_t>()) / n;
    r.loss = loss_sum.item<double>() / n;
    r.seconds = seconds_since(t0);
    if (keep_logits && !logits.empty()) {
      r.logits = cat(logits, 0);
      r.labels = cat(labels, 0);
    }
    model->train(was_training);
    return r;
  }

  EpochResult finish_epoch(int64_t batches, double train_seconds, int64_t samples, float last_loss) {
    EpochResult er;
    er.epoch = epoch + 1;
    er.train_loss = batches > 0 ? epoch_loss_sum / static_cast<double>(batches) : 0;
    er.final_loss = last_loss;
    er.train_seconds = train_seconds;
    er.samples = samples;
    er.samples_per_second = train_seconds > 0 ? static_cast<double>(samples) / train_seconds : 0;
    if (scheduler && !opt.scheduler_per_step) scheduler->step();
    if (opt.eval_each_epoch && has_test && n_test > 0) er.eval = evaluate(false);
    er.peak_rss_mb = peak_rss_mb();
    for (const Device& d : {Device(kCPUType), opt.device}) {
      if (er.device_peak_bytes.count(d.str())) continue;
      er.device_peak_bytes[d.str()] = memory_stats(d).peak;
    }
    return er;
  }

  FitResult fit() {
    FitResult res;
    HEARTH_CHECK(has_train, ValueError, "Trainer::fit: no training dataset");
    check_labels();
    const LossFn loss = loss_fn();
    const int64_t batches = batches_per_epoch();
    const auto bs = opt.batch_size;
    for (auto& c : callbacks) c->on_train_begin(epoch, step, batches);
    model->train();
    auto sampler = std::make_shared<data::RandomSampler>(n_train, opt.seed);
    while (epoch < opt.epochs) {
      double train_seconds = 0;
      int64_t samples = 0;
      float last_loss = 0;
      std::vector<Tensor> pending;  // detached losses not read yet: read once per log interval
      const int64_t first_batch = batch_in_epoch;
      auto flush = [&] {
        if (pending.empty()) return;
        // One host read per interval keeps an asynchronous device busy between reads.
        Tensor all = stack(pending, 0).to(Device(kCPUType), kFloat32);
        const float* p = all.data_ptr<float>();
        for (int64_t i = 0; i < all.numel(); ++i) {
          // A NaN or infinite loss poisons every weight it touches: stop now with the step that
          // did it rather than train on to a meaningless model.
          if (opt.stop_on_nonfinite_loss && !std::isfinite(p[i])) {
            const int64_t at = step - static_cast<int64_t>(all.numel()) + i + 1;
            char buf[64];
            std::snprintf(buf, sizeof buf, "%g", current_lr());
            throw ValueError("training diverged: the loss is " + std::string(std::isnan(p[i]) ? "nan" : "inf") +
                             " at step " + std::to_string(at) + " (epoch " + std::to_string(epoch + 1) +
                             ", lr " + buf + "); lower the learning rate (--lr) or clip gradients");
          }
          interval_losses.push_back(p[i]);
          res.loss_log.push_back(p[i]);
          epoch_loss_sum += p[i];
          last_loss = p[i];
        }
        pending.clear();
      };
      auto t0 = Clock::now();
      auto after_step = [&](const Tensor& l, int64_t n) {
        pending.push_back(l);
        ++step;
        ++batch_in_epoch;
        samples += n;
        const bool log_now = opt.log_every > 0 && (step % opt.log_every == 0 || batch_in_epoch == batches);
        const bool ckpt_now = opt.checkpoint_every > 0 && !opt.checkpoint_dir.empty() && step % opt.checkpoint_every == 0 &&
                              batch_in_epoch < batches;
        if (log_now || ckpt_now || g_stop.load(std::memory_order_relaxed) || batch_in_epoch == batches) {
          flush();
          train_seconds += seconds_since(t0);
          if (log_now) emit_step(batches, train_seconds, samples);
          if (ckpt_now) save();
          t0 = Clock::now();
        }
      };
      if (in_memory) {
        const std::vector<int64_t> order = sampler->indices(static_cast<uint64_t>(epoch));
        Tensor perm = tensor(order, TensorOptions(kInt64).device(opt.device));
        for (int64_t b = first_batch; b < batches && !g_stop.load(std::memory_order_relaxed); ++b) {
          const int64_t len = std::min<int64_t>(bs, static_cast<int64_t>(n_train) - b * bs);
          Tensor idx = perm.narrow(0, b * bs, len);
          after_step(train_step(train_x.index_select(0, idx), train_y.index_select(0, idx), loss), len);
        }
      } else {
        data::DataLoaderOptions lo;
        lo.batch_size = static_cast<size_t>(bs);
        lo.drop_last = opt.drop_last;
        lo.num_workers = opt.workers;
        lo.seed = opt.seed;
        lo.sampler = first_batch > 0
                         ? std::static_pointer_cast<const data::Sampler>(
                               std::make_shared<SkipSampler>(sampler, static_cast<size_t>(first_batch * bs)))
                         : std::static_pointer_cast<const data::Sampler>(sampler);
        data::DataLoader loader(std::make_shared<PrefixDataset>(train_set, n_train), lo);
        loader.set_epoch(static_cast<uint64_t>(epoch));
        loader.reset();
        while (!g_stop.load(std::memory_order_relaxed)) {
          std::optional<data::Batch> b = loader.next();
          if (!b) break;
          after_step(train_step(prep(b->data), b->target.to(kInt64).to(opt.device), loss), b->target.size(0));
        }
      }
      flush();
      train_seconds += seconds_since(t0);
      res.train_seconds += train_seconds;
      res.final_loss = last_loss;
      if (batch_in_epoch < batches) {  // stopped inside the epoch
        res.interrupted = true;
        if (!opt.checkpoint_dir.empty()) res.last_checkpoint = save();
        break;
      }
      const double epoch_lr = current_lr();  // the rate this epoch trained with, before the scheduler steps
      EpochResult er = finish_epoch(batches, train_seconds, samples, last_loss);
      ++epoch;
      batch_in_epoch = 0;
      epoch_loss_sum = 0;
      interval_losses.clear();
      for (auto& c : callbacks) c->on_epoch_end(er, step, epoch_lr);
      res.epochs.push_back(std::move(er));
      if (!opt.checkpoint_dir.empty()) res.last_checkpoint = save();
      if (g_stop.load(std::memory_order_relaxed) && epoch < opt.epochs) {
        res.interrupted = true;
        break;
      }
    }
    int64_t total = 0;
    for (const auto& e : res.epochs) total += e.samples;
    res.samples_per_second = res.train_seconds > 0 ? static_cast<double>(total) / res.train_seconds : 0;
    if (!last_checkpoint.empty()) res.last_checkpoint = last_checkpoint;
    return res;
  }
};

Trainer::Trainer(std::shared_ptr<nn::Module> model, std::shared_ptr<optim::Optimizer> optimizer,
                 std::shared_ptr<const data::Dataset> train_set, std::shared_ptr<const data::Dataset> test_set,
                 TrainerOptions options)
    : impl_(std::make_unique<Impl>()) {
  HEARTH_CHECK(model != nullptr && optimizer != nullptr, ValueError, "Trainer: model and optimizer are required");
  impl_->model = std::move(model);
  impl_->optimizer = std::move(optimizer);
  impl_->train_set = std::move(train_set);
  impl_->test_set = std::move(test_set);
  impl_->opt = std::move(options);
  impl_->setup_data();
}

Trainer::~Trainer() = default;

void Trainer::set_scheduler(std::shared_ptr<optim::LRScheduler> scheduler) { impl_->scheduler = std::move(scheduler); }
void Trainer::add_callback(std::shared_ptr<Callback> callback) {
  if (callback) impl_->callbacks.push_back(std::move(callback));
}
void Trainer::resume(const std::string& path_or_dir) { impl_->resume(path_or_dir); }
FitResult Trainer::fit() { return impl_->fit(); }
EvalResult Trainer::evaluate(bool keep_logits) { return impl_->evaluate(keep_logits); }
void Trainer::request_stop() noexcept { g_stop.store(true, std::memory_order_relaxed); }
bool Trainer::stop_requested() noexcept { return g_stop.load(std::memory_order_relaxed); }
void Trainer::clear_stop() noexcept { g_stop.store(false, std::memory_order_relaxed); }
int64_t Trainer::epoch() const { return impl_->epoch; }
int64_t Trainer::step() const { return impl_->step; }
const TrainerOptions& Trainer::options() const { return impl_->opt; }
std::string Trainer::save_checkpoint() { return impl_->save(); }

}  // namespace hearth::train
