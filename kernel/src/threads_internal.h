// The OpenMP environment hearth sets up before the first plugin loads (kernel/src/threads.cpp).
#pragma once

namespace hearth::detail {

/// GOMP_SPINCOUNT hearth sets when the user set neither it nor OMP_WAIT_POLICY (measured in
/// docs/PERFORMANCE.md "Threads").
inline constexpr const char* kDefaultSpinCount = "1000";

/// Once per process, before any plugin is dlopen'ed: caps OMP_NUM_THREADS at the cores the
/// process may use (cgroup quota) and bounds libgomp's spinning, unless the user chose.
void prepare_openmp_env();

}  // namespace hearth::detail
