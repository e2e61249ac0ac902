// The op profiler: per-thread event buffers fed by the dispatcher, Chrome trace and table output.
#include "hearth/profiler.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "hearth/error.h"
#include "hearth/tensor.h"
#include "profiler_internal.h"

namespace hearth::profiler {
namespace {

// What the dispatcher records: the op name points into its OpDef, which lives for the process.
struct RawEvent {
  const char* name;
  int64_t begin_ns, end_ns;
  int depth;
  Device device;
  std::vector<std::vector<int64_t>> shapes;
};

// Each thread appends to its own buffer; the mutex is only contended while stop() collects.
struct ThreadBuffer {
  std::mutex mu;
  uint64_t tid = 0;
  std::vector<RawEvent> events;
};

struct Session {
  std::mutex mu;                      // guards everything below
  bool running = false;
  Options options;
  int64_t start_ns = 0;
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
  std::vector<Event> device_events;
  std::map<int, std::function<void()>> flushes;
  int next_flush_id = 1;
};

Session& session() {
  static Session* s = new Session();  // never destroyed: kernels on other threads may still record
  return *s;
}

// Bumped by every start(): a thread whose buffer belongs to an older session makes a new one.
std::atomic<uint64_t> g_session_id{0};
std::atomic<int64_t> g_start_ns{0};
std::atomic<bool> g_record_shapes{true};

thread_local std::shared_ptr<ThreadBuffer> t_buffer;
thread_local uint64_t t_buffer_session = 0;
thread_local int t_depth = 0;

uint64_t os_thread_id() {
  thread_local const uint64_t id = static_cast<uint64_t>(::syscall(SYS_gettid));
  return id;
}

ThreadBuffer* buffer_for(uint64_t sid) {
  if (t_buffer_session != sid || !t_buffer) {
    auto b = std::make_shared<ThreadBuffer>();
    b->tid = os_thread_id();
    Session& s = session();
    std::lock_guard<std::mutex> g(s.mu);
    if (!s.running || g_session_id.load(std::memory_order_acquire) != sid) return nullptr;  // stopped meanwhile
    s.buffers.push_back(b);
    t_buffer = std::move(b);
    t_buffer_session = sid;
  }
  return t_buffer.get();
}

double us(int64_t ns) { return static_cast<double>(ns) / 1000.0; }

}  // namespace

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool is_enabled() {
  return hearth::detail::g_dispatch_hooks.load(std::memory_order_relaxed) & hearth::detail::kHookProfile;
}

void start(Options options) {
  Session& s = session();
  std::lock_guard<std::mutex> g(s.mu);
  HEARTH_CHECK(!s.running, ValueError, "profiler::start: a profiling session is already running (one at a time)");
  s.running = true;
  s.options = options;
  s.buffers.clear();
  s.device_events.clear();
  g_record_shapes.store(options.record_shapes, std::memory_order_relaxed);
  g_session_id.fetch_add(1, std::memory_order_acq_rel);
  s.start_ns = now_ns();
  g_start_ns.store(s.start_ns, std::memory_order_release);
  hearth::detail::g_dispatch_hooks.fetch_or(hearth::detail::kHookProfile, std::memory_order_release);
}

Profile stop() {
  Session& s = session();
  std::vector<std::function<void()>> flushes;
  {
    std::lock_guard<std::mutex> g(s.mu);
    HEARTH_CHECK(s.running, ValueError, "profiler::stop: no profiling session is running");
    for (auto& [id, f] : s.flushes) flushes.push_back(f);
  }
  // Devices report what is still in flight before the session closes (outside the lock: they
  // call report_device_event).
  for (auto& f : flushes) f();
  Profile p;
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
  {
    std::lock_guard<std::mutex> g(s.mu);
    hearth::detail::g_dispatch_hooks.fetch_and(~hearth::detail::kHookProfile, std::memory_order_release);
    s.running = false;
    p.wall_ns = now_ns() - s.start_ns;
    buffers.swap(s.buffers);
    p.events.swap(s.device_events);
  }
  for (auto& b : buffers) {
    std::lock_guard<std::mutex> g(b->mu);
    for (auto& r : b->events) {
      Event e;
      e.name = r.name;
      e.category = "op";
      e.device = r.device.str();
      e.begin_ns = r.begin_ns;
      e.end_ns = r.end_ns;
      e.thread_id = b->tid;
      e.depth = r.depth;
      e.input_shapes = std::move(r.shapes);
      p.events.push_back(std::move(e));
    }
    b->events.clear();
  }
  // Outer ops first when two begin together, so that a trace viewer nests them.
  std::stable_sort(p.events.begin(), p.events.end(), [](const Event& a, const Event& b) {
    if (a.begin_ns != b.begin_ns) return a.begin_ns < b.begin_ns;
    return a.depth < b.depth;
  });
  return p;
}

ProfileGuard::ProfileGuard(Options options) { start(options); }

ProfileGuard::~ProfileGuard() {
  if (active_) {
    try {
      (void)profiler::stop();
    } catch (...) {
      // Another party stopped the session; nothing to discard.
    }
  }
}

Profile ProfileGuard::stop() {
  HEARTH_CHECK(active_, ValueError, "ProfileGuard::stop: already stopped");
  active_ = false;
  return profiler::stop();
}

void report_device_event(std::string_view name, std::string_view device, int64_t begin_ns, int64_t end_ns,
                         uint64_t track) {
  if (!is_enabled()) return;
  Session& s = session();
  std::lock_guard<std::mutex> g(s.mu);
  if (!s.running) return;
  Event e;
  e.name = std::string(name);
  e.category = std::string(device);
  e.device = std::string(device);
  e.begin_ns = begin_ns - s.start_ns;
  e.end_ns = end_ns - s.start_ns;
  e.thread_id = track;
  s.device_events.push_back(std::move(e));
}

int add_device_flush(std::function<void()> fn) {
  Session& s = session();
  std::lock_guard<std::mutex> g(s.mu);
  const int id = s.next_flush_id++;
  s.flushes.emplace(id, std::move(fn));
  return id;
}

void remove_device_flush(int id) {
  Session& s = session();
  std::lock_guard<std::mutex> g(s.mu);
  s.flushes.erase(id);
}

std::vector<OpStats> Profile::stats() const {
  std::unordered_map<std::string, OpStats> by;
  // Self time: walk each track's events in begin order with a stack of the open ones and
  // subtract each event's duration from its direct parent.
  std::map<std::pair<std::string, uint64_t>, std::vector<size_t>> stacks;  // per (category, thread)
  std::vector<int64_t> self(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    self[i] = e.duration_ns();
    auto& st = stacks[{e.category, e.thread_id}];
    while (!st.empty() && events[st.back()].end_ns <= e.begin_ns) st.pop_back();
    if (!st.empty()) self[st.back()] -= e.duration_ns();
    st.push_back(i);
  }
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    OpStats& o = by[e.name];
    o.name = e.name;
    ++o.calls;
    o.total_ns += e.duration_ns();
    o.self_ns += self[i];
  }
  std::vector<OpStats> out;
  out.reserve(by.size());
  for (auto& [n, o] : by) out.push_back(std::move(o));
  std::sort(out.begin(), out.end(), [](const OpStats& a, const OpStats& b) {
    return a.total_ns != b.total_ns ? a.total_ns > b.total_ns : a.name < b.name;
  });
  return out;
}

