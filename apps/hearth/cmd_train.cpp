// `hearth train` and `hearth eval`: the README's main job, through hearth::train::Trainer
// (grammar, defaults, JSON schema and exit codes in docs/cli.md).
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "run_config.h"
#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn/loss.h"
#include "hearth/nn/models.h"
#include "hearth/train.h"

namespace hearth::cli {
namespace {

using nlohmann::json;

/// "KEY=VALUE" -> (KEY, VALUE); UsageError naming the option otherwise.
std::pair<std::string, std::string> split_kv(const std::string& s, const char* option) {
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) throw UsageError(std::string(option) + " takes KEY=VALUE, got '" + s + "'");
  return {s.substr(0, eq), s.substr(eq + 1)};
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

/// A number, or true/false as 1/0; UsageError naming option and key otherwise.
double parse_number(const std::string& v, const std::string& what) {
  if (v == "true" || v == "True") return 1;
  if (v == "false" || v == "False") return 0;
  try {
    size_t used = 0;
    double d = std::stod(v, &used);
    if (used == v.size() && std::isfinite(d)) return d;
  } catch (const std::exception&) {
  }
  throw UsageError(what + ": '" + v + "' is not a number (or true/false)");
}

/// Writes JSON atomically, so a reader never sees half a file.
void write_json(const std::string& path, const json& j) {
  write_file_atomically(path, [&](const std::string& tmp) {
    std::ofstream f(tmp);
    f << j.dump(2) << "\n";
    if (!f.flush()) throw FormatError("cannot write '" + tmp + "'");
  });
}

/// The plugins' run-time facts ("cpu.isa" and the like): which code paths produced the figures.
json plugin_facts() {
  json j = json::object();
  for (const auto& [k, v] : plugin_properties()) j[k] = v;
  return j;
}

json device_peaks(const std::map<std::string, size_t>& peaks) {
  json o = json::object();
  for (const auto& [d, b] : peaks) o[d] = b;
  return o;
}

std::string memory_text(const train::EpochResult& e) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "host_peak %.0f MB", e.peak_rss_mb);
  std::string s = buf;
  for (const auto& [d, b] : e.device_peak_bytes) {
    std::snprintf(buf, sizeof buf, "  %s_peak %.0f MB", d.c_str(), static_cast<double>(b) / (1024.0 * 1024.0));
    s += buf;
  }
  return s;
}

/// Width of the terminal on stdout; $COLUMNS where stdout is not a terminal (or says 0); 80 else.
int terminal_columns() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    const int n = std::atoi(c);
    if (n > 0) return n;
  }
  return 80;
}

