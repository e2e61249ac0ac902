// The learning-rate schedules of PyTorch 1.13 (torch/optim/lr_scheduler.py, swa_utils.py), in
// their chainable get_lr() forms and with the same floating-point expressions in the same order,
// so the sequences equal PyTorch's bit for bit.
#include <algorithm>
#include <cmath>
#include <string>

#include "hearth/error.h"
#include "hearth/optim/lr_scheduler.h"

namespace hearth_optim {

using namespace hearth;
using namespace hearth::optim;

namespace {

std::vector<double> current_lrs(const Optimizer& opt) {
  std::vector<double> out;
  for (const auto& g : opt.param_groups()) out.push_back(g.lr());
  return out;
}

/// A value given once for all groups or once per group (PyTorch's _format_param).
std::vector<double> per_group(const SchedulerState& s, const std::string& key, const Optimizer& opt) {
  const auto& v = s.list(key);
  const size_t n = opt.param_groups().size();
  if (v.size() == 1) return std::vector<double>(n, v[0]);
  HEARTH_CHECK(v.size() == n, ValueError, s.name, ": expected ", n, " values for ", key, ", got ", v.size());
  return v;
}

int64_t as_int(double v) { return static_cast<int64_t>(v); }

// ---- StepLR ----
class StepLRRule final : public SchedulerRule {
  SchedulerSpec spec() const override {
    SchedulerSpec p;
    p.required_numbers = {"step_size"};
    p.defaults.numbers = {{"gamma", 0.1}};
    return p;
  }
  void setup(SchedulerState& s, Optimizer&) const override {
    HEARTH_CHECK(s.number("step_size") >= 1, ValueError, "StepLR: step_size must be at least 1, got ",
                 s.number("step_size"));
  }
  std::vector<double> get_lr(const SchedulerState& s, Optimizer& opt) const override {
    const int64_t step_size = as_int(s.number("step_size"));
    std::vector<double> lrs = current_lrs(opt);
    if (s.last_epoch == 0 || s.last_epoch % step_size != 0) return lrs;
    for (auto& lr : lrs) lr = lr * s.number("gamma");
    return lrs;
  }
};

// ---- MultiStepLR ----
class MultiStepLRRule final : public SchedulerRule {
  SchedulerSpec spec() const override {
    SchedulerSpec p;
    p.required_lists = {"milestones"};
    p.defaults.numbers = {{"gamma", 0.1}};
    return p;
  }
  std::vector<double> get_lr(const SchedulerState& s, Optimizer& opt) const override {
    const auto& ms = s.list("milestones");
    const auto count = std::count(ms.begin(), ms.end(), static_cast<double>(s.last_epoch));
    std::vector<double> lrs = current_lrs(opt);
    if (count == 0) return lrs;
    // Python: group['lr'] * gamma ** count (a milestone listed twice multiplies twice).
    for (auto& lr : lrs) lr = lr * std::pow(s.number("gamma"), static_cast<double>(count));
    return lrs;
  }
};

// ---- ExponentialLR ----
class ExponentialLRRule final : public SchedulerRule {
  SchedulerSpec spec() const override {
    SchedulerSpec p;
    p.required_numbers = {"gamma"};
    return p;
  }
  std::vector<double> get_lr(const SchedulerState& s, Optimizer& opt) const override {
    std::vector<double> lrs = current_lrs(opt);
    if (s.last_epoch == 0) return lrs;
    for (auto& lr : lrs) lr = lr * s.number("gamma");
    return lrs;
  }
};

// ---- CosineAnnealingLR ----
class CosineAnnealingLRRule final : public SchedulerRule {
  SchedulerSpec spec() const override {
    SchedulerSpec p;
    p.required_numbers = {"T_max"};
    p.defaults.numbers = {{"eta_min", 0.0}};
    return p;
  }
  void setup(SchedulerState& s, Optimizer&) const override {
    HEARTH_CHECK(s.number("T_max") >= 1, ValueError, "CosineAnnealingLR: T_max must be at least 1, got ",
                 s.number("T_max"));
  }
  std::vector<double> get_lr(const SchedulerState& s, Optimizer& opt) const override {
    const double T_max = s.number("T_max"), eta_min = s.number("eta_min");
    const int64_t e = s.last_epoch;
    std::vector<double> lrs = current_lrs(opt);
    if (e == 0) return lrs;
    const auto& base = s.base_lrs;
    if (s.step_count == 1 && e > 0) {
      for (size_t i = 0; i < lrs.size(); ++i)
        lrs[i] = eta_min + (base[i] - eta_min) * (1 + std::cos(static_cast<double>(e) * M_PI / T_max)) / 2;
      return lrs;
    }
    // Python's % takes the divisor's sign: (e - 1 - T_max) may be negative.
    const int64_t T = as_int(T_max);
    int64_t r = (e - 1 - T) % (2 * T);
    if (r < 0) r += 2 * T;
    if (r == 0) {
      for (size_t i = 0; i < lrs.size(); ++i) lrs[i] = lrs[i] + (base[i] - eta_min) * (1 - std::cos(M_PI / T_max)) / 2;
      return lrs;
    }
    for (auto& lr : lrs)
      lr = (1 + std::cos(M_PI * static_cast<double>(e) / T_max)) /
               (1 + std::cos(M_PI * static_cast<double>(e - 1) / T_max)) * (lr - eta_min) +
           eta_min;
    return lrs;
  }
};

// ---- LinearLR ----
class LinearLRRule final : public SchedulerRule {
  SchedulerSpec spec() const override {
    SchedulerSpec p;
    p.defaults.numbers = {{"start_factor", 1.0 / 3}, {"end_factor", 1.0}, {"total_iters", 5}};
    return p;
  }
  void setup(SchedulerState& s, Optimizer&) const override {
    const double a = s.number("start_factor"), b = s.number("end_factor");
    HEARTH_CHECK(a <= 1.0 && a > 0, ValueError,
                 "LinearLR: starting multiplicative factor expected to be greater than 0 and at most 1, got ", a);
    HEARTH_CHECK(b <= 1.0 && b >= 0, ValueError, "LinearLR: ending multiplicative factor expected to be between 0 "
                 "and 1, got ", b);
    HEARTH_CHECK(s.number("total_iters") >= 1, ValueError, "LinearLR: total_iters must be at least 1");
  }
  std::vector<double> get_lr(const SchedulerState& s, Optimizer& opt) const override {
    const double a = s.number("start_factor"), b = s.number("end_factor"), n = s.number("total_iters");
    std::vector<double> lrs = current_lrs(opt);
    if (s.last_epoch == 0) {
      for (auto& lr : lrs) lr = lr * a;
      return lrs;
    }
    if (static_cast<double>(s.last_epoch) > n) return lrs;
    for (auto& lr : lrs)
      lr = lr * (1. + (b - a) / (n * a + static_cast<double>(s.last_epoch - 1) * (b - a)));
    return lrs;
  }
};

// ---- OneCycleLR ----
class OneCycleLRRule final : public SchedulerRule {
  SchedulerSpec spec() const override {
    SchedulerSpec p;
    p.required_lists = {"max_lr"};
    // total_steps, or epochs and steps_per_epoch: 0 means not given (PyTorch's None).
    p.defaults.numbers = {{"total_steps", 0},    {"epochs", 0},       {"steps_per_epoch", 0},
                          {"pct_start", 0.3},    {"cycle_momentum", 1}, {"div_factor", 25},
                          {"final_div_factor", 1e4}, {"three_phase", 0}};
    p.defaults.lists = {{"base_momentum", {0.85}}, {"max_momentum", {0.95}}};
    p.defaults.strings = {{"anneal_strategy", "cos"}};
    return p;
  }
  static double anneal(bool cos, double start, double end, double pct) {
    if (cos) {
      const double cos_out = std::cos(M_PI * pct) + 1;
      return end + (start - end) / 2.0 * cos_out;
    }
    return (end - start) * pct + start;
  }
  static bool use_beta1(const Optimizer& opt) { return opt.defaults().has("beta1"); }

