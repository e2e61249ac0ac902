// The `hearth` command's shared option handling and command registry (see cli.h).
#include "cli.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "hearth/hearth.h"

namespace hearth::cli {

void add_plugin_dir_option(po::options_description& d, Common& c) {
  d.add_options()("plugin-dir", po::value<std::vector<std::string>>(&c.plugin_dirs)->composing(),
                  "extra plugin directory (repeatable), searched before $HEARTH_PLUGIN_PATH and the default");
}

void add_common_options(po::options_description& d, Common& c) {
  add_plugin_dir_option(d, c);
  d.add_options()("backend", po::value<std::string>(&c.backend)->default_value("cpu"),
                  "device to run on (cpu, cuda, testdev, ...); strict: no fallback")(
      "threads", po::value<int>(&c.threads)->default_value(0), "intra-op threads (0 = the cores available to the process)");
}

po::variables_map parse(const std::vector<std::string>& args, const po::options_description& d, bool& help,
                        const po::positional_options_description* positional) {
  po::options_description all(d);
  all.add_options()("help,h", "show this help");
  po::variables_map vm;
  try {
    // An empty positional description makes a stray word (`plugins json`) an error; without
    // one, Boost silently drops it.
    po::positional_options_description none;
    po::store(po::command_line_parser(args).options(all).positional(positional ? *positional : none).run(), vm);
    help = vm.count("help") > 0;
    if (help) {
      std::cout << all << "\n";
      return vm;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return vm;
}

void apply_threads(int threads) {
  if (threads < 0) throw UsageError("--threads must be >= 0");
  if (threads > 0) {
    // OpenMP reads this when the CPU plugin's first parallel region starts.
    setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
  }
}

void apply_common(const Common& c) {
  apply_threads(c.threads);
  hearth::load_plugins(c.plugin_dirs);
  (void)hearth::require_backend(c.backend);
}

static std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}

bool register_command(Command c) {
  auto& r = registry();
  r.push_back(std::move(c));
  std::stable_sort(r.begin(), r.end(), [](const Command& a, const Command& b) { return a.order < b.order; });
  return true;
}

const std::vector<Command>& commands() { return registry(); }

}  // namespace hearth::cli
