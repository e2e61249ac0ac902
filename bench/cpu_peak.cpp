// Probe: this CPU's clock and f32 FMA peak (GFLOP/s on 1 and N threads), to tell what a matmul ceiling can be here.
//
//   build/bin/cpu_peak [threads, default: all CPUs]
// The clock comes from a chain of dependent integer adds (1 cycle each); the peak from 12 independent
// FMA chains per thread on the widest vectors the CPU has (AVX-512, else AVX2+FMA). FLOP/cycle/core
// tells the FMA width: 32 = one 512-bit (or two 256-bit) FMA per cycle, 64 = two 512-bit FMA units.
#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

using clk = std::chrono::steady_clock;
double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

double clock_ghz() {
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    long n = 400000000, x = 0;
    const auto t0 = clk::now();
#if defined(__x86_64__)
    asm volatile("1:\n add $1,%0\n add $1,%0\n add $1,%0\n add $1,%0\n sub $4,%1\n jnz 1b" : "+r"(x), "+r"(n));
#endif
    best = std::max(best, 4e8 / seconds_since(t0) / 1e9);
  }
  return best;
}

constexpr long kIters = 50000000;

#if defined(__x86_64__)
// Returns FLOPs done.
__attribute__((target("avx512f"))) double fma512() {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1e-3f * float(i));
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-4f);
  for (long k = 0; k < kIters; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  }
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  alignas(64) float v[16];
  _mm512_store_ps(v, s);
  if (v[0] + v[15] == 1.2345f) std::printf(" ");
  return double(kIters) * 12 * 32;
}
__attribute__((target("avx2,fma"))) double fma256() {
  __m256 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(1e-3f * float(i));
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
  for (long k = 0; k < kIters; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  }
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
  alignas(32) float v[8];
  _mm256_store_ps(v, s);
  if (v[0] + v[7] == 1.2345f) std::printf(" ");
  return double(kIters) * 12 * 16;
}
#endif

}  // namespace

int main(int argc, char** argv) {
#if !defined(__x86_64__)
  std::printf("cpu_peak: x86-64 only\n");
  return 0;
#else
  const int all = int(std::thread::hardware_concurrency());
  const int nt = argc > 1 ? std::max(1, std::atoi(argv[1])) : all;
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    std::printf("cpu_peak: needs AVX2+FMA or AVX-512\n");
    return 0;
  }
  const double ghz = clock_ghz();
  std::printf("clock (dependent adds): %.2f GHz; FMA on %s\n", ghz, avx512 ? "AVX-512" : "AVX2");
  for (int t : {1, nt}) {
    double best = 0;
    for (int r = 0; r < 5; ++r) {
      double flop = 0;
      const auto t0 = clk::now();
#pragma omp parallel num_threads(t) reduction(+ : flop)
      flop += avx512 ? fma512() : fma256();
      best = std::max(best, flop / seconds_since(t0) / 1e9);
    }
    std::printf("f32 FMA peak, %d thread%s: %.1f GFLOP/s (%.1f FLOP/cycle/core)\n", t, t > 1 ? "s" : "", best,
                best / t / ghz);
    if (nt == 1) break;
  }
#endif
}