/// The progress display: a redrawn bar on a terminal, plain lines otherwise (docs/cli.md).
class Progress : public train::Callback {
 public:
  Progress(std::string mode, int64_t batch) : mode_(std::move(mode)), batch_(batch) {}
  void on_train_begin(int64_t epoch, int64_t step, int64_t batches) override {
    if (step > 0) std::printf("resuming at epoch %lld, step %lld\n", (long long)epoch + 1, (long long)step);
    std::fflush(stdout);
  }
  void on_step(const train::StepInfo& s) override {
    if (mode_ == "none") return;
    const double per_batch = s.samples_per_second > 0 ? batch_ / s.samples_per_second : 0;
    const double eta = per_batch * static_cast<double>(s.batches - s.batch);
    if (mode_ == "bar") {
      // The bar fits in one terminal line (less one column): a wrapped line could not be
      // redrawn or cleared by "\r", and the last one would stay on screen.
      const int columns = terminal_columns();
      char head[48], count[48], loss[32], speed[40], eta_s[32];
      std::snprintf(head, sizeof head, "epoch %lld/%lld", (long long)s.epoch + 1, (long long)s.epochs);
      std::snprintf(count, sizeof count, " %lld/%lld", (long long)s.batch, (long long)s.batches);
      std::snprintf(loss, sizeof loss, "  loss %.4f", s.loss);
      std::snprintf(speed, sizeof speed, "  %.0f samples/s", s.samples_per_second);
      std::snprintf(eta_s, sizeof eta_s, "  ETA %.0fs", eta);
      // On a narrow terminal the bar goes first, then ETA, then samples/s.
      const std::string needed = std::string(head) + count + loss;
      int room = columns - 1 - static_cast<int>(needed.size());
      const bool show_speed = room >= static_cast<int>(std::strlen(speed));
      if (show_speed) room -= static_cast<int>(std::strlen(speed));
      const bool show_eta = show_speed && room >= static_cast<int>(std::strlen(eta_s));
      if (show_eta) room -= static_cast<int>(std::strlen(eta_s));
      const int width = std::min(24, room - 3);
      std::string line = head;
      if (width >= 5) {
        const int filled = s.batches > 0 ? static_cast<int>(width * s.batch / s.batches) : 0;
        line += " [" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
      }
      line += std::string(count) + loss + (show_speed ? speed : "") + (show_eta ? eta_s : "");
      if (static_cast<int>(line.size()) > columns - 1) line.resize(std::max(columns - 1, 0));
      std::printf("\r\033[K%s", line.c_str());
      drawn_ = true;
    } else {
      std::printf("epoch %lld/%lld step %lld batch %lld/%lld loss %.4f lr %.4g samples/s %.0f eta %.0fs\n",
                  (long long)s.epoch + 1, (long long)s.epochs, (long long)s.step, (long long)s.batch,
                  (long long)s.batches, s.loss, s.lr, s.samples_per_second, eta);
    }
    std::fflush(stdout);
  }
  void on_epoch_end(const train::EpochResult& e, int64_t step, double lr) override {
    if (drawn_) std::printf("\r\033[K");
    drawn_ = false;
    std::printf("epoch %lld/%lld  train_loss %.4f  test_acc %s  samples/s %.0f  train_s %.2f  eval_s %s  %s\n",
                (long long)e.epoch, (long long)epochs, e.train_loss,
                e.eval ? std::to_string(e.eval->accuracy).substr(0, 6).c_str() : "-", e.samples_per_second,
                e.train_seconds, e.eval ? std::to_string(e.eval->seconds).substr(0, 5).c_str() : "-",
                memory_text(e).c_str());
    std::fflush(stdout);
  }
  void on_checkpoint(const std::string& path) override {
    if (mode_ == "bar" && drawn_) return;  // do not break the bar; the epoch line follows
    if (mode_ != "none") std::printf("checkpoint %s\n", path.c_str());
  }
  int64_t epochs = 0;

 private:
  std::string mode_;
  int64_t batch_;
  bool drawn_ = false;
};

/// Ctrl-C during training: the first asks the loop to stop after its step (it saves a checkpoint
/// when --checkpoint-dir is set); a second one exits at once.
extern "C" void on_train_interrupt(int) {
  if (train::Trainer::stop_requested()) std::_Exit(130);
  train::Trainer::request_stop();
}
/// Outside the training loop (loading data, writing the metrics), Ctrl-C ends the process at once.
extern "C" void on_setup_interrupt(int) { std::_Exit(130); }

