// 16-bit float storage types (IEEE half and bfloat16) with round-to-nearest-even conversions.
#pragma once

#include <cstdint>
#include <cstring>

namespace hearth {

namespace detail {
inline float bits_to_float(uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; }
}  // namespace detail

/// IEEE 754 binary16. Arithmetic happens in float; this is a storage type.
struct Half {
  uint16_t x = 0;
  Half() = default;
  Half(float f) : x(from_float(f)) {}  // NOLINT: implicit like c10::Half
  operator float() const { return to_float(x); }

  static uint16_t from_float(float f) {
    // Round-to-nearest-even, with overflow to inf and NaN kept quiet.
    uint32_t b = detail::float_to_bits(f);
    uint32_t sign = (b >> 16) & 0x8000u;
    uint32_t abs = b & 0x7fffffffu;
    if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
    if (abs < 0x38800000u) {                                                // subnormal half
      // Scale into the subnormal range with float arithmetic, which rounds to nearest even.
      float v = detail::bits_to_float(abs) + 0.5f;
      return static_cast<uint16_t>(sign | (detail::float_to_bits(v) - 0x3f000000u));
    }
    uint32_t mant_odd = (abs >> 13) & 1u;
    abs += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
    return static_cast<uint16_t>(sign | (abs >> 13));
  }
  static float to_float(uint16_t h) {
    uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return detail::bits_to_float(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
      float v = static_cast<float>(mant) * (1.0f / 16777216.0f);  // mant * 2^-24
      return sign ? -v : v;
    }
    return detail::bits_to_float(sign | ((exp + 112u) << 23) | (mant << 13));
  }
};

/// bfloat16: the top half of a float32. Round-to-nearest-even on conversion.
struct BFloat16 {
  uint16_t x = 0;
  BFloat16() = default;
  BFloat16(float f) : x(from_float(f)) {}  // NOLINT
  operator float() const { return detail::bits_to_float(static_cast<uint32_t>(x) << 16); }

  static uint16_t from_float(float f) {
    uint32_t b = detail::float_to_bits(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x40u);  // quiet NaN
    b += 0x7fffu + ((b >> 16) & 1u);
    return static_cast<uint16_t>(b >> 16);
  }
};

}  // namespace hearth
