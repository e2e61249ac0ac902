// fill_, range_fill_ (arange, linspace) and the counter-based random fills (uniform_, normal_,
// randint_, randperm_).
#include "common.h"

#include <numeric>
#include <vector>

#include "hearth/generator.h"

namespace hearth::cpu {
namespace {

/// out[i] = f(i) for the row-major element index i; out may be strided. f must be pure in i, so
/// the split across threads cannot change the result.
template <typename T, typename F>
void fill_indexed(const Tensor& out, int64_t grain, const F& f) {
  TensorImpl* o = strided_impl(out);
  const int64_t n = o->numel();
  if (n == 0) return;
  if (o->is_contiguous()) {
    T* p = data_as<T>(o);
    parallel_for(n, grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = f(i);
    });
    return;
  }
  const Tensor* ops[1] = {&out};
  StridedIter<1> it(ops, 1);
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    int64_t i = b;
    it.for_range(b, e, [&](char** p, const int64_t* st, int64_t m) {
      for (int64_t k = 0; k < m; ++k, ++i) *reinterpret_cast<T*>(p[0] + k * st[0]) = f(i);
    });
  });
}

template <typename T>
void fill_value(const Tensor& out, T v) {
  TensorImpl* o = strided_impl(out);
  const int64_t n = o->numel();
  if (n == 0) return;
  if (o->is_contiguous()) {
    T* p = data_as<T>(o);
    parallel_for(n, 4 * kGrain, [&](int64_t b, int64_t e) { std::fill(p + b, p + e, v); });
    return;
  }
  const Tensor* ops[1] = {&out};
  StridedIter<1> it(ops, 1);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    it.for_range(b, e, [&](char** p, const int64_t* st, int64_t m) {
      if (st[0] == static_cast<int64_t>(sizeof(T))) {
        std::fill(reinterpret_cast<T*>(p[0]), reinterpret_cast<T*>(p[0]) + m, v);
      } else {
        for (int64_t k = 0; k < m; ++k) *reinterpret_cast<T*>(p[0] + k * st[0]) = v;
      }
    });
  });
}

void fill_kernel(const KernelArgs& args) {
  const auto& a = *static_cast<const attrs::Fill*>(args.attrs);
  const Tensor& out = args.outputs[0];
  // Fill by bit pattern: one instantiation per element size.
  HEARTH_CPU_DISPATCH_ALL(out.dtype(), "fill_", {
    const scalar_t v = scalar_to<scalar_t>(a.value);
    dispatch_by_size(sizeof(scalar_t), [&](auto ct) {
      using C = typename decltype(ct)::type;
      C bits;
      std::memcpy(&bits, &v, sizeof(C));
      fill_value<C>(out, bits);
    });
  });
}

// ---- arange / linspace ---------------------------------------------------------------------------
// PyTorch 1.13 (the golden-value oracle, an AVX2 build) computes both in a vectorised loop: each
// block of 2x8 float / 2x4 double / 32 bytes of integers starts from a base computed with a fused
// multiply-add, and the lanes add j*step to the base; leftover elements use the scalar (fused)
// formula. We reproduce that element by element so that results match it bit for bit.
template <typename T>
constexpr int64_t torch_vec_lanes() {
  return 32 / static_cast<int64_t>(sizeof(T));
}

