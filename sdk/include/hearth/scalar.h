// A number of any dtype category (bool, integer, floating), as passed to fill_, add(alpha), clamp.
#pragma once

#include <cstdint>
#include <ostream>
#include <type_traits>

#include "hearth/dtype.h"

namespace hearth {

class Scalar {
 public:
  enum class Kind : uint8_t { Bool, Int, Double };
  Scalar() : kind_(Kind::Int) { v_.i = 0; }
  template <typename T, std::enable_if_t<std::is_same_v<T, bool>, int> = 0>
  Scalar(T b) : kind_(Kind::Bool) { v_.i = b ? 1 : 0; }  // NOLINT
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Scalar(T i) : kind_(Kind::Int) { v_.i = static_cast<int64_t>(i); }  // NOLINT
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Scalar(T d) : kind_(Kind::Double) { v_.d = static_cast<double>(d); }  // NOLINT
  Scalar(Half h) : Scalar(static_cast<float>(h)) {}          // NOLINT
  Scalar(BFloat16 h) : Scalar(static_cast<float>(h)) {}      // NOLINT

  Kind kind() const { return kind_; }
  bool is_floating_point() const { return kind_ == Kind::Double; }
  bool is_integral() const { return kind_ == Kind::Int; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  double to_double() const { return kind_ == Kind::Double ? v_.d : static_cast<double>(v_.i); }
  int64_t to_long() const { return kind_ == Kind::Double ? static_cast<int64_t>(v_.d) : v_.i; }
  /// True if the value equals v (as double); used to skip multiplications by 1.
  bool equal(double v) const { return to_double() == v; }
  bool to_bool() const { return kind_ == Kind::Double ? v_.d != 0.0 : v_.i != 0; }
  template <typename T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return to_bool();
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(to_long());
    else return static_cast<T>(to_double());
  }
  /// The dtype PyTorch gives a tensor made from this value: bool, int64 or the default float.
  ScalarType dtype() const {
    return kind_ == Kind::Bool ? kBool : kind_ == Kind::Int ? kInt64 : default_dtype();
  }

 private:
  Kind kind_;
  union { int64_t i; double d; } v_;
};

inline std::ostream& operator<<(std::ostream& os, const Scalar& s) {
  if (s.is_bool()) return os << (s.to_bool() ? "True" : "False");
  if (s.is_integral()) return os << s.to_long();
  return os << s.to_double();
}

}  // namespace hearth
