// write_file_atomically: temporary file in the target's directory, fsync, rename, fsync of the
// directory, so a crash never leaves a half-written file under the real name (DESIGN "Files").
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "hearth/checkpoint.h"
#include "hearth/error.h"

namespace hearth {
namespace {

[[noreturn]] void fail_sys(const std::string& path, const std::string& what, int err) {
  throw FormatError("file '" + path + "': " + what + ": " + std::strerror(err));
}

/// Removes the temporary unless the rename happened (also when `write` throws).
struct TempGuard {
  std::string tmp;
  bool committed = false;
  ~TempGuard() {
    if (!committed && !tmp.empty()) ::unlink(tmp.c_str());
  }
};

/// fsync of a file by name; HDF5 and other libraries close their own descriptors, so the
/// temporary is reopened for it.
void fsync_path(const std::string& path, const std::string& target) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_sys(target, "cannot reopen temporary file '" + path + "' to fsync it", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail_sys(target, "fsync of temporary file '" + path + "'", err);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string fname = target.filename().string();
  HEARTH_CHECK(!fname.empty() && fname != "." && fname != "..", FormatError, "file '", path,
               "': the path does not name a file");
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";

  // Unique per process (counter) and across processes (pid); the name is reserved with O_EXCL
  // (a stale file of a crashed process whose pid was reused is skipped), then handed to `write`,
  // which may recreate it (HDF5 truncates it on create).
  static std::atomic<uint64_t> counter{0};
  TempGuard guard;
  for (int attempt = 0;; ++attempt) {
    // Appended piece by piece: `"." + std::string` trips GCC 12's -Wrestrict false positive.
    std::string tmp_name(".");
    tmp_name.append(fname, 0, 200).append(".tmp.").append(std::to_string(::getpid()));
    tmp_name.append(".").append(std::to_string(counter.fetch_add(1)));
    const std::string candidate = (dir / tmp_name).string();
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      ::close(fd);
      guard.tmp = candidate;
      break;
    }
    const int err = errno;
    if (err != EEXIST || attempt >= 100) fail_sys(path, "cannot create temporary file '" + candidate + "'", err);
  }
  write(guard.tmp);
  fsync_path(guard.tmp, path);
  if (::rename(guard.tmp.c_str(), path.c_str()) != 0)
    fail_sys(path, "cannot rename temporary file '" + guard.tmp + "' over it", errno);
  guard.committed = true;
  // Make the rename itself durable. EINVAL: the file system cannot sync directories.
  const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) fail_sys(path, "cannot open directory '" + dir.string() + "' to fsync it", errno);
  const int rc = ::fsync(d);
  const int err = errno;
  ::close(d);
  if (rc != 0 && err != EINVAL) fail_sys(path, "fsync of directory '" + dir.string() + "'", err);
}

}  // namespace hearth
