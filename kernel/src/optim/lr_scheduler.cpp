// LRScheduler: PyTorch's _LRScheduler bookkeeping (initial_lr, base_lrs, last_epoch, the step at
// construction) around a plugin's SchedulerRule; the typed front ends fill the rule's
// hyper-parameters; ChainedScheduler.
#include "hearth/optim/lr_scheduler.h"

#include <algorithm>

#include "hearth/error.h"
#include "hearth/plugin.h"

namespace hearth::optim {

namespace {

const SchedulerRule* resolve_rule(const std::string& name) {
  auto factory = find_component_as<SchedulerFactory>(kSchedulerComponent, name);
  if (!factory) {
    std::string known;
    for (const auto& n : component_names(kSchedulerComponent)) known += (known.empty() ? "" : ", ") + n;
    HEARTH_CHECK(false, ValueError, "unknown learning-rate scheduler '", name, "'; registered schedulers: ",
                 known.empty() ? "(none: the hearth-optim plugin was not found in the plugin directories "
                                 "(--plugin-dir, $HEARTH_PLUGIN_PATH, " + default_plugin_dir() + "))"
                               : known);
  }
  const SchedulerRule* r = factory();
  HEARTH_CHECK(r != nullptr, InternalError, "scheduler '", name, "' factory returned null");
  return r;
}

}  // namespace

std::vector<std::string> available_schedulers() { return component_names(kSchedulerComponent); }

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(&optimizer) {}

LRScheduler::LRScheduler(Optimizer& optimizer, SchedulerState hyper, int64_t last_epoch)
    : optimizer_(&optimizer), rule_(resolve_rule(hyper.name)), state_(std::move(hyper)) {
  HEARTH_CHECK(last_epoch >= -1, ValueError, state_.name, ": last_epoch must be -1 (start) or a step index, got ",
               last_epoch);
  state_.last_epoch = last_epoch;
  rule_->setup(state_, optimizer);
  auto& groups = optimizer.param_groups();
  state_.base_lrs.clear();
  for (size_t i = 0; i < groups.size(); ++i) {
    if (last_epoch == -1) {
      // setdefault: a scheduler constructed earlier on the same optimizer keeps its initial_lr.
      if (!groups[i].extras().count("initial_lr")) groups[i].set("initial_lr", groups[i].lr());
    } else {
      HEARTH_CHECK(groups[i].extras().count("initial_lr"), ValueError, state_.name,
                   ": param 'initial_lr' is not specified in param_groups[", i,
                   "] when resuming an optimizer (last_epoch = ", last_epoch, ")");
    }
    state_.base_lrs.push_back(groups[i].get("initial_lr"));
  }
  optimizer_steps_at_start_ = optimizer.step_count();
  state_.step_count = 0;
  step();
}

void LRScheduler::step() {
  HEARTH_INTERNAL_ASSERT(rule_ != nullptr);
  // PyTorch's order trap: scheduler.step() before any optimizer.step() skips the schedule's
  // first value. (step_count 1 = the first call after the one at construction.)
  if (state_.step_count == 1 && !order_warned_ && optimizer_->step_count() == optimizer_steps_at_start_) {
    order_warned_ = true;
    warn(state_.name + ": scheduler.step() was called before optimizer.step(). Call optimizer.step() first, then "
                       "scheduler.step(); otherwise the first value of the learning-rate schedule is skipped");
  }
  ++state_.step_count;
  ++state_.last_epoch;
  std::vector<double> lrs = rule_->get_lr(state_, *optimizer_);
  auto& groups = optimizer_->param_groups();
  HEARTH_CHECK(lrs.size() == groups.size(), InternalError, state_.name, " returned ", lrs.size(),
               " learning rates for ", groups.size(), " parameter groups");
  for (size_t i = 0; i < groups.size(); ++i) groups[i].set_lr(lrs[i]);
  state_.last_lr.clear();
  for (const auto& g : groups) state_.last_lr.push_back(g.lr());
}

void LRScheduler::load_state_dict(const SchedulerState& s) {
  HEARTH_CHECK(s.name == state_.name, ValueError, "load_state_dict: the state is of scheduler '", s.name,
               "', this is '", state_.name, "'");
  state_ = s;
}

SchedulerSpec scheduler_spec(const std::string& name) { return resolve_rule(name)->spec(); }

void complete_scheduler_options(const std::string& name, const SchedulerSpec& spec, SchedulerState& hyper) {
  if (spec.empty()) return;  // a rule that declares nothing gets what it was given
  auto in = [](const std::vector<std::string>& v, const std::string& k) {
    return std::find(v.begin(), v.end(), k) != v.end();
  };
  const auto is_number = [&](const std::string& k) {
    return spec.defaults.numbers.count(k) > 0 || in(spec.required_numbers, k);
  };
  const auto is_list = [&](const std::string& k) {
    return spec.defaults.lists.count(k) > 0 || in(spec.required_lists, k);
  };
  const auto is_string = [&](const std::string& k) { return spec.defaults.strings.count(k) > 0; };
  std::string known;
  for (const auto& k : spec.required_numbers) known += (known.empty() ? "" : ", ") + k;
  for (const auto& k : spec.required_lists) known += (known.empty() ? "" : ", ") + k;
  for (const auto& [k, v] : spec.defaults.numbers) known += (known.empty() ? "" : ", ") + k;
  for (const auto& [k, v] : spec.defaults.lists) known += (known.empty() ? "" : ", ") + k;
  for (const auto& [k, v] : spec.defaults.strings) known += (known.empty() ? "" : ", ") + k;
  const auto unknown = [&](const std::string& k) {
    HEARTH_CHECK(false, ValueError, "scheduler '", name, "' has no option '", k, "' (options: ", known, ")");
  };
  // A scalar for a per-group value applies to every group (PyTorch's _format_param).
  for (auto it = hyper.numbers.begin(); it != hyper.numbers.end();) {
    if (is_number(it->first)) {
      ++it;
    } else if (is_list(it->first)) {
      hyper.lists[it->first] = {it->second};
      it = hyper.numbers.erase(it);
    } else {
      unknown(it->first);
    }
  }
  for (const auto& [k, v] : hyper.lists) {
    if (is_list(k)) continue;
    HEARTH_CHECK(!is_number(k), ValueError, "scheduler '", name, "': option '", k, "' takes one number, got ",
                 v.size());
    unknown(k);
  }
  for (const auto& [k, v] : hyper.strings) {
    if (is_string(k)) continue;
    HEARTH_CHECK(!is_number(k) && !is_list(k), ValueError, "scheduler '", name, "': option '", k,
                 "' takes a number, got '", v, "'");
    unknown(k);
  }
  for (const auto& k : spec.required_numbers)
    HEARTH_CHECK(hyper.numbers.count(k), ValueError, "scheduler '", name, "' needs option '", k,
                 "' (it has no default; options: ", known, ")");
  for (const auto& k : spec.required_lists)
    HEARTH_CHECK(hyper.lists.count(k), ValueError, "scheduler '", name, "' needs option '", k,
                 "' (it has no default; options: ", known, ")");
  for (const auto& [k, v] : spec.defaults.numbers) hyper.numbers.emplace(k, v);
  for (const auto& [k, v] : spec.defaults.lists) hyper.lists.emplace(k, v);
  for (const auto& [k, v] : spec.defaults.strings) hyper.strings.emplace(k, v);
}

std::unique_ptr<LRScheduler> create_scheduler(const std::string& name, Optimizer& optimizer, SchedulerState hyper,
                                              int64_t last_epoch) {
  hyper.name = name;
  complete_scheduler_options(name, resolve_rule(name)->spec(), hyper);
  return std::make_unique<LRScheduler>(optimizer, std::move(hyper), last_epoch);
}

// ---- typed front ends ----

namespace {
SchedulerState hyper(const char* name, std::map<std::string, double> numbers,
                     std::map<std::string, std::vector<double>> lists = {},
                     std::map<std::string, std::string> strings = {}) {
  SchedulerState s;
  s.name = name;
  s.numbers = std::move(numbers);
  s.lists = std::move(lists);
  s.strings = std::move(strings);
  return s;
}
}  // namespace

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer, hyper("steplr", {{"step_size", static_cast<double>(step_size)}, {"gamma", gamma}}),
                  last_epoch) {}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer,
                  hyper("multisteplr", {{"gamma", gamma}},
                        {{"milestones", std::vector<double>(milestones.begin(), milestones.end())}}),
                  last_epoch) {}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer, hyper("exponentiallr", {{"gamma", gamma}}), last_epoch) {}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min, int64_t last_epoch)
    : LRScheduler(optimizer,
                  hyper("cosineannealinglr", {{"T_max", static_cast<double>(T_max)}, {"eta_min", eta_min}}),
                  last_epoch) {}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters,
                   int64_t last_epoch)
    : LRScheduler(optimizer,
                  hyper("linearlr", {{"start_factor", start_factor},
                                     {"end_factor", end_factor},
                                     {"total_iters", static_cast<double>(total_iters)}}),
                  last_epoch) {}

