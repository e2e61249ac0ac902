// Tests for hearth::cpu::gemm (plugins/cpu/src/gemm.cpp) against a naive double-precision loop.
#include "../plugins/cpu/src/gemm.h"
#include "../plugins/cpu/src/isa.h"
#include "hearth/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <vector>

using namespace hearth::cpu;

namespace {

uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float from_bf16(uint16_t v) {
  uint32_t u = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// A typed buffer seen through doubles, so one test body covers f32, f64, bf16 and f16.
struct Buf {
  int dtype;
  std::vector<unsigned char> bytes;
  Buf(int dt, int64_t n) : dtype(dt), bytes(std::size_t(std::max<int64_t>(n, 1)) * esize(dt)) {}
  static std::size_t esize(int dt) { return dt == kGemmF64 ? 8 : dt == kGemmF32 ? 4 : 2; }
  void* data() { return bytes.data(); }
  double get(int64_t i) const {
    if (dtype == kGemmF64) return reinterpret_cast<const double*>(bytes.data())[i];
    if (dtype == kGemmF32) return reinterpret_cast<const float*>(bytes.data())[i];
    if (dtype == kGemmF16) return hearth::Half::to_float(reinterpret_cast<const uint16_t*>(bytes.data())[i]);
    return from_bf16(reinterpret_cast<const uint16_t*>(bytes.data())[i]);
  }
  void set(int64_t i, double v) {
    if (dtype == kGemmF64) reinterpret_cast<double*>(bytes.data())[i] = v;
    else if (dtype == kGemmF32) reinterpret_cast<float*>(bytes.data())[i] = float(v);
    else if (dtype == kGemmF16) reinterpret_cast<uint16_t*>(bytes.data())[i] = hearth::Half::from_float(float(v));
    else reinterpret_cast<uint16_t*>(bytes.data())[i] = to_bf16(float(v));
  }
  int64_t size() const { return int64_t(bytes.size() / esize(dtype)); }
};

// How each operand is laid out in memory.
struct Layout {
  bool transA = false, transB = false;  // operand stored transposed (strides swapped)
  bool bcastA = false, bcastB = false;  // batch stride 0
  bool colC = false;                    // C stored column-major
  int64_t padA = 0;                     // extra elements per leading dimension of A
  int64_t a_inner = 1;                  // inner stride of A (> 1: not expressible for BLAS)
  bool c_shared = false;                // c_bs = 0: all batches accumulate into one C
  bool bias = false;
};

struct Case {
  int64_t batch, M, K, N;
  int dtype;
  float alpha, beta;
  Layout L;
  Case(int64_t batch_, int64_t M_, int64_t K_, int64_t N_, int dtype_, float alpha_ = 1.f, float beta_ = 0.f)
      : batch(batch_), M(M_), K(K_), N(N_), dtype(dtype_), alpha(alpha_), beta(beta_) {}
};

// bf16 and f16: the result's own rounding (8 and 11 significant bits) plus the f32 sum's.
double tolerance(int dtype) {
  return dtype == kGemmF64 ? 1e-12 : dtype == kGemmF32 ? 2e-5 : dtype == kGemmF16 ? 2e-3 : 1.5e-2;
}

// Builds operands for the case, runs gemm, and checks every element of every C against the naive
// product. The error bound scales with sum_k |a b| so cancellation does not make it flaky.
void check(const Case& c, uint32_t seed = 1) {
  const auto& L = c.L;
  const int64_t nA = L.bcastA ? 1 : c.batch, nB = L.bcastB ? 1 : c.batch, nC = L.c_shared ? 1 : c.batch;
  GemmArgs g;
  g.batch = c.batch;
  g.M = c.M;
  g.N = c.N;
  g.K = c.K;
  g.alpha = c.alpha;
  g.beta = c.beta;
  g.dtype = c.dtype;
  // A: M x K per batch; stored either M rows of length (K*inner + pad) or K rows of length M + pad.
  int64_t a_rows = L.transA ? c.K : c.M, a_cols = L.transA ? c.M : c.K;
  int64_t a_ld = a_cols * L.a_inner + L.padA;
  int64_t a_bs = a_rows * a_ld;
  Buf A(c.dtype, nA * a_bs);
  g.a_bs = L.bcastA ? 0 : a_bs;
  g.a_rs = L.transA ? L.a_inner : a_ld;
  g.a_cs = L.transA ? a_ld : L.a_inner;
  int64_t b_bs = c.K * c.N;
  Buf B(c.dtype, nB * b_bs);
  g.b_bs = L.bcastB ? 0 : b_bs;
  g.b_rs = L.transB ? 1 : c.N;
  g.b_cs = L.transB ? c.K : 1;
  Buf C(c.dtype, nC * c.M * c.N);
  g.c_bs = L.c_shared ? 0 : c.M * c.N;
  g.c_rs = L.colC ? 1 : c.N;
  g.c_cs = L.colC ? c.M : 1;
  Buf bias(c.dtype, c.N);

  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> U(-1, 1);
  for (int64_t i = 0; i < A.size(); ++i) A.set(i, U(rng));
  for (int64_t i = 0; i < B.size(); ++i) B.set(i, U(rng));
  for (int64_t i = 0; i < bias.size(); ++i) bias.set(i, U(rng));
  // With beta = 0 the old C must not be read: fill it with NaN to prove that.
  for (int64_t i = 0; i < C.size(); ++i)
    C.set(i, c.beta == 0.f ? std::numeric_limits<double>::quiet_NaN() : U(rng));
  const Buf C0 = C;
  g.A = A.data();
  g.B = B.data();
  g.C = C.data();
  g.bias = L.bias ? bias.data() : nullptr;

  ASSERT_NO_THROW(gemm(g)) << gemm_impl(g);

  auto a_at = [&](int64_t b, int64_t i, int64_t k) { return A.get(b * g.a_bs + i * g.a_rs + k * g.a_cs); };
  auto b_at = [&](int64_t b, int64_t k, int64_t j) { return B.get(b * g.b_bs + k * g.b_rs + j * g.b_cs); };
  // Reference, applied batch by batch (which is also the defined meaning of c_bs = 0).
  std::vector<double> ref(std::size_t(nC * c.M * c.N)), scale(ref.size(), 0.0);
  for (int64_t ci = 0; ci < int64_t(ref.size()); ++ci) ref[ci] = C0.get(ci);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        double s = 0, sa = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          s += a_at(b, i, k) * b_at(b, k, j);
          sa += std::fabs(a_at(b, i, k) * b_at(b, k, j));
        }
        const int64_t ci = (L.c_shared ? 0 : b * c.M * c.N) + i * g.c_rs + j * g.c_cs;
        double v = c.alpha * s + (L.bias ? bias.get(j) : 0.0);
        double old = ref[ci];
        ref[ci] = c.beta == 0.f ? v : v + c.beta * old;
        scale[ci] = std::fabs(c.alpha) * sa + (L.bias ? std::fabs(bias.get(j)) : 0) +
                    (c.beta == 0.f ? 0 : std::fabs(c.beta * old)) + std::fabs(c.beta) * scale[ci];
      }
  const double tol = tolerance(c.dtype);
  int bad = 0;
  for (int64_t ci = 0; ci < int64_t(ref.size()) && bad < 5; ++ci) {
    const double got = C.get(ci);
    const double err = std::fabs(got - ref[ci]);
    if (!(err <= tol * std::max(1.0, scale[ci]))) {
      ++bad;
      ADD_FAILURE() << "element " << ci << ": got " << got << " want " << ref[ci] << " (impl " << gemm_impl(g)
                    << ")";
    }
  }
}

