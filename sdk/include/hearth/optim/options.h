// Optimizer options: the base every optimizer's options derive from (named numeric fields, so
// schedulers and state dicts can read and write any of them) and the typed structs of the
// optimizers hearth-optim provides, with PyTorch 1.13's defaults (docs/optim.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace hearth::optim {

/// One option as a number (bools are 0/1, ints exact), for schedulers, state dicts and printing.
struct OptionField {
  enum class Kind { Double, Bool, Int };
  std::string name;
  Kind kind = Kind::Double;
  double value = 0;
};

/// Options of one optimizer. A plugin's update rule reads its own typed subclass; everything
/// else (schedulers, state dicts, `--lr` on the command line) goes through the named fields.
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions();
  /// The optimizer these options belong to ("adamw"): the plugin component of that name.
  virtual std::string optimizer_name() const = 0;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
  /// Every typed option, in declaration order.
  virtual std::vector<OptionField> fields() const = 0;
  /// Sets a typed option by name (bools: non-zero is true); false if there is no such option.
  virtual bool set_field(std::string_view name, double value) = 0;

  /// The field's value; ValueError listing the fields if there is none of that name.
  double get(std::string_view name) const;
  bool has(std::string_view name) const;
  /// Sets a field; ValueError listing the fields if there is none of that name.
  void set(std::string_view name, double value);
  /// "lr=0.001, betas=..." for messages and printing.
  std::string repr() const;
};

/// Adam's `betas`: given as LibTorch's std::tuple, hearth's std::pair, or braces {0.9, 0.999}.
struct Betas {
  double beta1, beta2;
  Betas(double b1, double b2) : beta1(b1), beta2(b2) {}
  Betas(const std::tuple<double, double>& t) : beta1(std::get<0>(t)), beta2(std::get<1>(t)) {}  // NOLINT
  Betas(const std::pair<double, double>& p) : beta1(p.first), beta2(p.second) {}              // NOLINT
  operator std::tuple<double, double>() const { return {beta1, beta2}; }                        // NOLINT
  operator std::pair<double, double>() const { return {beta1, beta2}; }                         // NOLINT
  bool operator==(const Betas& o) const { return beta1 == o.beta1 && beta2 == o.beta2; }
};
namespace detail {
/// Shared machinery of the typed structs: `Derived::visit(self, f)` calls f(name, member&) for
/// each option, which gives fields() and set_field() without repeating the list.
template <typename Derived>
class OptionsImpl : public OptimizerOptions {
 public:
  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
  std::vector<OptionField> fields() const override {
    std::vector<OptionField> out;
    Derived::visit(static_cast<const Derived&>(*this), [&](const char* n, const auto& v) {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, bool>)
        out.push_back({n, OptionField::Kind::Bool, v ? 1.0 : 0.0});
      else if constexpr (std::is_integral_v<T>)
        out.push_back({n, OptionField::Kind::Int, static_cast<double>(v)});
      else
        out.push_back({n, OptionField::Kind::Double, static_cast<double>(v)});
    });
    return out;
  }
  bool set_field(std::string_view name, double value) override {
    bool found = false;
    Derived::visit(static_cast<Derived&>(*this), [&](const char* n, auto& v) {
      if (found || name != n) return;
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, bool>)
        v = value != 0;
      else
        v = static_cast<T>(value);
      found = true;
    });
    return found;
  }
};
}  // namespace detail

