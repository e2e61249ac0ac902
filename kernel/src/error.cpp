// Error formatting and the thread-local "current op" that names the op in every message.
#include "hearth/error.h"

#include <cstring>
#include <iostream>
#include <mutex>
#include <string_view>

namespace hearth {
namespace {
thread_local const char* t_current_op = nullptr;
}

namespace detail {
const char* current_op_name() noexcept { return t_current_op; }

/// `file` (a __FILE__) relative to the source tree: "kernel/src/x.cpp", never an absolute build
/// path. The compiler may give it absolute (CMake passes absolute paths), relative to the build
/// directory (ccache with CCACHE_BASEDIR: "../kernel/src/x.cpp"), or from another tree (an
/// out-of-tree plugin including hearth's headers).
std::string source_relative(const char* file) {
  std::string_view f(file);
#ifdef HEARTH_SOURCE_DIR
  constexpr std::string_view root = HEARTH_SOURCE_DIR "/";
  if (f.substr(0, root.size()) == root) return std::string(f.substr(root.size()));
#endif
  while (f.substr(0, 2) == "./" || f.substr(0, 3) == "../") f.remove_prefix(f[1] == '/' ? 2 : 3);
  if (f.empty() || f[0] != '/') return std::string(f);
  // Another checkout or an installed SDK: from the last top-level directory of hearth's tree on.
  size_t best = std::string_view::npos;
  for (std::string_view dir : {"/kernel/", "/plugins/", "/sdk/", "/apps/", "/examples/", "/tests/", "/onnx/",
                               "/bench/", "/include/hearth/"}) {
    const size_t p = f.find(dir);
    if (p < best) best = p;
  }
  if (best != std::string_view::npos) return std::string(f.substr(best + 1));
  const size_t slash = f.rfind('/');  // someone else's source file: its name is enough
  return std::string(f.substr(slash + 1));
}

std::string format_error(const char* file, int line, const std::string& msg) {
  const std::string short_file = source_relative(file);
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
