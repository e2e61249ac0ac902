// Runs every `hearth ...` command of the ```sh blocks in docs/guide.md and docs/cli.md (parsed at
// test time, in document order, in one temp directory) on small limits, so the docs cannot drift
// from the code: each must exit 0, or, where it needs what this machine lacks (--backend cuda),
// fail with the documented message. Where the docs show an output's shape, the output must match.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn/models.h"
#include "test_util.h"

namespace fs = std::filesystem;
using hearth::test::contains;
using hearth::test::RunResult;
using hearth::test::TempDir;

namespace {

const std::string kHearth = std::string(HEARTH_BUILD_DIR) + "/bin/hearth";
const std::string kDocs = std::string(HEARTH_TEST_DATA_DIR) + "/../docs/";

struct DocCommand {
  std::string file;  // docs/guide.md
  int line;          // where the command starts
  std::string text;  // "hearth train --model mlp ..." (continuations joined, comment removed)
};

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

/// Removes a trailing shell comment (" # ..." outside quotes).
std::string strip_comment(const std::string& s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return trim(s.substr(0, i));
    }
  }
  return trim(s);
}

/// A grammar line ("hearth train [--model NAME] ..."), not a command to run.
bool is_synopsis(const std::string& cmd) {
  return cmd.find('[') != std::string::npos || cmd.find(" | ") != std::string::npos ||
         cmd.find("...") != std::string::npos || cmd.find("\xE2\x80\xA6") != std::string::npos;
}

/// The `hearth ...` lines of the ```sh / ```bash / ```shell blocks of a Markdown file.
std::vector<DocCommand> extract(const std::string& name) {
  std::vector<DocCommand> out;
  std::ifstream f(kDocs + name);
  EXPECT_TRUE(f.good()) << kDocs + name;
  std::string line, pending;
  int pending_line = 0;
  bool in_sh = false, in_block = false;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    const std::string t = trim(line);
    if (t.rfind("```", 0) == 0) {
      if (!in_block) {
        const std::string lang = trim(t.substr(3));
        in_block = true;
        in_sh = lang == "sh" || lang == "bash" || lang == "shell" || lang == "console";
      } else {
        in_block = in_sh = false;
      }
      continue;
    }
    if (!in_sh) continue;
    std::string piece = t;
    if (pending.empty() && piece.rfind("$ ", 0) == 0) piece = piece.substr(2);
    if (pending.empty() && piece.rfind("hearth ", 0) != 0 && piece != "hearth") continue;
    if (pending.empty()) pending_line = n;
    const bool continues = !piece.empty() && piece.back() == '\\';
    if (continues) piece.pop_back();
    pending += (pending.empty() ? "" : " ") + trim(strip_comment(piece));
    if (!continues) {
      if (!is_synopsis(pending)) out.push_back({name, pending_line, pending});
      pending.clear();
    }
  }
  return out;
}

std::vector<std::string> words(const std::string& cmd) {
  std::vector<std::string> w;
  std::istringstream is(cmd);
  std::string s;
  while (is >> s) w.push_back(s);
  return w;
}

/// The value of `--opt VALUE` in a command, or "".
std::string option(const std::vector<std::string>& w, const std::string& opt) {
  for (size_t i = 0; i + 1 < w.size(); ++i)
    if (w[i] == opt) return w[i + 1];
  return "";
}

/// The documented shape of the per-epoch line (cli.md's block that starts with "epoch "), as a
/// regex: the same words in the same order, any numbers.
std::string epoch_line_pattern() {
  std::ifstream f(kDocs + "cli.md");
  std::string line;
  bool in_block = false;
  while (std::getline(f, line)) {
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block;
      continue;
    }
    if (in_block && line.rfind("epoch ", 0) == 0) {
      std::string pat;
      for (const std::string& w : words(line)) {
        std::string esc;
        for (char c : w) {
          if (std::string("/.+*?()[]{}|^$\\").find(c) != std::string::npos) esc += '\\';
          esc += c;
        }
        // Numbers in the example stand for any number.
        const bool number = std::regex_match(w, std::regex("[0-9][0-9./]*"));
        pat += (pat.empty() ? "" : "\\s+") + (number ? std::string("[0-9][0-9./e+-]*") : esc);
      }
      return pat;
    }
  }
  return "";
}

