// The OpenMP environment hearth sets up before the first plugin loads (kernel/src/threads.cpp).
#pragma once

namespace hearth::detail {

/// GOMP_SPINCOUNT hearth sets when the user set neither it nor OMP_WAIT_POLICY (measured in
/// docs/PERFORMANCE.md "Threads"): 10000 keeps an idle machine at libgomp's full speed (1000
/// halved mlp's samples/s), and when other work was running at start (fewer threads than CPUs)
/// 1000 bounds the cost of a team thread the OS deschedules.
inline constexpr const char* kDefaultSpinCount = "10000";
inline constexpr const char* kSharedSpinCount = "1000";

/// Once per process, before any plugin is dlopen'ed: caps OMP_NUM_THREADS at the cores the
/// process may use (cgroup quota) and bounds libgomp's spinning, unless the user chose.
void prepare_openmp_env();

}  // namespace hearth::detail