std::string Profile::table(size_t top_n) const {
  auto st = stats();
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %8s %11s %11s %11s %7s\n", "op", "calls", "total ms", "self ms", "mean us",
                "% wall");
  out += line;
  const double wall = wall_ns > 0 ? static_cast<double>(wall_ns) : 1.0;
  for (size_t i = 0; i < st.size() && i < top_n; ++i) {
    const OpStats& o = st[i];
    std::snprintf(line, sizeof line, "%-28.28s %8lld %11.3f %11.3f %11.1f %6.1f%%\n", o.name.c_str(),
                  static_cast<long long>(o.calls), o.total_ns / 1e6, o.self_ns / 1e6,
                  us(o.total_ns) / static_cast<double>(o.calls), 100.0 * static_cast<double>(o.total_ns) / wall);
    out += line;
  }
  int64_t self_sum = 0;
  for (const auto& o : st) self_sum += o.self_ns;
  std::snprintf(line, sizeof line, "%zu op kinds, %zu calls; profiled wall %.3f ms, ops' self time %.3f ms\n",
                st.size(), events.size(), wall_ns / 1e6, self_sum / 1e6);
  out += line;
  return out;
}

std::string Profile::chrome_trace_json() const {
  using nlohmann::json;
  json evs = json::array();
  const int pid = static_cast<int>(::getpid());
  std::map<uint64_t, std::string> threads;
  for (const Event& e : events) {
    json j = {{"name", e.name}, {"cat", e.category}, {"ph", "X"},       {"ts", us(e.begin_ns)},
              {"dur", us(e.duration_ns())}, {"pid", pid}, {"tid", e.thread_id}};
    json args = {{"device", e.device}, {"depth", e.depth}};
    if (!e.input_shapes.empty()) args["input_shapes"] = e.input_shapes;
    j["args"] = std::move(args);
    evs.push_back(std::move(j));
    if (!threads.count(e.thread_id))
      threads[e.thread_id] = e.category == "op" ? "host thread " + std::to_string(e.thread_id)
                                                : e.category + " track " + std::to_string(e.thread_id);
  }
  for (const auto& [tid, name] : threads)
    evs.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", name}}}});
  json doc = {{"traceEvents", std::move(evs)}, {"displayTimeUnit", "ms"}};
  return doc.dump();
}

void Profile::to_chrome_trace(const std::string& path) const {
  const std::string text = chrome_trace_json();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw FormatError("profiler: cannot open '" + path + "' for writing: " + std::strerror(errno));
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f) throw FormatError("profiler: cannot write '" + path + "': " + std::strerror(errno));
}

namespace detail {

OpScope::OpScope(const char* name, const KernelArgs& args)
    : name_(name),
      args_(args),
      session_(g_session_id.load(std::memory_order_acquire)),
      begin_ns_(now_ns()),
      depth_(t_depth++) {}

OpScope::~OpScope() {
  const int64_t end = now_ns();
  --t_depth;
  // A session that ended (or restarted) while the kernel ran does not get this op.
  if (!is_enabled() || g_session_id.load(std::memory_order_acquire) != session_) return;
  try {
    ThreadBuffer* b = buffer_for(session_);
    if (!b) return;
    const int64_t start = g_start_ns.load(std::memory_order_acquire);
    RawEvent r{name_, begin_ns_ - start, end - start, depth_, args_.device, {}};
    if (g_record_shapes.load(std::memory_order_relaxed)) {
      r.shapes.reserve(args_.num_inputs);
      for (size_t i = 0; i < args_.num_inputs; ++i) {
        const Tensor& t = args_.inputs[i];
        if (t.defined()) {
          auto sz = t.sizes();
          r.shapes.emplace_back(sz.begin(), sz.end());
        } else {
          r.shapes.emplace_back();
        }
      }
    }
    std::lock_guard<std::mutex> g(b->mu);
    b->events.push_back(std::move(r));
  } catch (...) {
    // Out of memory while profiling: drop the event rather than disturb the op.
  }
}

}  // namespace detail
}  // namespace hearth::profiler
