// Counter-based draws shared by samplers and transforms: every value is a pure function of
// (seed, counter), so no stream is ever shared between threads (SEED C3).
#pragma once

#include <cstdint>
#include <vector>

#include "hearth/generator.h"

namespace hearth::data::detail {

/// SplitMix64 finaliser: a well-mixed 64-bit hash step.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// 64 random bits, number i of the stream (seed, offset).
inline uint64_t bits64(uint64_t seed, uint64_t offset, uint64_t i) {
  return (uint64_t{philox::word(seed, offset, 2 * i)} << 32) | philox::word(seed, offset, 2 * i + 1);
}
/// Uniform integer in [0, n) (multiply-shift; the bias is below 2^-32 for n < 2^32).
inline uint64_t below(uint64_t r, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(r) * n) >> 64);
}
/// Uniform double in [0, 1).
inline double unit(uint64_t r) { return static_cast<double>(r >> 11) * (1.0 / 9007199254740992.0); }

/// Fisher-Yates shuffle of v with the stream of `seed`.
template <typename T>
void shuffle(std::vector<T>& v, uint64_t seed) {
  for (size_t i = v.size(); i > 1; --i) {
    size_t j = below(bits64(seed, 0, i), i);
    std::swap(v[i - 1], v[j]);
  }
}

/// The seed of an epoch's sampler stream: distinct from any sample's (different salt).
inline uint64_t epoch_seed(uint64_t seed, uint64_t epoch) {
  return mix64(mix64(seed ^ 0x5A3D1E0F7C2B4A69ull) ^ epoch);
}

}  // namespace hearth::data::detail