OneCycleLR::OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& o, int64_t last_epoch)
    : LRScheduler(optimizer,
                  hyper("onecyclelr",
                        {{"total_steps", static_cast<double>(o.total_steps)},
                         {"epochs", static_cast<double>(o.epochs)},
                         {"steps_per_epoch", static_cast<double>(o.steps_per_epoch)},
                         {"pct_start", o.pct_start},
                         {"cycle_momentum", o.cycle_momentum ? 1.0 : 0.0},
                         {"div_factor", o.div_factor},
                         {"final_div_factor", o.final_div_factor},
                         {"three_phase", o.three_phase ? 1.0 : 0.0}},
                        {{"max_lr", o.max_lr}, {"base_momentum", o.base_momentum}, {"max_momentum", o.max_momentum}},
                        {{"anneal_strategy", o.anneal_strategy}}),
                  last_epoch) {}

SWALR::SWALR(Optimizer& optimizer, std::vector<double> swa_lr, int64_t anneal_epochs,
             const std::string& anneal_strategy, int64_t last_epoch)
    : LRScheduler(optimizer,
                  hyper("swalr", {{"anneal_epochs", static_cast<double>(anneal_epochs)}}, {{"swa_lr", swa_lr}},
                        {{"anneal_strategy", anneal_strategy}}),
                  last_epoch) {}