  void setup(SchedulerState& s, Optimizer& opt) const override {
    double total = s.number("total_steps");
    if (total <= 0) {
      const double epochs = s.number("epochs"), spe = s.number("steps_per_epoch");
      HEARTH_CHECK(epochs > 0 || spe > 0, ValueError,
                   "OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)");
      HEARTH_CHECK(epochs > 0, ValueError, "OneCycleLR: expected positive integer epochs, but got ", epochs);
      HEARTH_CHECK(spe > 0, ValueError, "OneCycleLR: expected positive integer steps_per_epoch, but got ", spe);
      total = epochs * spe;
      s.numbers["total_steps"] = total;
    }
    const double pct = s.number("pct_start");
    HEARTH_CHECK(pct >= 0 && pct <= 1, ValueError, "OneCycleLR: expected float between 0 and 1 pct_start, but got ",
                 pct);
    const std::string& strategy = s.string("anneal_strategy");
    HEARTH_CHECK(strategy == "cos" || strategy == "linear", ValueError,
                 "OneCycleLR: anneal_strategy must be one of 'cos' or 'linear', instead got '", strategy, "'");
    auto& groups = opt.param_groups();
    const auto max_lrs = per_group(s, "max_lr", opt);
    if (s.last_epoch == -1) {
      for (size_t i = 0; i < groups.size(); ++i) {
        groups[i].set("initial_lr", max_lrs[i] / s.number("div_factor"));
        groups[i].set("max_lr", max_lrs[i]);
        groups[i].set("min_lr", groups[i].get("initial_lr") / s.number("final_div_factor"));
      }
    }
    if (s.number("cycle_momentum") != 0) {
      HEARTH_CHECK(opt.defaults().has("momentum") || opt.defaults().has("beta1"), ValueError,
                   "OneCycleLR: optimizer '", opt.name(), "' must support momentum with the cycle_momentum option "
                   "(it has neither momentum nor betas)");
      const bool beta = use_beta1(opt);
      const auto max_m = per_group(s, "max_momentum", opt), base_m = per_group(s, "base_momentum", opt);
      if (s.last_epoch == -1) {
        for (size_t i = 0; i < groups.size(); ++i) {
          groups[i].set(beta ? "beta1" : "momentum", max_m[i]);
          groups[i].set("max_momentum", max_m[i]);
          groups[i].set("base_momentum", base_m[i]);
        }
      }
    }
  }