template <typename T>
void arange_fill(const Tensor& out, const attrs::Range& r) {
  if constexpr (is_int_v<T>) {
    // Integer outputs: start and step truncated to int64 (PyTorch's accscalar is int64).
    const int64_t start = convert<int64_t>(r.start), step = convert<int64_t>(r.step);
    fill_indexed<T>(out, kGrain,
                    [=](int64_t i) { return static_cast<T>(wrap_add<int64_t>(start, wrap_mul<int64_t>(step, i))); });
  } else if constexpr (std::is_same_v<T, bool>) {
    fill_indexed<T>(out, kGrain, [=](int64_t i) { return r.start + r.step * static_cast<double>(i) != 0.0; });
  } else if constexpr (is_reduced_float_v<T>) {
    const float start = static_cast<float>(r.start), step = static_cast<float>(r.step);
    fill_indexed<T>(out, kGrain, [=](int64_t i) { return T(std::fma(step, static_cast<float>(i), start)); });
  } else {
    // float32 / float64: accumulate in double, like PyTorch's acc_type.
    const double start = r.start, step = r.step;
    constexpr int64_t V = torch_vec_lanes<T>();
    const int64_t total = strided_impl(out)->numel();
    const int64_t vec_end = total / (2 * V) * (2 * V);
    fill_indexed<T>(out, kGrain, [=](int64_t i) {
      if (i < vec_end) {
        const int64_t j = i % V;
        const T base = static_cast<T>(std::fma(step, static_cast<double>(i - j), start));
        return static_cast<T>(static_cast<double>(base) + static_cast<double>(j) * step);
      }
      return static_cast<T>(std::fma(step, static_cast<double>(i), start));
    });
  }
}

template <typename T>
void linspace_fill(const Tensor& out, const attrs::Range& r) {
  const int64_t steps = strided_impl(out)->numel();
  if (steps == 0) return;
  const int64_t halfway = steps / 2;
  if (steps == 1) {  // PyTorch fills start
    fill_indexed<T>(out, 1, [=](int64_t) { return convert<T>(r.start); });
    return;
  }
  if constexpr (is_reduced_float_v<T>) {
    // c10's Half/BFloat16 operators round to the 16-bit type after every operation; blocks of
    // 2x16 lanes start from the scalar formula, lanes add j*step.
    auto r16 = [](float x) { return static_cast<float>(T(x)); };
    const float start = r16(static_cast<float>(r.start)), end = r16(static_cast<float>(r.end));
    const float step = r16((end - start) / static_cast<float>(steps - 1));
    auto scalar_at = [=](int64_t i) {
      return i < halfway ? r16(start + r16(step * r16(static_cast<float>(i))))
                         : r16(end - r16(step * r16(static_cast<float>(steps - i - 1))));
    };
    constexpr int64_t V = torch_vec_lanes<T>();
    const int64_t vec_end = steps / (2 * V) * (2 * V);
    fill_indexed<T>(out, kGrain, [=](int64_t i) {
      if (i < vec_end) {
        const int64_t j = i % V;
        return T(scalar_at(i - j) + r16(static_cast<float>(j) * step));
      }
      return T(scalar_at(i));
    });
  } else if constexpr (std::is_same_v<T, bool>) {
    const double step = steps > 1 ? (r.end - r.start) / static_cast<double>(steps - 1) : 0.0;
    fill_indexed<T>(out, kGrain, [=](int64_t i) {
      return (i < halfway ? r.start + step * i : r.end - step * (steps - i - 1)) != 0.0;
    });
  } else {
    // S: PyTorch's step type (double for integers, the element type for floats).
    using S = std::conditional_t<is_int_v<T>, double, T>;
    const T start = convert<T>(r.start), end = convert<T>(r.end);
    const S step = steps > 1 ? (static_cast<S>(end) - static_cast<S>(start)) / static_cast<S>(steps - 1) : S(0);
    constexpr int64_t V = torch_vec_lanes<T>();
    const int64_t vec_end = steps / (2 * V) * (2 * V);
    auto scalar_at = [=](int64_t i) -> S {
      return i < halfway ? std::fma(step, static_cast<S>(i), static_cast<S>(start))
                         : std::fma(-step, static_cast<S>(steps - i - 1), static_cast<S>(end));
    };
    fill_indexed<T>(out, kGrain, [=](int64_t i) -> T {
      if (i < vec_end) {
        const int64_t j = i % V;
        const T base = convert<T>(scalar_at(i - j));
        return convert<T>(static_cast<S>(static_cast<S>(base) + static_cast<S>(j) * step));
      }
      return convert<T>(scalar_at(i));
    });
  }
}

