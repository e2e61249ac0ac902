// gradcheck: the analytic Jacobian from backward against float64 central differences.
#include <cmath>

#include "hearth/functions.h"
#include "internal.h"

namespace hearth::autograd {

namespace {

DimVector unravel(int64_t flat, IntArrayRef sizes) {
  DimVector idx(sizes.size());
  for (size_t d = sizes.size(); d-- > 0;) {
    const int64_t s = std::max<int64_t>(sizes[d], 1);
    idx[d] = flat % s;
    flat /= s;
  }
  return idx;
}

/// The elements of a floating tensor as float64 on the host, row-major.
std::vector<double> host_values(const Tensor& t) {
  NoGradGuard ng;
  Tensor h = t.detach().to(Device(kCPUType), kFloat64).contiguous();
  const double* p = h.data_ptr<double>();
  return std::vector<double>(p, p + h.numel());
}

bool differentiable(const Tensor& t) { return t.defined() && t.is_floating_point(); }

}  // namespace

GradcheckResult gradcheck(const std::function<tensor_list(const tensor_list&)>& fn, const tensor_list& inputs,
                          const GradcheckOptions& o) {
  HEARTH_CHECK(o.eps > 0 && o.atol >= 0 && o.rtol >= 0, ValueError, "gradcheck: eps must be positive and the "
               "tolerances non-negative (eps ", o.eps, ", atol ", o.atol, ", rtol ", o.rtol, ")");
  // Float64 leaves with their own memory; other inputs (indices, masks) pass through.
  tensor_list xs;
  std::vector<size_t> diff;  // which inputs are differentiated
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (differentiable(inputs[k])) {
      NoGradGuard ng;
      Tensor x = inputs[k].detach().to(kFloat64, /*copy=*/true).contiguous();
      x.requires_grad_(true);
      xs.push_back(x);
      diff.push_back(k);
    } else {
      xs.push_back(inputs[k]);
    }
  }
  HEARTH_CHECK(!diff.empty(), ValueError, "gradcheck: no floating point input to differentiate");
  tensor_list diff_inputs;
  for (size_t k : diff) diff_inputs.push_back(xs[k]);

  // Analytic: one vector-Jacobian product per output element.
  const tensor_list outs = fn(xs);
  HEARTH_CHECK(!outs.empty(), ValueError, "gradcheck: the function returned no outputs");
  // analytic[o][j][d] = flattened gradient of output o element j w.r.t. diff input d
  std::vector<std::vector<std::vector<std::vector<double>>>> analytic(outs.size());
  for (size_t oi = 0; oi < outs.size(); ++oi) {
    const Tensor& out = outs[oi];
    if (!differentiable(out)) continue;
    analytic[oi].resize(static_cast<size_t>(out.numel()));
    for (int64_t j = 0; j < out.numel(); ++j) {
      auto& row = analytic[oi][static_cast<size_t>(j)];
      row.resize(diff.size());
      for (size_t d = 0; d < diff.size(); ++d) row[d].assign(static_cast<size_t>(xs[diff[d]].numel()), 0.0);
      if (!out.requires_grad()) continue;  // constant output: zero Jacobian
      Tensor seed;
      {
        NoGradGuard ng;
        seed = zeros_like(out);
        seed.view({-1}).select(0, j).fill_(1);
      }
      tensor_list gs = grad({out}, diff_inputs, {seed}, /*retain_graph=*/true, false, /*allow_unused=*/true);
      for (size_t d = 0; d < diff.size(); ++d)
        if (gs[d].defined()) row[d] = host_values(gs[d]);
    }
  }

  // Numeric: central differences, one input element at a time.
  GradcheckResult res;
  double worst_excess = 0;
  for (size_t d = 0; d < diff.size(); ++d) {
    Tensor x = xs[diff[d]];
    const std::vector<double> x0 = host_values(x);
    for (int64_t i = 0; i < x.numel(); ++i) {
      // Outputs are read at once: a view op's output aliases x, which the next step changes.
      std::vector<std::vector<double>> plus(outs.size()), minus(outs.size());
      {
        NoGradGuard ng;
        auto eval = [&](std::vector<std::vector<double>>& into) {
          const tensor_list r = fn(xs);
          for (size_t oi = 0; oi < outs.size(); ++oi)
            if (differentiable(outs[oi])) into[oi] = host_values(r[oi]);
        };
        Tensor elem = x.view({-1}).select(0, i);
        elem.fill_(x0[static_cast<size_t>(i)] + o.eps);
        eval(plus);
        elem.fill_(x0[static_cast<size_t>(i)] - o.eps);
        eval(minus);
        elem.fill_(x0[static_cast<size_t>(i)]);
      }
      for (size_t oi = 0; oi < outs.size(); ++oi) {
        if (!differentiable(outs[oi])) continue;
        const std::vector<double>& p = plus[oi];
        const std::vector<double>& m = minus[oi];
        for (size_t j = 0; j < p.size(); ++j) {
          const double num = (p[j] - m[j]) / (2 * o.eps);
          const double ana = analytic[oi][j][d][static_cast<size_t>(i)];
          const double tol = o.atol + o.rtol * std::abs(num);
          const double err = std::abs(ana - num);
          const bool bad = !(err <= tol) && !(std::isinf(ana) && ana == num);
          if (bad && (!std::isfinite(err) || err - tol > worst_excess || res.ok)) {
            worst_excess = std::isfinite(err - tol) ? err - tol : INFINITY;
            res.ok = false;
            res.input = static_cast<int64_t>(diff[d]);
            res.output = static_cast<int64_t>(oi);
            res.index = unravel(i, x.sizes());
            res.output_index = unravel(static_cast<int64_t>(j), outs[oi].sizes());
            res.analytic = ana;
            res.numeric = num;
          }
        }
      }
    }
  }
  if (!res.ok) {
    res.message = detail::str("gradcheck: Jacobian mismatch for output ", res.output, " with respect to input ",
                              res.input, ". Worst element: input index ", IntArrayRef(res.index),
                              ", output index ", IntArrayRef(res.output_index), ": analytic ", res.analytic,
                              ", numeric ", res.numeric, " (|difference| ", std::abs(res.analytic - res.numeric),
                              " > atol ", o.atol, " + rtol ", o.rtol, " * |numeric|)");
    HEARTH_CHECK(!o.raise_exception, AutogradError, res.message);
  }
  return res;
}

}  // namespace hearth::autograd
