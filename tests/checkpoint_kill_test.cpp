// Kill test (issue #7 acceptance): a child process saving checkpoints in a loop is killed with
// SIGKILL at random moments; each time the previous checkpoint must be intact and loadable through
// `latest`, with consistent contents. 20 rounds here; bench/ckpt_kill_stress.sh runs 100
// (HEARTH_CKPT_KILL_ROUNDS).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "test_util.h"

using namespace hearth;
namespace fs = std::filesystem;

namespace {

/// Starts the helper with its stdout on a pipe; `out_fd` receives the read end.
pid_t spawn(const std::vector<std::string>& args, int* out_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(fds[1]);
  *out_fd = fds[0];
  return pid;
}

/// Reads the child's output until its "ready" line (plugins loaded, model built): kills are timed
/// from there, so a slow start on a loaded machine does not turn every round into a no-op.
bool wait_ready(int fd) {
  std::string got;
  char buf[256];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (got.find("ready\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
  }
  return got.find("ready\n") != std::string::npos;
}

int run_to_end(const std::vector<std::string>& args) {
  int fd = -1;
  const pid_t pid = spawn(args, &fd);
  char buf[256];
  while (::read(fd, buf, sizeof buf) > 0) {}
  ::close(fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Loads the checkpoint `latest` names and checks it is whole: every parameter holds its step.
int64_t check_intact(const std::string& dir) {
  auto model = std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::LinearImpl>(1024, 2048), std::make_shared<nn::LinearImpl>(2048, 1024)});
  TrainingState s;
  s.model = model.get();
  load_training_checkpoint(dir, s, {.strict = true, .restore_rng = false});
  EXPECT_EQ(s.extra.at("step"), std::to_string(s.global_step));
  EXPECT_EQ(s.epoch, s.global_step / 10);
  for (auto& p : model->parameters()) {
    EXPECT_EQ(p.min().item<float>(), static_cast<float>(s.global_step));
    EXPECT_EQ(p.max().item<float>(), static_cast<float>(s.global_step));
  }
  return s.global_step;
}

void kill_rounds(const std::string& ext) {
  const char* env = std::getenv("HEARTH_CKPT_KILL_ROUNDS");
  const int rounds = env ? std::atoi(env) : 20;
  const test::TempDir tmp("hearth_ckpt_kill");
  const fs::path dir = tmp.str();
  ASSERT_EQ(run_to_end({HEARTH_CKPT_KILL_HELPER, dir.string(), "once", "1", ext}), 0);
  int64_t last = check_intact(dir.string());
  ASSERT_EQ(last, 1);
  const unsigned seed = static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::mt19937 rng(seed);
  SCOPED_TRACE("random seed " + std::to_string(seed));
  // Kills land up to ~5 saves after the child is ready, so they hit every phase of a save
  // (writing, fsync, rename, `latest`, pruning), sometimes before the first one. A save is timed
  // here first, so the window follows the machine's speed and load.
  int64_t save_us = 0;
  {
    auto model = std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::LinearImpl>(1024, 2048), std::make_shared<nn::LinearImpl>(2048, 1024)});
    TrainingState s;
    s.model = model.get();
    const auto t0 = std::chrono::steady_clock::now();
    save_training_checkpoint((dir / ("timing" + ext)).string(), s);
    save_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    fs::remove(dir / ("timing" + ext));
  }
  std::uniform_int_distribution<int64_t> delay_us(0, 5 * save_us + 20000);
  int advanced = 0, mid_write = 0;
  for (int i = 0; i < rounds; ++i) {
    int fd = -1;
    const pid_t pid = spawn({HEARTH_CKPT_KILL_HELPER, dir.string(), "loop", std::to_string(last + 1), ext}, &fd);
    ASSERT_GT(pid, 0);
    const bool ready = wait_ready(fd);
    if (ready) std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(pid, SIGKILL);
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(ready) << "round " << i << ": the helper never became ready";
    ASSERT_TRUE(WIFSIGNALED(status)) << "round " << i << ": the helper ended by itself (status " << status << ")";
    int64_t now = 0;
    ASSERT_NO_THROW(now = check_intact(dir.string())) << "round " << i;
    EXPECT_GE(now, last) << "round " << i;
    advanced += now > last;
    last = now;
    // Temporaries of killed writers are removed by the next save: only the last one's may remain.
    int temporaries = 0;
    for (auto& e : fs::directory_iterator(dir)) temporaries += e.path().filename().string()[0] == '.';
    EXPECT_LE(temporaries, 1) << "round " << i;
    mid_write += temporaries > 0;
  }
  std::printf("[   kill   ] %s: %d rounds (a save takes %lld us), %d saw a newer checkpoint, %d killed while writing a file\n",
              ext.c_str(), rounds, static_cast<long long>(save_us), advanced, mid_write);
  EXPECT_GT(advanced, 0) << "no round saved anything: the delays are too short to test anything";
}

}  // namespace

TEST(CkptKill, SigkillWhileSavingLeavesThePreviousCheckpointIntact) { kill_rounds(".safetensors"); }
TEST(CkptKill, SigkillWhileSavingHdf5LeavesThePreviousCheckpointIntact) { kill_rounds(".h5"); }
