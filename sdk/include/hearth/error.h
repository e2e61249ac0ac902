// Typed exceptions and the one checking macro: user errors throw, library code never aborts.
#pragma once

#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace hearth {

/// Base of every error hearth throws for bad input or bad use.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

/// Shapes do not fit the op (broadcast, view, matmul inner dims, ...).
class ShapeError : public Error { using Error::Error; };
/// A dtype is not supported by the op, or a lossy conversion was asked for.
class DTypeError : public Error { using Error::Error; };
/// Devices are mixed, unknown or unavailable.
class DeviceError : public Error { using Error::Error; };
/// A file is malformed; the message names the file and the field.
class FormatError : public Error { using Error::Error; };
/// A plugin could not be loaded or registered something inconsistent.
class PluginError : public Error { using Error::Error; };
/// Wrong use of autograd (saved tensor modified, backward twice, ...).
class AutogradError : public Error { using Error::Error; };
/// Any other bad argument value.
class ValueError : public Error { using Error::Error; };
/// An index is out of range.
class IndexError : public ValueError { using ValueError::ValueError; };
/// The op exists but not for this combination (dtype, device, layout).
class NotImplementedError : public Error { using Error::Error; };
/// A device (or the host) could not provide the memory asked for: "out of memory allocating N
/// bytes for <what>" (like torch.OutOfMemoryError). hearth never lets a bare std::bad_alloc out
/// of an allocation whose size came from a file or a shape.
class OutOfMemoryError : public Error { using Error::Error; };

/// Thrown by HEARTH_INTERNAL_ASSERT: a bug in hearth or a plugin, never a user error.
class InternalError : public Error { using Error::Error; };

/// Warnings (traps that are not errors: SEED A1-trap, G2). The default handler prints
/// "hearth: warning: MESSAGE" to stderr; set_warning_handler returns the previous handler.
using WarningHandler = std::function<void(const std::string&)>;
WarningHandler set_warning_handler(WarningHandler handler);
void warn(const std::string& message);

namespace detail {

template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
inline std::string str() { return {}; }

/// The op the current thread is executing, set by the dispatcher; names the op in errors.
const char* current_op_name() noexcept;

std::string format_error(const char* file, int line, const std::string& msg);

template <typename E, typename... Args>
[[noreturn]] void throw_error(const char* file, int line, const Args&... args) {
  throw E(format_error(file, line, str(args...)));
}

}  // namespace detail

/// Scope that names the op in errors raised inside it (ops set it; users rarely need it).
class OpNameGuard {
 public:
  explicit OpNameGuard(const char* name) noexcept;
  ~OpNameGuard();
  OpNameGuard(const OpNameGuard&) = delete;
  OpNameGuard& operator=(const OpNameGuard&) = delete;

 private:
  const char* prev_;
};

}  // namespace hearth

/// HEARTH_CHECK(cond, ShapeError, "message parts", ...): throws hearth::ShapeError with the
/// current op name and source location when cond is false.
#define HEARTH_CHECK(cond, Kind, ...)                                                 \
  do {                                                                                \
    if (!(cond)) [[unlikely]]                                                         \
      ::hearth::detail::throw_error<::hearth::Kind>(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

/// Invariants of hearth itself; failing one is a bug, reported as InternalError (never abort).
#define HEARTH_INTERNAL_ASSERT(cond, ...)                                                   \
  do {                                                                                      \
    if (!(cond)) [[unlikely]]                                                               \
      ::hearth::detail::throw_error<::hearth::InternalError>(                               \
          __FILE__, __LINE__, "internal assert failed: " #cond " ", ##__VA_ARGS__);         \
  } while (0)
