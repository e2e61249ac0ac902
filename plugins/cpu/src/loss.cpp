// nll_loss forward and backward (the second half of cross_entropy): one pass over the targets.
//
// The op layer passes input as (N, C, S) and target as (N, S), both contiguous; S collects the
// K-dimensional case's spatial dims. Sums accumulate in double in target order, so the result
// does not depend on the thread count.
#include "common.h"

#include <vector>

namespace hearth::cpu {
namespace {

constexpr int kNone = 0, kMean = 1, kSum = 2;  // attrs::NllLoss::reduction

TensorImpl* opt(const Tensor& t) { return t.defined() ? strided_impl(t) : nullptr; }

struct Geo {
  int64_t N, C, S;
};

Geo check_inputs(TensorImpl* x, TensorImpl* target, TensorImpl* weight) {
  HEARTH_CHECK(x->dim() == 3 && x->is_contiguous(), ShapeError, "input must be a contiguous (N, C, S) tensor, got ",
               x->sizes());
  const Geo g{x->size(0), x->size(1), x->size(2)};
  HEARTH_CHECK(target->dim() == 2 && target->size(0) == g.N && target->size(1) == g.S && target->is_contiguous(),
               ShapeError, "target must be a contiguous (N, S) = (", g.N, ", ", g.S, ") tensor, got ", target->sizes());
  HEARTH_CHECK(target->dtype() == kInt64, DTypeError, "expected target of dtype int64 (class indices), got ",
               target->dtype());
  if (weight)
    HEARTH_CHECK(weight->numel() == g.C && weight->is_contiguous() && weight->dtype() == x->dtype(), ShapeError,
                 "weight must be a contiguous vector of ", g.C, " ", x->dtype(), " elements (one per class), got ",
                 weight->sizes(), " ", weight->dtype());
  return g;
}

/// The class of element (n, s), or -1 when it is ignored; raises IndexError for a class outside
/// [0, C) (PyTorch: "Target 7 is out of bounds.").
inline int64_t class_of(int64_t t, int64_t C, int64_t ignore_index) {
  if (t == ignore_index) return -1;
  HEARTH_CHECK(t >= 0 && t < C, IndexError, "Target ", t, " is out of bounds (", C, " classes; ignore_index ",
               ignore_index, ")");
  return t;
}

template <typename T>
void nll_forward(const T* x, const int64_t* target, const T* w, T* out, T* total_weight, const Geo& g,
                 const attrs::NllLoss& at) {
  const int64_t N = g.N, C = g.C, S = g.S;
  double sum = 0, wsum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const int64_t c = class_of(target[n * S + s], C, at.ignore_index);
      double loss = 0, wc = 0;
      if (c >= 0) {
        wc = w ? static_cast<double>(w[c]) : 1.0;
        loss = -wc * static_cast<double>(x[(n * C + c) * S + s]);
      }
      if (at.reduction == kNone) {
        out[n * S + s] = static_cast<T>(loss);
      } else {
        sum += loss;
        wsum += wc;
      }
    }
  if (at.reduction == kNone) {
    *total_weight = T(0);
    return;
  }
  *total_weight = static_cast<T>(wsum);
  // mean: divided by the total weight of the non-ignored targets (0/0 = NaN when all are ignored,
  // as in PyTorch).
  *out = static_cast<T>(at.reduction == kMean ? sum / wsum : sum);
}

template <typename T>
void nll_backward(const T* gout, const int64_t* target, const T* w, const T* total_weight, T* gx, const Geo& g,
                  const attrs::NllLoss& at) {
  const int64_t N = g.N, C = g.C, S = g.S;
  std::fill(gx, gx + N * C * S, T(0));
  const double scale = at.reduction == kMean ? 1.0 / static_cast<double>(*total_weight) : 1.0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const int64_t c = class_of(target[n * S + s], C, at.ignore_index);
      if (c < 0) continue;
      const double gv = static_cast<double>(at.reduction == kNone ? gout[n * S + s] : gout[0]);
      const double wc = w ? static_cast<double>(w[c]) : 1.0;
      gx[(n * C + c) * S + s] = static_cast<T>(-wc * gv * scale);
    }
}

void nll_loss_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::NllLoss*>(args.attrs);
  TensorImpl* x = strided_impl(args.inputs[0]);
  TensorImpl* target = strided_impl(args.inputs[1]);
  TensorImpl* w = opt(args.inputs[2]);
  TensorImpl* out = strided_impl(args.outputs[0]);
  TensorImpl* tw = strided_impl(args.outputs[1]);
  const Geo g = check_inputs(x, target, w);
  const int64_t want = at.reduction == kNone ? g.N * g.S : 1;
  HEARTH_CHECK(out->numel() == want && out->is_contiguous() && out->dtype() == x->dtype() && tw->numel() == 1 &&
                   tw->dtype() == x->dtype(),
               ShapeError, "outputs: loss of ", want, " elements and a one-element total_weight of dtype ",
               x->dtype(), " expected, got ", out->sizes(), " ", out->dtype(), " and ", tw->sizes(), " ", tw->dtype());
  HEARTH_CPU_DISPATCH(kFloats, x->dtype(), "nll_loss", {
    nll_forward<scalar_t>(data_as<const scalar_t>(x), data_as<const int64_t>(target),
                          w ? data_as<const scalar_t>(w) : nullptr, data_as<scalar_t>(out), data_as<scalar_t>(tw), g,
                          at);
  });
}

void nll_loss_backward_kernel(const KernelArgs& args) {
  const auto& at = *static_cast<const attrs::NllLoss*>(args.attrs);
  TensorImpl* gout = strided_impl(args.inputs[0]);
  TensorImpl* target = strided_impl(args.inputs[1]);
  TensorImpl* w = opt(args.inputs[2]);
  TensorImpl* tw = strided_impl(args.inputs[3]);
  TensorImpl* gx = strided_impl(args.outputs[0]);
  const Geo g = check_inputs(gx, target, w);
  const int64_t want = at.reduction == kNone ? g.N * g.S : 1;
  HEARTH_CHECK(gout->numel() == want && gout->is_contiguous() && gout->dtype() == gx->dtype() && tw->numel() == 1 &&
                   tw->dtype() == gx->dtype(),
               ShapeError, "grad of ", want, " elements and a one-element total_weight of dtype ", gx->dtype(),
               " expected, got ", gout->sizes(), " ", gout->dtype(), " and ", tw->sizes(), " ", tw->dtype());
  HEARTH_CPU_DISPATCH(kFloats, gx->dtype(), "nll_loss_backward", {
    nll_backward<scalar_t>(data_as<const scalar_t>(gout), data_as<const int64_t>(target),
                           w ? data_as<const scalar_t>(w) : nullptr, data_as<const scalar_t>(tw),
                           data_as<scalar_t>(gx), g, at);
  });
}

}  // namespace

void register_loss(PluginRegistrar& r) {
  r.kernel("nll_loss", "cpu", nll_loss_kernel);
  r.kernel("nll_loss_backward", "cpu", nll_loss_backward_kernel);
}

}  // namespace hearth::cpu
