// The op profiler (issue 15): events for a small training step, nesting and durations, the Chrome
// trace JSON, the table, device-reported events, and nothing recorded while it is off.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "test_util.h"

using namespace hearth;
using hearth::test::contains;
using nlohmann::json;

namespace {

std::shared_ptr<nn::SequentialImpl> tiny_mlp() {
  return nn::Sequential(nn::Linear(4, 8), nn::ReLU(), nn::Linear(8, 3)).ptr();
}

// One forward + backward of a tiny model: ops of both directions go through the dispatcher.
void train_step(nn::SequentialImpl& m) {
  Tensor x = randn({5, 4}), y = randn({5, 3});
  Tensor loss = nn::functional::mse_loss(m.forward(x), y);
  loss.backward();
}

std::set<std::string> names_of(const profiler::Profile& p) {
  std::set<std::string> out;
  for (const auto& e : p.events) out.insert(e.name);
  return out;
}

}  // namespace

TEST(Profiler, RecordsForwardAndBackwardOpsOfAStep) {
  auto m = tiny_mlp();
  train_step(*m);  // warm up: plugins loaded, caches built
  profiler::ProfileGuard guard;
  EXPECT_TRUE(profiler::is_enabled());
  train_step(*m);
  profiler::Profile p = guard.stop();
  EXPECT_FALSE(profiler::is_enabled());
  ASSERT_FALSE(p.events.empty());
  auto names = names_of(p);
  EXPECT_TRUE(names.count("relu")) << "forward relu missing";
  EXPECT_TRUE(names.count("relu_backward")) << "backward op missing";
  EXPECT_TRUE(names.count("gemm")) << "Linear's matrix product missing";
  EXPECT_GT(p.wall_ns, 0);
  const uint64_t me = p.events.front().thread_id;
  for (size_t i = 0; i < p.events.size(); ++i) {
    const auto& e = p.events[i];
    EXPECT_EQ(e.category, "op");
    EXPECT_EQ(e.device, "cpu");
    EXPECT_EQ(e.thread_id, me);
    EXPECT_GE(e.begin_ns, 0);
    EXPECT_GE(e.end_ns, e.begin_ns);
    EXPECT_LE(e.end_ns, p.wall_ns);
    if (i) EXPECT_LE(p.events[i - 1].begin_ns, e.begin_ns) << "events sorted by begin";
  }
  // Nesting is well formed: an event of depth d > 0 lies inside an earlier event of depth d-1.
  for (size_t i = 0; i < p.events.size(); ++i) {
    const auto& e = p.events[i];
    if (e.depth == 0) continue;
    bool inside = false;
    for (size_t j = 0; j < i && !inside; ++j)
      inside = p.events[j].depth == e.depth - 1 && p.events[j].begin_ns <= e.begin_ns &&
               e.end_ns <= p.events[j].end_ns;
    EXPECT_TRUE(inside) << e.name << " at depth " << e.depth;
  }
  // Input shapes of relu: the hidden activation [5, 8].
  bool relu_shape = false;
  for (const auto& e : p.events)
    if (e.name == "relu" && e.input_shapes.size() == 1 && e.input_shapes[0] == std::vector<int64_t>{5, 8})
      relu_shape = true;
  EXPECT_TRUE(relu_shape);
  // Stats agree with the events, and self time never exceeds total time.
  int64_t calls = 0;
  for (const auto& s : p.stats()) {
    calls += s.calls;
    EXPECT_LE(s.self_ns, s.total_ns) << s.name;
    EXPECT_GE(s.self_ns, 0) << s.name;
  }
  EXPECT_EQ(calls, static_cast<int64_t>(p.events.size()));
}

TEST(Profiler, ChromeTraceParsesAndTableListsOps) {
  auto m = tiny_mlp();
  train_step(*m);
  profiler::start();
  train_step(*m);
  profiler::Profile p = profiler::stop();
  hearth::test::TempDir d;
  const std::string path = d / "trace.json";
  p.to_chrome_trace(path);
  std::ifstream f(path);
  json j = json::parse(f);
  ASSERT_TRUE(j["traceEvents"].is_array());
  size_t complete = 0;
  std::set<std::string> names;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] != "X") continue;
    ++complete;
    names.insert(e["name"].get<std::string>());
    EXPECT_GE(e["ts"].get<double>(), 0.0);
    EXPECT_GE(e["dur"].get<double>(), 0.0);
    EXPECT_TRUE(e.contains("pid") && e.contains("tid"));
  }
  EXPECT_EQ(complete, p.events.size());
  EXPECT_TRUE(names.count("relu_backward"));
  const std::string t = p.table(5);
  EXPECT_TRUE(contains(t, "total ms")) << t;
  EXPECT_TRUE(contains(t, p.stats().front().name)) << t;
  // top_n bounds the rows: header + 5 + summary line.
  EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 7) << t;
  EXPECT_THROW(p.to_chrome_trace(d / "no/such/dir/trace.json"), FormatError);
}

