// DataLoader: worker threads make whole batches; results are delivered in batch order, so the
// stream is identical for any num_workers (SEED C1, C3; docs/data.md).
#include "hearth/data.h"

#include <cstring>

#include "hearth/functions.h"

namespace hearth::data {

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), opt_(std::move(options)) {
  HEARTH_CHECK(dataset_, ValueError, "DataLoader: no dataset");
  HEARTH_CHECK(opt_.prefetch_factor > 0, ValueError, "DataLoader: prefetch_factor must be > 0");
  if (opt_.batch_sampler) {
    batches_sampler_ = opt_.batch_sampler;
  } else {
    std::shared_ptr<const Sampler> s = opt_.sampler;
    if (!s && opt_.shuffle) s = std::make_shared<RandomSampler>(dataset_->size(), opt_.seed);
    if (!s) s = std::make_shared<SequentialSampler>(dataset_->size());
    batches_sampler_ = std::make_shared<BatchSampler>(s, opt_.batch_size, opt_.drop_last);
  }
  if (!opt_.collate) opt_.collate = default_collate;
}

DataLoader::~DataLoader() { stop_workers(); }

size_t DataLoader::size() const { return batches_sampler_->size(); }

namespace {
/// The message of the exception in `e`, without losing its type elsewhere.
std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}
}  // namespace

std::vector<Example> Dataset::get_batch(const std::vector<int64_t>& indices, std::stop_token stop) const {
  std::vector<Example> ex;
  ex.reserve(indices.size());
  for (int64_t i : indices) {
    if (stop.stop_requested()) break;  // the loader is going away; the result is dropped
    try {
      ex.push_back(get(static_cast<size_t>(i)));
    } catch (const SampleError&) {
      throw;
    } catch (...) {
      auto cause = std::current_exception();
      throw SampleError(i, cause, detail::str("sample ", i, ": ", what_of(cause)));
    }
  }
  return ex;
}

Batch DataLoader::make_batch(const std::vector<int64_t>& idx, uint64_t epoch, std::stop_token stop) const {
  // A failure at sample i, with the original exception as the cause.
  auto sample_error = [&](int64_t i, std::exception_ptr cause) {
    return SampleError(i, cause, detail::str("DataLoader: sample ", i, " (epoch ", epoch, "): ", what_of(cause)));
  };
  std::vector<Example> ex;
  int64_t at = idx.empty() ? -1 : idx.front();  // where a failure without an index is reported
  try {
    for (int64_t i : idx) {
      at = i;
      HEARTH_CHECK(i >= 0 && static_cast<size_t>(i) < dataset_->size(), IndexError, "sampler gave index ",
                   i, " but the dataset has ", dataset_->size(), " samples");
    }
    at = idx.empty() ? -1 : idx.front();
    // One call per batch, so readers can fetch contiguous runs at once (SEED C2).
    ex = dataset_->get_batch(idx, stop);
  } catch (const SampleError& e) {
    if (!e.cause()) throw;
    throw sample_error(e.index(), e.cause());
  } catch (...) {
    throw sample_error(at, std::current_exception());
  }
  if (stop.stop_requested()) return {};  // loader is going away; result is dropped
  HEARTH_CHECK(ex.size() == idx.size(), ValueError, "DataLoader: Dataset::get_batch returned ", ex.size(),
               " examples for ", idx.size(), " indices");
  if (opt_.transform) {
    for (size_t k = 0; k < ex.size(); ++k) {
      if (stop.stop_requested()) return {};
      const int64_t i = idx[k];
      try {
        ex[k].data = opt_.transform->apply(ex[k].data, opt_.seed, epoch, static_cast<uint64_t>(i));
      } catch (...) {
        throw sample_error(i, std::current_exception());
      }
    }
  }
  Batch b = opt_.collate(ex, idx);
  if (opt_.pin_memory && !opt_.pin_device.is_cpu()) {
    b.data = pin(b.data);
    b.target = pin(b.target);
  }
  return b;
}

Tensor DataLoader::pin(const Tensor& t) const {
  if (!t.defined() || !t.is_cpu()) return t;
  DeviceInterface& dev = device_interface(opt_.pin_device.type());
  const size_t n = std::max<size_t>(t.nbytes(), 1);
  void* p = dev.allocate_pinned(n);
  if (!p) return t;  // the device has no pinned memory: pinning is a no-op
  Tensor src = t.contiguous();
  std::memcpy(p, src.data_ptr(), t.nbytes());
  return from_blob(p, t.sizes(), [&dev](void* q) { dev.free_pinned(q); }, t.options());
}

void DataLoader::reset() {
  const uint64_t epoch = next_epoch_++;
  auto batches = batches_sampler_->batches(epoch);
  {
    std::lock_guard<std::mutex> g(mu_);
    epoch_ = epoch;
    batches_ = std::move(batches);
    results_.clear();
    dispatched_ = consumed_ = 0;
    ++generation_;
    started_ = true;
  }
  if (opt_.num_workers > 0 && workers_.empty()) start_workers();
  work_cv_.notify_all();
}

std::optional<Batch> DataLoader::next() {
  if (!started_) reset();
  if (opt_.num_workers == 0) {
    if (consumed_ >= batches_.size()) return std::nullopt;
    return make_batch(batches_[consumed_++], epoch_, {});
  }
  std::unique_lock<std::mutex> lk(mu_);
  if (consumed_ >= batches_.size()) {
    lk.unlock();
    if (!opt_.persistent_workers) stop_workers();
    return std::nullopt;
  }
  auto ready = [&] { return results_.count(consumed_) > 0; };
  if (opt_.timeout.count() > 0) {
    if (!done_cv_.wait_for(lk, opt_.timeout, ready))
      throw TimeoutError(hearth::detail::str("DataLoader: batch ", consumed_, " of epoch ", epoch_,
                                             " not ready after ", opt_.timeout.count(), " ms"));
  } else {
    done_cv_.wait(lk, ready);
  }
  auto node = results_.extract(consumed_);
  ++consumed_;
  lk.unlock();
  work_cv_.notify_all();  // a slot in the prefetch window opened
  if (node.mapped().error) std::rethrow_exception(node.mapped().error);
  return std::move(node.mapped().batch);
}

void DataLoader::start_workers() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_src_ = std::stop_source();
  }
  for (size_t w = 0; w < opt_.num_workers; ++w) workers_.emplace_back([this] { worker_loop(); });
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_src_.request_stop();
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void DataLoader::worker_loop() {
  const size_t window = opt_.num_workers * opt_.prefetch_factor;
  std::unique_lock<std::mutex> lk(mu_);
  const std::stop_token stop = stop_src_.get_token();
  for (;;) {
    work_cv_.wait(lk, [&] {
      return stop.stop_requested() || (dispatched_ < batches_.size() && dispatched_ < consumed_ + window);
    });
    if (stop.stop_requested()) return;
    const size_t b = dispatched_++;
    const uint64_t gen = generation_, epoch = epoch_;
    std::vector<int64_t> idx = batches_[b];
    lk.unlock();
    Result r;
    try {
      r.batch = make_batch(idx, epoch, stop);
    } catch (...) {
      r.error = std::current_exception();
    }
    lk.lock();
    if (gen == generation_ && !stop.stop_requested()) {  // else the epoch was abandoned: drop the result
      results_.emplace(b, std::move(r));
      done_cv_.notify_all();
    }
  }
}

}  // namespace hearth::data
