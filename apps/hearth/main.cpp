// The `hearth` command: subcommands over the library, each in its own cmd_*.cpp. Exceptions
// become one line on stderr and exit code 1; a malformed command line exits 2 (docs/cli.md).
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
    std::cerr << "hearth: unknown command '" << cmd << "'\n";
    usage(std::cerr);
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
