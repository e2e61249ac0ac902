// run_isolated: libhdf5 on an untrusted file in a forked child, results through two memfds.
#include "isolate.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "hearth/error.h"

namespace hearth_hdf5 {
namespace {

bool g_in_child = false;

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw hearth::FormatError("HDF5 file '" + file + "': " + msg);
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // the parent reports a short manifest
    c += w;
    n -= static_cast<size_t>(w);
  }
}

class ChildSide final : public ChildIO {
 public:
  ChildSide(int manifest_fd, int data_fd) : manifest_fd_(manifest_fd), data_fd_(data_fd) {}
  void manifest(const std::string& bytes) override { write_all(manifest_fd_, bytes.data(), bytes.size()); }
  void* data(uint64_t n) override {
    if (n == 0) return nullptr;
    if (::ftruncate(data_fd_, static_cast<off_t>(n)) != 0) throw std::bad_alloc();
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, data_fd_, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }

 private:
  int manifest_fd_, data_fd_;
};

/// Bytes of this process's address space now (/proc/self/statm's first field).
uint64_t address_space_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t pages = 0;
  f >> pages;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

double timeout_seconds(uint64_t file_size) {
  if (const char* v = std::getenv("HEARTH_HDF5_TIMEOUT"); v && *v) {
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    if (end != v && s > 0) return s;
  }
  return 60.0 + static_cast<double>(file_size) / 20e6;
}

std::string signal_text(int sig) {
  const char* d = ::strsignal(sig);
  return std::string(d ? d : "signal") + ", signal " + std::to_string(sig);
}

}  // namespace

bool in_isolated_child() { return g_in_child; }

bool isolation_enabled() {
  const char* v = std::getenv("HEARTH_HDF5_ISOLATE");
  return !(v && std::string(v) == "0");
}

IsolatedResult run_isolated(const std::string& file, uint64_t file_size, uint64_t budget_bytes,
                            const std::function<void(ChildIO&)>& fn) {
  Fd manifest(::memfd_create("hearth-hdf5-manifest", MFD_CLOEXEC));
  Fd data(::memfd_create("hearth-hdf5-data", MFD_CLOEXEC));
  int p[2];
  if (manifest.fd < 0 || data.fd < 0 || ::pipe2(p, O_CLOEXEC) != 0)
    fail(file, std::string("cannot set up the reader process: ") + std::strerror(errno));
  Fd err_r(p[0]), err_w(p[1]);
  const uint64_t cap = address_space_bytes() + budget_bytes + (uint64_t{1} << 30);

  const pid_t pid = ::fork();
  if (pid < 0) fail(file, std::string("cannot start the reader process: ") + std::strerror(errno));
  if (pid == 0) {
    // The child: one thread, a copy of the parent's memory; it must never return into the caller.
    g_in_child = true;
    ::close(err_r.fd);
    // The pipe is the child's only voice: what libhdf5 (or a sanitizer catching it) would print
    // on a hostile file is not the user's output. HEARTH_HDF5_CHILD_STDERR=1 keeps it, to debug.
    if (const char* v = std::getenv("HEARTH_HDF5_CHILD_STDERR"); !(v && std::string(v) == "1")) {
      const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (devnull >= 0) ::dup2(devnull, STDERR_FILENO);
    }
    struct rlimit rl {cap, cap};
    ::setrlimit(RLIMIT_AS, &rl);
    std::string msg;
    try {
      ChildSide io(manifest.fd, data.fd);
      fn(io);
      ::_exit(0);
    } catch (const hearth::Error& e) {
      msg = e.what();
    } catch (const std::bad_alloc&) {
      msg = "HDF5 file '" + file + "': out of memory in the reader (more than " + std::to_string(budget_bytes >> 20) +
            " MiB beyond the declared data; a corrupt size?)";
    } catch (const std::exception& e) {
      msg = "HDF5 file '" + file + "': " + e.what();
    } catch (...) {
      msg = "HDF5 file '" + file + "': unknown error in the reader";
    }
    if (msg.size() > 4096) msg.resize(4096);
    write_all(err_w.fd, msg.data(), msg.size());
    ::_exit(3);
  }

  ::close(err_w.fd);
  err_w.fd = -1;
  const double limit = timeout_seconds(file_size);
  const auto t0 = std::chrono::steady_clock::now();
  std::string err;
  bool timed_out = false;
  for (;;) {
    const double left = limit - std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd pf{err_r.fd, POLLIN, 0};
    const int r = ::poll(&pf, 1, static_cast<int>(std::min(left * 1000.0 + 1.0, 1e9)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;  // re-check the deadline
    char buf[4096];
    const ssize_t n = ::read(err_r.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child exited (or closed the pipe on its way out)
    err.append(buf, static_cast<size_t>(n));
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    fail(file, "reading it did not finish within " + std::to_string(static_cast<int>(limit)) +
                   " s (libhdf5 hangs on some corrupt files; HEARTH_HDF5_TIMEOUT sets the limit)");
  if (WIFSIGNALED(st))
    fail(file, "libhdf5 crashed reading it (" + signal_text(WTERMSIG(st)) +
                   "): the file is corrupt or was made to attack HDF5 readers; hearth read it in a separate process");
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3 && !err.empty()) throw hearth::FormatError(err);
    // Any other status: the child died without reporting (a sanitizer build aborting on a libhdf5
    // fault exits with 1, not a signal).
    fail(file, "libhdf5 failed reading it (the reader process exited with status " +
                   std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : -1) +
                   "): the file is corrupt or was made to attack HDF5 readers; hearth read it in a separate process");
  }

  IsolatedResult out;
  struct stat ms {}, ds {};
  if (::fstat(manifest.fd, &ms) != 0 || ::fstat(data.fd, &ds) != 0)
    fail(file, std::string("cannot read the reader's result: ") + std::strerror(errno));
  out.manifest.resize(static_cast<size_t>(ms.st_size));
  if (ms.st_size > 0 && ::pread(manifest.fd, out.manifest.data(), out.manifest.size(), 0) != ms.st_size)
    fail(file, "cannot read the reader's manifest");
  out.data_size = static_cast<uint64_t>(ds.st_size);
  if (out.data_size > 0) {
    void* m = ::mmap(nullptr, out.data_size, PROT_READ, MAP_SHARED, data.fd, 0);
    if (m == MAP_FAILED) fail(file, std::string("cannot map the reader's data: ") + std::strerror(errno));
    const uint64_t n = out.data_size;
    out.data = std::shared_ptr<const unsigned char>(static_cast<const unsigned char*>(m),
                                                    [n](const unsigned char* q) { ::munmap(const_cast<unsigned char*>(q), n); });
  }
  return out;
}

void ManifestWriter::u64(uint64_t v) {
  for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void ManifestWriter::str(const std::string& s) {
  u64(s.size());
  out_ += s;
}
uint64_t ManifestReader::u64() {
  HEARTH_CHECK(at_ + 8 <= in_.size(), FormatError, "HDF5 reader: manifest ends early");
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in_[at_ + i])) << (8 * i);
  at_ += 8;
  return v;
}
std::string ManifestReader::str() {
  const uint64_t n = u64();
  HEARTH_CHECK(n <= in_.size() - at_, FormatError, "HDF5 reader: manifest ends early");
  std::string s = in_.substr(at_, n);
  at_ += n;
  return s;
}

}  // namespace hearth_hdf5
