// Small helpers shared by the tests: an error's message, substring checks, warning capture.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
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

/// A fresh directory under the system temp directory, removed with its contents at the end.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "hearth_test") {
    static int n = 0;
    path_ = std::filesystem::temp_directory_path() /
            (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// The directory, or `leaf` inside it.
  std::string str(const std::string& leaf = "") const { return leaf.empty() ? path_.string() : (path_ / leaf).string(); }
  std::string operator/(const std::string& leaf) const { return str(leaf); }

 private:
  std::filesystem::path path_;
};

struct RunResult {
  int code;         ///< exit code; -1 if the process died on a signal
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// Runs a shell command line, capturing stdout and stderr apart.
inline RunResult run_command(const std::string& cmd) {
  TempDir tmp("hearth_run");
  const std::string err_file = tmp / "stderr";
  FILE* f = popen((cmd + " 2>'" + err_file + "'").c_str(), "r");
  if (!f) return {-1, "", "popen failed"};
  RunResult r{-1, "", ""};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  const int st = pclose(f);
  // sh reports a signal-killed child as 128 + signal; both mean "died on a signal".
  r.code = WIFEXITED(st) && WEXITSTATUS(st) < 128 ? WEXITSTATUS(st) : -1;
  std::ifstream e(err_file);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return r;
}

}  // namespace hearth::test
