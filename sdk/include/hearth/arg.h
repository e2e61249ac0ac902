// HEARTH_ARG: LibTorch's TORCH_ARG for options structs: `opts.name(v)` sets and chains,
// `opts.name()` reads (and is assignable). Also the enum-like constants LibTorch's options take.
#pragma once

#include <utility>

/// Declares option `name` of type T (give the default with `= value` after the macro).
#define HEARTH_ARG(T, name)                                           \
 public:                                                              \
  inline auto name(const T& new_##name)->decltype(*this) {            \
    this->name##_ = new_##name;                                       \
    return *this;                                                     \
  }                                                                   \
  inline auto name(T&& new_##name)->decltype(*this) {                 \
    this->name##_ = std::move(new_##name);                            \
    return *this;                                                     \
  }                                                                   \
  inline const T& name() const noexcept { return this->name##_; }     \
  inline T& name() noexcept { return this->name##_; }                 \
                                                                      \
 private:                                                             \
  T name##_

#ifndef TORCH_ARG
#define TORCH_ARG(T, name) HEARTH_ARG(T, name)
#endif

namespace hearth {
/// LibTorch's reduction and padding enumerators (`torch::kMean`, `torch::kSame`). hearth's options
/// hold these as strings ("mean", "same"), so the constants are the strings.
inline constexpr const char* kNone = "none";
inline constexpr const char* kMean = "mean";
inline constexpr const char* kSum = "sum";
inline constexpr const char* kSame = "same";
inline constexpr const char* kValid = "valid";
inline constexpr const char* kZeros = "zeros";
}  // namespace hearth