/// What a command needs first: a state dict for --weights/--init-weights when no earlier
/// command made it (the model the command names, default lenet).
void prepare_inputs(const std::vector<std::string>& w, const std::string& dir) {
  for (const char* opt : {"--weights", "--init-weights"}) {
    const std::string file = option(w, opt);
    if (file.empty() || fs::exists(fs::path(dir) / file)) continue;
    std::string model = option(w, "--model");
    if (model.empty()) model = "lenet";
    hearth::load_plugins();
    auto m = hearth::nn::create_model(model);
    hearth::save_state_dict((fs::path(dir) / file).string(), *m);
  }
}

/// The command as run: small limits where it trains or evaluates, no progress bar.
std::string runnable(const std::string& cmd) {
  const auto w = words(cmd);
  std::string out = cmd;
  const std::string sub = w.size() > 1 ? w[1] : "";
  if (sub == "train") {
    if (option(w, "--train-limit").empty()) out += " --train-limit 256";
    if (option(w, "--test-limit").empty()) out += " --test-limit 128";
    if (option(w, "--progress").empty()) out += " --progress none";
  } else if (sub == "eval") {
    if (option(w, "--test-limit").empty()) out += " --test-limit 128";
  }
  return out;
}

bool backend_available(const std::string& type) {
  for (const auto& b : hearth::available_backends())
    if (b == type) return true;
  return false;
}

}  // namespace

TEST(DocsExamples, EveryCommandOfTheGuideAndCliDocsRuns) {
  std::vector<DocCommand> cmds = extract("guide.md");
  const size_t from_guide = cmds.size();
  for (auto& c : extract("cli.md")) cmds.push_back(c);
  // The extraction itself must find the docs' commands (guide: train, eval, summary, graph,
  // export, plugins; cli.md: its examples).
  EXPECT_GE(from_guide, 8u);
  EXPECT_GE(cmds.size() - from_guide, 5u);
  const std::string epoch_pat = epoch_line_pattern();
  ASSERT_FALSE(epoch_pat.empty()) << "cli.md shows no epoch line";
  const std::regex epoch_re(epoch_pat);

  TempDir dir("hearth_docs");
  const auto t0 = std::chrono::steady_clock::now();
  for (const DocCommand& c : cmds) {
    SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + ": " + c.text);
    const auto w = words(c.text);
    prepare_inputs(w, dir.str());
    const std::string run = runnable(c.text);
    RunResult r = hearth::test::run_command("cd '" + dir.str() + "' && HEARTH_PLUGIN_PATH= '" + kHearth + "'" +
                                            run.substr(std::string("hearth").size()));
    const std::string backend = option(w, "--backend");
    const std::string type = backend.substr(0, backend.find(':'));
    if (!backend.empty() && !backend_available(type)) {
      // Documented (cli.md): exit 1, one line naming the backend, the available ones and why.
      EXPECT_EQ(r.code, 1) << r.out << r.err;
      EXPECT_TRUE(contains(r.err, "backend '" + backend + "' is not available (available backends: ")) << r.err;
      continue;
    }
    EXPECT_EQ(r.code, 0) << "ran: " << run << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
    if (r.code != 0) continue;
    const std::string sub = w.size() > 1 ? w[1] : "";
    if (sub == "train") {
      EXPECT_TRUE(std::regex_search(r.out, epoch_re)) << "no line of the documented shape " << epoch_pat << " in:\n"
                                                      << r.out;
      EXPECT_TRUE(contains(r.out, "done: model")) << r.out;
    }
    if (contains(c.text, "--json") && sub != "train") {
      // A JSON printer prints JSON and nothing else.
      EXPECT_NO_THROW((void)nlohmann::json::parse(r.out)) << r.out;
    }
    for (const char* out_opt : {"--out", "--metrics-json", "--dump-logits", "--checkpoint-dir", "--log-dir"}) {
      const std::string f = option(w, out_opt);
      if (!f.empty()) {
        EXPECT_TRUE(fs::exists(fs::path(dir.str()) / f)) << out_opt << " " << f << " was not written";
      }
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 120.0) << "the docs' commands should run on small limits";
  std::printf("ran %zu documented commands in %.1f s\n", cmds.size(), secs);
}
