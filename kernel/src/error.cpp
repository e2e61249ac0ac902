// Error formatting and the thread-local "current op" that names the op in every message.
#include "hearth/error.h"

#include <cstring>
#include <iostream>
#include <mutex>

namespace hearth {
namespace {
thread_local const char* t_current_op = nullptr;
}

namespace detail {
const char* current_op_name() noexcept { return t_current_op; }

std::string format_error(const char* file, int line, const std::string& msg) {
  // Keep the path short: from the last "kernel/", "plugins/", "sdk/" or "apps/" on.
  const char* short_file = file;
  for (const char* root : {"/kernel/", "/plugins/", "/sdk/", "/apps/", "/examples/", "/tests/"}) {
    if (const char* p = std::strstr(file, root)) { short_file = p + 1; break; }
  }
  std::string out;
  if (t_current_op) {
    out += t_current_op;
    out += ": ";
  }
  out += msg;
  out += " [";
  out += short_file;
  out += ':';
  out += std::to_string(line);
  out += ']';
  return out;
}
}  // namespace detail

namespace {
std::mutex g_warn_mu;
WarningHandler& warning_handler() {
  static WarningHandler h;  // empty = print to stderr
  return h;
}
}  // namespace

WarningHandler set_warning_handler(WarningHandler handler) {
  std::lock_guard<std::mutex> g(g_warn_mu);
  WarningHandler prev = std::move(warning_handler());
  warning_handler() = std::move(handler);
  return prev;
}

void warn(const std::string& message) {
  WarningHandler h;
  {
    std::lock_guard<std::mutex> g(g_warn_mu);
    h = warning_handler();
  }
  if (h) h(message);
  else std::cerr << "hearth: warning: " << message << std::endl;
}

OpNameGuard::OpNameGuard(const char* name) noexcept : prev_(t_current_op) { t_current_op = name; }
OpNameGuard::~OpNameGuard() { t_current_op = prev_; }

}  // namespace hearth
