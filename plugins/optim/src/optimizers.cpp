// The update rules of SGD, Adam, AdamW, RMSprop and Adagrad with PyTorch 1.13's formulas
// (torch/optim/*.py, _single_tensor_*). Each has two paths over the same arithmetic:
//  - fused (SEED F9): CPU float32/float64 parameters of a group go through one loop nest over
//    all of them (fused.h), computing in the parameter's dtype in PyTorch's operation order;
//  - tensor ops: PyTorch's per-parameter sequence of ops, for every other device and dtype, for
//    parameters the fused path cannot take, and when the options say fused(false).
// Bias corrections and step sizes are computed in double per parameter, as PyTorch does in
// Python, and passed to the loop as numbers.
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>

#include "fused.h"
#include "hearth/error.h"
#include "hearth/functions.h"
#include "hearth/optim/optimizer.h"

namespace hearth_optim {

using namespace hearth;
using namespace hearth::optim;

namespace {

template <typename O>
const O& options_as(const OptimizerOptions& o, const char* name) {
  const O* t = dynamic_cast<const O*>(&o);
  HEARTH_CHECK(t != nullptr, ValueError, name, ": expected ", name, " options, got options of '", o.optimizer_name(),
               "'");
  return *t;
}

void check_common(const char* name, double lr, double weight_decay) {
  HEARTH_CHECK(lr >= 0, ValueError, name, ": invalid learning rate: ", lr);
  HEARTH_CHECK(weight_decay >= 0, ValueError, name, ": invalid weight_decay value: ", weight_decay);
}

/// The gradient as the fused loop reads it: contiguous (a copy only if it is not).
Tensor dense_grad(const Tensor& g, std::vector<Tensor>& keep) {
  if (g.is_contiguous() && !g.has_opaque_layout()) return g;
  keep.push_back(g.contiguous());
  return keep.back();
}

template <typename T>
T* ptr(Tensor* t) {
  return t ? t->data_ptr<T>() : nullptr;
}

/// Builds the fused item of one parameter (state buffers by name, null where absent).
template <typename T>
Item<T> make_item(Tensor& p, const Tensor& g, ParamState& st, std::initializer_list<const char*> bufs, bool first,
                  double c0, double c1) {
  Item<T> it{};
  it.p = p.data_ptr<T>();
  it.g = g.data_ptr<T>();
  size_t k = 0;
  for (const char* b : bufs) it.s[k++] = ptr<T>(st.find(b));
  it.n = p.numel();
  it.first = first;
  it.c0 = c0;
  it.c1 = c1;
  return it;
}

/// Collects fused items per dtype, runs the tensor-op path for the rest, then the fused loops.
struct Batches {
  std::vector<Item<float>> f32;
  std::vector<Item<double>> f64;
  std::vector<Tensor> keep;  // contiguous copies of gradients
  void add(Tensor& p, const Tensor& grad, ParamState& st, std::initializer_list<const char*> bufs, bool first,
           double c0 = 0, double c1 = 0) {
    const Tensor g = dense_grad(grad, keep);
    if (p.dtype() == kFloat32)
      f32.push_back(make_item<float>(p, g, st, bufs, first, c0, c1));
    else
      f64.push_back(make_item<double>(p, g, st, bufs, first, c0, c1));
  }
};

Tensor zeros_state(const Tensor& p) { return zeros(p.sizes(), p.options()); }

/// Calls f with each runtime flag turned into std::true_type / std::false_type, so the update
/// loops are instantiated per combination and stay free of branches (they vectorize).
template <typename F>
void with_flags(bool a, F&& f) {
  if (a)
    f(std::true_type{});
  else
    f(std::false_type{});
}
template <typename F>
void with_flags(bool a, bool b, F&& f) {
  with_flags(a, [&](auto x) { with_flags(b, [&](auto y) { f(x, y); }); });
}
template <typename F>
void with_flags(bool a, bool b, bool c, F&& f) {
  with_flags(a, b, [&](auto x, auto y) { with_flags(c, [&](auto z) { f(x, y, z); }); });
}

// ======================= SGD =======================

class SGDRule final : public OptimizerAlgorithm {
 public:
  std::unique_ptr<OptimizerOptions> default_options() const override { return std::make_unique<SGDOptions>(); }

