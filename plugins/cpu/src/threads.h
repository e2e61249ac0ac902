// hearth-cpu's intra-op thread count: what hearth::set_num_threads set, applied per OpenMP caller.
#pragma once

#include <omp.h>

#include <atomic>

namespace hearth::cpu {

/// Threads set by hearth::set_num_threads (0: never set, OpenMP's default). An inline variable:
/// one per binary, so gemm.cpp also links into gemm_test without the plugin.
inline std::atomic<int> g_num_threads{0};

/// omp_get_max_threads() after adopting set_num_threads() on this thread: OpenMP keeps the team
/// size per calling thread, so every kernel entry that starts a team (parallel_for, gemm,
/// oneDNN's execute) calls this first. Costs two loads when nothing changed.
inline int max_threads() {
  const int want = g_num_threads.load(std::memory_order_relaxed);
  if (want > 0 && want != omp_get_max_threads()) [[unlikely]]
    omp_set_num_threads(want);
  return omp_get_max_threads();
}

}  // namespace hearth::cpu
