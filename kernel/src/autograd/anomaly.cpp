// Anomaly mode (SEED G8: where each node's forward op was called) and the graph-growth monitor
// that optimizers call once per step (SEED G2).
#include <cxxabi.h>
#include <execinfo.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <mutex>

#include "internal.h"

namespace hearth::autograd {

namespace {
std::atomic<bool> g_anomaly{false};
thread_local std::vector<std::string> t_scopes;

/// "lib(mangled+0x1f) [0x...]" -> "demangled (lib)"; the raw line if it does not parse.
std::string symbolize(const char* line) {
  std::string s(line);
  const size_t open = s.find('('), plus = s.find('+', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || plus == std::string::npos || plus <= open + 1) return s;
  const std::string mangled = s.substr(open + 1, plus - open - 1);
  int status = 0;
  char* dem = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  std::string name = status == 0 && dem ? dem : mangled;
  std::free(dem);
  std::string lib = s.substr(0, open);
  const size_t slash = lib.rfind('/');
  if (slash != std::string::npos) lib = lib.substr(slash + 1);
  return name + "  (" + lib + ")";
}
}  // namespace

void set_detect_anomaly(bool on) { g_anomaly.store(on, std::memory_order_relaxed); }
bool is_anomaly_enabled() { return g_anomaly.load(std::memory_order_relaxed); }

DetectAnomalyGuard::DetectAnomalyGuard() : prev_(is_anomaly_enabled()) { set_detect_anomaly(true); }
DetectAnomalyGuard::~DetectAnomalyGuard() { set_detect_anomaly(prev_); }

ScopeGuard::ScopeGuard(std::string name) { t_scopes.push_back(std::move(name)); }
ScopeGuard::~ScopeGuard() { t_scopes.pop_back(); }

std::string current_scope() {
  std::string out;
  for (const auto& s : t_scopes) out += (out.empty() ? "" : ".") + s;
  return out;
}

namespace internal {

std::string capture_creation_trace() {
  std::string out;
  if (const char* op = detail::current_op_name()) out += "  op: " + std::string(op) + "\n";
  const std::string scope = current_scope();
  if (!scope.empty()) out += "  module: " + scope + "\n";
  void* frames[48];
  const int n = backtrace(frames, 48);
  char** syms = backtrace_symbols(frames, n);
  if (!syms) return out;
  // Skip the frames inside autograd itself (Node's constructor and this function).
  int shown = 0;
  for (int i = 0; i < n && shown < 24; ++i) {
    const std::string line = symbolize(syms[i]);
    if (line.find("hearth::autograd::Node::Node") != std::string::npos ||
        line.find("capture_creation_trace") != std::string::npos || line.find("make_shared") != std::string::npos ||
        line.find("__shared_count") != std::string::npos || line.find("_Sp_counted") != std::string::npos)
      continue;
    out += "    #" + std::to_string(shown++) + " " + line + "\n";
  }
  std::free(syms);
  return out;
}

}  // namespace internal

// ---- graph growth (SEED G2) ----

namespace {
constexpr size_t kGrowthSteps = 5;  // consecutive growing steps before warning
std::mutex g_growth_mu;
std::deque<int64_t> g_history;
bool g_warned = false;
}  // namespace

void on_optimizer_step() {
  const int64_t now = live_nodes();
  std::string msg;
  {
    std::lock_guard<std::mutex> g(g_growth_mu);
    g_history.push_back(now);
    if (g_history.size() > kGrowthSteps + 1) g_history.pop_front();
    bool growing = g_history.size() == kGrowthSteps + 1;
    for (size_t i = 1; growing && i < g_history.size(); ++i) growing = g_history[i] > g_history[i - 1];
    if (!growing) {
      if (g_history.size() >= 2 && g_history.back() <= g_history[g_history.size() - 2]) g_warned = false;
      return;
    }
    if (g_warned) return;
    g_warned = true;
    const int64_t per_step = (g_history.back() - g_history.front()) / static_cast<int64_t>(kGrowthSteps);
    msg = detail::str("the autograd graph keeps growing across optimizer steps (", now, " live graph nodes, about +",
                      per_step, " per step over the last ", kGrowthSteps, " steps). A tensor that still has "
                      "history is probably kept across iterations, e.g. `total_loss += loss`: every iteration's "
                      "graph stays alive. Accumulate a plain number instead (loss.item<double>()), or "
                      "loss.detach()");
  }
  warn(msg);
}

void reset_graph_growth_monitor() {
  std::lock_guard<std::mutex> g(g_growth_mu);
  g_history.clear();
  g_warned = false;
}

}  // namespace hearth::autograd