/// The optimizer `name` over the model's decay groups. `lr` and `momentum` are applied when set;
/// otherwise each optimizer keeps its PyTorch default (SGD, which has none for lr, gets the
/// benchmark's 0.05 and momentum 0.9).
std::shared_ptr<optim::Optimizer> make_optimizer(const std::string& name, nn::Module& model, std::optional<double> lr,
                                                 std::optional<double> momentum, double weight_decay,
                                                 const std::vector<std::string>& opts) {
  std::map<std::string, double> over;
  const auto defaults = optim::default_options(name);
  if (name == "sgd") {
    if (!lr) lr = 0.05;
    if (!momentum) momentum = 0.9;
  }
  if (lr) over["lr"] = *lr;
  for (const auto& kv : opts) {
    auto [k, v] = split_kv(kv, "--opt");
    if (k == "betas") {
      auto parts = split_commas(v);
      if (parts.size() != 2) throw UsageError("--opt betas takes two numbers, e.g. betas=0.9,0.999");
      over["beta1"] = parse_number(parts[0], "--opt betas");
      over["beta2"] = parse_number(parts[1], "--opt betas");
    } else {
      over[k] = parse_number(v, "--opt " + k);
    }
  }
  // --momentum applies where the optimizer has one; given explicitly to an optimizer without it,
  // it is an error rather than silently ignored.
  if (momentum) {
    if (!defaults->has("momentum"))
      throw ValueError("optimizer '" + name + "' has no option 'momentum' (it has: " + defaults->repr() + ")");
    if (!over.count("momentum")) over["momentum"] = *momentum;
  }
  over.erase("weight_decay");
  std::vector<optim::ParamGroup> groups = optim::decay_param_groups(model, weight_decay);  // SEED G6
  std::erase_if(groups, [](const optim::ParamGroup& g) { return g.params().empty(); });
  for (const auto& kv : opts) {
    if (split_kv(kv, "--opt").first == "weight_decay")
      throw UsageError("use --weight-decay for weight decay (it skips biases and norm layers, SEED G6)");
  }
  auto made = optim::create(name, std::move(groups), over);
  return std::shared_ptr<optim::Optimizer>(std::move(made));
}

/// The scheduler `name` with the --sched options; what is not given takes PyTorch's default
/// (create_scheduler). OneCycleLR without total_steps, epochs or steps_per_epoch runs over the
/// whole run: `epochs` epochs of `steps_per_epoch` batches.
std::shared_ptr<optim::LRScheduler> make_scheduler(const std::string& name, optim::Optimizer& opt,
                                                   const std::vector<std::string>& sched, int64_t epochs,
                                                   int64_t steps_per_epoch) {
  optim::SchedulerState hyper;
  for (const auto& kv : sched) {
    auto [k, v] = split_kv(kv, "--sched");
    if (v.find(',') != std::string::npos) {
      std::vector<double> xs;
      for (const auto& p : split_commas(v)) xs.push_back(parse_number(p, "--sched " + k));
      hyper.lists[k] = xs;
    } else {
      try {
        hyper.numbers[k] = parse_number(v, "--sched " + k);
      } catch (const UsageError&) {
        hyper.strings[k] = v;  // anneal_strategy=cos, mode=min
      }
    }
  }
  if (name == "onecyclelr" && !hyper.numbers.count("total_steps") && !hyper.numbers.count("epochs") &&
      !hyper.numbers.count("steps_per_epoch")) {
    hyper.numbers["epochs"] = static_cast<double>(epochs);
    hyper.numbers["steps_per_epoch"] = static_cast<double>(steps_per_epoch);
  }
  return std::shared_ptr<optim::LRScheduler>(optim::create_scheduler(name, opt, hyper));
}

int64_t require_positive(int64_t v, const char* option) {
  if (v <= 0) throw UsageError(std::string(option) + " must be positive, got " + std::to_string(v));
  return v;
}