struct Shape {
  int64_t M, K, N;
};
const Shape kShapes[] = {{1, 1, 1}, {3, 7, 5}, {64, 784, 256}, {127, 65, 129}};

}  // namespace

// ---- shapes x transposes x dtypes ----------------------------------------------------------------
class GemmShapes : public ::testing::TestWithParam<std::tuple<Shape, int, int>> {};

std::string shape_name(const ::testing::TestParamInfo<std::tuple<Shape, int, int>>& info) {
  const Shape s = std::get<0>(info.param);
  const int t = std::get<1>(info.param), d = std::get<2>(info.param);
  return std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N) + (t & 1 ? "_At" : "_A") +
         (t & 2 ? "Bt" : "B") + (d == kGemmF32 ? "_f32" : "_f64");
}

TEST_P(GemmShapes, MatchesNaive) {
  auto [s, trans, dtype] = GetParam();
  Case c{1, s.M, s.K, s.N, dtype};
  c.L.transA = trans & 1;
  c.L.transB = trans & 2;
  check(c);
}

INSTANTIATE_TEST_SUITE_P(All, GemmShapes,
                         ::testing::Combine(::testing::ValuesIn(kShapes), ::testing::Values(0, 1, 2, 3),
                                            ::testing::Values(int(kGemmF32), int(kGemmF64))),
                         shape_name);

// ---- batches, broadcasting -----------------------------------------------------------------------
class GemmDtypes : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(All, GemmDtypes, ::testing::Values(int(kGemmF32), int(kGemmF64)),
                         [](const auto& info) { return info.param == kGemmF32 ? "f32" : "f64"; });