  void check_options(const OptimizerOptions& opts) const override {
    const auto& o = options_as<SGDOptions>(opts, "sgd");
    check_common("sgd", o.lr(), o.weight_decay());
    HEARTH_CHECK(o.momentum() >= 0, ValueError, "sgd: invalid momentum value: ", o.momentum());
    HEARTH_CHECK(!o.nesterov() || (o.momentum() > 0 && o.dampening() == 0), ValueError,
                 "sgd: Nesterov momentum requires a momentum and zero dampening (momentum=", o.momentum(),
                 ", dampening=", o.dampening(), ")");
  }

  void step(const OptimizerOptions& opts, std::vector<ParamRef>& params) const override {
    const auto& o = options_as<SGDOptions>(opts, "sgd");
    const bool use_momentum = o.momentum() != 0;
    Batches b;
    for (auto& r : params) {
      Tensor& p = *r.param;
      ParamState& st = *r.state;
      const bool first = use_momentum && !st.find("momentum_buffer");
      if (o.fused() && fusable(p, st)) {
        if (first) st.tensors["momentum_buffer"] = empty(p.sizes(), p.options());
        b.add(p, *r.grad, st, {"momentum_buffer"}, first);
      } else {
        unfused(o, p, *r.grad, st);
      }
    }
    run<float>(o, b.f32);
    run<double>(o, b.f64);
  }

 private:
  static void unfused(const SGDOptions& o, Tensor& p, const Tensor& grad, ParamState& st) {
    Tensor d_p = o.maximize() ? grad.neg() : grad;
    if (o.weight_decay() != 0) d_p = d_p.add(p, o.weight_decay());
    if (o.momentum() != 0) {
      Tensor* buf = st.find("momentum_buffer");
      if (!buf) {
        st.tensors["momentum_buffer"] = d_p.clone();
        buf = st.find("momentum_buffer");
      } else {
        buf->mul_(o.momentum()).add_(d_p, 1 - o.dampening());
      }
      d_p = o.nesterov() ? d_p.add(*buf, o.momentum()) : *buf;
    }
    p.add_(d_p, -o.lr());
  }

  template <typename T>
  static void run(const SGDOptions& o, const std::vector<Item<T>>& items) {
    if (items.empty()) return;
    const Scalars<T> c{static_cast<T>(o.maximize() ? -1 : 1), static_cast<T>(o.weight_decay()),
                       static_cast<T>(o.momentum()), static_cast<T>(1 - o.dampening()), static_cast<T>(-o.lr())};
    with_flags(o.weight_decay() != 0, o.momentum() != 0, o.nesterov(), [&](auto wd, auto mom, auto nesterov) {
      for_each_chunk(items, [&](const Item<T>& it, int64_t begin, int64_t end) {
        if (it.first)
          kernel<T, decltype(wd)::value, decltype(mom)::value, decltype(nesterov)::value, true>(it, begin, end, c);
        else
          kernel<T, decltype(wd)::value, decltype(mom)::value, decltype(nesterov)::value, false>(it, begin, end, c);
      });
    });
  }

  template <typename T>
  struct Scalars {
    T sign, wd, mom, damp, nlr;
  };

