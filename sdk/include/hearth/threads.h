// Intra-op threads: LibTorch's set_num_threads / get_num_threads, and the default hearth picks.
#pragma once

namespace hearth {

/// Sets the number of threads CPU kernels (the hearth-cpu plugin's OpenMP team, oneDNN included)
/// split one op across. Takes effect for ops started afterwards, on every thread that runs
/// kernels. Loads plugins first. ValueError unless n >= 1.
void set_num_threads(int n);
/// The threads an op may use now: the last set_num_threads(), else the default (see
/// default_num_threads). Loads plugins first.
int get_num_threads();
/// The cores this process may actually run on: the CPUs in its affinity mask (taskset, cpusets),
/// capped by a cgroup CPU quota (/sys/fs/cgroup/cpu.max, rounded up). hearth's default thread
/// count (docs/PERFORMANCE.md "Threads").
int default_num_threads();

}  // namespace hearth
