// CheckpointManager: a directory of training checkpoints with an atomically replaced `latest`
// pointer and the last K kept; resolve_checkpoint follows `latest` (docs/checkpoints.md).
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "hearth/checkpoint.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLatest = "latest";
constexpr const char* kPrefix = "ckpt-";
constexpr size_t kStepDigits = 10;

[[noreturn]] void bad_dir(const std::string& dir, const std::string& msg) {
  throw FormatError("checkpoint directory '" + dir + "': field 'latest': " + msg);
}

/// The name `latest` holds, or nullopt if the directory has no `latest`.
std::optional<std::string> read_latest(const std::string& dir) {
  const fs::path p = fs::path(dir) / kLatest;
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  std::ifstream in(p, std::ios::binary);
  if (!in) bad_dir(dir, "cannot read '" + p.string() + "'");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.empty()) bad_dir(dir, "'" + p.string() + "' is empty");
  if (text.size() > 255 || text.find('/') != std::string::npos || text.find('\0') != std::string::npos ||
      text == "." || text == "..")
    bad_dir(dir, "'" + p.string() + "' does not hold a file name of this directory");
  return text;
}

/// The file `latest` names, which must exist.
std::optional<std::string> latest_file(const std::string& dir) {
  auto name = read_latest(dir);
  if (!name) return std::nullopt;
  const fs::path f = fs::path(dir) / *name;
  std::error_code ec;
  if (!fs::is_regular_file(f, ec))
    bad_dir(dir, "points at '" + *name + "', which does not exist (missing file '" + f.string() + "')");
  return f.string();
}

bool is_checkpoint_name(const std::string& n, const std::string& ext) {
  const size_t pl = std::char_traits<char>::length(kPrefix);
  if (n.size() != pl + kStepDigits + ext.size() || n.compare(0, pl, kPrefix) != 0 ||
      n.compare(pl + kStepDigits, std::string::npos, ext) != 0)
    return false;
  return std::all_of(n.begin() + static_cast<std::ptrdiff_t>(pl),
                     n.begin() + static_cast<std::ptrdiff_t>(pl + kStepDigits), [](char c) { return c >= '0' && c <= '9'; });
}

/// Removes temporary files of writers that died (".ckpt-....tmp.<pid>.<n>", ".latest.tmp.<pid>.<n>")
/// whose process is gone; a live writer's are left alone.
void remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir, ec)) {
    const std::string n = de.path().filename().string();
    if (n.size() < 2 || n[0] != '.' || (n.compare(1, 5, kPrefix) != 0 && n.compare(1, 6, kLatest) != 0)) continue;
    const size_t t = n.rfind(".tmp.");
    if (t == std::string::npos) continue;
    const size_t dot = n.find('.', t + 5);
    if (dot == std::string::npos) continue;
    char* end = nullptr;
    const long pid = std::strtol(n.c_str() + t + 5, &end, 10);
    if (end != n.c_str() + dot || pid <= 0) continue;
    if (pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;  // still running
    fs::remove(de.path(), ec);
  }
}

}  // namespace

std::string resolve_checkpoint(const std::string& path_or_dir) {
  std::error_code ec;
  if (fs::is_directory(path_or_dir, ec)) {
    auto f = latest_file(path_or_dir);
    if (!f) bad_dir(path_or_dir, "missing: no '" + std::string(kLatest) + "' pointer (no checkpoint saved there yet?)");
    return *f;
  }
  if (!fs::exists(path_or_dir, ec)) throw FormatError("checkpoint '" + path_or_dir + "': no such file or directory");
  return path_or_dir;
}

CheckpointManager::CheckpointManager(std::string dir, int keep_last, std::string extension)
    : dir_(std::move(dir)), keep_last_(keep_last), extension_(std::move(extension)) {
  HEARTH_CHECK(keep_last_ >= 1, ValueError, "CheckpointManager '", dir_, "': keep_last must be >= 1, got ", keep_last_);
  HEARTH_CHECK(!extension_.empty() && extension_[0] == '.' && extension_.find('/') == std::string::npos, ValueError,
               "CheckpointManager '", dir_, "': extension must start with '.', got '", extension_, "'");
  std::error_code ec;
  fs::create_directories(dir_, ec);
  HEARTH_CHECK(!ec && fs::is_directory(dir_), FormatError, "checkpoint directory '", dir_, "': cannot create it: ",
               ec.message());
}

std::string CheckpointManager::save(const TrainingState& state) {
  remove_stale_temporaries(dir_);
  char digits[32];
  std::snprintf(digits, sizeof digits, "%010lld", static_cast<long long>(state.global_step));
  const std::string name = std::string(kPrefix) + digits + extension_;
  const std::string path = (fs::path(dir_) / name).string();
  // 1. The checkpoint, complete and durable under its own name.
  save_training_checkpoint(path, state);
  // 2. Then `latest` names it (replaced atomically: readers see the old or the new name).
  write_file_atomically((fs::path(dir_) / kLatest).string(), [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << name << "\n";
    out.close();
    HEARTH_CHECK(out.good(), FormatError, "checkpoint directory '", dir_, "': cannot write '", tmp, "'");
  });
  // 3. Only then the old ones go: never the one `latest` names.
  std::vector<std::string> files = list();
  const size_t keep = static_cast<size_t>(keep_last_);
  if (files.size() > keep) {
    for (size_t i = 0; i + keep < files.size(); ++i) {
      if (files[i] == path) continue;
      std::error_code ec;
      fs::remove(files[i], ec);
    }
  }
  return path;
}

std::optional<std::string> CheckpointManager::latest() const { return latest_file(dir_); }

bool CheckpointManager::load_latest(TrainingState& state, const CheckpointLoadOptions& options) const {
  auto f = latest();
  if (!f) return false;
  load_training_checkpoint(*f, state, options);
  return true;
}

std::vector<std::string> CheckpointManager::list() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir_, ec)) {
    const std::string n = de.path().filename().string();
    if (is_checkpoint_name(n, extension_)) names.push_back(n);
  }
  std::sort(names.begin(), names.end());  // fixed-width step numbers: name order is step order
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back((fs::path(dir_) / n).string());
  return out;
}

}  // namespace hearth
