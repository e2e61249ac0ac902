// DevicePrefetcher: a background thread copies the loader's next batch to the device while the
// consumer works on the current one (SEED C4; docs/data.md).
#include "hearth/data.h"

namespace hearth::data {

DevicePrefetcher::DevicePrefetcher(DataLoader& loader, Device device, size_t depth)
    : loader_(loader), device_(device), depth_(depth) {
  HEARTH_CHECK(depth_ > 0, ValueError, "DevicePrefetcher: depth must be > 0");
  // Resolve the device now, so an unusable one fails here rather than on the copy thread.
  HEARTH_CHECK(device_.index() >= 0 && device_.index() < device_interface(device_.type()).device_count(),
               DeviceError, "DevicePrefetcher: no device ", device_.str());
}

DevicePrefetcher::~DevicePrefetcher() { stop_thread(); }

void DevicePrefetcher::stop_thread() {
  if (thread_.joinable()) {
    thread_.request_stop();  // wakes the thread if it waits for room in the queue
    thread_.join();          // else it is making or copying one batch: wait for that one
  }
  std::lock_guard<std::mutex> g(mu_);
  queue_.clear();
}

void DevicePrefetcher::reset() {
  stop_thread();
  loader_.reset();  // on this thread, before the copy thread exists: no race on the loader
  finished_ = false;
  started_ = true;
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void DevicePrefetcher::run(std::stop_token stop) {
  for (;;) {
    {
      // Wait for room before taking a batch, so at most depth_ batches sit on the device besides
      // the one the consumer holds.
      std::unique_lock<std::mutex> lk(mu_);
      if (!cv_.wait(lk, stop, [&] { return queue_.size() < depth_; })) return;
    }
    Item item;
    try {
      std::optional<Batch> b = loader_.next();
      if (b) {
        Batch d;
        d.data = b->data.defined() ? b->data.to(device_) : b->data;
        d.target = b->target.defined() ? b->target.to(device_) : b->target;
        d.indices = std::move(b->indices);
        item.batch = std::move(d);
      }
    } catch (...) {
      item.error = std::current_exception();  // delivered in the batch's place
    }
    if (stop.stop_requested()) return;
    const bool end = !item.batch && !item.error;
    {
      std::lock_guard<std::mutex> g(mu_);
      queue_.push_back(std::move(item));
    }
    cv_.notify_all();
    if (end) return;
  }
}

std::optional<Batch> DevicePrefetcher::next() {
  if (!started_) reset();
  if (finished_) return std::nullopt;
  Item item;
  {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !queue_.empty(); });
    item = std::move(queue_.front());
    queue_.pop_front();
  }
  cv_.notify_all();  // room for the next copy
  if (item.error) std::rethrow_exception(item.error);
  if (!item.batch) {
    finished_ = true;
    thread_.join();  // it pushed the end marker and returned
  }
  return std::move(item.batch);
}

}  // namespace hearth::data
