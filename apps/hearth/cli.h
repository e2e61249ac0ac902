// Shared pieces of the `hearth` command: the command registry, the common options and the
// usage-error type. Each subcommand lives in its own cmd_*.cpp and registers itself here.
#pragma once

#include <boost/program_options.hpp>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hearth::cli {

namespace po = boost::program_options;

/// A malformed command line: exit code 2 with a pointer to `--help` (docs/cli.md).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Options every op-running subcommand shares.
struct Common {
  std::string backend = "cpu";
  std::vector<std::string> plugin_dirs;
  int threads = 0;
};

void add_plugin_dir_option(po::options_description& d, Common& c);
void add_common_options(po::options_description& d, Common& c);

/// Parses `args` against `d` (plus --help). Throws UsageError on a malformed line; sets `help`
/// and prints the options when --help was given. Positional words are rejected unless
/// `positional` names an option that takes them; `hidden` options (such as the one collecting
/// positional words) are parsed but not shown in --help.
po::variables_map parse(const std::vector<std::string>& args, const po::options_description& d, bool& help,
                        const po::positional_options_description* positional = nullptr,
                        const po::options_description* hidden = nullptr);

/// A floating-point option whose default --help shows as written ("0.05"), not as the nearest
/// double's 17 digits.
po::typed_value<double>* number_value(double* target, double default_value);

/// Loads the plugins of --plugin-dir (then the default places); a --plugin-dir that is not a
/// directory is a ValueError (exit 1) rather than silently ignored.
void load_plugin_dirs(const Common& c);

/// Fails (exit 1) before any work when `file` could not be written later: its directory is
/// missing or not writable, or `file` is a directory. `option` names it in the message.
void check_writable_file(const std::string& file, const std::string& option);
/// Creates `dir` if needed and checks that files can be made in it (exit 1 otherwise).
void check_writable_dir(const std::string& dir, const std::string& option);

/// Applies --threads (before the CPU plugin starts its thread pool).
void apply_threads(int threads);

/// Loads plugins from the common options and returns the strict backend device (--backend).
void apply_common(const Common& c);

using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct Command {
  std::string name;
  std::string summary;  ///< one line for `hearth --help`
  CommandFn run;
  int order = 100;      ///< position in the usage listing
};

/// Registers a subcommand; used through HEARTH_CLI_COMMAND from a cmd_*.cpp file.
bool register_command(Command c);
const std::vector<Command>& commands();

}  // namespace hearth::cli

#define HEARTH_CLI_CONCAT2(a, b) a##b
#define HEARTH_CLI_CONCAT(a, b) HEARTH_CLI_CONCAT2(a, b)
/// HEARTH_CLI_COMMAND("name", "one-line summary", order, fn) at namespace scope.
#define HEARTH_CLI_COMMAND(name, summary, order, fn)                                     \
  static const bool HEARTH_CLI_CONCAT(hearth_cli_registered_, __LINE__) =               \
      ::hearth::cli::register_command(::hearth::cli::Command{name, summary, fn, order})