void range_fill_kernel(const KernelArgs& args) {
  const auto& r = *static_cast<const attrs::Range*>(args.attrs);
  const Tensor& out = args.outputs[0];
  HEARTH_CPU_DISPATCH_ALL(out.dtype(), r.is_linspace ? "linspace" : "arange", {
    if (r.is_linspace)
      linspace_fill<scalar_t>(out, r);
    else
      arange_fill<scalar_t>(out, r);
  });
}

// ---- random --------------------------------------------------------------------------------------
/// philox::word with the last 4-word block cached: consecutive words share one Philox call.
struct WordStream {
  uint64_t seed, offset;
  uint64_t block = ~uint64_t{0};
  uint32_t r[4] = {};
  uint32_t operator()(uint64_t i) {
    const uint64_t c = offset + i;
    if ((c >> 2) != block) {
      block = c >> 2;
      philox::philox4x32(seed, block, r);
    }
    return r[c & 3];
  }
};

// Random fills are compute-bound (10 Philox rounds per 4 words): split them early.
constexpr int64_t kRandomGrain = 4096;

/// Per-thread word streams for fill_indexed: f(words, i) with words(k) the stream's k-th word.
template <typename T, typename F>
void random_fill(const Tensor& out, const attrs::Random& a, const F& f) {
  TensorImpl* o = strided_impl(out);
  const int64_t n = o->numel();
  if (n == 0) return;
  parallel_for(n, kRandomGrain, [&](int64_t b, int64_t e) {
    WordStream ws{a.seed, a.offset};
    if (o->is_contiguous()) {
      T* p = data_as<T>(o) + b;
      for (int64_t i = b; i < e; ++i) *p++ = f(ws, i);
      return;
    }
    const Tensor* ops[1] = {&out};
    StridedIter<1> it(ops, 1);
    int64_t i = b;
    it.for_range(b, e, [&](char** p, const int64_t* st, int64_t m) {
      for (int64_t k = 0; k < m; ++k, ++i) *reinterpret_cast<T*>(p[0] + k * st[0]) = f(ws, i);
    });
  });
}

void uniform_kernel(const KernelArgs& args) {
  const auto& a = *static_cast<const attrs::Random*>(args.attrs);
  const Tensor& out = args.outputs[0];
  HEARTH_CPU_DISPATCH_FLOATING(out.dtype(), "uniform_", {
    if constexpr (std::is_same_v<scalar_t, double>) {
      // 53 random bits from words 2i and 2i+1.
      const double lo = a.a, width = a.b - a.a;
      random_fill<double>(out, a, [=](WordStream& w, int64_t i) {
        const uint32_t hi = w(2 * static_cast<uint64_t>(i));
        return lo + width * philox::uniform01d(hi, w(2 * static_cast<uint64_t>(i) + 1));
      });
    } else if constexpr (std::is_same_v<scalar_t, float>) {
      const float lo = static_cast<float>(a.a), width = static_cast<float>(a.b - a.a);
      random_fill<float>(out, a, [=](WordStream& w, int64_t i) {
        return lo + width * philox::uniform01f(w(static_cast<uint64_t>(i)));
      });
    } else {
      // Half / BFloat16: only as many random bits as the type has digits (11 / 8), as PyTorch
      // does, so that u < 1 stays below 1 after rounding to the 16-bit type.
      constexpr int kDigits = std::is_same_v<scalar_t, Half> ? 11 : 8;
      const float lo = static_cast<float>(a.a), width = static_cast<float>(a.b - a.a);
      random_fill<scalar_t>(out, a, [=](WordStream& w, int64_t i) {
        const float u = static_cast<float>(w(static_cast<uint64_t>(i)) >> (32 - kDigits)) * (1.0f / (1 << kDigits));
        return scalar_t(lo + width * u);
      });
    }
  });
}