  // Branch-free for the compiler: the flags are template arguments, so the loop vectorizes.
  template <typename T, bool kWd, bool kMom, bool kNesterov, bool kFirst>
  static void kernel(const Item<T>& it, int64_t begin, int64_t end, const Scalars<T> c) {
    T* __restrict p = it.p;
    const T* __restrict g = it.g;
    T* __restrict buf = it.s[0];
    for (int64_t i = begin; i < end; ++i) {
      T d = c.sign * g[i];  // maximize: the gradient negated (exact)
      if constexpr (kWd) d = d + c.wd * p[i];
      if constexpr (kMom) {
        T bv;
        if constexpr (kFirst)
          bv = d;  // PyTorch's first step: buf = clone(d_p)
        else
          bv = buf[i] * c.mom + c.damp * d;
        buf[i] = bv;
        if constexpr (kNesterov)
          d = d + c.mom * bv;
        else
          d = bv;
      }
      p[i] = p[i] + c.nlr * d;
    }
  }
};

// ======================= Adam / AdamW =======================

/// Adam and AdamW share everything but where weight decay goes (SEED G5): Adam adds
/// weight_decay * p to the gradient (L2); AdamW multiplies p by 1 - lr * weight_decay.
template <typename O, bool kDecoupled>
class AdamRule final : public OptimizerAlgorithm {
 public:
  static constexpr const char* kName = kDecoupled ? "adamw" : "adam";

  std::unique_ptr<OptimizerOptions> default_options() const override { return std::make_unique<O>(); }

  void check_options(const OptimizerOptions& opts) const override {
    const auto& o = options_as<O>(opts, kName);
    check_common(kName, o.lr(), o.weight_decay());
    HEARTH_CHECK(o.eps() >= 0, ValueError, kName, ": invalid epsilon value: ", o.eps());
    HEARTH_CHECK(o.beta1() >= 0 && o.beta1() < 1, ValueError, kName, ": invalid beta parameter at index 0: ",
                 o.beta1());
    HEARTH_CHECK(o.beta2() >= 0 && o.beta2() < 1, ValueError, kName, ": invalid beta parameter at index 1: ",
                 o.beta2());
  }

  void step(const OptimizerOptions& opts, std::vector<ParamRef>& params) const override {
    const auto& o = options_as<O>(opts, kName);
    Batches b;
    for (auto& r : params) {
      Tensor& p = *r.param;
      ParamState& st = *r.state;
      if (st.empty()) {
        st.scalars["step"] = 0;
        st.tensors["exp_avg"] = zeros_state(p);
        st.tensors["exp_avg_sq"] = zeros_state(p);
        if (o.amsgrad()) st.tensors["max_exp_avg_sq"] = zeros_state(p);
      }
      // amsgrad switched on after the state was made (PyTorch would fail here).
      if (o.amsgrad() && !st.find("max_exp_avg_sq")) st.tensors["max_exp_avg_sq"] = zeros_state(p);
      const double step = (st.scalars["step"] += 1);
      const double bc1 = 1 - std::pow(o.beta1(), step);
      const double bc2 = 1 - std::pow(o.beta2(), step);
      const double step_size = o.lr() / bc1;
      const double bc2_sqrt = std::sqrt(bc2);
      if (o.fused() && fusable(p, st))
        b.add(p, *r.grad, st, {"exp_avg", "exp_avg_sq", o.amsgrad() ? "max_exp_avg_sq" : ""}, false, step_size,
              bc2_sqrt);
      else
        unfused(o, p, *r.grad, st, step_size, bc2_sqrt);
    }
    run<float>(o, b.f32);
    run<double>(o, b.f64);
  }

 private:
  static void unfused(const O& o, Tensor& p, const Tensor& grad, ParamState& st, double step_size, double bc2_sqrt) {
    Tensor g = o.maximize() ? grad.neg() : grad;
    if (kDecoupled)
      p.mul_(1 - o.lr() * o.weight_decay());
    else if (o.weight_decay() != 0)
      g = g.add(p, o.weight_decay());
    Tensor& m = st.tensors["exp_avg"];
    Tensor& v = st.tensors["exp_avg_sq"];
    m.mul_(o.beta1()).add_(g, 1 - o.beta1());
    v.mul_(o.beta2()).add_(g.mul(g), 1 - o.beta2());
    Tensor denom;
    if (o.amsgrad()) {
      Tensor& vmax = st.tensors["max_exp_avg_sq"];
      vmax.copy_(maximum(vmax, v));
      denom = vmax.sqrt().div(bc2_sqrt).add_(o.eps());
    } else {
      denom = v.sqrt().div(bc2_sqrt).add_(o.eps());
    }
    p.add_(m.div(denom), -step_size);
  }

