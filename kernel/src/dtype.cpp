// dtype names and PyTorch's promotion table (torch.promote_types / torch.can_cast).
#include "hearth/dtype.h"

#include <string>

#include "hearth/error.h"

namespace hearth {

const char* dtype_name(ScalarType t) {
  switch (t) {
    case kFloat32: return "float32";
    case kFloat64: return "float64";
    case kFloat16: return "float16";
    case kBFloat16: return "bfloat16";
    case kInt64: return "int64";
    case kInt32: return "int32";
    case kInt16: return "int16";
    case kInt8: return "int8";
    case kUInt8: return "uint8";
    case kBool: return "bool";
    default: return "undefined";
  }
}

ScalarType dtype_from_name(std::string_view name) {
  struct Alias { const char* name; ScalarType t; };
  static const Alias aliases[] = {
      {"float32", kFloat32}, {"float", kFloat32}, {"f32", kFloat32},
      {"float64", kFloat64}, {"double", kFloat64}, {"f64", kFloat64},
      {"float16", kFloat16}, {"half", kFloat16}, {"f16", kFloat16},
      {"bfloat16", kBFloat16}, {"bf16", kBFloat16},
      {"int64", kInt64}, {"long", kInt64}, {"int32", kInt32}, {"int", kInt32},
      {"int16", kInt16}, {"short", kInt16}, {"int8", kInt8}, {"uint8", kUInt8},
      {"bool", kBool}};
  for (const auto& a : aliases)
    if (name == a.name) return a.t;
  HEARTH_CHECK(false, DTypeError, "unknown dtype '", name,
               "' (known: float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool)");
}

namespace {
// Category rank: bool < integer < floating.
int category(ScalarType t) { return t == kBool ? 0 : is_floating_point(t) ? 2 : 1; }
}  // namespace

ScalarType promote_types(ScalarType a, ScalarType b) {
  HEARTH_CHECK(a != ScalarType::Undefined && b != ScalarType::Undefined, DTypeError,
               "promote_types: undefined dtype");
  if (a == b) return a;
  if (a == kBool) return b;
  if (b == kBool) return a;
  const int ca = category(a), cb = category(b);
  if (ca != cb) return ca > cb ? a : b;  // the floating one
  if (ca == 2) {
    if ((a == kFloat16 && b == kBFloat16) || (a == kBFloat16 && b == kFloat16)) return kFloat32;
    // Otherwise the wider one: f16/bf16 < f32 < f64.
    auto rank = [](ScalarType t) { return t == kFloat64 ? 3 : t == kFloat32 ? 2 : 1; };
    return rank(a) >= rank(b) ? a : b;
  }
  // Integers. uint8 mixes with a signed type into the smallest signed type holding both.
  auto bits = [](ScalarType t) { return static_cast<int>(element_size(t)) * 8; };
  if (a == kUInt8 || b == kUInt8) {
    ScalarType s = a == kUInt8 ? b : a;
    return bits(s) <= 8 ? kInt16 : s;
  }
  return bits(a) >= bits(b) ? a : b;
}

bool can_cast(ScalarType from, ScalarType to) {
  // torch.can_cast: no float → integral, no non-bool → bool.
  if (is_floating_point(from) && is_integral(to, /*include_bool=*/true)) return false;
  if (from != kBool && to == kBool) return false;
  return true;
}

ScalarType default_dtype() { return kFloat32; }

}  // namespace hearth
