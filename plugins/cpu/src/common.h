// Shared internals of hearth-cpu: dtype dispatch, PyTorch-exact conversions, threading helpers.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <type_traits>

#include "hearth/dispatcher.h"
#include "threads.h"
#include "hearth/dtype.h"
#include "hearth/error.h"
#include "hearth/op_attrs.h"
#include "hearth/plugin.h"
#include "hearth/tensor.h"

#include "hearth/tensor_iter.h"

namespace hearth::cpu {

// ---- threading -----------------------------------------------------------------------------------
/// Below this many elements an elementwise kernel stays on the calling thread: starting an
/// OpenMP team costs microseconds, more than the whole op for small tensors.
constexpr int64_t kGrain = 32768;

/// Calls f(begin, end) on contiguous pieces of [0, n) across OpenMP threads (one piece per
/// thread, in order), or once inline when n < grain. An exception in any piece is rethrown
/// here (it must not escape an OpenMP region, which would terminate the process).
template <typename F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  int nt = 1;
  if (n >= grain && !omp_in_parallel()) {
    nt = max_threads();
    const int64_t pieces = grain > 0 ? n / grain : n;
    if (pieces < nt) nt = static_cast<int>(std::max<int64_t>(pieces, 1));
  }
  if (nt <= 1) {
    f(int64_t{0}, n);
    return;
  }
  std::exception_ptr err;
  std::atomic<bool> failed{false};
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t b = n * t / T, e = n * (t + 1) / T;
    if (b < e && !failed.load(std::memory_order_relaxed)) {
      try {
        f(b, e);
      } catch (...) {
#pragma omp critical(hearth_cpu_parallel_error)
        if (!err) err = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
  }
  if (err) std::rethrow_exception(err);
}

// ---- tensors -------------------------------------------------------------------------------------
/// The impl of a kernel operand in strided form. Kernels read geometry straight from TensorImpl
/// (inline accessors) instead of the Tensor wrappers, which re-check and wrap dims per call.
inline TensorImpl* strided_impl(const Tensor& t) {
  TensorImpl* p = t.unsafeGetTensorImpl();
  if (p->opaque_layout()) [[unlikely]]
    p->ensure_strided();
  return p;
}

template <typename T>
inline T* data_as(TensorImpl* t) {
  return static_cast<T*>(t->data());
}

// ---- element types -------------------------------------------------------------------------------
template <typename T>
constexpr bool is_reduced_float_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
template <typename T>
constexpr bool is_float_v = std::is_floating_point_v<T> || is_reduced_float_v<T>;
template <typename T>
constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

/// The type arithmetic happens in: float for the 16-bit floats (storage-only types).
template <typename T>
using opmath_t = std::conditional_t<is_reduced_float_v<T>, float, T>;

/// Conversion with PyTorch's (x86) semantics for every pair of the ten dtypes:
/// to bool: != 0 (NaN is true); from bool: 0/1; float -> integer truncates toward zero, and
/// out-of-range/NaN give what x86's cvtt* instructions give (PyTorch's static_cast does the
/// same): INT64_MIN for 64-bit targets, and for narrower targets the int32 result (INT32_MIN if
/// out of range) wrapped to the width; integer -> narrower integer wraps; Half/BFloat16 convert
/// through float with round-to-nearest-even. Written without UB so sanitizers stay quiet.
template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    if constexpr (is_reduced_float_v<From>)
      return static_cast<float>(v) != 0.0f;
    else
      return v != From(0);
  } else if constexpr (std::is_same_v<From, bool>) {
    if constexpr (is_reduced_float_v<To>)
      return To(v ? 1.0f : 0.0f);
    else
      return static_cast<To>(v ? 1 : 0);
  } else if constexpr (is_reduced_float_v<To>) {
    if constexpr (is_reduced_float_v<From>)
      return To(static_cast<float>(v));
    else
      return To(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<To>) {
    if constexpr (is_reduced_float_v<From>)
      return static_cast<To>(static_cast<float>(v));
    else
      return static_cast<To>(v);
  } else if constexpr (is_float_v<From>) {  // floating -> integer
    using F = std::conditional_t<std::is_same_v<From, double>, double, float>;
    const F x = static_cast<F>(v);
    if constexpr (sizeof(To) == 8) {
      if (!(x >= F(-9223372036854775808.0) && x < F(9223372036854775808.0)))
        return static_cast<To>(std::numeric_limits<int64_t>::min());
      return static_cast<To>(static_cast<int64_t>(x));
    } else {
      if (!(x >= F(-2147483648.0) && x < F(2147483648.0))) return static_cast<To>(std::numeric_limits<int32_t>::min());
      return static_cast<To>(static_cast<int32_t>(x));
    }
  } else {  // integer -> integer: modular, like a C++20 static_cast
    return static_cast<To>(v);
  }
}

