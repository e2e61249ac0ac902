// Random number generation: a counter-based Philox4x32-10 stream per generator, so a random
// op gives the same values on every device and any thread count (documented in docs/random.md).
#pragma once

#include <cstdint>
#include <mutex>

namespace hearth {

/// A seed and a counter. Each random op reserves a range of counters; element i of the op
/// uses counter offset + i. Copyable (copies the state); thread-safe reservation.
class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ull) : seed_(seed) {}
  Generator(const Generator& o) : seed_(o.seed()), offset_(o.offset()) {}
  Generator& operator=(const Generator& o) {
    if (this != &o) set_state(o.seed(), o.offset());
    return *this;
  }
  void manual_seed(uint64_t seed) {
    std::lock_guard<std::mutex> g(mu_);
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { std::lock_guard<std::mutex> g(mu_); return seed_; }
  uint64_t offset() const { std::lock_guard<std::mutex> g(mu_); return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    std::lock_guard<std::mutex> g(mu_);
    seed_ = seed;
    offset_ = offset;
  }
  /// Reserves n counters; returns the first. Offsets are rounded to multiples of 4 so that
  /// each op starts on a fresh Philox block.
  uint64_t reserve(uint64_t n) {
    std::lock_guard<std::mutex> g(mu_);
    uint64_t first = offset_;
    offset_ += (n + 3) & ~uint64_t{3};
    return first;
  }

 private:
  mutable std::mutex mu_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

/// The process-wide default generator (LibTorch's torch::manual_seed seeds it).
Generator& default_generator();
void manual_seed(uint64_t seed);

namespace philox {
/// Philox4x32-10: four 32-bit random words for (seed, counter).
inline void philox4x32(uint64_t seed, uint64_t counter, uint32_t out[4]) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t{0xD2511F53u} * c0;
    uint64_t p1 = uint64_t{0xCD9E8D57u} * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}
/// The 32-bit word for element `i` of a stream starting at `offset`.
inline uint32_t word(uint64_t seed, uint64_t offset, uint64_t i) {
  uint32_t r[4];
  uint64_t c = offset + i;
  philox4x32(seed, c >> 2, r);
  return r[c & 3];
}
/// Uniform float in [0, 1) from 24 random bits.
inline float uniform01f(uint32_t w) { return static_cast<float>(w >> 8) * (1.0f / 16777216.0f); }
/// Uniform double in [0, 1) from 53 bits of two words.
inline double uniform01d(uint32_t hi, uint32_t lo) {
  uint64_t v = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(v & ((uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}
}  // namespace philox

}  // namespace hearth