void normal_kernel(const KernelArgs& args) {
  const auto& a = *static_cast<const attrs::Random*>(args.attrs);
  const Tensor& out = args.outputs[0];
  // Box-Muller on words (2i, 2i+1), in double for every dtype; one output per pair (the sine
  // half is dropped so that element i depends on i alone). 1-u keeps log's argument in (0, 1].
  const double mean = a.a, stdv = a.b;
  HEARTH_CPU_DISPATCH_FLOATING(out.dtype(), "normal_", {
    random_fill<scalar_t>(out, a, [=](WordStream& w, int64_t i) {
      const uint64_t k = 2 * static_cast<uint64_t>(i);
      const double u1 = static_cast<double>(w(k)) * (1.0 / 4294967296.0);
      const double u2 = static_cast<double>(w(k + 1)) * (1.0 / 4294967296.0);
      const double z = std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
      return convert<scalar_t>(mean + stdv * z);
    });
  });
}

/// 64 random bits from words 2k and 2k+1.
inline uint64_t word64(WordStream& w, uint64_t k) {
  const uint64_t hi = w(2 * k);
  return (hi << 32) | w(2 * k + 1);
}

void randint_kernel(const KernelArgs& args) {
  const auto& a = *static_cast<const attrs::Random*>(args.attrs);
  const Tensor& out = args.outputs[0];
  const int64_t lo = static_cast<int64_t>(a.a), hi = static_cast<int64_t>(a.b);
  HEARTH_CHECK(lo < hi, ValueError, "expected low < high, got [", lo, ", ", hi, ")");
  const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  // 64 bits modulo the range: the bias is at most range / 2^64 (below 2^-32 for ranges under 2^32),
  // far under anything a test can see, and it keeps element i a function of i alone.
  HEARTH_CPU_DISPATCH_ALL(out.dtype(), "randint_", {
    random_fill<scalar_t>(out, a, [=](WordStream& w, int64_t i) {
      const uint64_t v = word64(w, static_cast<uint64_t>(i)) % range;
      return convert<scalar_t>(static_cast<int64_t>(static_cast<uint64_t>(lo) + v));
    });
  });
}

void randperm_kernel(const KernelArgs& args) {
  const auto& a = *static_cast<const attrs::Random*>(args.attrs);
  const Tensor& out = args.outputs[0];
  TensorImpl* o = strided_impl(out);
  const int64_t n = o->numel();
  HEARTH_CHECK(o->dim() == 1, ShapeError, "expected a 1-D output, got ", o->dim(), " dims");
  HEARTH_CHECK(static_cast<double>(n) == a.b, ValueError, "output has ", n, " elements but n = ", a.b);
  // Fisher-Yates from the top: step k (swap slot n-1-k with a slot in [0, n-1-k]) uses the 64
  // bits of words 2k, 2k+1. Sequential by nature; the result depends only on (seed, offset, n).
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  WordStream ws{a.seed, a.offset};
  for (int64_t i = n - 1, k = 0; i > 0; --i, ++k) {
    const int64_t j = static_cast<int64_t>(word64(ws, static_cast<uint64_t>(k)) % static_cast<uint64_t>(i + 1));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  HEARTH_CPU_DISPATCH_NUMERIC(o->dtype(), "randperm_", {
    if constexpr (!std::is_same_v<scalar_t, int64_t>) {
      // Values must be exact in the output dtype (PyTorch: "n must be <= 2^mantissa+1" etc.).
      HEARTH_CHECK(n == 0 || static_cast<int64_t>(convert<double>(convert<scalar_t>(n - 1))) == n - 1, ValueError,
                   "n = ", n, " is too large for dtype ", o->dtype());
    }
    scalar_t* p = data_as<scalar_t>(o);
    const int64_t st = o->stride(0);
    for (int64_t i = 0; i < n; ++i) p[i * st] = convert<scalar_t>(perm[static_cast<size_t>(i)]);
  });
}

}  // namespace

void register_fill_range_random(PluginRegistrar& r) {
  r.kernel("fill_", "cpu", fill_kernel);
  r.kernel("range_fill_", "cpu", range_fill_kernel);
  r.kernel("uniform_", "cpu", uniform_kernel);
  r.kernel("normal_", "cpu", normal_kernel);
  r.kernel("randint_", "cpu", randint_kernel);
  r.kernel("randperm_", "cpu", randperm_kernel);
}

}  // namespace hearth::cpu
