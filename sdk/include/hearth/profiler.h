// The op profiler: per-op wall times from the dispatcher, as a Chrome trace and a top-N table
// (what torch.profiler answers: "where does my step go"). See docs/profiler.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::profiler {

/// One timed interval. Times are nanoseconds on the profiler's clock (now_ns()), relative to
/// the start() of the session that recorded them.
struct Event {
  std::string name;      ///< op name ("linear", "mm", ...) or what a device reported
  std::string category;  ///< "op" for the dispatcher's host timings; a device's own label otherwise
  std::string device;    ///< device the op ran on ("cpu", "cuda:0", ...)
  int64_t begin_ns = 0;
  int64_t end_ns = 0;
  uint64_t thread_id = 0;  ///< OS thread id (gettid) for host events; a device's track id otherwise
  int depth = 0;           ///< 0: called by user code; >0: dispatched while another op's kernel ran
  std::vector<std::vector<int64_t>> input_shapes;  ///< sizes of each defined input (op events)
  int64_t duration_ns() const { return end_ns - begin_ns; }
};

/// Per-op totals, as in the table.
struct OpStats {
  std::string name;
  int64_t calls = 0;
  int64_t total_ns = 0;  ///< inclusive: ops dispatched inside it count here too
  int64_t self_ns = 0;   ///< total minus the time of the ops nested directly in it
};

/// What one profiling session recorded.
class Profile {
 public:
  std::vector<Event> events;  ///< sorted by begin time
  int64_t wall_ns = 0;        ///< start() to stop()

  /// Totals per op name, largest total first.
  std::vector<OpStats> stats() const;
  /// The top-N table: op, calls, total ms, self ms, mean µs, % of the profiled wall time.
  std::string table(size_t top_n = 20) const;
  /// The Chrome trace JSON (traceEvents, ph "X", ts/dur in µs) for chrome://tracing or Perfetto.
  std::string chrome_trace_json() const;
  /// Writes chrome_trace_json() to `path`; FormatError naming the file when that fails.
  void to_chrome_trace(const std::string& path) const;
};

struct Options {
  bool record_shapes = true;  ///< keep each op's input sizes (costs an allocation per op)
};

/// Starts recording every op dispatched from now on, on every thread. ValueError if a session
/// is already running (one at a time per process).
void start(Options options = {});
/// Stops the session and returns what it recorded. Asynchronous devices' flush callbacks run
/// first, so their reported timings are included. ValueError if no session is running.
Profile stop();
/// True while a session runs. Cheap: one relaxed atomic load.
bool is_enabled();
/// The profiler's clock (steady, ns); device reports use it for their converted timestamps.
int64_t now_ns();

/// Starts a session on construction; stop() returns it, and the destructor discards it if
/// stop() was not called (e.g. when an exception unwinds).
class ProfileGuard {
 public:
  explicit ProfileGuard(Options options = {});
  ~ProfileGuard();
  ProfileGuard(const ProfileGuard&) = delete;
  ProfileGuard& operator=(const ProfileGuard&) = delete;
  Profile stop();

 private:
  bool active_ = true;
};

// ---- the device hook ---------------------------------------------------------------------------
// The dispatcher times each op on the host: exact for the CPU, whose kernels finish before they
// return. An asynchronous device (CUDA) only enqueues work there, so it reports the real
// execution times itself: it records device events around its kernels while is_enabled(), and
// once they have completed converts them to now_ns() time and calls report_device_event. A
// flush callback lets stop() wait for the pending ones.

/// Adds a device-measured interval to the running session (ignored when none runs).
/// `begin_ns`/`end_ns` are absolute now_ns() values; `track` separates a device's streams.
void report_device_event(std::string_view name, std::string_view device, int64_t begin_ns, int64_t end_ns,
                         uint64_t track = 0);
/// Registers a function that stop() calls before collecting, for a device to synchronize and
/// report its pending timings. Returns an id for remove_device_flush.
int add_device_flush(std::function<void()> fn);
void remove_device_flush(int id);

}  // namespace hearth::profiler
