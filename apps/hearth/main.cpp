// The `hearth` command: subcommands over the library, each in its own cmd_*.cpp. Exceptions
// become one line on stderr and exit code 1; a malformed command line exits 2 (docs/cli.md).
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "cli.h"
#include "hearth/hearth.h"

namespace {

void usage(std::ostream& os) {
  os << "usage: hearth <command> [options]\n\ncommands:\n";
  for (const auto& c : hearth::cli::commands()) {
    os << "  " << c.name << std::string(c.name.size() < 10 ? 10 - c.name.size() : 1, ' ') << c.summary << "\n";
  }
  os << "\n`hearth <command> --help` shows a command's options; docs/cli.md has the full grammar.\n";
}

/// Levenshtein distance, for "did you mean" on a mistyped command.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// The registered command closest to `cmd` (at most 2 edits, or a prefix), or "" if none is close.
std::string closest_command(const std::string& cmd) {
  std::string best;
  size_t best_d = 3;
  for (const auto& c : hearth::cli::commands()) {
    const size_t d = c.name.rfind(cmd, 0) == 0 && cmd.size() >= 2 ? 1 : edit_distance(cmd, c.name);
    if (d < best_d) {
      best_d = d;
      best = c.name;
    }
  }
  return best;
}

}  // namespace

/// Ctrl-C: exit 130 without running destructors of half-finished work (docs/cli.md). Commands
/// that must save first (train with --checkpoint-dir) install their own handler.
extern "C" void hearth_cli_on_interrupt(int) { std::_Exit(130); }

int main(int argc, char** argv) {
  // Never die on a signal: a closed pipe (`hearth plugins | head`) becomes a write error.
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, hearth_cli_on_interrupt);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage(std::cerr);
    return 2;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(std::cout);
    return 0;
  }
  if (cmd == "--version") {
    std::cout << "hearth " << HEARTH_VERSION_STRING << "\n";
    return 0;
  }
  try {
    for (const auto& c : hearth::cli::commands()) {
      if (c.name == cmd) return c.run(args);
    }
    const std::string near = closest_command(cmd);
    std::cerr << "hearth: unknown command '" << cmd << "'";
    if (!near.empty()) std::cerr << "; did you mean '" << near << "'?";
    std::cerr << " (see `hearth --help`)\n";
    return 2;
  } catch (const hearth::cli::UsageError& e) {
    std::cerr << "hearth " << cmd << ": " << e.what() << " (see `hearth " << cmd << " --help`)\n";
    return 2;
  } catch (const std::bad_alloc&) {
    // The sites whose sizes come from files or shapes name bytes and purpose (OutOfMemoryError);
    // anything else still gets one line that says what happened.
    std::cerr << "hearth " << cmd << ": error: out of memory (an allocation of the C++ runtime failed)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "hearth " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}
