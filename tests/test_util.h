// Small helpers shared by the tests: an error's message, substring checks, warning capture.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "hearth/error.h"

namespace hearth::test {

/// The message of the hearth::Error that f throws, or "" if it throws none.
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Collects hearth::warn() messages for its lifetime, then restores the previous handler.
struct WarningCapture {
  std::vector<std::string> got;
  WarningHandler prev;
  WarningCapture() {
    prev = set_warning_handler([this](const std::string& m) { got.push_back(m); });
  }
  ~WarningCapture() { set_warning_handler(prev); }
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;
};

}  // namespace hearth::test