TEST_P(GemmDtypes, Batched) {
  for (int t = 0; t < 4; ++t) {
    Case c{6, 17, 33, 23, GetParam()};
    c.L.transA = t & 1;
    c.L.transB = t & 2;
    check(c);
  }
}

TEST_P(GemmDtypes, BatchBroadcast) {
  for (int bc = 1; bc < 4; ++bc)
    for (int t = 0; t < 4; ++t) {
      Case c{5, 19, 31, 12, GetParam()};
      c.L.bcastA = bc & 1;
      c.L.bcastB = bc & 2;
      c.L.transA = t & 1;
      c.L.transB = t & 2;
      SCOPED_TRACE("bcast " + std::to_string(bc) + " trans " + std::to_string(t));
      check(c);
    }
}

// ---- alpha, beta, bias ---------------------------------------------------------------------------
TEST_P(GemmDtypes, BetaOneAccumulates) {
  for (auto s : kShapes) {
    Case c{1, s.M, s.K, s.N, GetParam(), 1.f, 1.f};
    check(c);
  }
  Case b{4, 9, 20, 11, GetParam(), 1.f, 1.f};
  b.L.transB = true;
  check(b);
}

TEST_P(GemmDtypes, GeneralAlphaBeta) {
  Case c{3, 30, 40, 50, GetParam(), 0.5f, -0.75f};
  c.L.transA = true;
  check(c);
  Case d{1, 64, 784, 256, GetParam(), 2.f, 0.f};
  check(d);
}

TEST_P(GemmDtypes, Bias) {
  for (float alpha : {1.f, 0.25f})
    for (float beta : {0.f, 1.f}) {
      Case c{1, 64, 784, 256, GetParam(), alpha, beta};
      c.L.bias = true;
      c.L.transB = true;  // linear: x @ W^T + b
      SCOPED_TRACE("alpha " + std::to_string(alpha) + " beta " + std::to_string(beta));
      check(c);
      Case b{3, 7, 9, 5, GetParam(), alpha, beta};
      b.L.bias = true;
      b.L.bcastB = true;
      check(b);
    }
}

// ---- layouts oneDNN cannot take directly ---------------------------------------------------------
TEST_P(GemmDtypes, OddStrides) {
  {
    Case c{1, 40, 50, 30, GetParam()};
    c.L.padA = 7;  // lda > K
    check(c);
  }
  {
    Case c{1, 40, 50, 30, GetParam()};
    c.L.a_inner = 3;  // no unit stride in A
    check(c);
  }
  for (bool bias : {false, true}) {
    Case c{2, 40, 50, 30, GetParam(), 1.f, 1.f};
    c.L.colC = true;  // column-major C (with bias: packed C path)
    c.L.bias = bias;
    check(c);
  }
  {
    Case c{1, 1, 50, 30, GetParam()};
    c.L.colC = true;  // a single row whose elements are M apart
    check(c);
  }
}

TEST_P(GemmDtypes, SharedCSumsBatches) {
  Case c{4, 13, 21, 8, GetParam(), 1.f, 1.f};
  c.L.c_shared = true;
  check(c);
}

TEST_P(GemmDtypes, KZero) {
  Case c{2, 3, 0, 4, GetParam(), 1.f, 0.5f};
  c.L.bias = true;
  check(c);
}

TEST(Gemm, BF16) {
  for (int t = 0; t < 4; ++t) {
    Case c{2, 33, 70, 45, kGemmBF16, 1.f, 1.f};
    c.L.transA = t & 1;
    c.L.transB = t & 2;
    c.L.bias = t == 3;
    check(c);
  }
  Case c{1, 20, 30, 10, kGemmBF16, 0.5f, 0.f};
  c.L.colC = true;
  c.L.bias = true;
  check(c);
}

// Issue 14: 16-bit GEMM works on every ISA, natively where oneDNN has a primitive and through f32
// elsewhere, for every layout the f32 path takes (the suite runs again under HEARTH_CPU_ISA=avx2).
TEST(Gemm, SixteenBitEveryLayoutOnEveryIsa) {
  for (int dt : {kGemmBF16, kGemmF16}) {
    SCOPED_TRACE(dt == kGemmBF16 ? "bf16" : "f16");
    for (int t = 0; t < 8; ++t) {
      Case c{3, 17, 40, 23, dt, t & 4 ? 0.5f : 1.f, t & 1 ? 1.f : 0.f};
      c.L.transA = t & 1;
      c.L.transB = t & 2;
      c.L.bias = t & 4;
      c.L.bcastB = t == 5;
      check(c);
    }
    Case strided{2, 9, 13, 11, dt, 1.f, 0.5f};
    strided.L.a_inner = 2;
    strided.L.padA = 3;
    strided.L.colC = true;
    check(strided);
    Case shared{4, 5, 6, 7, dt, 1.f, 1.f};
    shared.L.c_shared = true;
    check(shared);
    Case k0{2, 4, 0, 5, dt, 1.f, 1.f};
    k0.L.bias = true;
    check(k0);
  }
}