  template <typename T>
  static void run(const O& o, const std::vector<Item<T>>& items) {
    if (items.empty()) return;
    const Scalars<T> c{static_cast<T>(o.maximize() ? -1 : 1), static_cast<T>(o.beta1()),
                       static_cast<T>(1 - o.beta1()), static_cast<T>(o.beta2()), static_cast<T>(1 - o.beta2()),
                       static_cast<T>(o.eps()), static_cast<T>(o.weight_decay()),
                       static_cast<T>(1 - o.lr() * o.weight_decay())};
    with_flags(!kDecoupled && o.weight_decay() != 0, o.amsgrad(), [&](auto l2, auto amsgrad) {
      for_each_chunk(items, [&](const Item<T>& it, int64_t begin, int64_t end) {
        kernel<T, decltype(l2)::value, decltype(amsgrad)::value>(it, begin, end, c);
      });
    });
  }

  template <typename T>
  struct Scalars {
    T sign, b1, omb1, b2, omb2, eps, wd, decay;
  };

  template <typename T, bool kL2, bool kAmsgrad>
  static void kernel(const Item<T>& it, int64_t begin, int64_t end, const Scalars<T> c) {
    T* __restrict p = it.p;
    const T* __restrict g = it.g;
    T* __restrict m = it.s[0];
    T* __restrict v = it.s[1];
    T* __restrict vmax = it.s[2];
    const T nstep = static_cast<T>(-it.c0), bc2s = static_cast<T>(it.c1);
    for (int64_t i = begin; i < end; ++i) {
      T gi = c.sign * g[i];
      T pi = p[i];
      if constexpr (kDecoupled) pi = pi * c.decay;  // AdamW: p *= 1 - lr * weight_decay
      if constexpr (kL2) gi = gi + c.wd * pi;       // Adam: grad += weight_decay * p
      const T mi = m[i] * c.b1 + c.omb1 * gi;
      const T vi = v[i] * c.b2 + c.omb2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      T vd = vi;
      if constexpr (kAmsgrad) {
        vd = vmax[i] > vi ? vmax[i] : vi;
        vmax[i] = vd;
      }
      const T denom = std::sqrt(vd) / bc2s + c.eps;
      p[i] = pi + nstep * (mi / denom);
    }
  }
};

// ======================= RMSprop =======================

class RMSpropRule final : public OptimizerAlgorithm {
 public:
  std::unique_ptr<OptimizerOptions> default_options() const override { return std::make_unique<RMSpropOptions>(); }

  void check_options(const OptimizerOptions& opts) const override {
    const auto& o = options_as<RMSpropOptions>(opts, "rmsprop");
    check_common("rmsprop", o.lr(), o.weight_decay());
    HEARTH_CHECK(o.eps() >= 0, ValueError, "rmsprop: invalid epsilon value: ", o.eps());
    HEARTH_CHECK(o.momentum() >= 0, ValueError, "rmsprop: invalid momentum value: ", o.momentum());
    HEARTH_CHECK(o.alpha() >= 0, ValueError, "rmsprop: invalid alpha value: ", o.alpha());
  }

  void step(const OptimizerOptions& opts, std::vector<ParamRef>& params) const override {
    const auto& o = options_as<RMSpropOptions>(opts, "rmsprop");
    Batches b;
    for (auto& r : params) {
      Tensor& p = *r.param;
      ParamState& st = *r.state;
      if (st.empty()) {
        st.scalars["step"] = 0;
        st.tensors["square_avg"] = zeros_state(p);
        if (o.momentum() > 0) st.tensors["momentum_buffer"] = zeros_state(p);
        if (o.centered()) st.tensors["grad_avg"] = zeros_state(p);
      }
      if (o.momentum() > 0 && !st.find("momentum_buffer")) st.tensors["momentum_buffer"] = zeros_state(p);
      if (o.centered() && !st.find("grad_avg")) st.tensors["grad_avg"] = zeros_state(p);
      st.scalars["step"] += 1;
      if (o.fused() && fusable(p, st))
        b.add(p, *r.grad, st,
              {"square_avg", o.momentum() > 0 ? "momentum_buffer" : "", o.centered() ? "grad_avg" : ""}, false);
      else
        unfused(o, p, *r.grad, st);
    }
    run<float>(o, b.f32);
    run<double>(o, b.f64);
  }

