// ONNX elementwise ops (math, activations, comparisons, logic, variadic Max/Min/Sum/Mean, Clip,
// Cast) as hearth ops or composites of them; one support-table row each.
#include <cmath>

#include "onnx_internal.h"
#include "ops_common.h"

namespace hearth::onnx_impl {

namespace {

Tensor floor_t(const Tensor& x) { return div(x, scalar_tensor(1, x.options()), "floor"); }

Tensor round_half_even(const Tensor& x) {
  Tensor r = floor_t(x + Scalar(0.5));
  Tensor tie = (r - x).eq(Scalar(0.5));
  Tensor odd = (r - floor_t(r * Scalar(0.5)) * Scalar(2)).ne(Scalar(0));
  return where(tie.logical_and(odd), r - Scalar(1), r);
}

Scalar scalar_for(const Tensor& like, double v) {
  return is_floating_point(like.dtype()) ? Scalar(v) : Scalar(static_cast<int64_t>(v));
}

void unary(std::map<std::string, OpEntry>& t, const std::string& op, const std::vector<ScalarType>& dt,
           std::function<Tensor(const Tensor&, const NodeCtx&)> f, const std::string& notes = "") {
  add_op(t, op, dt, 0, kAnyRank, notes, nullptr, [f](NodeCtx& c) { return outs(f(c.in[0], c)); });
}

void binary(std::map<std::string, OpEntry>& t, const std::string& op, const std::vector<ScalarType>& dt,
            std::function<Tensor(const Tensor&, const Tensor&, const NodeCtx&)> f, const std::string& notes = "") {
  add_op(t, op, dt, 0, kAnyRank, notes.empty() ? "numpy broadcasting" : notes, nullptr,
         [f](NodeCtx& c) { return outs(f(c.in[0], c.in[1], c)); });
}

}  // namespace

void register_elementwise_ops(std::map<std::string, OpEntry>& t) {
  // Math on hearth's kernels.
  unary(t, "Abs", kNum, [](const Tensor& x, const NodeCtx&) { return abs(x); });
  unary(t, "Neg", kSigned, [](const Tensor& x, const NodeCtx&) { return neg(x); });
  unary(t, "Exp", kFloats, [](const Tensor& x, const NodeCtx&) { return exp(x); });
  unary(t, "Log", kFloats, [](const Tensor& x, const NodeCtx&) { return log(x); });
  unary(t, "Sqrt", kFloats, [](const Tensor& x, const NodeCtx&) { return sqrt(x); });
  unary(t, "Relu", kSignedFloat, [](const Tensor& x, const NodeCtx&) { return relu(x); });
  unary(t, "Sigmoid", kFloats, [](const Tensor& x, const NodeCtx&) { return sigmoid(x); });
  unary(t, "Tanh", kFloats, [](const Tensor& x, const NodeCtx&) { return tanh(x); });
  unary(t, "Reciprocal", kFloats, [](const Tensor& x, const NodeCtx&) { return Scalar(1.0) / x; });
  unary(t, "Floor", kFloats, [](const Tensor& x, const NodeCtx&) { return floor_t(x); });
  unary(t, "Ceil", kFloats, [](const Tensor& x, const NodeCtx&) { return -floor_t(-x); });
  unary(t, "Round", kFloats, [](const Tensor& x, const NodeCtx&) { return round_half_even(x); }, "half to even");
  unary(t, "Sign", kNum, [](const Tensor& x, const NodeCtx&) { return x.gt(Scalar(0)).to(x.dtype()) - x.lt(Scalar(0)).to(x.dtype()); });
  // The math ops hearth gained for ONNX (kernel/src/ops/onnx_math.cpp).
  unary(t, "Sin", kFloats, [](const Tensor& x, const NodeCtx&) { return sin(x); });
  unary(t, "Cos", kFloats, [](const Tensor& x, const NodeCtx&) { return cos(x); });
  unary(t, "Tan", kFloats, [](const Tensor& x, const NodeCtx&) { return tan(x); });
  unary(t, "Asin", kFloats, [](const Tensor& x, const NodeCtx&) { return asin(x); });
  unary(t, "Acos", kFloats, [](const Tensor& x, const NodeCtx&) { return acos(x); });
  unary(t, "Atan", kFloats, [](const Tensor& x, const NodeCtx&) { return atan(x); });
  unary(t, "Sinh", kFloats, [](const Tensor& x, const NodeCtx&) { return sinh(x); });
  unary(t, "Cosh", kFloats, [](const Tensor& x, const NodeCtx&) { return cosh(x); });
  unary(t, "Asinh", kFloats, [](const Tensor& x, const NodeCtx&) { return asinh(x); });
  unary(t, "Acosh", kFloats, [](const Tensor& x, const NodeCtx&) { return acosh(x); });
  unary(t, "Atanh", kFloats, [](const Tensor& x, const NodeCtx&) { return atanh(x); });
  unary(t, "Erf", kFloats, [](const Tensor& x, const NodeCtx&) { return erf(x); });
  unary(t, "IsNaN", kFloats, [](const Tensor& x, const NodeCtx&) { return x.ne(x); });
  unary(t, "IsInf", kFloats, [](const Tensor& x, const NodeCtx& c) {
    Tensor pos = x.eq(Scalar(INFINITY)), neg_ = x.eq(Scalar(-INFINITY));
    const bool p = c.i("detect_positive", 1) != 0, n = c.i("detect_negative", 1) != 0;
    if (p && n) return pos.logical_or(neg_);
    if (p) return pos;
    if (n) return neg_;
    return zeros_like(x, TensorOptions(kBool));
  }, "detect_positive, detect_negative");
  unary(t, "Not", kBoolOnly, [](const Tensor& x, const NodeCtx&) { return logical_not(x); });
  unary(t, "Identity", kAll, [](const Tensor& x, const NodeCtx&) { return x; });

  // Activations as composites.
  unary(t, "LeakyRelu", kFloats, [](const Tensor& x, const NodeCtx& c) {
    return where(x.lt(Scalar(0)), x * Scalar(c.f("alpha", 0.01)), x);
  }, "alpha");
  unary(t, "Elu", kFloats, [](const Tensor& x, const NodeCtx& c) {
    return where(x.lt(Scalar(0)), (exp(x) - Scalar(1)) * Scalar(c.f("alpha", 1.0)), x);
  }, "alpha");
  unary(t, "Selu", kFloats, [](const Tensor& x, const NodeCtx& c) {
    const double a = c.f("alpha", 1.67326319217681884765625), g = c.f("gamma", 1.05070102214813232421875);
    return where(x.gt(Scalar(0)), x, (exp(x) * Scalar(a)) - Scalar(a)) * Scalar(g);
  }, "alpha, gamma");
  unary(t, "Celu", kFloats, [](const Tensor& x, const NodeCtx& c) {
    const double a = c.f("alpha", 1.0);
    return relu(x) + minimum(zeros_like(x), (exp(x / Scalar(a)) - Scalar(1)) * Scalar(a));
  }, "alpha");
  unary(t, "Softplus", kFloats, [](const Tensor& x, const NodeCtx&) { return log(exp(x) + Scalar(1)); });
  unary(t, "Softsign", kFloats, [](const Tensor& x, const NodeCtx&) { return x / (abs(x) + Scalar(1)); });
  unary(t, "HardSigmoid", kFloats, [](const Tensor& x, const NodeCtx& c) {
    return clamp(x * Scalar(c.f("alpha", 0.2)) + Scalar(c.f("beta", 0.5)), Scalar(0.0), Scalar(1.0));
  }, "alpha, beta");
  unary(t, "HardSwish", kFloats, [](const Tensor& x, const NodeCtx&) {
    return x * clamp(x * Scalar(1.0 / 6) + Scalar(0.5), Scalar(0.0), Scalar(1.0));
  });
  unary(t, "ThresholdedRelu", kFloats, [](const Tensor& x, const NodeCtx& c) {
    return where(x.gt(Scalar(c.f("alpha", 1.0))), x, zeros_like(x));
  }, "alpha");
  unary(t, "Shrink", kFloats, [](const Tensor& x, const NodeCtx& c) {
    const double b = c.f("bias", 0.0), l = c.f("lambd", 0.5);
    return where(x.lt(Scalar(-l)), x + Scalar(b), where(x.gt(Scalar(l)), x - Scalar(b), zeros_like(x)));
  }, "bias, lambd");
  binary(t, "PRelu", kFloats, [](const Tensor& x, const Tensor& s, const NodeCtx&) {
    return where(x.lt(Scalar(0)), x * s, x);
  }, "slope broadcast to X");

  // Binary arithmetic (integer Div truncates, as ONNX's numpy reference).
  binary(t, "Add", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return add(a, b); });
  binary(t, "Sub", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return sub(a, b); });
  binary(t, "Mul", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return mul(a, b); });
  binary(t, "Div", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx&) {
    return is_floating_point(a.dtype()) ? div(a, b) : div(a, b, "trunc");
  }, "numpy broadcasting; integers truncate");
  binary(t, "Pow", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx&) {
    if (is_floating_point(a.dtype())) return pow(a, b.to(a.dtype()));
    return pow(a.to(kFloat64), b.to(kFloat64)).to(a.dtype());
  }, "numpy broadcasting; result has the base's dtype");
  binary(t, "Mod", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx& c) {
    const bool fmod = c.i("fmod", 0) != 0;
    if (is_floating_point(a.dtype())) {
      // fmod: sign of the dividend (C fmod); fmod=0 is only defined for integers in ONNX.
      Tensor q = a / b;
      Tensor tq = where(q.lt(Scalar(0)), -floor_t(-q), floor_t(q));
      return a - b * tq;
    }
    return a - b * div(a, b, fmod ? "trunc" : "floor");
  }, "fmod (floats need fmod=1)");
  t.at("Mod").check = [](const NodeCtx& c) -> std::string {
    if (c.in[0].defined() && is_floating_point(c.in[0].dtype()) && c.i("fmod", 0) == 0)
      return "Mod with fmod=0 on floats (not defined by ONNX)";
    return "";
  };
  binary(t, "Equal", kAll, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return eq(a, b); });
  binary(t, "Greater", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return gt(a, b); });
  binary(t, "Less", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return lt(a, b); });
  binary(t, "GreaterOrEqual", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return ge(a, b); });
  binary(t, "LessOrEqual", kNum, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return le(a, b); });
  binary(t, "And", kBoolOnly, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return logical_and(a, b); });
  binary(t, "Or", kBoolOnly, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return logical_or(a, b); });
  binary(t, "Xor", kBoolOnly, [](const Tensor& a, const Tensor& b, const NodeCtx&) { return logical_xor(a, b); });
  add_op(t, "Where", kBoolOnly, 0, kAnyRank, "numpy broadcasting", nullptr,
         [](NodeCtx& c) { return outs(where(c.in[0], c.in[1], c.in[2])); });

  // Variadic.
  auto fold = [](std::function<Tensor(const Tensor&, const Tensor&)> f) {
    return [f](NodeCtx& c) {
      Tensor r = c.in[0];
      for (size_t k = 1; k < c.n_in; ++k) r = f(r, c.in[k]);
      return outs(r.is_same(c.in[0]) ? r.clone() : r);
    };
  };
  add_op(t, "Max", kNum, 0, kAnyRank, "1 or more inputs, broadcasting", nullptr,
         fold([](const Tensor& a, const Tensor& b) { return maximum(a, b); }));
  add_op(t, "Min", kNum, 0, kAnyRank, "1 or more inputs, broadcasting", nullptr,
         fold([](const Tensor& a, const Tensor& b) { return minimum(a, b); }));
  add_op(t, "Sum", kFloats, 0, kAnyRank, "1 or more inputs, broadcasting", nullptr,
         fold([](const Tensor& a, const Tensor& b) { return add(a, b); }));
  add_op(t, "Mean", kFloats, 0, kAnyRank, "1 or more inputs, broadcasting", nullptr, [](NodeCtx& c) {
    Tensor r = c.in[0];
    for (size_t k = 1; k < c.n_in; ++k) r = add(r, c.in[k]);
    return outs(r / Scalar(static_cast<double>(c.n_in)));
  });

  add_op(t, "Clip", kNum, 0, kAnyRank, "min/max as attributes (opset < 11) or inputs", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    std::optional<Scalar> lo, hi;
    if (c.opset < 11) {
      if (c.has("min")) lo = Scalar(c.f("min", 0));
      if (c.has("max")) hi = Scalar(c.f("max", 0));
    } else {
      if (c.has_in(1)) lo = scalar_for(x, to_double(c.in[1]));
      if (c.has_in(2)) hi = scalar_for(x, to_double(c.in[2]));
    }
    if (!lo && !hi) return outs(x.clone());
    // numpy's clip: min(max(x, lo), hi), so hi wins when lo > hi.
    Tensor r = lo ? clamp(x, lo, std::nullopt) : x;
    return outs(hi ? clamp(r, std::nullopt, hi) : r);
  });
}

}  // namespace hearth::onnx_impl