/// A Scalar as element type T, with the same conversion rules as a tensor element of the
/// Scalar's kind (double, int64 or bool) cast to T.
template <typename T>
inline T scalar_to(const Scalar& s) {
  if (s.is_floating_point()) return convert<T>(s.to_double());
  if (s.is_bool()) return convert<T>(s.to_bool());
  return convert<T>(s.to_long());
}
/// A Scalar rounded to T (PyTorch casts a wrapped number to the compute dtype), in opmath.
template <typename T>
inline opmath_t<T> scalar_as(const Scalar& s) {
  return static_cast<opmath_t<T>>(scalar_to<T>(s));
}

// Wrapping integer arithmetic (PyTorch wraps on overflow; signed overflow would be UB here).
template <typename T>
inline T wrap_add(T a, T b) {
  if constexpr (is_int_v<T>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) + static_cast<std::make_unsigned_t<T>>(b));
  else
    return a + b;
}
template <typename T>
inline T wrap_sub(T a, T b) {
  if constexpr (is_int_v<T>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) - static_cast<std::make_unsigned_t<T>>(b));
  else
    return a - b;
}
template <typename T>
inline T wrap_mul(T a, T b) {
  if constexpr (is_int_v<T>) {
    // uint16 * uint16 promotes to (signed) int and can overflow: multiply in a wide unsigned type.
    using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
    return static_cast<T>(static_cast<U>(static_cast<std::make_unsigned_t<T>>(a)) *
                          static_cast<U>(static_cast<std::make_unsigned_t<T>>(b)));
  } else {
    return a * b;
  }
}
template <typename T>
inline T wrap_neg(T a) {
  if constexpr (is_int_v<T>)
    return static_cast<T>(std::make_unsigned_t<T>(0) - static_cast<std::make_unsigned_t<T>>(a));
  else
    return -a;
}

// ---- dtype dispatch ------------------------------------------------------------------------------
template <typename T>
struct TypeTag {
  using type = T;
};

/// Which dtypes a kernel accepts.
enum DTypeSet : unsigned {
  kFloats = 1u << 0,   ///< float32, float64, float16, bfloat16
  kInts = 1u << 1,     ///< int64, int32, int16, int8, uint8
  kBoolSet = 1u << 2,  ///< bool
  kNumeric = kFloats | kInts,
  kAllTypes = kFloats | kInts | kBoolSet,
};

[[noreturn]] void throw_dtype_unsupported(const char* op, ScalarType t);

/// Calls f(TypeTag<T>{}) for the C++ type T of `t` if `t` is in `Set`; otherwise throws
/// DTypeError naming the op and the dtype. One switch per kernel call, outside all loops.
template <unsigned Set, typename F>
inline void dispatch(ScalarType t, const char* op, F&& f) {
  switch (t) {
#define HEARTH_CPU_CASE_(ST, T, KIND)    \
  case ScalarType::ST:                   \
    if constexpr ((Set & (KIND)) != 0) { \
      f(TypeTag<T>{});                   \
      return;                            \
    }                                    \
    break;
    HEARTH_CPU_CASE_(Float32, float, kFloats)
    HEARTH_CPU_CASE_(Float64, double, kFloats)
    HEARTH_CPU_CASE_(Float16, Half, kFloats)
    HEARTH_CPU_CASE_(BFloat16, BFloat16, kFloats)
    HEARTH_CPU_CASE_(Int64, int64_t, kInts)
    HEARTH_CPU_CASE_(Int32, int32_t, kInts)
    HEARTH_CPU_CASE_(Int16, int16_t, kInts)
    HEARTH_CPU_CASE_(Int8, int8_t, kInts)
    HEARTH_CPU_CASE_(UInt8, uint8_t, kInts)
    HEARTH_CPU_CASE_(Bool, bool, kBoolSet)
#undef HEARTH_CPU_CASE_
    default:
      break;
  }
  throw_dtype_unsupported(op, t);
}