// ---- ChainedScheduler ----

namespace {
Optimizer& first_optimizer(const std::vector<LRScheduler*>& schedulers) {
  HEARTH_CHECK(!schedulers.empty() && schedulers[0] != nullptr, ValueError,
               "ChainedScheduler needs at least one scheduler");
  return schedulers[0]->optimizer();
}
}  // namespace

ChainedScheduler::ChainedScheduler(std::vector<LRScheduler*> schedulers)
    : LRScheduler(first_optimizer(schedulers)), schedulers_(std::move(schedulers)) {
  for (size_t i = 1; i < schedulers_.size(); ++i) {
    HEARTH_CHECK(schedulers_[i] != nullptr, ValueError, "ChainedScheduler: scheduler ", i, " is null");
    HEARTH_CHECK(&schedulers_[i]->optimizer() == optimizer_, ValueError,
                 "ChainedScheduler expects all schedulers to belong to the same optimizer, but got schedulers at "
                 "index 0 and ", i, " to be different");
  }
  state_.name = "chained";
  for (const auto& g : optimizer_->param_groups()) state_.last_lr.push_back(g.lr());
}

void ChainedScheduler::step() {
  for (auto* s : schedulers_) s->step();
  state_.last_lr.clear();
  for (const auto& g : optimizer_->param_groups()) state_.last_lr.push_back(g.lr());
}

std::vector<double> ChainedScheduler::get_last_lr() const { return state_.last_lr; }

SchedulerState ChainedScheduler::state_dict() const {
  SchedulerState s = state_;
  s.strings.clear();
  for (size_t i = 0; i < schedulers_.size(); ++i)
    s.strings["scheduler." + std::to_string(i)] = schedulers_[i]->state_dict().to_json();
  return s;
}

void ChainedScheduler::load_state_dict(const SchedulerState& s) {
  HEARTH_CHECK(s.name == "chained", ValueError, "ChainedScheduler.load_state_dict: the state is of scheduler '",
               s.name, "'");
  std::vector<SchedulerState> subs;
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    auto it = s.strings.find("scheduler." + std::to_string(i));
    HEARTH_CHECK(it != s.strings.end(), ValueError, "ChainedScheduler.load_state_dict: no state for scheduler ", i,
                 " (the state holds ", s.strings.size(), ")");
    subs.push_back(SchedulerState::from_json(it->second));
  }
  HEARTH_CHECK(s.strings.size() == schedulers_.size(), ValueError, "ChainedScheduler.load_state_dict: the state holds ",
               s.strings.size(), " schedulers, this chain ", schedulers_.size());
  for (size_t i = 0; i < schedulers_.size(); ++i)
    HEARTH_CHECK(subs[i].name == schedulers_[i]->state_dict().name, ValueError,
                 "ChainedScheduler.load_state_dict: scheduler ", i, " is '", schedulers_[i]->state_dict().name,
                 "' but the state is of '", subs[i].name, "'");
  for (size_t i = 0; i < schedulers_.size(); ++i) schedulers_[i]->load_state_dict(subs[i]);
  state_.last_lr = s.last_lr;
}

}  // namespace hearth::optim