int cmd_train(const std::vector<std::string>& args) {
  Common c;
  std::string model_spec, dataset, optimizer, scheduler, checkpoint_dir, resume, init_weights, metrics_json, log_dir,
      progress, profile, normalize;
  int64_t epochs, batch, workers, train_limit, test_limit, eval_batch, keep_last, checkpoint_every, log_every;
  uint64_t seed;
  double lr_arg = 0, momentum_arg = 0, weight_decay;
  bool deterministic = false;
  std::vector<std::string> opts, scheds;
  po::options_description d(
      "hearth train [--model NAME] [--dataset SPEC] [--epochs N] [--batch N] [--optimizer NAME] [--lr F] ...\n"
      "hearth train --resume DIR [--epochs N]");
  add_common_options(d, c);
  d.add_options()("model", po::value(&model_spec)->default_value("lenet"), "model spec (mlp, lenet, resnet18, ...)")(
      "dataset", po::value(&dataset)->default_value("fashion-mnist"), "dataset spec (docs/cli.md)")(
      "epochs", po::value(&epochs)->default_value(1), "total epochs")(
      "batch", po::value(&batch)->default_value(64), "training batch size")(
      "optimizer", po::value(&optimizer)->default_value("sgd"), "optimizer name")(
      "lr", po::value(&lr_arg), "learning rate (default: the optimizer's PyTorch default; sgd: 0.05)")(
      "momentum", po::value(&momentum_arg), "momentum, for optimizers that have one (default: sgd 0.9, others theirs)")(
      "weight-decay", po::value(&weight_decay)->default_value(0.0), "weight decay (not on biases and norms)")(
      "opt", po::value(&opts)->composing(), "KEY=VALUE: another optimizer option (repeatable)")(
      "scheduler", po::value(&scheduler), "learning-rate scheduler name")(
      "sched", po::value(&scheds)->composing(), "KEY=VALUE: a scheduler option (repeatable; PyTorch's defaults)")(
      "normalize", po::value(&normalize)->default_value("auto"),
      "auto (the training split's mean and std) | none | MEAN,STD")(
      "workers", po::value(&workers)->default_value(0), "DataLoader worker threads (0: in-memory batches)")(
      "seed", po::value(&seed)->default_value(0), "seed of initialization, shuffling and dropout")(
      "deterministic", po::bool_switch(&deterministic), "refuse anything whose result depends on threads or timing")(
      "train-limit", po::value(&train_limit)->default_value(0), "use the first N training samples (0: all)")(
      "test-limit", po::value(&test_limit)->default_value(0), "use the first N test samples (0: all)")(
      "eval-batch", po::value(&eval_batch)->default_value(1000), "evaluation batch size")(
      "checkpoint-dir", po::value(&checkpoint_dir), "save training checkpoints here")(
      "keep-last", po::value(&keep_last)->default_value(3), "checkpoints kept")(
      "checkpoint-every", po::value(&checkpoint_every)->default_value(0), "also checkpoint every N steps")(
      "resume", po::value(&resume),
      "checkpoint file or directory to continue from (its run configuration; see docs/cli.md)")(
      "init-weights", po::value(&init_weights), "state dict or training checkpoint to start from")(
      "metrics-json", po::value(&metrics_json), "write the run's figures as JSON")(
      "log-dir", po::value(&log_dir), "write metrics.csv and TensorBoard event files")(
      "log-every", po::value(&log_every)->default_value(50), "steps between progress lines / log rows")(
      "progress", po::value(&progress)->default_value("auto"), "auto | bar | lines | none")(
      "profile", po::value(&profile), "write per-op times as a Chrome trace to FILE and print the top ops");
  bool help;
  po::variables_map vm = parse(args, d, help);
  if (help) return 0;
  // Fail before training, not after it, when the trace cannot be written.
  if (!profile.empty() && !std::ofstream(profile, std::ios::app))
    throw FormatError("--profile: cannot write '" + profile + "': " + std::strerror(errno));
  const auto given = [&](const char* o) { return vm.count(o) > 0 && !vm[o].defaulted(); };
  std::optional<double> lr, momentum;
  if (given("lr")) lr = lr_arg;
  if (given("momentum")) momentum = momentum_arg;
  require_positive(epochs, "--epochs");
  require_positive(batch, "--batch");
  require_positive(eval_batch, "--eval-batch");
  require_positive(keep_last, "--keep-last");
  require_positive(log_every, "--log-every");
  if (workers < 0 || train_limit < 0 || test_limit < 0 || checkpoint_every < 0)
    throw UsageError("--workers, --train-limit, --test-limit and --checkpoint-every must be >= 0");
  if (progress == "auto") progress = isatty(STDOUT_FILENO) ? "bar" : "lines";
  if (progress != "bar" && progress != "lines" && progress != "none")
    throw UsageError("--progress must be auto, bar, lines or none, got '" + progress + "'");
  if (!scheds.empty() && scheduler.empty() && resume.empty()) throw UsageError("--sched needs --scheduler");
  if (!resume.empty() && !init_weights.empty())
    throw UsageError("--init-weights and --resume exclude each other (--resume restores the weights)");
  // Output paths are checked before loading anything, not found bad after a whole training run.
  if (!metrics_json.empty()) check_writable_file(metrics_json, "--metrics-json");
  if (!log_dir.empty()) check_writable_dir(log_dir, "--log-dir");
  if (!checkpoint_dir.empty()) check_writable_dir(checkpoint_dir, "--checkpoint-dir");

  apply_common(c);
  const Device dev = require_backend(c.backend);
  if (deterministic && dev.type() != kCPUType && c.backend.rfind("testdev", 0) != 0)
    throw ValueError("--deterministic: backend '" + c.backend +
                     "' does not guarantee run-to-run identical results; hearth-cpu does (at any --threads)");

  // --resume: the checkpoint's run configuration is the run's; a flag that would change it is an
  // error rather than silently ignored (or silently applied to half a run). --epochs, evaluation,
  // logging, checkpointing and the device may change (docs/cli.md, "Resuming").
  std::optional<Normalization> norm;
  if (!resume.empty()) {
    if (auto cfg = checkpoint_run_config(resume)) {
      const std::string file = resolve_checkpoint(resume);
      const auto recorded = [&](const char* key) -> json { return cfg->contains(key) ? (*cfg)[key] : json(nullptr); };
      const auto check = [&](const char* option, const json& now, const char* key = nullptr) {
        const json was = recorded(key ? key : option);
        if (given(option) && now != was)
          throw ValueError("--" + std::string(option) + " " + (now.is_string() ? now.get<std::string>() : now.dump()) +
                           " differs from the run being resumed (" +
                           (was.is_string() ? was.get<std::string>() : was.dump()) + ", recorded in '" + file +
                           "'); a resumed run keeps its configuration: leave --" + option +
                           " out, or start a new run (--init-weights takes the weights)");
      };
      check("model", model_spec);
      check("dataset", dataset);
      check("optimizer", optimizer);
      check("lr", lr ? json(*lr) : json(nullptr), "lr_used");  // the effective value: a default counts
      check("momentum", momentum ? json(*momentum) : json(nullptr), "momentum_used");
      check("weight-decay", weight_decay);
      check("opt", opts);
      check("scheduler", scheduler);
      check("sched", scheds);
      check("batch", batch);
      check("seed", seed);
      check("train-limit", train_limit);
      check("normalize", normalize);
      try {
        model_spec = cfg->at("model").get<std::string>();
        dataset = cfg->at("dataset").get<std::string>();
        optimizer = cfg->at("optimizer").get<std::string>();
        lr = cfg->at("lr").is_null() ? std::nullopt : std::optional<double>(cfg->at("lr").get<double>());
        momentum =
            cfg->at("momentum").is_null() ? std::nullopt : std::optional<double>(cfg->at("momentum").get<double>());
        weight_decay = cfg->at("weight-decay").get<double>();
        opts = cfg->at("opt").get<std::vector<std::string>>();
        scheduler = cfg->at("scheduler").get<std::string>();
        scheds = cfg->at("sched").get<std::vector<std::string>>();
        batch = cfg->at("batch").get<int64_t>();
        seed = cfg->at("seed").get<uint64_t>();
        train_limit = cfg->at("train-limit").get<int64_t>();
        normalize = cfg->at("normalize").get<std::string>();
        norm = Normalization::from_json(cfg->at("normalization"), "training checkpoint '" + file + "'");
        if (!given("epochs")) epochs = cfg->at("epochs").get<int64_t>();
        // Evaluation settings may change, but by default stay as the run had them.
        if (!given("test-limit") && cfg->contains("test-limit")) test_limit = cfg->at("test-limit").get<int64_t>();
        if (!given("eval-batch") && cfg->contains("eval-batch")) eval_batch = cfg->at("eval-batch").get<int64_t>();
      } catch (const json::exception& e) {
        throw FormatError("training checkpoint '" + file + "': field 'hearth.extra." + kRunConfigKey +
                          "' is incomplete: " + e.what());
      }
    }
    // Go on saving where the run saved, unless told otherwise.
    if (checkpoint_dir.empty() && std::filesystem::is_directory(resume)) checkpoint_dir = resume;
  }
  if (checkpoint_every > 0 && checkpoint_dir.empty()) throw UsageError("--checkpoint-every needs --checkpoint-dir");
  manual_seed(seed);  // model initialization and dropout draw from the default generator

  auto train_set = data::load_dataset(dataset, true);
  auto test_set = data::load_dataset(dataset, false);
  if (!norm) norm = resolve_normalize(normalize, train_set.get());  // once per run; resumes reuse it
  std::shared_ptr<nn::Module> model = nn::create_model(model_spec);
  if (!init_weights.empty()) load_weights(init_weights, *model);
  model->to(dev);
  auto opt = make_optimizer(optimizer, *model, lr, momentum, weight_decay, opts);
  // The effective values, as recorded (an optimizer's default lr included).
  const double lr_used = opt->param_groups().empty() ? opt->defaults().get("lr") : opt->param_groups()[0].lr();
  const json momentum_used = opt->defaults().has("momentum") ? json(opt->defaults().get("momentum")) : json(nullptr);
  const int64_t n_train = train_limit > 0 ? std::min<int64_t>(train_limit, static_cast<int64_t>(train_set->size()))
                                          : static_cast<int64_t>(train_set->size());
  std::shared_ptr<optim::LRScheduler> sched;
  if (!scheduler.empty()) sched = make_scheduler(scheduler, *opt, scheds, epochs, n_train / batch);

  json run_config = {{"model", model_spec},
                     {"dataset", dataset},
                     {"optimizer", optimizer},
                     {"lr", lr ? json(*lr) : json(nullptr)},
                     {"momentum", momentum ? json(*momentum) : json(nullptr)},
                     {"lr_used", lr_used},
                     {"momentum_used", momentum_used},
                     {"weight-decay", weight_decay},
                     {"opt", opts},
                     {"scheduler", scheduler},
                     {"sched", scheds},
                     {"batch", batch},
                     {"seed", seed},
                     {"epochs", epochs},
                     {"train-limit", train_limit},
                     {"test-limit", test_limit},
                     {"eval-batch", eval_batch},
                     {"normalize", normalize},
                     {"normalization", norm->to_json()}};

  train::TrainerOptions to;
  to.epochs = epochs;
  to.batch_size = batch;
  to.eval_batch_size = eval_batch;
  to.seed = seed;
  to.workers = static_cast<size_t>(workers);
  to.train_limit = train_limit;
  to.test_limit = test_limit;
  to.device = dev;
  to.preprocess = preprocess_for(*norm, *train_set);
  to.log_every = log_every;
  to.checkpoint_dir = checkpoint_dir;
  to.keep_last = static_cast<int>(keep_last);
  to.checkpoint_every = checkpoint_every;
  to.scheduler_per_step = scheduler == "onecyclelr";
  to.checkpoint_extra[kRunConfigKey] = run_config.dump();
  train::Trainer trainer(model, opt, std::move(train_set), std::move(test_set), to);
  if (sched) trainer.set_scheduler(sched);
  auto prog = std::make_shared<Progress>(progress, batch);
  prog->epochs = epochs;
  trainer.add_callback(prog);
  if (!log_dir.empty()) trainer.add_callback(train::make_log_dir_callback(log_dir));
  if (!resume.empty()) trainer.resume(resume);

  train::Trainer::clear_stop();
  std::signal(SIGINT, on_train_interrupt);
  std::optional<profiler::ProfileGuard> prof;
  if (!profile.empty()) prof.emplace();
  train::FitResult r = trainer.fit();
  std::optional<profiler::Profile> prof_result;
  if (prof) prof_result = prof->stop();
  std::signal(SIGINT, on_setup_interrupt);

  // The evaluation after the last epoch is the run's test figure.
  const train::EpochResult* last = r.epochs.empty() ? nullptr : &r.epochs.back();
  if (!r.interrupted && last) {
    std::printf("done: model %s  test_acc %.4f  final_loss %.4f  samples/s %.0f  train_s %.2f  eval_s %.2f\n",
                model_spec.c_str(), last->eval ? last->eval->accuracy : 0.0, r.final_loss, r.samples_per_second,
                r.train_seconds, last->eval ? last->eval->seconds : 0.0);
  } else if (r.interrupted) {
    std::printf("\ninterrupted at epoch %lld, step %lld%s%s\n", (long long)trainer.epoch() + 1,
                (long long)trainer.step(), r.last_checkpoint.empty() ? "" : "; checkpoint ",
                r.last_checkpoint.c_str());
  }
  if (prof_result) {
    prof_result->to_chrome_trace(profile);
    std::printf("profile: %s (chrome://tracing, ui.perfetto.dev)\n%s", profile.c_str(), prof_result->table(15).c_str());
  }
  std::fflush(stdout);
  if (!metrics_json.empty()) {
    json j;
    j["command"] = "train";
    j["model"] = model_spec;
    j["backend"] = dev.str();
    j["isa"] = plugin_property("cpu.isa");
    j["plugin_properties"] = plugin_facts();
    j["dataset"] = dataset;
    j["epochs"] = epochs;
    j["batch"] = batch;
    j["optimizer"] = optimizer;
    j["lr"] = lr_used;
    j["seed"] = seed;
    j["normalize"] = norm->to_json();
    j["train_seconds"] = r.train_seconds;
    j["samples_per_second"] = r.samples_per_second;
    j["eval_seconds"] = last && last->eval ? json(last->eval->seconds) : json(nullptr);
    j["test_accuracy"] = last && last->eval ? json(last->eval->accuracy) : json(nullptr);
    j["final_loss"] = r.final_loss;
    j["peak_rss_mb"] = train::peak_rss_mb();
    j["device_peak_bytes"] = last ? device_peaks(last->device_peak_bytes) : json::object();
    json per = json::array();
    for (const auto& e : r.epochs) {
      per.push_back({{"epoch", e.epoch},
                     {"train_loss", e.train_loss},
                     {"final_loss", e.final_loss},
                     {"train_seconds", e.train_seconds},
                     {"samples_per_second", e.samples_per_second},
                     {"eval_seconds", e.eval ? json(e.eval->seconds) : json(nullptr)},
                     {"test_accuracy", e.eval ? json(e.eval->accuracy) : json(nullptr)},
                     {"peak_rss_mb", e.peak_rss_mb}});
    }
    j["per_epoch"] = per;
    j["interrupted"] = r.interrupted;
    write_json(metrics_json, j);
  }
  return r.interrupted ? 130 : 0;
}