  std::vector<double> get_lr(const SchedulerState& s, Optimizer& opt) const override {
    const double total = s.number("total_steps"), pct = s.number("pct_start");
    const bool cos = s.string("anneal_strategy") == "cos", cycle = s.number("cycle_momentum") != 0;
    const bool beta = use_beta1(opt);
    const int64_t step_num = s.last_epoch;
    HEARTH_CHECK(static_cast<double>(step_num) <= total, ValueError, "OneCycleLR: tried to step ", step_num + 1,
                 " times. The specified number of total steps is ", static_cast<int64_t>(total));
    struct Phase {
      double end_step;
      const char *start_lr, *end_lr, *start_m, *end_m;
    };
    std::vector<Phase> phases;
    if (s.number("three_phase") != 0) {
      phases = {{pct * total - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
                {2 * pct * total - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"},
                {total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"}};
    } else {
      phases = {{pct * total - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
                {total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"}};
    }
    std::vector<double> lrs;
    for (auto& g : opt.param_groups()) {
      double start_step = 0, lr = 0, momentum = 0;
      for (size_t i = 0; i < phases.size(); ++i) {
        const double end_step = phases[i].end_step;
        if (static_cast<double>(step_num) <= end_step || i == phases.size() - 1) {
          const double p = (static_cast<double>(step_num) - start_step) / (end_step - start_step);
          lr = anneal(cos, g.get(phases[i].start_lr), g.get(phases[i].end_lr), p);
          if (cycle) momentum = anneal(cos, g.get(phases[i].start_m), g.get(phases[i].end_m), p);
          break;
        }
        start_step = phases[i].end_step;
      }
      lrs.push_back(lr);
      if (cycle) g.set(beta ? "beta1" : "momentum", momentum);
    }
    return lrs;
  }
};

// ---- SWALR ----
class SWALRRule final : public SchedulerRule {
  SchedulerSpec spec() const override {
    SchedulerSpec p;
    p.required_lists = {"swa_lr"};
    p.defaults.numbers = {{"anneal_epochs", 10}};
    p.defaults.strings = {{"anneal_strategy", "cos"}};
    return p;
  }
  void setup(SchedulerState& s, Optimizer& opt) const override {
    const auto swa = per_group(s, "swa_lr", opt);
    auto& groups = opt.param_groups();
    for (size_t i = 0; i < groups.size(); ++i) groups[i].set("swa_lr", swa[i]);
    const std::string& strategy = s.string("anneal_strategy");
    HEARTH_CHECK(strategy == "cos" || strategy == "linear", ValueError,
                 "SWALR: anneal_strategy must be one of 'cos' or 'linear', instead got '", strategy, "'");
    HEARTH_CHECK(s.number("anneal_epochs") >= 0, ValueError, "SWALR: anneal_epochs must be equal or greater than 0, "
                 "got ", s.number("anneal_epochs"));
  }
  std::vector<double> get_lr(const SchedulerState& s, Optimizer& opt) const override {
    const bool cos = s.string("anneal_strategy") == "cos";
    auto f = [cos](double t) { return cos ? (1 - std::cos(M_PI * t)) / 2 : t; };
    const int64_t anneal_epochs = as_int(s.number("anneal_epochs"));
    int64_t step = s.step_count - 1;
    if (anneal_epochs == 0) step = std::max<int64_t>(1, step);
    const double denom = static_cast<double>(std::max<int64_t>(1, anneal_epochs));
    const double prev_t = std::max(0.0, std::min(1.0, static_cast<double>(step - 1) / denom));
    const double prev_alpha = f(prev_t);
    const double t = std::max(0.0, std::min(1.0, static_cast<double>(step) / denom));
    const double alpha = f(t);
    std::vector<double> lrs;
    for (const auto& g : opt.param_groups()) {
      const double swa_lr = g.get("swa_lr");
      // _get_initial_lr: undo the previous step's blend to recover the lr it started from.
      const double prev_lr = prev_alpha == 1 ? swa_lr : (g.lr() - prev_alpha * swa_lr) / (1 - prev_alpha);
      lrs.push_back(swa_lr * alpha + prev_lr * (1 - alpha));
    }
    return lrs;
  }
};

}  // namespace

#define HEARTH_RULE(FN, CLASS)    \
  const SchedulerRule* FN() {     \
    static const CLASS r;         \
    return &r;                    \
  }
HEARTH_RULE(steplr_rule, StepLRRule)
HEARTH_RULE(multisteplr_rule, MultiStepLRRule)
HEARTH_RULE(exponentiallr_rule, ExponentialLRRule)
HEARTH_RULE(cosineannealinglr_rule, CosineAnnealingLRRule)
HEARTH_RULE(linearlr_rule, LinearLRRule)
HEARTH_RULE(onecyclelr_rule, OneCycleLRRule)
HEARTH_RULE(swalr_rule, SWALRRule)
#undef HEARTH_RULE

}  // namespace hearth_optim