 private:
  static void unfused(const RMSpropOptions& o, Tensor& p, const Tensor& grad, ParamState& st) {
    Tensor g = o.maximize() ? grad.neg() : grad;
    if (o.weight_decay() != 0) g = g.add(p, o.weight_decay());
    Tensor& sq = st.tensors["square_avg"];
    sq.mul_(o.alpha()).add_(g.mul(g), 1 - o.alpha());
    Tensor avg;
    if (o.centered()) {
      Tensor& ga = st.tensors["grad_avg"];
      ga.mul_(o.alpha()).add_(g, 1 - o.alpha());
      avg = sq.sub(ga.mul(ga)).sqrt();
    } else {
      avg = sq.sqrt();
    }
    avg.add_(o.eps());
    if (o.momentum() > 0) {
      Tensor& buf = st.tensors["momentum_buffer"];
      buf.mul_(o.momentum()).add_(g.div(avg));
      p.add_(buf, -o.lr());
    } else {
      p.add_(g.div(avg), -o.lr());
    }
  }

  template <typename T>
  static void run(const RMSpropOptions& o, const std::vector<Item<T>>& items) {
    if (items.empty()) return;
    const Scalars<T> c{static_cast<T>(o.maximize() ? -1 : 1), static_cast<T>(o.alpha()),
                       static_cast<T>(1 - o.alpha()), static_cast<T>(o.eps()), static_cast<T>(o.weight_decay()),
                       static_cast<T>(o.momentum()), static_cast<T>(-o.lr())};
    with_flags(o.weight_decay() != 0, o.centered(), o.momentum() > 0, [&](auto wd, auto centered, auto mom) {
      for_each_chunk(items, [&](const Item<T>& it, int64_t begin, int64_t end) {
        kernel<T, decltype(wd)::value, decltype(centered)::value, decltype(mom)::value>(it, begin, end, c);
      });
    });
  }

  template <typename T>
  struct Scalars {
    T sign, alpha, oma, eps, wd, mom, nlr;
  };

  template <typename T, bool kWd, bool kCentered, bool kMom>
  static void kernel(const Item<T>& it, int64_t begin, int64_t end, const Scalars<T> c) {
    T* __restrict p = it.p;
    const T* __restrict g = it.g;
    T* __restrict sq = it.s[0];
    T* __restrict buf = it.s[1];
    T* __restrict ga = it.s[2];
    for (int64_t i = begin; i < end; ++i) {
      T gi = c.sign * g[i];
      if constexpr (kWd) gi = gi + c.wd * p[i];
      const T s = sq[i] * c.alpha + c.oma * gi * gi;
      sq[i] = s;
      T avg;
      if constexpr (kCentered) {
        const T a = ga[i] * c.alpha + c.oma * gi;
        ga[i] = a;
        avg = std::sqrt(s + T(-1) * a * a);  // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
      } else {
        avg = std::sqrt(s);
      }
      avg = avg + c.eps;
      if constexpr (kMom) {
        const T bv = buf[i] * c.mom + gi / avg;
        buf[i] = bv;
        p[i] = p[i] + c.nlr * bv;
      } else {
        p[i] = p[i] + c.nlr * (gi / avg);
      }
    }
  }
};

// ======================= Adagrad =======================

class AdagradRule final : public OptimizerAlgorithm {
 public:
  std::unique_ptr<OptimizerOptions> default_options() const override { return std::make_unique<AdagradOptions>(); }