int cmd_eval(const std::vector<std::string>& args) {
  Common c;
  std::string weights, model_opt, dataset, dump_logits, metrics_json, normalize;
  int64_t batch, test_limit;
  po::options_description d("hearth eval --weights FILE|DIR [--model NAME] [--dataset SPEC] [--batch N] ...");
  add_common_options(d, c);
  d.add_options()("weights", po::value(&weights)->required(),
                  "state dict (safetensors or HDF5), training checkpoint, or checkpoint directory")(
      "model", po::value(&model_opt), "model spec (default: the checkpoint's, else lenet)")(
      "dataset", po::value(&dataset), "dataset spec (default: the checkpoint's, else fashion-mnist)")(
      "normalize", po::value(&normalize),
      "auto | none | MEAN,STD (default: the checkpoint's, else auto: the training split's mean and std)")(
      "batch", po::value(&batch)->default_value(1000), "evaluation batch size")(
      "test-limit", po::value(&test_limit)->default_value(0), "use the first N test samples (0: all)")(
      "dump-logits", po::value(&dump_logits), "write the logits as safetensors key 'logits'")(
      "metrics-json", po::value(&metrics_json), "write the figures as JSON");
  bool help;
  parse(args, d, help);
  if (help) return 0;
  require_positive(batch, "--batch");
  if (test_limit < 0) throw UsageError("--test-limit must be >= 0");
  if (!metrics_json.empty()) check_writable_file(metrics_json, "--metrics-json");
  if (!dump_logits.empty()) check_writable_file(dump_logits, "--dump-logits");
  apply_common(c);
  const Device dev = require_backend(c.backend);
  // A training checkpoint says what it trained: model, dataset and normalization.
  const std::optional<json> cfg = checkpoint_run_config(weights);
  const std::string model_spec = model_spec_for(model_opt, weights, "lenet");
  if (dataset.empty()) dataset = cfg && cfg->contains("dataset") ? (*cfg)["dataset"].get<std::string>() : "fashion-mnist";
  std::shared_ptr<nn::Module> model = nn::create_model(model_spec);
  model->to(dev);
  load_weights(weights, *model);  // straight to the model's device (SEED E6)
  auto test_set = data::load_dataset(dataset, false);
  Normalization norm;
  if (normalize.empty() && cfg && cfg->contains("normalization")) {
    norm = Normalization::from_json((*cfg)["normalization"], "training checkpoint '" + resolve_checkpoint(weights) + "'");
  } else {
    const std::string how = normalize.empty() ? "auto" : normalize;
    std::shared_ptr<const data::Dataset> train_set;
    if (how == "auto") train_set = data::load_dataset(dataset, true);
    norm = resolve_normalize(how, train_set.get());
  }
  train::TrainerOptions to;
  to.eval_batch_size = batch;
  to.test_limit = test_limit;
  to.device = dev;
  to.preprocess = preprocess_for(norm, *test_set);
  to.drop_last = false;
  // Evaluation only: the trainer's optimizer is never stepped.
  auto opt = std::shared_ptr<optim::Optimizer>(optim::create("sgd", model->parameters()));
  train::Trainer trainer(model, opt, nullptr, std::move(test_set), to);
  train::EvalResult r = trainer.evaluate(!dump_logits.empty());
  std::printf("test_acc %.4f  test_loss %.4f  images %lld  eval_s %.3f\n", r.accuracy, r.loss, (long long)r.samples,
              r.seconds);
  if (!dump_logits.empty()) save_safetensors(dump_logits, {{"logits", r.logits}, {"labels", r.labels}});
  if (!metrics_json.empty()) {
    json j = {{"command", "eval"},       {"model", model_spec},   {"backend", dev.str()},
              {"dataset", dataset},      {"batch", batch},        {"eval_seconds", r.seconds},
              {"test_accuracy", r.accuracy}, {"test_loss", r.loss}, {"samples", r.samples},
              {"peak_rss_mb", train::peak_rss_mb()}};
    j["normalize"] = norm.to_json();
    j["isa"] = plugin_property("cpu.isa");
    j["plugin_properties"] = plugin_facts();
    write_json(metrics_json, j);
  }
  return 0;
}

}  // namespace

HEARTH_CLI_COMMAND("train", "train a model on a dataset (the README's main job)", 20, cmd_train);
HEARTH_CLI_COMMAND("eval", "evaluate a state dict on a dataset's test split", 30, cmd_eval);

}  // namespace hearth::cli