// The path 16-bit GEMM takes is oneDNN's either way: a native primitive, or the f32 one over
// widened copies, never the reference matmul. Under AVX2 oneDNN 2.6 has no bf16/f16 matmul.
TEST(Gemm, SixteenBitImplementationFollowsTheIsa) {
  std::vector<uint16_t> A(64 * 64, 0x3f80), B(64 * 64, 0x3f80), C(64 * 64);
  for (int dt : {kGemmBF16, kGemmF16}) {
    GemmArgs g;
    g.M = g.N = g.K = 64;
    g.A = A.data();
    g.B = B.data();
    g.C = C.data();
    g.a_rs = g.b_rs = g.c_rs = 64;
    g.dtype = dt;
    const std::string impl = gemm_impl(g);
    EXPECT_TRUE(impl.rfind("onednn:", 0) == 0 || impl.rfind("via-f32:onednn:", 0) == 0) << impl;
    EXPECT_EQ(impl.find("ref"), std::string::npos) << impl;
    if (simd_level() < Simd::kAvx512) EXPECT_EQ(impl.rfind("via-f32:", 0), 0u) << isa_name() << ": " << impl;
  }
}

// ---- implementation choice, cache, threads, errors -----------------------------------------------
TEST(Gemm, UsesFastKernelsForPlainLayouts) {
  std::vector<float> A(64 * 64), B(64 * 64), C(64 * 64);
  for (int t = 0; t < 4; ++t) {
    GemmArgs g;
    g.M = g.N = g.K = 64;
    g.A = A.data();
    g.B = B.data();
    g.C = C.data();
    g.a_rs = t & 1 ? 1 : 64;
    g.a_cs = t & 1 ? 64 : 1;
    g.b_rs = t & 2 ? 1 : 64;
    g.b_cs = t & 2 ? 64 : 1;
    g.c_rs = 64;
    const std::string impl = gemm_impl(g);
    EXPECT_EQ(impl.find("ref"), std::string::npos) << impl;
    EXPECT_EQ(impl.find("pack"), std::string::npos) << impl;
  }
  GemmArgs colc;
  colc.M = colc.N = colc.K = 64;
  colc.A = A.data();
  colc.B = B.data();
  colc.C = C.data();
  colc.a_rs = colc.b_rs = 64;
  colc.c_rs = 1;
  colc.c_cs = 64;
  EXPECT_EQ(gemm_impl(colc).find("ref"), std::string::npos) << gemm_impl(colc);
}

TEST(Gemm, CachesPlans) {
  gemm_clear_cache();
  EXPECT_EQ(gemm_cache_size(), 0u);
  Case c{1, 10, 11, 12, kGemmF32};
  check(c);
  const auto n = gemm_cache_size();
  EXPECT_EQ(n, 1u);
  check(c, 2);
  EXPECT_EQ(gemm_cache_size(), n);
  gemm_clear_cache();
  EXPECT_EQ(gemm_cache_size(), 0u);
  check(c, 3);  // a thread's front cache must not survive a clear
  EXPECT_EQ(gemm_cache_size(), 1u);
}

TEST(Gemm, ConcurrentCallers) {
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([t] {
      for (int r = 0; r < 3; ++r) {
        Case c{2, 20 + (t % 2), 30, 25, kGemmF32, 1.f, float(r % 2)};
        c.L.transB = r == 1;
        check(c, uint32_t(t * 10 + r));
      }
    });
  for (auto& th : ts) th.join();
}

TEST(Gemm, RejectsBadArguments) {
  GemmArgs g;
  g.M = g.N = g.K = 2;
  EXPECT_THROW(gemm(g), std::invalid_argument);  // null pointers
  float x[4] = {};
  g.A = g.B = g.C = x;
  g.a_rs = g.b_rs = g.c_rs = 2;
  g.dtype = 7;
  EXPECT_THROW(gemm(g), std::invalid_argument);
  g.dtype = kGemmF32;
  g.M = -1;
  EXPECT_THROW(gemm(g), std::invalid_argument);
  g.M = 0;
  EXPECT_NO_THROW(gemm(g));  // empty: nothing to do
}