/// Dispatch macros: the body sees `scalar_t`.
///   HEARTH_CPU_DISPATCH(kNumeric, dtype, "add", { loop<scalar_t>(...); });
#define HEARTH_CPU_DISPATCH(SET, DTYPE, OPNAME, ...)                            \
  ::hearth::cpu::dispatch<(SET)>((DTYPE), (OPNAME), [&](auto hearth_cpu_tag_) { \
    using scalar_t = typename decltype(hearth_cpu_tag_)::type;                  \
    __VA_ARGS__                                                                 \
  })
#define HEARTH_CPU_DISPATCH_ALL(DTYPE, OPNAME, ...) \
  HEARTH_CPU_DISPATCH(::hearth::cpu::kAllTypes, DTYPE, OPNAME, __VA_ARGS__)
#define HEARTH_CPU_DISPATCH_NUMERIC(DTYPE, OPNAME, ...) \
  HEARTH_CPU_DISPATCH(::hearth::cpu::kNumeric, DTYPE, OPNAME, __VA_ARGS__)
#define HEARTH_CPU_DISPATCH_FLOATING(DTYPE, OPNAME, ...) \
  HEARTH_CPU_DISPATCH(::hearth::cpu::kFloats, DTYPE, OPNAME, __VA_ARGS__)

/// Unsigned carrier of an element size, for kernels that only move bytes (copy, where, index).
template <size_t N>
struct Carrier;
template <>
struct Carrier<1> {
  using type = uint8_t;
};
template <>
struct Carrier<2> {
  using type = uint16_t;
};
template <>
struct Carrier<4> {
  using type = uint32_t;
};
template <>
struct Carrier<8> {
  using type = uint64_t;
};

template <typename F>
inline void dispatch_by_size(size_t es, F&& f) {
  switch (es) {
    case 1:
      f(TypeTag<uint8_t>{});
      return;
    case 2:
      f(TypeTag<uint16_t>{});
      return;
    case 4:
      f(TypeTag<uint32_t>{});
      return;
    default:
      f(TypeTag<uint64_t>{});
      return;
  }
}

// ---- multi-dim index walking ---------------------------------------------------------------------
/// Walks the row-major multi-index of `sizes` (up to kMaxDims), keeping up to 3 offsets (in
/// elements or bytes, per the strides given) in step; for kernels whose operands do not share
/// one shape (reductions, gather/scatter, nonzero).
struct NdCounter {
  static constexpr int kMaxDims = 16;
  int nd = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[3][kMaxDims] = {};
  int64_t idx[kMaxDims] = {};
  int64_t off[3] = {};

  /// Positions the counter at row-major linear index `linear`.
  void seek(int64_t linear) {
    off[0] = off[1] = off[2] = 0;
    for (int d = nd - 1; d >= 0; --d) {
      idx[d] = sizes[d] ? linear % sizes[d] : 0;
      linear = sizes[d] ? linear / sizes[d] : 0;
      for (int k = 0; k < 3; ++k) off[k] += idx[d] * strides[k][d];
    }
  }
  /// Moves to the next row-major index.
  void next() {
    for (int d = nd - 1; d >= 0; --d) {
      if (++idx[d] < sizes[d]) {
        for (int k = 0; k < 3; ++k) off[k] += strides[k][d];
        return;
      }
      for (int k = 0; k < 3; ++k) off[k] -= (sizes[d] - 1) * strides[k][d];
      idx[d] = 0;
    }
  }
};

// ---- internal entry points shared between files --------------------------------------------------
/// dst = cast(src), src broadcast to dst's shape; dst may be strided. (copy.cpp)
void copy_into(const Tensor& dst, const Tensor& src);

// Kernel registration, one function per source file (plugin.cpp calls them all).
void register_copy(PluginRegistrar& r);
void register_fill_range_random(PluginRegistrar& r);
void register_unary(PluginRegistrar& r);
void register_binary(PluginRegistrar& r);
void register_reduce(PluginRegistrar& r);
void register_gemm(PluginRegistrar& r);
void register_index(PluginRegistrar& r);
void register_conv(PluginRegistrar& r);  // conv.cpp: oneDNN convolutions
void register_pool(PluginRegistrar& r);  // pool.cpp: max / avg / adaptive pooling
void register_softmax(PluginRegistrar& r);  // softmax.cpp: softmax / log_softmax
void register_norm(PluginRegistrar& r);     // norm.cpp: batch_norm, layer_norm
void register_loss(PluginRegistrar& r);     // loss.cpp: nll_loss

}  // namespace hearth::cpu
