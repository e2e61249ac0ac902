// The `hearth` command as a user meets it: exit codes (1 for errors, 2 for a bad command line),
// one-line messages, `hearth plugins` and its --json form (DESIGN "Errors", "Plugins").
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kBuildDir = HEARTH_BUILD_DIR;
const std::string kHearth = kBuildDir + "/bin/hearth";
const std::string kBadDir = kBuildDir + "/test-plugins/bad";

using hearth::test::RunResult;

/// Runs `hearth ARGS` with an empty $HEARTH_PLUGIN_PATH, stderr captured apart from stdout.
RunResult run_hearth(const std::string& args) {
  return ::hearth::test::run_command("HEARTH_PLUGIN_PATH= '" + kHearth + "' " + args);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST(Cli, UnknownBackendExits1ListingAvailableBackends) {
  RunResult r = run_hearth("bench --backend nosuch");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "backend 'nosuch' is not available")) << r.err;
  EXPECT_TRUE(contains(r.err, "available backends: ")) << r.err;
  EXPECT_TRUE(contains(r.err, "testdev")) << r.err;
  EXPECT_EQ(lines(r.err), 1u) << "one clear line on stderr:\n" << r.err;
}

TEST(Cli, MalformedCommandLinesExit2) {
  for (const char* args : {"bench --size", "bench --size abc", "bench --nosuchoption", "bench --op nosuchop",
                           "plugins --nosuchoption", "plugins extra-positional", "nosuchcmd", ""}) {
    SCOPED_TRACE(args);
    RunResult r = run_hearth(args);
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_FALSE(r.err.empty());
  }
}

TEST(Cli, HelpAndVersionExit0) {
  EXPECT_EQ(run_hearth("--help").code, 0);
  EXPECT_EQ(run_hearth("plugins --help").code, 0);
  RunResult v = run_hearth("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_TRUE(contains(v.out, "hearth ")) << v.out;
}

TEST(Cli, PluginsJsonIsAnArrayOfRecords) {
  RunResult r = run_hearth("plugins --json");
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);  // nothing but the JSON on stdout
  ASSERT_TRUE(j.is_array());
  ASSERT_FALSE(j.empty());
  bool testdev = false;
  for (const auto& o : j) {
    for (const char* key : {"file", "status", "error", "name", "version", "abi", "registered"})
      EXPECT_TRUE(o.contains(key)) << key << " missing in " << o.dump();
    for (const char* key : {"devices", "ops", "kernels", "components"})
      EXPECT_TRUE(o["registered"].contains(key)) << key << " missing in " << o.dump();
    if (o["name"] == "hearth-testdev") {
      testdev = true;
      EXPECT_EQ(o["status"], "loaded");
      EXPECT_TRUE(o["error"].is_null());
      EXPECT_EQ(o["registered"]["devices"], nlohmann::json::array({"testdev"}));
    }
  }
  EXPECT_TRUE(testdev) << r.out;
}

TEST(Cli, PluginsWithBadDirListsErrorsAndExits0) {
  RunResult r = run_hearth("plugins --plugin-dir '" + kBadDir + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* f : {"notelf.so", "truncated.so", "no_entry.so", "wrong_abi_version.so", "wrong_abi_tag.so",
                        "throws.so", "dup_add_testdev.so", "twice_again.so", "missing_dep.so", "old_sdk.so"})
    EXPECT_TRUE(contains(r.out, std::string("/") + f + "\n  status:  error (")) << f << " in:\n" << r.out;
  EXPECT_TRUE(contains(r.out, "good_twice.so\n  status:  loaded")) << r.out;
  EXPECT_TRUE(contains(r.out, "hearth-testdev.so\n  status:  loaded")) << r.out;
  EXPECT_TRUE(contains(r.out, "discovery took ")) << r.out;

  RunResult j = run_hearth("plugins --json --plugin-dir '" + kBadDir + "'");
  ASSERT_EQ(j.code, 0) << j.err;
  int errors = 0;
  for (const auto& o : nlohmann::json::parse(j.out))
    if (o["status"] == "error") {
      ++errors;
      EXPECT_TRUE(o["error"].is_string() && !o["error"].get<std::string>().empty()) << o.dump();
    }
  EXPECT_GE(errors, 10);
}

TEST(Cli, MissingPluginDirIsReportedNotFatal) {
  RunResult r = run_hearth("plugins --plugin-dir /nonexistent/hearth-plugins");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "/nonexistent/hearth-plugins\n  status:  error (")) << r.out;
}

TEST(Cli, BenchRunsOnAvailableBackends) {
  // Strict --backend: these must run, not fall back (both need hearth-cpu for random fill).
  for (const char* backend : {"cpu", "testdev"}) {
    SCOPED_TRACE(backend);
    RunResult r = run_hearth(std::string("bench --op add --size 1000 --iters 2 --backend ") + backend);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, std::string("on ") + backend)) << r.out;
  }
}
