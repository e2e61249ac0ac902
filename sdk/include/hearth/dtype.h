// Element types (dtypes), their sizes and names, and PyTorch's type-promotion rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

#include "hearth/half.h"

namespace hearth {

/// The element type of a tensor. Values are stable (they appear in the plugin ABI).
enum class ScalarType : int8_t {
  Float32 = 0,
  Float64 = 1,
  Float16 = 2,
  BFloat16 = 3,
  Int64 = 4,
  Int32 = 5,
  Int16 = 6,
  Int8 = 7,
  UInt8 = 8,
  Bool = 9,
  Undefined = 10,
};
using Dtype = ScalarType;
constexpr int kNumScalarTypes = 10;

// LibTorch spellings.
constexpr ScalarType kFloat32 = ScalarType::Float32, kFloat = kFloat32;
constexpr ScalarType kFloat64 = ScalarType::Float64, kDouble = kFloat64;
constexpr ScalarType kFloat16 = ScalarType::Float16, kHalf = kFloat16;
constexpr ScalarType kBFloat16 = ScalarType::BFloat16;
constexpr ScalarType kInt64 = ScalarType::Int64, kLong = kInt64;
constexpr ScalarType kInt32 = ScalarType::Int32, kInt = kInt32;
constexpr ScalarType kInt16 = ScalarType::Int16, kShort = kInt16;
constexpr ScalarType kInt8 = ScalarType::Int8, kChar = kInt8;
constexpr ScalarType kUInt8 = ScalarType::UInt8, kByte = kUInt8;
constexpr ScalarType kBool = ScalarType::Bool;

constexpr size_t element_size(ScalarType t) {
  switch (t) {
    case ScalarType::Float64: case ScalarType::Int64: return 8;
    case ScalarType::Float32: case ScalarType::Int32: return 4;
    case ScalarType::Float16: case ScalarType::BFloat16: case ScalarType::Int16: return 2;
    case ScalarType::Int8: case ScalarType::UInt8: case ScalarType::Bool: return 1;
    default: return 0;
  }
}

/// PyTorch's names: "float32", "int64", "bool", ...
const char* dtype_name(ScalarType t);
/// Parses "float32" / "float" / "f32" style names; throws DTypeError listing the known names.
ScalarType dtype_from_name(std::string_view name);

constexpr bool is_floating_point(ScalarType t) {
  return t == kFloat32 || t == kFloat64 || t == kFloat16 || t == kBFloat16;
}
constexpr bool is_integral(ScalarType t, bool include_bool) {
  return t == kInt64 || t == kInt32 || t == kInt16 || t == kInt8 || t == kUInt8 ||
         (include_bool && t == kBool);
}

/// PyTorch's torch.promote_types for two dtypes of the same category priority.
ScalarType promote_types(ScalarType a, ScalarType b);

/// True if a value of type `from` can be written into `to` without PyTorch's
/// "result type can't be cast to the desired output type" error (torch.can_cast).
bool can_cast(ScalarType from, ScalarType to);

/// The default floating dtype (float32), used by factories and for int/float scalar mixing.
ScalarType default_dtype();

inline std::ostream& operator<<(std::ostream& os, ScalarType t) { return os << dtype_name(t); }

/// Maps a C++ element type to its ScalarType.
template <typename T> struct CppTypeToScalarType;
template <> struct CppTypeToScalarType<float> { static constexpr ScalarType value = kFloat32; };
template <> struct CppTypeToScalarType<double> { static constexpr ScalarType value = kFloat64; };
template <> struct CppTypeToScalarType<Half> { static constexpr ScalarType value = kFloat16; };
template <> struct CppTypeToScalarType<BFloat16> { static constexpr ScalarType value = kBFloat16; };
template <> struct CppTypeToScalarType<int64_t> { static constexpr ScalarType value = kInt64; };
template <> struct CppTypeToScalarType<int32_t> { static constexpr ScalarType value = kInt32; };
template <> struct CppTypeToScalarType<int16_t> { static constexpr ScalarType value = kInt16; };
template <> struct CppTypeToScalarType<int8_t> { static constexpr ScalarType value = kInt8; };
template <> struct CppTypeToScalarType<uint8_t> { static constexpr ScalarType value = kUInt8; };
template <> struct CppTypeToScalarType<bool> { static constexpr ScalarType value = kBool; };

/// Calls f(T{}) with T the C++ type of `t` (all ten dtypes). Throws DTypeError for Undefined.
#define HEARTH_DTYPE_CASE(ST, T) \
  case ::hearth::ScalarType::ST: return f(T{});
template <typename F>
decltype(auto) visit_dtype(ScalarType t, F&& f) {
  switch (t) {
    HEARTH_DTYPE_CASE(Float32, float)
    HEARTH_DTYPE_CASE(Float64, double)
    HEARTH_DTYPE_CASE(Float16, ::hearth::Half)
    HEARTH_DTYPE_CASE(BFloat16, ::hearth::BFloat16)
    HEARTH_DTYPE_CASE(Int64, int64_t)
    HEARTH_DTYPE_CASE(Int32, int32_t)
    HEARTH_DTYPE_CASE(Int16, int16_t)
    HEARTH_DTYPE_CASE(Int8, int8_t)
    HEARTH_DTYPE_CASE(UInt8, uint8_t)
    HEARTH_DTYPE_CASE(Bool, bool)
    default: break;
  }
  return f(float{});  // unreachable for valid dtypes; callers check Undefined first
}
#undef HEARTH_DTYPE_CASE

}  // namespace hearth