TEST(Profiler, NothingRecordedWhenOff) {
  auto m = tiny_mlp();
  profiler::start();
  profiler::Profile empty_session = profiler::stop();
  EXPECT_TRUE(empty_session.events.empty());
  train_step(*m);  // not profiled
  profiler::start();
  profiler::Profile p = profiler::stop();
  EXPECT_TRUE(p.events.empty()) << p.events.size() << " events leaked from an unprofiled step";
  EXPECT_THROW(profiler::stop(), ValueError);
  profiler::start();
  EXPECT_THROW(profiler::start(), ValueError);
  (void)profiler::stop();
}

TEST(Profiler, OpsOnOtherThreadsAreRecordedWithTheirThreadId) {
  profiler::ProfileGuard guard;
  std::thread t([] { (void)relu(randn({3, 3})); });
  t.join();
  (void)relu(randn({2}));
  profiler::Profile p = guard.stop();
  std::set<uint64_t> tids;
  for (const auto& e : p.events)
    if (e.name == "relu") tids.insert(e.thread_id);
  EXPECT_EQ(tids.size(), 2u);
}

TEST(Profiler, DeviceReportedEventsAndFlushCallbacks) {
  // What an asynchronous device does: it reports measured intervals when they completed,
  // at the latest from its flush callback.
  int flushed = 0;
  const int id = profiler::add_device_flush([&] {
    ++flushed;
    const int64_t now = profiler::now_ns();
    profiler::report_device_event("fake_kernel", "testdev:0", now - 2000, now - 1000, 7);
  });
  profiler::report_device_event("ignored", "testdev:0", 0, 1);  // no session: dropped
  profiler::start();
  profiler::Profile p = profiler::stop();
  profiler::remove_device_flush(id);
  EXPECT_EQ(flushed, 1);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].name, "fake_kernel");
  EXPECT_EQ(p.events[0].category, "testdev:0");
  EXPECT_EQ(p.events[0].thread_id, 7u);
  EXPECT_EQ(p.events[0].duration_ns(), 1000);
  profiler::start();
  (void)profiler::stop();
  EXPECT_EQ(flushed, 1) << "a removed flush callback still ran";
}

TEST(Profiler, TrainProfileWritesAChromeTraceAndPrintsTheTable) {
  hearth::test::TempDir d;
  const std::string hearth_bin = std::string(HEARTH_BUILD_DIR) + "/bin/hearth";
  auto r = hearth::test::run_command("HEARTH_PLUGIN_PATH= '" + hearth_bin +
                                     "' train --model mlp --train-limit 256 --test-limit 100 --progress none"
                                     " --profile " + (d / "trace.json"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "total ms")) << r.out;
  EXPECT_TRUE(contains(r.out, "gemm")) << r.out;
  std::ifstream f(d / "trace.json");
  json j = json::parse(f);
  std::set<std::string> names;
  for (const auto& e : j["traceEvents"])
    if (e["ph"] == "X") names.insert(e["name"].get<std::string>());
  EXPECT_TRUE(names.count("gemm"));
  EXPECT_TRUE(names.count("relu_backward"));  // backward ops of the training steps
  auto bad = hearth::test::run_command("HEARTH_PLUGIN_PATH= '" + hearth_bin +
                                       "' train --model mlp --train-limit 64 --test-limit 10 --progress none"
                                       " --profile " + (d / "no/dir/t.json"));
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(contains(bad.err, "error: ")) << bad.err;
}

TEST(Profiler, SelfTimeSubtractsDirectlyNestedOps) {
  // A kernel that dispatches ops while it runs: its self time excludes them, per thread.
  auto ev = [](const char* name, int64_t b, int64_t e, uint64_t tid, int depth) {
    profiler::Event x;
    x.name = name;
    x.category = "op";
    x.device = "cpu";
    x.begin_ns = b;
    x.end_ns = e;
    x.thread_id = tid;
    x.depth = depth;
    return x;
  };
  profiler::Profile p;
  p.wall_ns = 200;
  p.events = {ev("outer", 0, 100, 1, 0), ev("outer", 0, 50, 2, 0), ev("inner", 10, 40, 1, 1),
              ev("leaf", 15, 20, 1, 2), ev("inner", 50, 60, 1, 1)};
  auto st = p.stats();
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[0].name, "outer");
  EXPECT_EQ(st[0].calls, 2);
  EXPECT_EQ(st[0].total_ns, 100 + 50);
  EXPECT_EQ(st[0].self_ns, (100 - 30 - 10) + 50);  // thread 2's outer has no children
  EXPECT_EQ(st[1].name, "inner");
  EXPECT_EQ(st[1].total_ns, 40);
  EXPECT_EQ(st[1].self_ns, 40 - 5);
  EXPECT_EQ(st[2].self_ns, 5);
  json j = json::parse(p.chrome_trace_json());
  size_t meta = 0;
  for (const auto& e : j["traceEvents"]) meta += e["ph"] == "M";
  EXPECT_EQ(meta, 2u) << "one thread_name record per thread";
}
