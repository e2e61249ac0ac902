// Samplers: index orders as pure functions of (seed, epoch), so they repeat across runs and
// never depend on threads (SEED C1, C3).
#include <algorithm>
#include <cmath>
#include <new>
#include <numeric>
#include <stdexcept>

#include "hearth/data.h"
#include "random_util.h"

namespace hearth::data {

namespace {
std::vector<int64_t> iota_n(size_t n) {
  std::vector<int64_t> v;
  try {
    v.resize(n);
  } catch (const std::bad_alloc&) {  // n comes from a dataset's (maybe hostile) size
    HEARTH_CHECK(false, OutOfMemoryError, "out of memory allocating ", n * sizeof(int64_t),
                 " bytes for the sampler's indices of ", n, " samples");
  } catch (const std::length_error&) {
    HEARTH_CHECK(false, OutOfMemoryError, "out of memory allocating the sampler's indices of ", n, " samples");
  }
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}
}  // namespace

std::vector<int64_t> SequentialSampler::indices(uint64_t) const { return iota_n(n_); }

std::vector<int64_t> RandomSampler::indices(uint64_t epoch) const {
  auto v = iota_n(n_);
  detail::shuffle(v, detail::epoch_seed(seed_, epoch));
  return v;
}

std::vector<int64_t> SubsetRandomSampler::indices(uint64_t epoch) const {
  auto v = subset_;
  detail::shuffle(v, detail::epoch_seed(seed_, epoch));
  return v;
}

WeightedRandomSampler::WeightedRandomSampler(std::vector<double> weights, size_t num_samples,
                                             bool replacement, uint64_t seed)
    : weights_(std::move(weights)), num_samples_(num_samples), replacement_(replacement), seed_(seed) {
  double total = 0;
  size_t positive = 0;
  for (size_t i = 0; i < weights_.size(); ++i) {
    HEARTH_CHECK(std::isfinite(weights_[i]) && weights_[i] >= 0, ValueError,
                 "WeightedRandomSampler: weight ", i, " is ", weights_[i], " (must be finite and >= 0)");
    total += weights_[i];
    positive += weights_[i] > 0;
  }
  HEARTH_CHECK(total > 0, ValueError, "WeightedRandomSampler: all ", weights_.size(), " weights are zero");
  HEARTH_CHECK(replacement_ || num_samples_ <= positive, ValueError, "WeightedRandomSampler: ",
               num_samples_, " samples without replacement but only ", positive, " non-zero weights");
}

std::vector<int64_t> WeightedRandomSampler::indices(uint64_t epoch) const {
  const uint64_t s = detail::epoch_seed(seed_, epoch);
  std::vector<int64_t> out;
  out.reserve(num_samples_);
  if (replacement_) {
    // Inverse CDF by binary search over the cumulative weights.
    std::vector<double> cdf(weights_.size());
    std::partial_sum(weights_.begin(), weights_.end(), cdf.begin());
    for (size_t k = 0; k < num_samples_; ++k) {
      double u = detail::unit(detail::bits64(s, 0, k)) * cdf.back();
      size_t i = std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
      while (i < cdf.size() && weights_[i] == 0) ++i;  // u landed on a zero-width edge
      out.push_back(static_cast<int64_t>(std::min(i, cdf.size() - 1)));
    }
  } else {
    // Efraimidis-Spirakis: the num_samples largest u^(1/w) keys, i.e. smallest -log(u)/w.
    std::vector<std::pair<double, int64_t>> keys;
    for (size_t i = 0; i < weights_.size(); ++i) {
      if (weights_[i] <= 0) continue;
      double u = detail::unit(detail::bits64(s, 0, i));
      keys.emplace_back(-std::log1p(-u) / weights_[i], static_cast<int64_t>(i));
    }
    std::partial_sort(keys.begin(), keys.begin() + num_samples_, keys.end());
    for (size_t k = 0; k < num_samples_; ++k) out.push_back(keys[k].second);
  }
  return out;
}

DistributedSampler::DistributedSampler(size_t n, size_t rank, size_t world_size, bool shuffle,
                                       uint64_t seed, bool drop_last)
    : n_(n), rank_(rank), world_(world_size), shuffle_(shuffle), seed_(seed), drop_last_(drop_last) {
  HEARTH_CHECK(world_ > 0, ValueError, "DistributedSampler: world_size must be > 0");
  HEARTH_CHECK(rank_ < world_, ValueError, "DistributedSampler: rank ", rank_, " not in [0, ", world_, ")");
  per_rank_ = drop_last_ ? n_ / world_ : (n_ + world_ - 1) / world_;
}

std::vector<int64_t> DistributedSampler::indices(uint64_t epoch) const {
  auto all = iota_n(n_);
  // Same permutation on every rank: the seed does not involve the rank.
  if (shuffle_) detail::shuffle(all, detail::epoch_seed(seed_, epoch));
  const size_t total = per_rank_ * world_;
  if (all.size() > total) {
    all.resize(total);
  } else {
    for (size_t i = 0; all.size() < total; ++i) all.push_back(all[i % n_]);  // pad by wrapping
  }
  std::vector<int64_t> out;
  out.reserve(per_rank_);
  for (size_t i = rank_; i < total; i += world_) out.push_back(all[i]);
  return out;
}

BatchSampler::BatchSampler(std::shared_ptr<const Sampler> sampler, size_t batch_size, bool drop_last)
    : sampler_(std::move(sampler)), batch_size_(batch_size), drop_last_(drop_last) {
  HEARTH_CHECK(sampler_, ValueError, "BatchSampler: no sampler");
  HEARTH_CHECK(batch_size_ > 0, ValueError, "BatchSampler: batch_size must be > 0");
}

std::vector<std::vector<int64_t>> BatchSampler::batches(uint64_t epoch) const {
  auto idx = sampler_->indices(epoch);
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < idx.size(); i += batch_size_) {
    size_t end = std::min(idx.size(), i + batch_size_);
    if (end - i < batch_size_ && drop_last_) break;
    out.emplace_back(idx.begin() + i, idx.begin() + end);
  }
  return out;
}

size_t BatchSampler::size() const {
  size_t n = sampler_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

}  // namespace hearth::data
