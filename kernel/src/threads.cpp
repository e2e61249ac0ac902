// Intra-op threads: the default (cores actually available, bounded OpenMP spinning) and
// set_num_threads/get_num_threads, routed to the plugins' thread pools (hearth/threads.h).
#include "hearth/threads.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hearth/error.h"
#include "hearth/plugin.h"
#include "threads_internal.h"

namespace hearth {
namespace {

std::atomic<int> g_num_threads{0};  // 0: never set, the default applies

int affinity_cores() {
  // A mask sized for large machines: sched_getaffinity fails with EINVAL when it is too small.
  for (int ncpu = 1024; ncpu <= (1 << 16); ncpu *= 4) {
    cpu_set_t* set = CPU_ALLOC(ncpu);
    if (!set) break;
    const size_t size = CPU_ALLOC_SIZE(ncpu);
    CPU_ZERO_S(size, set);
    const int rc = sched_getaffinity(0, size, set);
    const int n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (rc == 0) return std::max(n, 1);
    if (errno != EINVAL) break;
  }
  return 1;
}

// "max 100000" or "150000 100000" (cgroup v2 cpu.max); 0 when unlimited or unreadable.
double quota_v2(const std::string& file) {
  std::ifstream f(file);
  std::string quota;
  double period = 0;
  if (!(f >> quota >> period) || quota == "max" || period <= 0) return 0;
  try {
    return std::stod(quota) / period;
  } catch (...) {
    return 0;
  }
}

// The tightest CPU quota on the way from this process's cgroup up to the root (v2), else v1's.
double cgroup_cpu_quota() {
  double best = 0;
  auto take = [&](double q) {
    if (q > 0 && (best == 0 || q < best)) best = q;
  };
  std::ifstream cg("/proc/self/cgroup");
  std::string line;
  while (std::getline(cg, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    std::string path = line.substr(3);
    for (;;) {
      take(quota_v2("/sys/fs/cgroup" + path + "/cpu.max"));
      if (path.empty() || path == "/") break;
      const size_t slash = path.rfind('/');
      path = slash == std::string::npos ? "" : path.substr(0, slash);
    }
  }
  if (best == 0) {
    std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    double quota = 0, period = 0;
    if ((q >> quota) && (p >> period) && quota > 0 && period > 0) take(quota / period);
  }
  return best;
}

// Threads of other processes that want a CPU now: /proc/loadavg's running count (this thread
// included) sampled 5 times 10 ms apart, the median minus this thread; 0 when unreadable or when
// HEARTH_THREADS_PROBE=0. A team larger than the free CPUs waits on its slowest, descheduled
// thread at every barrier: on 2 CPUs beside one spinning process, 1 thread trained mlp at 78k
// samples/s and 2 threads at 16-49k (docs/PERFORMANCE.md "Threads").
int others_running() {
  if (const char* v = std::getenv("HEARTH_THREADS_PROBE"); v && std::string(v) == "0") return 0;
  std::vector<int> seen;
  for (int i = 0; i < 5; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream f("/proc/loadavg");
    double a = 0, b = 0, c = 0;
    std::string rt;
    if (!(f >> a >> b >> c >> rt)) return 0;
    const size_t slash = rt.find('/');
    if (slash == std::string::npos) return 0;
    seen.push_back(std::atoi(rt.substr(0, slash).c_str()));
  }
  std::sort(seen.begin(), seen.end());
  return std::max(0, seen[seen.size() / 2] - 1);
}

}  // namespace

int default_num_threads() {
  static const int n = [] {
    int cores = affinity_cores();
    const double quota = cgroup_cpu_quota();
    if (quota > 0) cores = std::min(cores, std::max(1, static_cast<int>(std::ceil(quota - 1e-9))));
    return std::max(1, cores - others_running());
  }();
  return n;
}

void set_num_threads(int n) {
  HEARTH_CHECK(n >= 1, ValueError, "set_num_threads: the thread count must be >= 1, got ", n);
  load_plugins();
  g_num_threads.store(n, std::memory_order_relaxed);
  for (const std::string& name : component_names(kThreadPoolComponent)) {
    auto* pool = static_cast<const ThreadPoolControl*>(find_component(kThreadPoolComponent, name));
    if (pool && pool->set_num_threads) pool->set_num_threads(n);
  }
}

int get_num_threads() {
  load_plugins();
  for (const std::string& name : component_names(kThreadPoolComponent)) {
    auto* pool = static_cast<const ThreadPoolControl*>(find_component(kThreadPoolComponent, name));
    if (pool && pool->get_num_threads) return pool->get_num_threads();
  }
  const int n = g_num_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_num_threads();
}

namespace detail {

void prepare_openmp_env() {
  static std::once_flag once;
  std::call_once(once, [] {
    // libgomp reads its environment once, when it is loaded: that is when the first plugin that
    // needs it is dlopen'ed, unless the program already links OpenMP (then these come too late,
    // and the program's own settings stand).
    const bool shared = default_num_threads() < affinity_cores();  // a quota, or other work running
    if (!std::getenv("OMP_NUM_THREADS") && shared)
      setenv("OMP_NUM_THREADS", std::to_string(default_num_threads()).c_str(), 0);
    // Bounded spinning: idle team threads spin this long for the next parallel region, then
    // sleep. libgomp's default (300k spins) makes a team on a busy machine wait for a thread the
    // OS has descheduled while burning the core it would need (docs/PERFORMANCE.md "Threads").
    if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT"))
      setenv("GOMP_SPINCOUNT", shared ? kSharedSpinCount : kDefaultSpinCount, 0);
  });
}

}  // namespace detail
}  // namespace hearth