/// Declares option NAME of type T with a default: `opts.NAME(v)` sets (and chains), `opts.NAME()` reads.
#define HEARTH_OPTIM_ARG(T, NAME, DEFAULT)  \
 public:                                    \
  auto& NAME(T v) {                         \
    NAME##_ = v;                            \
    return *this;                           \
  }                                         \
  T NAME() const { return NAME##_; }        \
                                            \
 private:                                   \
  T NAME##_ = DEFAULT

/// SGD with optional momentum (PyTorch's heavy-ball form: buf = momentum*buf + (1-dampening)*g),
/// Nesterov momentum, L2 weight decay added to the gradient. PyTorch requires lr; the default
/// here is PyTorch 2.x's 1e-3.
class SGDOptions : public detail::OptionsImpl<SGDOptions> {
 public:
  SGDOptions() = default;
  /// Implicit, as LibTorch's: `optim::SGD(params, 0.1)` means lr = 0.1.
  SGDOptions(double lr) : lr_(lr) {}  // NOLINT
  std::string optimizer_name() const override;
  template <typename S, typename F>
  static void visit(S& s, F&& f) {
    f("lr", s.lr_), f("momentum", s.momentum_), f("dampening", s.dampening_), f("weight_decay", s.weight_decay_),
        f("nesterov", s.nesterov_), f("maximize", s.maximize_), f("fused", s.fused_);
  }
  HEARTH_OPTIM_ARG(double, lr, 1e-3);
  HEARTH_OPTIM_ARG(double, momentum, 0.0);
  HEARTH_OPTIM_ARG(double, dampening, 0.0);
  HEARTH_OPTIM_ARG(double, weight_decay, 0.0);
  HEARTH_OPTIM_ARG(bool, nesterov, false);
  HEARTH_OPTIM_ARG(bool, maximize, false);
  /// One pass over all parameters of a group on CPU for float32/float64 (SEED F9); false runs
  /// PyTorch's per-parameter sequence of tensor ops (what other devices and dtypes always use).
  HEARTH_OPTIM_ARG(bool, fused, true);
};

/// Adam; weight_decay is L2: added to the gradient before the moments (SEED G5; AdamW decays
/// the weights instead).
class AdamOptions : public detail::OptionsImpl<AdamOptions> {
 public:
  AdamOptions() = default;
  /// Implicit, as LibTorch's: `optim::Adam(params, 0.1)` means lr = 0.1.
  AdamOptions(double lr) : lr_(lr) {}  // NOLINT
  std::string optimizer_name() const override;
  template <typename S, typename F>
  static void visit(S& s, F&& f) {
    f("lr", s.lr_), f("beta1", s.beta1_), f("beta2", s.beta2_), f("eps", s.eps_), f("weight_decay", s.weight_decay_),
        f("amsgrad", s.amsgrad_), f("maximize", s.maximize_), f("fused", s.fused_);
  }
  /// (beta1, beta2) as PyTorch's `betas`.
  AdamOptions& betas(const Betas& b) {
    beta1_ = b.beta1;
    beta2_ = b.beta2;
    return *this;
  }
  /// (beta1, beta2) as LibTorch's tuple: std::get<0>(opts.betas()).
  std::tuple<double, double> betas() const { return {beta1_, beta2_}; }
  HEARTH_OPTIM_ARG(double, lr, 1e-3);
  HEARTH_OPTIM_ARG(double, beta1, 0.9);
  HEARTH_OPTIM_ARG(double, beta2, 0.999);
  HEARTH_OPTIM_ARG(double, eps, 1e-8);
  HEARTH_OPTIM_ARG(double, weight_decay, 0.0);
  HEARTH_OPTIM_ARG(bool, amsgrad, false);
  HEARTH_OPTIM_ARG(bool, maximize, false);
  HEARTH_OPTIM_ARG(bool, fused, true);
};

/// AdamW: Adam with decoupled weight decay, p *= 1 - lr*weight_decay before the update (SEED G5).
class AdamWOptions : public detail::OptionsImpl<AdamWOptions> {
 public:
  AdamWOptions() = default;
  /// Implicit, as LibTorch's: `optim::AdamW(params, 0.1)` means lr = 0.1.
  AdamWOptions(double lr) : lr_(lr) {}  // NOLINT
  std::string optimizer_name() const override;
  template <typename S, typename F>
  static void visit(S& s, F&& f) {
    f("lr", s.lr_), f("beta1", s.beta1_), f("beta2", s.beta2_), f("eps", s.eps_), f("weight_decay", s.weight_decay_),
        f("amsgrad", s.amsgrad_), f("maximize", s.maximize_), f("fused", s.fused_);
  }
  AdamWOptions& betas(const Betas& b) {
    beta1_ = b.beta1;
    beta2_ = b.beta2;
    return *this;
  }
  /// (beta1, beta2) as LibTorch's tuple: std::get<0>(opts.betas()).
  std::tuple<double, double> betas() const { return {beta1_, beta2_}; }
  HEARTH_OPTIM_ARG(double, lr, 1e-3);
  HEARTH_OPTIM_ARG(double, beta1, 0.9);
  HEARTH_OPTIM_ARG(double, beta2, 0.999);
  HEARTH_OPTIM_ARG(double, eps, 1e-8);
  HEARTH_OPTIM_ARG(double, weight_decay, 1e-2);
  HEARTH_OPTIM_ARG(bool, amsgrad, false);
  HEARTH_OPTIM_ARG(bool, maximize, false);
  HEARTH_OPTIM_ARG(bool, fused, true);
};

/// RMSprop: square_avg = alpha*square_avg + (1-alpha)*g^2; centered subtracts the squared mean
/// gradient; optional momentum buffer; L2 weight decay.
class RMSpropOptions : public detail::OptionsImpl<RMSpropOptions> {
 public:
  RMSpropOptions() = default;
  /// Implicit, as LibTorch's: `optim::RMSprop(params, 0.1)` means lr = 0.1.
  RMSpropOptions(double lr) : lr_(lr) {}  // NOLINT
  std::string optimizer_name() const override;
  template <typename S, typename F>
  static void visit(S& s, F&& f) {
    f("lr", s.lr_), f("alpha", s.alpha_), f("eps", s.eps_), f("weight_decay", s.weight_decay_),
        f("momentum", s.momentum_), f("centered", s.centered_), f("maximize", s.maximize_), f("fused", s.fused_);
  }
  HEARTH_OPTIM_ARG(double, lr, 1e-2);
  HEARTH_OPTIM_ARG(double, alpha, 0.99);
  HEARTH_OPTIM_ARG(double, eps, 1e-8);
  HEARTH_OPTIM_ARG(double, weight_decay, 0.0);
  HEARTH_OPTIM_ARG(double, momentum, 0.0);
  HEARTH_OPTIM_ARG(bool, centered, false);
  HEARTH_OPTIM_ARG(bool, maximize, false);
  HEARTH_OPTIM_ARG(bool, fused, true);
};

/// Adagrad: sum += g^2, p -= lr/(1 + (step-1)*lr_decay) * g/(sqrt(sum) + eps); L2 weight decay.
class AdagradOptions : public detail::OptionsImpl<AdagradOptions> {
 public:
  AdagradOptions() = default;
  /// Implicit, as LibTorch's: `optim::Adagrad(params, 0.1)` means lr = 0.1.
  AdagradOptions(double lr) : lr_(lr) {}  // NOLINT
  std::string optimizer_name() const override;
  template <typename S, typename F>
  static void visit(S& s, F&& f) {
    f("lr", s.lr_), f("lr_decay", s.lr_decay_), f("weight_decay", s.weight_decay_),
        f("initial_accumulator_value", s.initial_accumulator_value_), f("eps", s.eps_), f("maximize", s.maximize_),
        f("fused", s.fused_);
  }
  HEARTH_OPTIM_ARG(double, lr, 1e-2);
  HEARTH_OPTIM_ARG(double, lr_decay, 0.0);
  HEARTH_OPTIM_ARG(double, weight_decay, 0.0);
  HEARTH_OPTIM_ARG(double, initial_accumulator_value, 0.0);
  HEARTH_OPTIM_ARG(double, eps, 1e-10);
  HEARTH_OPTIM_ARG(bool, maximize, false);
  HEARTH_OPTIM_ARG(bool, fused, true);
};

}  // namespace hearth::optim
