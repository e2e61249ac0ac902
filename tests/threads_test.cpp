// Intra-op threads (issue 15): set_num_threads/get_num_threads reach hearth-cpu's OpenMP team,
// and the default thread count and OpenMP wait policy follow the cores the process may use.
#include <gtest/gtest.h>
#include <sched.h>

#include <string>
#include <thread>

#include "hearth/hearth.h"
#include "test_util.h"

using namespace hearth;
using hearth::test::contains;

namespace {

int affinity_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  return CPU_COUNT(&set);
}

// `hearth plugins` output with `env_vars` set and `wrapper` (e.g. taskset) around it; a fresh
// process, so libgomp reads the environment hearth prepares there. This test process's own
// OpenMP variables (hearth set some when it loaded plugins) are removed first.
std::string plugins_output(const std::string& env_vars, const std::string& wrapper = "") {
  const std::string bin = std::string(HEARTH_BUILD_DIR) + "/bin/hearth";
  auto r = hearth::test::run_command("env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u OMP_NUM_THREADS HEARTH_THREADS_PROBE=0 " + env_vars +
                                     " HEARTH_PLUGIN_PATH= " + wrapper + " '" + bin + "' plugins");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  return r.out;
}

}  // namespace

TEST(Threads, SetAndGetNumThreads) {
  const int def = get_num_threads();
  EXPECT_GE(def, 1);
  EXPECT_LE(def, affinity_count());
  EXPECT_EQ(default_num_threads(), def);
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  EXPECT_EQ(plugin_property("cpu.threads"), "1");
  // Another thread's OpenMP team follows too (OpenMP itself keeps the size per thread).
  std::string seen;
  std::thread t([&] { seen = plugin_property("cpu.threads"); });
  t.join();
  EXPECT_EQ(seen, "1");
  set_num_threads(3);
  EXPECT_EQ(get_num_threads(), 3);
  // Kernels still compute correctly with the team size changed between ops.
  Tensor a = randn({300, 200}), b = randn({200, 100});
  Tensor c3 = matmul(a, b);
  set_num_threads(1);
  Tensor c1 = matmul(a, b);
  EXPECT_TRUE(allclose(c3, c1, 1e-4, 1e-4));
  EXPECT_THROW(set_num_threads(0), ValueError);
  EXPECT_THROW(set_num_threads(-2), ValueError);
  set_num_threads(def);
  EXPECT_EQ(get_num_threads(), def);
}

TEST(Threads, DefaultFollowsTheAffinityMaskAndBoundsSpinning) {
  // The default thread count is the CPUs this process may run on, not the machine's.
  const std::string all = plugins_output("");
  EXPECT_TRUE(contains(all, "cpu.threads: " + std::to_string(affinity_count()) + "\n")) << all;
  const std::string one = plugins_output("", "taskset -c 0");
  EXPECT_TRUE(contains(one, "cpu.threads: 1\n")) << one;
  // Bounded spinning unless the user chose a wait policy.
  EXPECT_TRUE(contains(all, "GOMP_SPINCOUNT=")) << all;
  const std::string passive = plugins_output("OMP_WAIT_POLICY=passive");
  EXPECT_TRUE(contains(passive, "OMP_WAIT_POLICY=passive")) << passive;
  EXPECT_FALSE(contains(passive, "GOMP_SPINCOUNT=")) << passive;
  // Other processes running at start leave their CPUs to them (the suite's own neighbours may
  // too, so the probe is off above): with every CPU taken by a spinning process, one thread.
  {
    std::string spinners;
    for (int i = 0; i < affinity_count(); ++i) spinners += "(yes >/dev/null &) ; ";
    const auto r = hearth::test::run_command(spinners + "sleep 0.3; env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u OMP_NUM_THREADS '" +
                                             std::string(HEARTH_BUILD_DIR) + "/bin/hearth' plugins; pkill -x yes");
    EXPECT_TRUE(contains(r.out, "cpu.threads: 1\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "GOMP_SPINCOUNT=1000")) << r.out;
  }
  // An explicit OMP_NUM_THREADS wins.
  const std::string three = plugins_output("OMP_NUM_THREADS=3");
  EXPECT_TRUE(contains(three, "cpu.threads: 3\n")) << three;
}
