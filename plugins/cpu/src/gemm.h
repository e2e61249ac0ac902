// Raw-pointer GEMM for the CPU plugin: oneDNN matmul for f32/bf16/f16, a blocked OpenMP loop for f64.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hearth::cpu {

// Element type of A, B, C and bias (all the same). bf16 and f16 run natively where oneDNN has a
// primitive for them on this CPU (and ISA cap); elsewhere the operands are widened to f32, the
// product computed in f32 and rounded once into C (impl "via-f32:...").
enum GemmDtype : int { kGemmF32 = 0, kGemmF64 = 1, kGemmBF16 = 2, kGemmF16 = 3 };

// C[b] = alpha * A[b] @ B[b] + bias + beta * C[b]   for b in [0, batch)
// A[b] is M x K, B[b] is K x N, C[b] is M x N; every stride is in elements, so a transposed operand
// is just swapped strides (A^T of a row-major K x M buffer: a_rs = 1, a_cs = M). Batch stride 0
// broadcasts an operand over the batch; c_bs = 0 with batch > 1 applies the batches one after the
// other to the same C (so beta = 1 sums them). beta = 0 never reads C (NaNs in C are ignored).
// bias (optional) is N contiguous elements of `dtype`, added to every row, unscaled by alpha.
// Any strides work (negative, zero, overlapping rows); layouts oneDNN cannot take directly are
// packed into contiguous temporaries. Throws std::invalid_argument on bad arguments and
// std::runtime_error if oneDNN fails. Safe to call from several threads at once.
struct GemmArgs {
  int64_t batch = 1, M = 0, N = 0, K = 0;
  const void* A = nullptr;
  int64_t a_bs = 0, a_rs = 0, a_cs = 1;
  const void* B = nullptr;
  int64_t b_bs = 0, b_rs = 0, b_cs = 1;
  void* C = nullptr;
  int64_t c_bs = 0, c_rs = 0, c_cs = 1;
  float alpha = 1.f, beta = 0.f;
  int dtype = kGemmF32;
  const void* bias = nullptr;
};

void gemm(const GemmArgs& args);

// Which implementation gemm(args) uses, e.g. "onednn:brg:avx512_core", "onednn:gemm:jit+packA",
// "via-f32:onednn:brg:avx2", "ref:f64", "trivial". Builds (and caches) the plan but runs nothing; for tests and benchmarks.
std::string gemm_impl(const GemmArgs& args);

// Number of cached plans (shared cache) and a way to drop them all (tests, memory pressure).
std::size_t gemm_cache_size();
void gemm_clear_cache();

}  // namespace hearth::cpu