  void check_options(const OptimizerOptions& opts) const override {
    const auto& o = options_as<AdagradOptions>(opts, "adagrad");
    check_common("adagrad", o.lr(), o.weight_decay());
    HEARTH_CHECK(o.lr_decay() >= 0, ValueError, "adagrad: invalid lr_decay value: ", o.lr_decay());
    HEARTH_CHECK(o.initial_accumulator_value() >= 0, ValueError, "adagrad: invalid initial_accumulator_value value: ",
                 o.initial_accumulator_value());
    HEARTH_CHECK(o.eps() >= 0, ValueError, "adagrad: invalid epsilon value: ", o.eps());
  }

  /// PyTorch fills Adagrad's state when the parameter is added, not at its first step.
  void init_state(const OptimizerOptions& opts, const Tensor& p, ParamState& st) const override {
    const auto& o = options_as<AdagradOptions>(opts, "adagrad");
    st.scalars["step"] = 0;
    st.tensors["sum"] = full(p.sizes(), o.initial_accumulator_value(), p.options());
  }

  void step(const OptimizerOptions& opts, std::vector<ParamRef>& params) const override {
    const auto& o = options_as<AdagradOptions>(opts, "adagrad");
    Batches b;
    for (auto& r : params) {
      Tensor& p = *r.param;
      ParamState& st = *r.state;
      if (!st.find("sum")) init_state(o, p, st);
      const double step = (st.scalars["step"] += 1);
      const double clr = o.lr() / (1 + (step - 1) * o.lr_decay());
      if (o.fused() && fusable(p, st))
        b.add(p, *r.grad, st, {"sum"}, false, clr);
      else
        unfused(o, p, *r.grad, st, clr);
    }
    run<float>(o, b.f32);
    run<double>(o, b.f64);
  }

 private:
  static void unfused(const AdagradOptions& o, Tensor& p, const Tensor& grad, ParamState& st, double clr) {
    Tensor g = o.maximize() ? grad.neg() : grad;
    if (o.weight_decay() != 0) g = g.add(p, o.weight_decay());
    Tensor& sum = st.tensors["sum"];
    sum.add_(g.mul(g));
    Tensor std = sum.sqrt().add_(o.eps());
    p.add_(g.div(std), -clr);
  }

  template <typename T>
  static void run(const AdagradOptions& o, const std::vector<Item<T>>& items) {
    if (items.empty()) return;
    const T sign = static_cast<T>(o.maximize() ? -1 : 1), wd = static_cast<T>(o.weight_decay()),
            eps = static_cast<T>(o.eps());
    with_flags(o.weight_decay() != 0, [&](auto has_wd) {
      for_each_chunk(items, [&](const Item<T>& it, int64_t begin, int64_t end) {
        T* __restrict p = it.p;
        const T* __restrict g = it.g;
        T* __restrict sum = it.s[0];
        const T nclr = static_cast<T>(-it.c0);
        for (int64_t i = begin; i < end; ++i) {
          T gi = sign * g[i];
          if constexpr (decltype(has_wd)::value) gi = gi + wd * p[i];
          const T s = sum[i] + T(1) * gi * gi;
          sum[i] = s;
          const T std = std::sqrt(s) + eps;
          p[i] = p[i] + nclr * (gi / std);
        }
      });
    });
  }
};

}  // namespace

const OptimizerAlgorithm* sgd_rule() {
  static const SGDRule r;
  return &r;
}
const OptimizerAlgorithm* adam_rule() {
  static const AdamRule<AdamOptions, false> r;
  return &r;
}
const OptimizerAlgorithm* adamw_rule() {
  static const AdamRule<AdamWOptions, true> r;
  return &r;
}
const OptimizerAlgorithm* rmsprop_rule() {
  static const RMSpropRule r;
  return &r;
}
const OptimizerAlgorithm* adagrad_rule() {
  static const AdagradRule r;
  return &r;
}

}  // namespace hearth_optim
