// gradcheck of every differentiable elementwise and view op, in float64, on contiguous and
// non-contiguous (transposed, expanded, sliced, broadcast) inputs; second derivatives through
// create_graph; PyTorch's choices at non-differentiable points; dtypes; in-place rules.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "hearth/autograd.h"
#include "hearth/hearth.h"

using namespace hearth;
using autograd::tensor_list;
using indexing::Ellipsis;
using indexing::None;
using indexing::Slice;

namespace {

using Fn = std::function<tensor_list(const tensor_list&)>;
using Unary = std::function<Tensor(const Tensor&)>;
using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;
using Gen = std::function<Tensor(IntArrayRef)>;

::testing::AssertionResult grad_ok(const Fn& f, const tensor_list& in) {
  autograd::GradcheckOptions o;
  o.raise_exception = false;
  const autograd::GradcheckResult r = autograd::gradcheck(f, in, o);
  if (r.ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.message;
}

/// Fixed weights for a weighted sum of an output, so every output element matters differently.
Tensor weights_like(const Tensor& t) {
  NoGradGuard ng;
  return arange(t.numel(), kFloat64).mul(0.3).add(0.5).view(t.sizes()).to(t.dtype());
}

/// Second derivatives: gradcheck of x -> d/dx sum_k <w_k, f(x)_k>, the gradient computed with
/// create_graph (so the backward formulas are differentiated themselves).
::testing::AssertionResult gradgrad_ok(const Fn& f, const tensor_list& in) {
  Fn h = [f](const tensor_list& xs) {
    autograd::AutoGradMode on(true);  // gradcheck's numeric pass runs under no-grad
    tensor_list outs = f(xs);
    Tensor total;
    for (const Tensor& o : outs) {
      if (!o.requires_grad()) continue;
      Tensor s = (o * weights_like(o)).sum();
      total = total.defined() ? total + s : s;
    }
    tensor_list diff;
    for (const Tensor& x : xs)
      if (x.requires_grad()) diff.push_back(x);
    tensor_list gs = autograd::grad({total}, diff, {}, true, /*create_graph=*/true, /*allow_unused=*/true);
    for (size_t i = 0; i < gs.size(); ++i)
      if (!gs[i].defined()) gs[i] = zeros_like(diff[i]);
    return gs;
  };
  return grad_ok(h, in);
}

Tensor rn(IntArrayRef s) { return randn(s, kFloat64); }
/// Positive, away from 0 (log, sqrt, rsqrt, divisors, pow bases).
Tensor positive(IntArrayRef s) { return rand(s, kFloat64).add(0.5); }
/// Random sign, |x| >= 0.2 (abs, relu, divisors).
Tensor away_from_zero(IntArrayRef s) {
  Tensor sign = randint(0, 2, s).to(kFloat64).mul(2).sub(1);
  return sign * rand(s, kFloat64).add(0.2);
}
/// On a grid of step 1 offset by `off`: two generators with offsets 0.5 apart never tie.
Gen grid(double off) {
  return [off](IntArrayRef s) { return randint(-3, 4, s).to(kFloat64).add(off); };
}

/// A unary op on contiguous, transposed, expanded and sliced inputs, and its second derivative.
void check_unary(const std::string& name, const Unary& f, const Gen& gen, bool gradgrad = true) {
  SCOPED_TRACE(name);
  EXPECT_TRUE(grad_ok([f](const tensor_list& x) { return tensor_list{f(x[0])}; }, {gen({3, 4})})) << "contiguous";
  EXPECT_TRUE(grad_ok([f](const tensor_list& x) { return tensor_list{f(x[0].t())}; }, {gen({4, 3})}))
      << "transposed";
  EXPECT_TRUE(grad_ok([f](const tensor_list& x) { return tensor_list{f(x[0].expand({3, 4}))}; }, {gen({1, 4})}))
      << "expanded";
  EXPECT_TRUE(grad_ok([f](const tensor_list& x) { return tensor_list{f(x[0].slice(0, 0, 6, 2))}; }, {gen({6, 4})}))
      << "sliced";
  if (gradgrad) {
    EXPECT_TRUE(gradgrad_ok([f](const tensor_list& x) { return tensor_list{f(x[0])}; }, {gen({2, 3})}))
        << "second derivative";
    EXPECT_TRUE(gradgrad_ok([f](const tensor_list& x) { return tensor_list{f(x[0].t())}; }, {gen({3, 2})}))
        << "second derivative, transposed";
  }
}

/// A binary op on contiguous, non-contiguous and broadcasting operands, and its second derivative.
void check_binary(const std::string& name, const Binary& f, const Gen& ga, const Gen& gb, bool gradgrad = true) {
  SCOPED_TRACE(name);
  auto run = [f](auto make_a, auto make_b) {
    return [f, make_a, make_b](const tensor_list& x) { return tensor_list{f(make_a(x[0]), make_b(x[1]))}; };
  };
  auto id = [](const Tensor& t) { return t; };
  auto tr = [](const Tensor& t) { return t.t(); };
  auto sl = [](const Tensor& t) { return t.slice(0, 0, 6, 2); };
  auto ex = [](const Tensor& t) { return t.expand({3, 4}); };
  EXPECT_TRUE(grad_ok(run(id, id), {ga({3, 4}), gb({3, 4})})) << "contiguous";
  EXPECT_TRUE(grad_ok(run(tr, sl), {ga({4, 3}), gb({6, 4})})) << "transposed with sliced";
  EXPECT_TRUE(grad_ok(run(sl, tr), {ga({6, 4}), gb({4, 3})})) << "sliced with transposed";
  EXPECT_TRUE(grad_ok(run(ex, id), {ga({1, 4}), gb({3, 4})})) << "expanded with contiguous";
  EXPECT_TRUE(grad_ok(run(id, id), {ga({3, 4}), gb({4})})) << "broadcast [3,4] with [4]";
  EXPECT_TRUE(grad_ok(run(id, id), {ga({3, 1}), gb({1, 4})})) << "broadcast [3,1] with [1,4]";
  EXPECT_TRUE(grad_ok(run(id, tr), {ga({4}), gb({4, 3})})) << "broadcast [4] with transposed [3,4]";
  EXPECT_TRUE(grad_ok(run(id, id), {ga({}), gb({2, 3})})) << "0-dim with [2,3]";
  if (gradgrad) {
    EXPECT_TRUE(gradgrad_ok(run(id, id), {ga({2, 3}), gb({2, 3})})) << "second derivative";
    EXPECT_TRUE(gradgrad_ok(run(tr, id), {ga({3, 2}), gb({3})})) << "second derivative, transposed, broadcast";
  }
}

/// A view op (any number of outputs) on the given inputs, and its second derivative through
/// create_graph (of the outputs squared, so the view's backward is differentiated).
void check_view(const std::string& name, const Fn& f, const tensor_list& in) {
  SCOPED_TRACE(name);
  EXPECT_TRUE(grad_ok(f, in));
  Fn squared = [f](const tensor_list& x) {
    tensor_list outs = f(x);
    for (Tensor& o : outs) o = o * o;
    return outs;
  };
  EXPECT_TRUE(gradgrad_ok(squared, in)) << "second derivative";
}

bool close(const Tensor& a, const Tensor& b, double tol = 1e-12) {
  return a.sizes() == b.sizes() && allclose(a.to(kFloat64), b.to(kFloat64), tol, tol);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Elementwise: binary
// ---------------------------------------------------------------------------------------------

TEST(AutogradOpsBinary, Arithmetic) {
  check_binary("add", [](const Tensor& a, const Tensor& b) { return a + b; }, rn, rn);
  check_binary("add alpha", [](const Tensor& a, const Tensor& b) { return add(a, b, 2.5); }, rn, rn);
  check_binary("sub", [](const Tensor& a, const Tensor& b) { return a - b; }, rn, rn);
  check_binary("sub alpha", [](const Tensor& a, const Tensor& b) { return sub(a, b, -1.5); }, rn, rn);
  check_binary("mul", [](const Tensor& a, const Tensor& b) { return a * b; }, rn, rn);
  check_binary("div", [](const Tensor& a, const Tensor& b) { return a / b; }, rn, away_from_zero);
  check_binary("pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, positive, rn);
}

TEST(AutogradOpsBinary, MaximumMinimum) {
  check_binary("maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, grid(0.1), grid(0.6));
  check_binary("minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, grid(0.1), grid(0.6));
}

TEST(AutogradOpsBinary, MaximumTieSplitsTheGradient) {
  // PyTorch: on a tie each input gets half the gradient; otherwise the larger one gets all.
  Tensor a = tensor({1.0, 2.0, 3.0}, kFloat64).requires_grad_();
  Tensor b = tensor({1.0, 5.0, 0.0}, kFloat64).requires_grad_();
  (maximum(a, b) * tensor({2.0, 2.0, 2.0}, kFloat64)).sum().backward();
  EXPECT_TRUE(close(a.grad(), tensor({1.0, 0.0, 2.0}, kFloat64))) << a.grad();
  EXPECT_TRUE(close(b.grad(), tensor({1.0, 2.0, 0.0}, kFloat64))) << b.grad();
  Tensor c = tensor({4.0, 1.0}, kFloat64).requires_grad_();
  Tensor d = tensor({4.0, 2.0}, kFloat64).requires_grad_();
  minimum(c, d).sum().backward();
  EXPECT_TRUE(close(c.grad(), tensor({0.5, 1.0}, kFloat64))) << c.grad();
  EXPECT_TRUE(close(d.grad(), tensor({0.5, 0.0}, kFloat64))) << d.grad();
}

TEST(AutogradOpsBinary, PowSpecialPoints) {
  // d/db a^b at a == 0, b >= 0 is 0 (PyTorch), not 0 * log(0) = nan; d/da at b == 0 is 0.
  Tensor a = tensor({0.0, 0.0, 2.0}, kFloat64).requires_grad_();
  Tensor b = tensor({0.0, 2.0, 0.0}, kFloat64).requires_grad_();
  pow(a, b).sum().backward();
  EXPECT_TRUE(close(b.grad(), tensor({0.0, 0.0, std::log(2.0)}, kFloat64))) << b.grad();
  EXPECT_TRUE(close(a.grad(), tensor({0.0, 0.0, 0.0}, kFloat64))) << a.grad();
  // Scalar exponent 0: zero gradient, also at a == 0.
  Tensor x = tensor({0.0, 3.0}, kFloat64).requires_grad_();
  x.pow(0).sum().backward();
  EXPECT_TRUE(close(x.grad(), tensor({0.0, 0.0}, kFloat64))) << x.grad();
}

TEST(AutogradOpsBinary, ScalarForms) {
  check_unary("x + 2", [](const Tensor& x) { return x + 2.0; }, rn);
  check_unary("x.add(2, alpha 3)", [](const Tensor& x) { return x.add(Scalar(2.0), 3); }, rn);
  check_unary("x - 2", [](const Tensor& x) { return x - 2; }, rn);
  check_unary("x * 3", [](const Tensor& x) { return x * 3.0; }, rn);
  check_unary("x / 4", [](const Tensor& x) { return x / 4.0; }, rn);
  check_unary("2 - x", [](const Tensor& x) { return 2.0 - x; }, rn);
  check_unary("3 * x", [](const Tensor& x) { return 3.0 * x; }, rn);
  check_unary("2 / x", [](const Tensor& x) { return 2.0 / x; }, away_from_zero);
  check_unary("x ^ 2.5", [](const Tensor& x) { return x.pow(2.5); }, positive);
  check_unary("x ^ 3 (negative base)", [](const Tensor& x) { return x.pow(3); }, rn);
  check_unary("x ^ -1.5", [](const Tensor& x) { return x.pow(-1.5); }, positive);
  check_unary("x ^ 0", [](const Tensor& x) { return x.pow(0); }, rn);
}

TEST(AutogradOpsBinary, RoundingDivisionHasZeroGradient) {
  for (const char* mode : {"trunc", "floor"}) {
    Tensor a = tensor({2.5, -3.5, 7.25}, kFloat64).requires_grad_();
    Tensor b = tensor({2.0, 2.0, -3.0}, kFloat64).requires_grad_();
    Tensor y = div(a, b, mode);
    ASSERT_TRUE(y.requires_grad()) << mode;  // SEED B2
    y.sum().backward();
    EXPECT_TRUE(close(a.grad(), zeros({3}, kFloat64))) << mode;
    EXPECT_TRUE(close(b.grad(), zeros({3}, kFloat64))) << mode;
    // Away from the jumps, central differences agree.
    EXPECT_TRUE(grad_ok([mode](const tensor_list& x) { return tensor_list{div(x[0], x[1], mode)}; },
                        {tensor({{2.5, -3.5}, {7.25, 0.3}}, kFloat64), tensor({2.0, -3.0}, kFloat64)}))
        << mode;
  }
}

// ---------------------------------------------------------------------------------------------
// Elementwise: unary
// ---------------------------------------------------------------------------------------------

TEST(AutogradOpsUnary, Smooth) {
  check_unary("neg", [](const Tensor& x) { return -x; }, rn);
  check_unary("exp", [](const Tensor& x) { return x.exp(); }, rn);
  check_unary("log", [](const Tensor& x) { return x.log(); }, positive);
  check_unary("sqrt", [](const Tensor& x) { return x.sqrt(); }, positive);
  check_unary("rsqrt", [](const Tensor& x) { return x.rsqrt(); }, positive);
  check_unary("sigmoid", [](const Tensor& x) { return x.sigmoid(); }, rn);
  check_unary("tanh", [](const Tensor& x) { return x.tanh(); }, rn);
}

TEST(AutogradOpsUnary, Gelu) {
  check_unary("gelu", [](const Tensor& x) { return gelu(x); }, rn);
  check_unary("gelu tanh", [](const Tensor& x) { return gelu(x, "tanh"); }, rn);
  // Third derivatives: the second derivative is written with ops, so it differentiates too.
  for (const char* mode : {"none", "tanh"}) {
    Fn first = [mode](const tensor_list& x) {
      autograd::AutoGradMode on(true);
      Tensor y = gelu(x[0], mode);
      return autograd::grad({y.sum()}, {x[0]}, {}, true, true);
    };
    EXPECT_TRUE(gradgrad_ok(first, {rn({5})})) << "third derivative, " << mode;
  }
}

TEST(AutogradOpsUnary, GeluBackwardInEveryFloatDtype) {
  // The backward kernel works for the dtypes the forward supports, computing in float for
  // half/bfloat16 like the forward.
  Tensor x64 = tensor({-3.0, -1.0, -0.25, 0.0, 0.5, 1.5, 4.0}, kFloat64);
  for (const char* mode : {"none", "tanh"}) {
    Tensor ref = x64.clone().requires_grad_();
    gelu(ref, mode).sum().backward();
    // Known values of the exact derivative: gelu'(0) = 0.5, gelu'(1.5) = Phi(1.5) + 1.5 phi(1.5).
    if (std::string(mode) == "none") {
      EXPECT_NEAR(ref.grad()[3].item<double>(), 0.5, 1e-12);
      const double phi = std::exp(-1.125) / std::sqrt(2 * M_PI), Phi = 0.5 * (1 + std::erf(1.5 / std::sqrt(2.0)));
      EXPECT_NEAR(ref.grad()[5].item<double>(), Phi + 1.5 * phi, 1e-12);
    }
    for (ScalarType dt : {kFloat32, kFloat16, kBFloat16}) {
      Tensor x = x64.to(dt).requires_grad_();
      gelu(x, mode).sum().backward();
      ASSERT_EQ(x.grad().dtype(), dt);
      const double tol = dt == kFloat32 ? 1e-6 : dt == kFloat16 ? 2e-3 : 2e-2;
      EXPECT_TRUE(allclose(x.grad().to(kFloat64), ref.grad(), tol, tol)) << mode << " " << dt << ": " << x.grad();
    }
  }
}

TEST(AutogradOpsUnary, AbsRelu) {
  check_unary("abs", [](const Tensor& x) { return x.abs(); }, away_from_zero);
  check_unary("relu", [](const Tensor& x) { return x.relu(); }, away_from_zero);
}

TEST(AutogradOpsUnary, PyTorchChoicesAtKinks) {
  // relu'(0) = 0 and abs'(0) = 0, as in PyTorch.
  Tensor x = tensor({-1.0, 0.0, 2.0}, kFloat64).requires_grad_();
  x.relu().sum().backward();
  EXPECT_TRUE(close(x.grad(), tensor({0.0, 0.0, 1.0}, kFloat64))) << x.grad();
  Tensor y = tensor({-1.0, 0.0, 2.0}, kFloat64).requires_grad_();
  y.abs().sum().backward();
  EXPECT_TRUE(close(y.grad(), tensor({-1.0, 0.0, 1.0}, kFloat64))) << y.grad();
  // An infinite incoming gradient stays out of the blocked elements (where, not g * mask).
  const double inf = INFINITY;
  Tensor r = tensor({-1.0, 2.0}, kFloat64).requires_grad_();
  r.relu().backward(tensor({inf, inf}, kFloat64));
  EXPECT_EQ(r.grad()[0].item<double>(), 0.0);
  EXPECT_EQ(r.grad()[1].item<double>(), inf);
  Tensor m = tensor({1.0, 3.0}, kFloat64).requires_grad_();
  maximum(m, tensor({2.0, 2.0}, kFloat64)).backward(tensor({inf, inf}, kFloat64));
  EXPECT_EQ(m.grad()[0].item<double>(), 0.0);
  EXPECT_EQ(m.grad()[1].item<double>(), inf);
  Tensor c = tensor({-1.0, 0.0}, kFloat64).requires_grad_();
  c.clamp(0.0).backward(tensor({inf, inf}, kFloat64));
  EXPECT_EQ(c.grad()[0].item<double>(), 0.0);
  EXPECT_EQ(c.grad()[1].item<double>(), inf);
  // sqrt at 0: an infinite gradient, as in PyTorch (norm has a zero subgradient there; SEED G7).
  Tensor z = tensor({0.0, 4.0}, kFloat64).requires_grad_();
  z.sqrt().sum().backward();
  EXPECT_TRUE(std::isinf(z.grad()[0].item<double>()));
  EXPECT_DOUBLE_EQ(z.grad()[1].item<double>(), 0.25);
}

TEST(AutogradOpsUnary, Clamp) {
  // Grid points k*0.25 + 0.1 stay >= 0.1 away from the bounds.
  Gen g = [](IntArrayRef s) { return randint(-6, 7, s).to(kFloat64).mul(0.25).add(0.1); };
  check_unary("clamp(-0.5, 0.5)", [](const Tensor& x) { return x.clamp(-0.5, 0.5); }, g);
  check_unary("clamp(min)", [](const Tensor& x) { return x.clamp(-0.5); }, g);
  check_unary("clamp(max)", [](const Tensor& x) { return x.clamp(std::nullopt, 0.5); }, g);
  check_unary("clamp(int bounds)", [](const Tensor& x) { return clamp(x, -1, 1); }, g);
}

TEST(AutogradOpsUnary, ClampPassesTheGradientAtTheBounds) {
  // PyTorch: the gradient passes where min <= x <= max, bounds included.
  Tensor x = tensor({-1.0, -0.5, 0.0, 0.5, 1.0}, kFloat64).requires_grad_();
  x.clamp(-0.5, 0.5).sum().backward();
  EXPECT_TRUE(close(x.grad(), tensor({0.0, 1.0, 1.0, 1.0, 0.0}, kFloat64))) << x.grad();
  Tensor y = tensor({-1.0, -0.5, 1.0}, kFloat64).requires_grad_();
  y.clamp(-0.5).sum().backward();
  EXPECT_TRUE(close(y.grad(), tensor({0.0, 1.0, 1.0}, kFloat64))) << y.grad();
  Tensor z = tensor({-1.0, 0.5, 1.0}, kFloat64).requires_grad_();
  z.clamp(std::nullopt, 0.5).sum().backward();
  EXPECT_TRUE(close(z.grad(), tensor({1.0, 1.0, 0.0}, kFloat64))) << z.grad();
  // min > max gives max everywhere: no element passes.
  Tensor w = tensor({-1.0, 0.0, 1.0}, kFloat64).requires_grad_();
  w.clamp(1.0, -1.0).sum().backward();
  EXPECT_TRUE(close(w.grad(), zeros({3}, kFloat64))) << w.grad();
}

TEST(AutogradOpsUnary, ClampKeepsItsDtypeRules) {
  // A float bound on an integer tensor promotes the result (PyTorch); no autograd involved.
  Tensor i = tensor({-3, 0, 3});
  EXPECT_EQ(i.clamp(-1.5, 1.5).dtype(), default_dtype());
  EXPECT_EQ(i.clamp(-1, 1).dtype(), kInt64);
  Tensor f = tensor({-3.0f, 3.0f}).requires_grad_();
  Tensor y = f.clamp(-1, 1);
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_TRUE(y.requires_grad());  // SEED B2
}

TEST(AutogradOpsWhere, Gradients) {
  Tensor cond = tensor({{true, false, true, false}, {false, false, true, true}, {true, true, false, false}});
  // The condition passes through gradcheck untouched (it is not floating point).
  auto f = [](const tensor_list& x) { return tensor_list{where(x[0], x[1], x[2])}; };
  EXPECT_TRUE(grad_ok(f, {cond, rn({3, 4}), rn({3, 4})})) << "contiguous";
  EXPECT_TRUE(grad_ok([](const tensor_list& x) { return tensor_list{where(x[0], x[1].t(), x[2].slice(0, 0, 6, 2))}; },
                      {cond, rn({4, 3}), rn({6, 4})}))
      << "transposed, sliced";
  EXPECT_TRUE(grad_ok(f, {cond.select(1, 0).unsqueeze(1), rn({4}), rn({3, 1})})) << "broadcast";
  EXPECT_TRUE(grad_ok([](const tensor_list& x) { return tensor_list{where(x[0], x[1].expand({3, 4}), x[2])}; },
                      {cond, rn({4}), rn({3, 4})}))
      << "expanded";
  EXPECT_TRUE(gradgrad_ok([](const tensor_list& x) { return tensor_list{where(x[0], x[1] * x[1], x[2].exp())}; },
                          {cond, rn({3, 4}), rn({4})}))
      << "second derivative";
  // Values: a gets the gradient where cond holds, b elsewhere, summed over broadcast dims.
  Tensor a = rn({4}).requires_grad_(), b = rn({3, 1}).requires_grad_();
  where(cond, a, b).sum().backward();
  EXPECT_TRUE(close(a.grad(), cond.to(kFloat64).sum({0}))) << a.grad();
  EXPECT_TRUE(close(b.grad(), cond.logical_not().to(kFloat64).sum({1}, true))) << b.grad();
}

// ---------------------------------------------------------------------------------------------
// dtypes, integer operands, requires_grad propagation
// ---------------------------------------------------------------------------------------------

TEST(AutogradOpsDtype, MixedFloatOperands) {
  // A float32 leaf combined with a float64 operand gets a float32 gradient (the engine casts
  // each gradient to its input's dtype).
  Tensor x = tensor({1.0f, 2.0f, 3.0f}).requires_grad_();
  Tensor y = tensor({0.5, -1.0, 2.0}, kFloat64).requires_grad_();
  Tensor z = x * y + x.exp() / y;
  EXPECT_EQ(z.dtype(), kFloat64);
  z.sum().backward();
  ASSERT_EQ(x.grad().dtype(), kFloat32);
  ASSERT_EQ(y.grad().dtype(), kFloat64);
  Tensor x64 = x.detach().to(kFloat64);
  EXPECT_TRUE(close(x.grad(), y.detach() + x64.exp() / y.detach(), 1e-6)) << x.grad();
  // exp(x) was computed in float32: float32 accuracy.
  EXPECT_TRUE(close(y.grad(), x64 - x64.exp() / (y.detach() * y.detach()), 1e-6)) << y.grad();
  // Gradient dtypes also through views and where.
  Tensor a = ones({2, 3}, kFloat32).requires_grad_();
  Tensor b = ones({3}, kFloat64).requires_grad_();
  where(ones({2, 3}, kBool), a.t().t(), b).sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(b.grad().dtype(), kFloat64);
}

TEST(AutogradOpsDtype, IntegerOperandsGetNoGradient) {
  // SEED B2: requires_grad propagates from the float operand; an integer tensor never requires grad.
  Tensor x = tensor({1.5, -2.0, 3.0}, kFloat64).requires_grad_();
  Tensor i = tensor({2, 3, -1});
  EXPECT_THROW(i.requires_grad_(), AutogradError);
  for (auto [name, f] : std::vector<std::pair<const char*, Binary>>{
           {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }},
           {"add", [](const Tensor& a, const Tensor& b) { return a + b; }},
           {"div", [](const Tensor& a, const Tensor& b) { return a / b; }},
           {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }},
           {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
           {"where", [](const Tensor& a, const Tensor& b) { return where(a.gt(0), a, b); }}}) {
    SCOPED_TRACE(name);
    Tensor y = f(x, i);
    EXPECT_TRUE(y.requires_grad());
    EXPECT_TRUE(y.is_floating_point());
    EXPECT_FALSE(i.requires_grad());
    EXPECT_TRUE(grad_ok([f](const tensor_list& in) { return tensor_list{f(in[0], in[1])}; }, {x.detach(), i}));
  }
  x.grad();  // no gradient was accumulated into leaves by grad()/gradcheck
  Tensor y = x * i;
  y.sum().backward();
  EXPECT_TRUE(close(x.grad(), i.to(kFloat64)));
  // Nothing requires grad: no graph at all.
  Tensor c = tensor({1.0, 2.0}, kFloat64) * tensor({3, 4});
  EXPECT_FALSE(c.requires_grad());
  EXPECT_EQ(c.grad_fn(), nullptr);
}

TEST(AutogradOpsDtype, ToAndClone) {
  // SEED B4: clone is differentiable; to(dtype) passes the gradient back in the source dtype.
  EXPECT_TRUE(grad_ok([](const tensor_list& x) { return tensor_list{x[0].t().clone() * 2}; }, {rn({3, 2})}));
  EXPECT_TRUE(grad_ok([](const tensor_list& x) { return tensor_list{x[0].t().contiguous()}; }, {rn({3, 2})}));
  Tensor x = tensor({1.0, 2.0}, kFloat64).requires_grad_();
  Tensor y = x.to(kFloat32);
  EXPECT_TRUE(y.requires_grad());
  (y * y).sum().backward();
  EXPECT_EQ(x.grad().dtype(), kFloat64);
  EXPECT_TRUE(close(x.grad(), tensor({2.0, 4.0}, kFloat64), 1e-6));
}

// ---------------------------------------------------------------------------------------------
// In-place ops (SEED F1, B4, B6, G1)
// ---------------------------------------------------------------------------------------------

namespace {
/// An in-place op applied to a fresh non-leaf copy of x[0] (x[1] the other operand, if any).
Fn inplace_fn(std::function<void(Tensor&, const tensor_list&)> op) {
  return [op](const tensor_list& x) {
    Tensor y = x[0] * 1.0;  // a non-leaf with history
    op(y, x);
    return tensor_list{y};
  };
}
}  // namespace

TEST(AutogradOpsInplace, GradcheckOnNonLeaves) {  // SEED F1
  struct Case {
    const char* name;
    std::function<void(Tensor&, const tensor_list&)> op;
    Gen other;
    DimVector other_shape;
  };
  const DimVector s34{3, 4};
  const std::vector<Case> cases = {
      {"add_", [](Tensor& y, const tensor_list& x) { y.add_(x[1], 2); }, rn, s34},
      {"sub_", [](Tensor& y, const tensor_list& x) { y.sub_(x[1]); }, rn, s34},
      {"mul_", [](Tensor& y, const tensor_list& x) { y.mul_(x[1]); }, rn, s34},
      {"div_", [](Tensor& y, const tensor_list& x) { y.div_(x[1]); }, away_from_zero, s34},
      {"add_ broadcast", [](Tensor& y, const tensor_list& x) { y.add_(x[1]); }, rn, {4}},
      {"mul_ by transposed", [](Tensor& y, const tensor_list& x) { y.mul_(x[1].t()); }, rn, {4, 3}},
      {"div_ by sliced", [](Tensor& y, const tensor_list& x) { y.div_(x[1].slice(0, 0, 6, 2)); }, away_from_zero, {6, 4}},
      {"copy_", [](Tensor& y, const tensor_list& x) { y.copy_(x[1]); }, rn, s34},
      {"copy_ broadcast transposed", [](Tensor& y, const tensor_list& x) { y.copy_(x[1].t()); }, rn, {4, 1}},
      {"add_ scalar", [](Tensor& y, const tensor_list&) { y.add_(2.0); }, rn, s34},
      {"sub_ scalar", [](Tensor& y, const tensor_list&) { y.sub_(2.0, 3); }, rn, s34},
      {"mul_ scalar", [](Tensor& y, const tensor_list&) { y.mul_(-3.0); }, rn, s34},
      {"div_ scalar", [](Tensor& y, const tensor_list&) { y.div_(4.0); }, rn, s34},
      {"relu_", [](Tensor& y, const tensor_list&) { y.relu_(); }, rn, s34},
      {"clamp_", [](Tensor& y, const tensor_list&) { y.clamp_(-0.45, 0.55); }, rn, s34},
      {"fill_", [](Tensor& y, const tensor_list&) { y.fill_(2.0); }, rn, s34},
      {"zero_", [](Tensor& y, const tensor_list&) { y.zero_(); }, rn, s34},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    // Inputs away from relu's and clamp's kinks.
    Tensor a = away_from_zero({3, 4}).mul(0.3).add(randint(0, 2, {3, 4}).to(kFloat64).mul(0.05));
    Tensor b = c.other(c.other_shape);
    Fn f = inplace_fn(c.op);
    EXPECT_TRUE(grad_ok(f, {a, b}));
    EXPECT_TRUE(gradgrad_ok([f](const tensor_list& x) {
      tensor_list r = f(x);
      r[0] = r[0] * x[0];  // make the result nonlinear so the second derivative is not trivially 0
      return r;
    }, {a, b})) << "second derivative";
  }
}

TEST(AutogradOpsInplace, SameGradientsAsOutOfPlace) {  // SEED F1
  using Op = std::function<Tensor(Tensor&, const Tensor&, bool)>;
  const std::vector<std::pair<const char*, Op>> ops = {
      {"add", [](Tensor& y, const Tensor& w, bool ip) { return ip ? y.add_(w, 0.5) : y.add(w, 0.5); }},
      {"sub", [](Tensor& y, const Tensor& w, bool ip) { return ip ? y.sub_(w) : y.sub(w); }},
      {"mul", [](Tensor& y, const Tensor& w, bool ip) { return ip ? y.mul_(w) : y.mul(w); }},
      {"div", [](Tensor& y, const Tensor& w, bool ip) { return ip ? y.div_(w) : y.div(w); }},
      {"relu", [](Tensor& y, const Tensor&, bool ip) { return ip ? y.relu_() : y.relu(); }},
      {"clamp", [](Tensor& y, const Tensor&, bool ip) { return ip ? y.clamp_(-0.5, 0.5) : y.clamp(-0.5, 0.5); }},
  };
  Tensor x0 = tensor({{-1.2, 0.3, 0.9}, {2.0, -0.1, 0.45}}, kFloat64);
  Tensor w0 = tensor({0.7, -1.3, 2.1}, kFloat64);
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    Tensor grads[2][2];
    for (int ip = 0; ip < 2; ++ip) {
      Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
      Tensor y = x.exp();  // a non-leaf
      y = y * 1.0;         // exp saved its result; change a copy
      Tensor r = op(y, w, ip == 1);
      (r * r).sum().backward();
      grads[ip][0] = x.grad();
      grads[ip][1] = w.grad();
    }
    EXPECT_TRUE(close(grads[0][0], grads[1][0])) << grads[0][0] << grads[1][0];
    if (grads[0][1].defined() || grads[1][1].defined()) {
      EXPECT_TRUE(close(grads[0][1], grads[1][1])) << grads[0][1] << grads[1][1];
    }
  }
}

TEST(AutogradOpsInplace, KeepsTheDestinationDtype) {  // SEED B3, F1
  // A float32 non-leaf multiplied in place by a float64 operand stays float32; each operand's
  // gradient comes back in its own dtype.
  Tensor x = tensor({1.0f, -2.0f, 3.0f}).requires_grad_();
  Tensor w = tensor({0.5, 1.5, -2.0}, kFloat64).requires_grad_();
  Tensor y = x * 2.0f;
  y.mul_(w);
  EXPECT_EQ(y.dtype(), kFloat32);
  (y * y).sum().backward();
  ASSERT_EQ(x.grad().dtype(), kFloat32);
  ASSERT_EQ(w.grad().dtype(), kFloat64);
  Tensor x64 = x.detach().to(kFloat64), w64 = w.detach();
  // y = 2 x w: d(y^2)/dx = 8 x w^2, d/dw = 8 x^2 w.
  EXPECT_TRUE(close(x.grad(), x64 * w64 * w64 * 8, 1e-6)) << x.grad();
  EXPECT_TRUE(close(w.grad(), x64 * x64 * w64 * 8, 1e-6)) << w.grad();
  // An integer destination cannot take a float result (SEED B3), with or without autograd.
  Tensor i = tensor({1, 2, 3});
  EXPECT_THROW(i.mul_(w), DTypeError);
  EXPECT_THROW(i.add_(w.detach()), DTypeError);
}

TEST(AutogradOpsInplace, CopyPassesTheGradientToItsSource) {  // SEED B4
  Tensor x = rn({2, 3}).requires_grad_();
  Tensor src = tensor({1.0f, 2.0f, 3.0f}).requires_grad_();  // float32, broadcast over rows
  Tensor y = x * 2;
  y.copy_(src);
  EXPECT_EQ(y.grad_fn()->name(), "CopyBackward");
  (y * y).sum().backward();
  ASSERT_TRUE(src.grad().defined());
  EXPECT_EQ(src.grad().dtype(), kFloat32);
  EXPECT_TRUE(close(src.grad(), tensor({4.0f, 8.0f, 12.0f}), 1e-6)) << src.grad();
  EXPECT_FALSE(x.grad().defined());  // x's contribution was overwritten
  // fill_ ends the history: only the later use of x gets a gradient.
  Tensor a = rn({3}).requires_grad_();
  Tensor b = a * 3;
  b.fill_(2.0);
  (b * a).sum().backward();
  EXPECT_TRUE(close(a.grad(), full({3}, 2.0, kFloat64)));
}

TEST(AutogradOpsInplace, OnALeafThatRequiresGradRaises) {
  Tensor x = rn({3}).requires_grad_();
  Tensor w = rn({3});
  // (op as the message names it, the call)
  const std::vector<std::pair<const char*, std::function<void()>>> ops = {
      {"add_", [&] { x.add_(w); }},      {"add_", [&] { x.add_(1.0); }},   {"mul_", [&] { x.mul_(w); }},
      {"div_", [&] { x.div_(2.0); }},     {"sub_", [&] { x.sub_(w); }},     {"relu_", [&] { x.relu_(); }},
      {"clamp_", [&] { x.clamp_(0.0); }}, {"copy_", [&] { x.copy_(w); }},   {"fill_", [&] { x.fill_(1.0); }},
      {"fill_", [&] { x.zero_(); }},
  };
  for (const auto& [name, op] : ops) {
    try {
      op();
      ADD_FAILURE() << name << " on a leaf that requires grad did not raise";
    } catch (const AutogradError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("leaf"), std::string::npos) << msg;
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
      EXPECT_NE(msg.find("NoGradGuard"), std::string::npos) << msg;  // what to do instead
    }
  }
  // Allowed without grad mode (how optimizers update parameters).
  {
    NoGradGuard ng;
    x.add_(w);
  }
  EXPECT_TRUE(x.is_leaf());
}

TEST(AutogradOpsInplace, OnAViewWhileRecordingRebasesTheBase) {
  // Each in-place op on a view gives the gradients of its out-of-place form (issue #15; more
  // cases in autograd_views_test).
  const std::vector<std::pair<const char*, Fn>> ops = {
      {"mul_", [](const tensor_list& a) { Tensor y = a[0] * 2; y.t().mul_(2.0); return tensor_list{y * y}; }},
      {"add_", [](const tensor_list& a) { Tensor y = a[0] * 2; y.select(0, 1).add_(a[1]); return tensor_list{y * y}; }},
      {"copy_", [](const tensor_list& a) { Tensor y = a[0] * 2; y.slice(0, 0, 1).copy_(a[1]); return tensor_list{y * y}; }},
      {"relu_", [](const tensor_list& a) { Tensor y = a[0] * 2; y.diagonal().relu_(); return tensor_list{y * y}; }},
      {"clamp_", [](const tensor_list& a) { Tensor y = a[0] * 2; y[0].clamp_(0.0); return tensor_list{y * y}; }},
      // The base needs no grad, but the written value does.
      {"copy_ into a buffer", [](const tensor_list& a) {
         Tensor b = zeros({3, 4}, kFloat64);
         b.select(0, 2).copy_(a[1]);
         return tensor_list{b * a[0]};
       }},
  };
  for (const auto& [name, f] : ops) EXPECT_TRUE(grad_ok(f, {rn({3, 4}), rn({4})})) << name;
}

TEST(AutogradOpsInplace, ExpandedDestinationRaisesG1) {  // SEED G1
  // Also under autograd the overlap error comes first: it names the real problem.
  Tensor w = rn({3, 4}).requires_grad_();
  Tensor z = zeros({1, 4}, kFloat64).expand({3, 4});
  try {
    z.add_(w);
    ADD_FAILURE() << "in-place add into an expanded tensor did not raise";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("clone()"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("memory"), std::string::npos) << e.what();
  }
}

TEST(AutogradOpsInplace, ChangingASavedValueRaisesAtBackward) {  // SEED F1, B6
  Tensor x = rn({3}).requires_grad_();
  Tensor y = x.exp();  // saves its result
  Tensor z = y * 2;
  y.mul_(2.0);
  EXPECT_THROW(z.sum().backward(), AutogradError);
  // Through a detach()ed alias: same storage, same version counter (SEED B6).
  Tensor c = x.sigmoid();  // saves its result
  Tensor d = c * 3;
  c.detach().add_(1.0);
  try {
    d.sum().backward();
    ADD_FAILURE() << "an in-place change through detach() of a saved tensor did not raise";
  } catch (const AutogradError& e) {
    EXPECT_NE(std::string(e.what()).find("version"), std::string::npos) << e.what();
  }
  // add saves no inputs: changing an operand afterwards is fine.
  Tensor p = x * 1.0, q = rn({3});
  Tensor sum_pq = p + q;
  q.add_(1.0);
  p.add_(1.0);
  sum_pq.sum().backward();
  EXPECT_TRUE(close(x.grad(), ones({3}, kFloat64)));
  // relu_ really works in place; a later in-place change of its result is caught.
  Tensor r = x * 1.0;
  r.relu_();
  Tensor r2 = r * 1.0;
  r.add_(1.0);
  EXPECT_THROW(r2.sum().backward(), AutogradError);
}

// ---------------------------------------------------------------------------------------------
// gradcheck itself
// ---------------------------------------------------------------------------------------------

namespace {
/// y = x^2 with a deliberately wrong backward (3x instead of 2x).
class WrongSquareBackward final : public autograd::Node {
 public:
  explicit WrongSquareBackward(Tensor x) : x_(std::move(x)) {}
  std::string name() const override { return "WrongSquareBackward"; }
  tensor_list apply(tensor_list&& g) override { return {g[0] * x_ * 3.0}; }

 private:
  Tensor x_;
};

Tensor wrong_square(const Tensor& x) {
  Tensor y;
  {
    NoGradGuard ng;
    y = x * x;
  }
  if (autograd::any_requires_grad({&x})) {
    auto n = autograd::make_node(std::make_shared<WrongSquareBackward>(x.detach()), {&x});
    autograd::set_history(y, n);
  }
  return y;
}
}  // namespace

TEST(AutogradOpsGradcheck, AWrongBackwardFails) {
  Fn f = [](const tensor_list& x) { return tensor_list{wrong_square(x[0])}; };
  Tensor x = tensor({1.0, 2.0, -3.0}, kFloat64);
  autograd::GradcheckOptions o;
  o.raise_exception = false;
  autograd::GradcheckResult r = autograd::gradcheck(f, {x}, o);
  ASSERT_FALSE(r.ok);
  // The worst element is the largest |x|: analytic 3x = -9, numeric 2x = -6.
  EXPECT_EQ(r.input, 0);
  EXPECT_EQ(r.output, 0);
  EXPECT_EQ(std::vector<int64_t>(r.index.begin(), r.index.end()), std::vector<int64_t>{2});
  EXPECT_EQ(std::vector<int64_t>(r.output_index.begin(), r.output_index.end()), std::vector<int64_t>{2});
  EXPECT_NEAR(r.analytic, -9.0, 1e-9);
  EXPECT_NEAR(r.numeric, -6.0, 1e-5);
  EXPECT_NE(r.message.find("input index [2]"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("analytic -9"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("numeric -6"), std::string::npos) << r.message;
  EXPECT_THROW(autograd::gradcheck(f, {x}), AutogradError);
  // The correct formula passes the same check.
  EXPECT_TRUE(grad_ok([](const tensor_list& x) { return tensor_list{x[0] * x[0]}; }, {x}));
}

// ---------------------------------------------------------------------------------------------
// View ops (SEED B1, B12)
// ---------------------------------------------------------------------------------------------

TEST(AutogradOpsViews, ViewReshapeFlatten) {
  check_view("view", [](const tensor_list& x) { return tensor_list{x[0].view({3, 4})}; }, {rn({2, 6})});
  check_view("view -1", [](const tensor_list& x) { return tensor_list{x[0].view({-1})}; }, {rn({2, 3})});
  check_view("view of sliced rows", [](const tensor_list& x) { return tensor_list{x[0].slice(0, 0, 4, 2).view({2, 2, 3})}; },
             {rn({4, 6})});
  check_view("view of transposed", [](const tensor_list& x) { return tensor_list{x[0].t().view({4, 2, 3})}; },
             {rn({6, 4})});
  // reshape: a view when the strides allow it, else a copy; both differentiate.
  check_view("reshape (view)", [](const tensor_list& x) { return tensor_list{x[0].reshape({3, 4})}; }, {rn({2, 6})});
  check_view("reshape (copy)", [](const tensor_list& x) { return tensor_list{x[0].t().reshape({12})}; }, {rn({4, 3})});
  check_view("reshape (copy) of expanded",
             [](const tensor_list& x) { return tensor_list{x[0].expand({3, 4}).reshape({2, 6})}; }, {rn({4})});
  {
    Tensor x = rn({4, 3}).requires_grad_();
    EXPECT_NE(x.t().reshape({12}).data_ptr(), x.data_ptr());   // copied
    EXPECT_EQ(x.reshape({12}).data_ptr(), x.data_ptr());       // viewed
  }
  check_view("view_as / reshape_as",
             [](const tensor_list& x) { return tensor_list{x[0].view_as(x[1]), x[0].t().reshape_as(x[1])}; },
             {rn({2, 6}), rn({3, 4})});
  check_view("flatten", [](const tensor_list& x) { return tensor_list{x[0].flatten(1)}; }, {rn({2, 3, 2})});
  check_view("flatten (copy)", [](const tensor_list& x) { return tensor_list{x[0].permute({2, 1, 0}).flatten(0, 1)}; },
             {rn({2, 3, 2})});
  check_view("flatten all", [](const tensor_list& x) { return tensor_list{x[0].slice(1, 0, 3, 2).flatten()}; },
             {rn({2, 3, 2})});
  check_view("flatten 0-dim", [](const tensor_list& x) { return tensor_list{x[0].flatten()}; }, {rn({})});
  check_view("unflatten", [](const tensor_list& x) { return tensor_list{x[0].unflatten(1, {3, 2})}; }, {rn({2, 6})});
  check_view("unflatten transposed", [](const tensor_list& x) { return tensor_list{x[0].t().unflatten(0, {2, -1})}; },
             {rn({2, 6})});
}

TEST(AutogradOpsViews, AsStrided) {
  check_view("as_strided subset", [](const tensor_list& x) { return tensor_list{x[0].as_strided({3, 3}, {3, 1}, 1)}; },
             {rn({12})});
  check_view("as_strided overlapping windows",
             [](const tensor_list& x) { return tensor_list{x[0].as_strided({3, 4}, {2, 1})}; }, {rn({8})});
  check_view("as_strided broadcast (stride 0)",
             [](const tensor_list& x) { return tensor_list{x[0].as_strided({2, 3, 2}, {0, 2, 1})}; }, {rn({6})});
  // The input itself a non-contiguous view: as_strided addresses the storage, and each result
  // element takes the gradient of the input element stored there.
  check_view("as_strided of transposed",
             [](const tensor_list& x) { return tensor_list{x[0].t().as_strided({3, 2}, {4, 1}, 1)}; }, {rn({3, 4})});
  check_view("as_strided of sliced",
             [](const tensor_list& x) { return tensor_list{x[0].slice(0, 0, 6, 2).as_strided({2, 2, 2}, {8, 1, 2}, 0)}; },
             {rn({6, 4})});
  check_view("as_strided of offset narrow",
             [](const tensor_list& x) { return tensor_list{x[0].narrow(0, 2, 5).as_strided({2, 3}, {1, 1}, 3)}; },
             {rn({8})});
  // Second derivative through the overlapping map: y = sum (x[k(j)])^2 over the result, so
  // dy/dx_i = 2 c_i x_i and d/dx_i of sum(dy/dx) = 2 c_i with c_i how often x_i is read.
  Tensor x = rn({4}).requires_grad_();
  Tensor y = x.as_strided({3, 2}, {1, 1}).pow(2).sum();  // reads 0,1 / 1,2 / 2,3: counts 1,2,2,1
  Tensor g = autograd::grad({y}, {x}, {}, std::nullopt, true)[0];
  Tensor counts = tensor({1.0, 2.0, 2.0, 1.0}, kFloat64);
  EXPECT_TRUE(close(g, counts * x.detach() * 2)) << g;
  Tensor gg = autograd::grad({g.sum()}, {x})[0];
  EXPECT_TRUE(close(gg, counts * 2)) << gg;
}

TEST(AutogradOpsViews, AsStridedOfOverlappingInputIsRefused) {
  Tensor x = rn({4}).requires_grad_();
  Tensor y = x.expand({3, 4}).as_strided({2, 2}, {1, 1}, 0);
  try {
    y.sum().backward();
    ADD_FAILURE() << "as_strided backward on an expanded input did not raise";
  } catch (const NotImplementedError& e) {
    EXPECT_NE(std::string(e.what()).find("contiguous()"), std::string::npos) << e.what();
  }
}

TEST(AutogradOpsViews, DiagonalExpandPermute) {
  for (int64_t off : {0, 1, -1, 2, -3}) {
    check_view("diagonal " + std::to_string(off),
               [off](const tensor_list& x) { return tensor_list{x[0].diagonal(off)}; }, {rn({3, 4})});
    check_view("diagonal of transposed " + std::to_string(off),
               [off](const tensor_list& x) { return tensor_list{x[0].t().diagonal(off)}; }, {rn({3, 4})});
  }
  check_view("diagonal dims (2, 0)", [](const tensor_list& x) { return tensor_list{x[0].diagonal(1, 2, 0)}; },
             {rn({3, 2, 4})});
  check_view("diagonal out of range", [](const tensor_list& x) { return tensor_list{x[0].diagonal(5)}; }, {rn({3, 4})});
  check_view("expand", [](const tensor_list& x) { return tensor_list{x[0].expand({2, 3, 4})}; }, {rn({3, 1})});
  check_view("expand -1", [](const tensor_list& x) { return tensor_list{x[0].expand({2, -1, 4})}; }, {rn({1, 3, 1})});
  check_view("expand transposed", [](const tensor_list& x) { return tensor_list{x[0].t().expand({2, 3, 4})}; },
             {rn({1, 3})});
  check_view("expand sliced", [](const tensor_list& x) { return tensor_list{x[0].slice(0, 1, 6, 2).expand({2, 3, 2})}; },
             {rn({6, 2})});
  check_view("expand_as", [](const tensor_list& x) { return tensor_list{x[0].expand_as(x[1])}; },
             {rn({3, 1}), rn({2, 3, 4})});
  check_view("permute", [](const tensor_list& x) { return tensor_list{x[0].permute({2, 0, 1})}; }, {rn({2, 3, 2})});
  check_view("permute negative dims", [](const tensor_list& x) { return tensor_list{x[0].permute({-1, 0, -2})}; },
             {rn({2, 3, 2})});
  check_view("permute of sliced", [](const tensor_list& x) { return tensor_list{x[0].slice(1, 0, 4, 2).permute({1, 0})}; },
             {rn({3, 4})});
  check_view("movedim", [](const tensor_list& x) { return tensor_list{x[0].movedim(0, 2)}; }, {rn({2, 3, 2})});
  check_view("movedim lists", [](const tensor_list& x) { return tensor_list{x[0].movedim({0, 1}, {2, 0})}; },
             {rn({2, 3, 2})});
  check_view("transpose", [](const tensor_list& x) { return tensor_list{x[0].transpose(0, 2)}; }, {rn({2, 3, 2})});
  check_view("transpose of transposed", [](const tensor_list& x) { return tensor_list{x[0].t().transpose(-1, 0)}; },
             {rn({3, 4})});
  check_view("t", [](const tensor_list& x) { return tensor_list{x[0].t()}; }, {rn({3, 4})});
  check_view("t 1-d", [](const tensor_list& x) { return tensor_list{x[0].t()}; }, {rn({4})});
}

TEST(AutogradOpsViews, SelectSliceNarrow) {
  check_view("select", [](const tensor_list& x) { return tensor_list{x[0].select(1, -1)}; }, {rn({3, 4})});
  check_view("select of transposed", [](const tensor_list& x) { return tensor_list{x[0].t().select(0, 2)}; },
             {rn({3, 4})});
  check_view("select to 0-dim", [](const tensor_list& x) { return tensor_list{x[0].select(0, 1)}; }, {rn({3})});
  check_view("operator[]", [](const tensor_list& x) { return tensor_list{x[0][1][2]}; }, {rn({3, 4})});
  check_view("slice step 3", [](const tensor_list& x) { return tensor_list{x[0].slice(0, 1, 7, 3)}; }, {rn({7, 2})});
  check_view("slice negative start", [](const tensor_list& x) { return tensor_list{x[0].slice(1, -3, std::nullopt, 2)}; },
             {rn({2, 5})});
  check_view("slice past the end", [](const tensor_list& x) { return tensor_list{x[0].slice(0, 2, 100)}; }, {rn({4, 2})});
  check_view("slice empty", [](const tensor_list& x) { return tensor_list{x[0].slice(0, 3, 1), x[0] * 2}; },
             {rn({4, 2})});
  check_view("slice of transposed", [](const tensor_list& x) { return tensor_list{x[0].t().slice(1, 0, 5, 2)}; },
             {rn({5, 3})});
  check_view("slice of slice", [](const tensor_list& x) { return tensor_list{x[0].slice(0, 1, 8, 2).slice(0, 1, 4, 2)}; },
             {rn({8, 2})});
  check_view("narrow", [](const tensor_list& x) { return tensor_list{x[0].narrow(0, 1, 3)}; }, {rn({5, 2})});
  check_view("narrow negative start", [](const tensor_list& x) { return tensor_list{x[0].narrow(1, -3, 2)}; },
             {rn({2, 5})});
  check_view("narrow of transposed", [](const tensor_list& x) { return tensor_list{x[0].t().narrow(1, 2, 2)}; },
             {rn({5, 2})});
}

TEST(AutogradOpsViews, SqueezeUnsqueezeUnfold) {
  check_view("squeeze all", [](const tensor_list& x) { return tensor_list{x[0].squeeze()}; }, {rn({1, 3, 1, 2})});
  check_view("squeeze one", [](const tensor_list& x) { return tensor_list{x[0].squeeze(2)}; }, {rn({1, 3, 1, 2})});
  check_view("squeeze non-1 dim (no-op)", [](const tensor_list& x) { return tensor_list{x[0].squeeze(1)}; },
             {rn({1, 3, 1, 2})});
  check_view("squeeze of transposed", [](const tensor_list& x) { return tensor_list{x[0].t().squeeze(-1)}; },
             {rn({1, 4})});
  check_view("unsqueeze", [](const tensor_list& x) { return tensor_list{x[0].unsqueeze(0)}; }, {rn({3, 2})});
  check_view("unsqueeze -1", [](const tensor_list& x) { return tensor_list{x[0].t().unsqueeze(-1)}; }, {rn({3, 2})});
  check_view("unsqueeze middle of sliced", [](const tensor_list& x) { return tensor_list{x[0].slice(0, 0, 6, 2).unsqueeze(1)}; },
             {rn({6, 2})});
  check_view("unfold overlapping", [](const tensor_list& x) { return tensor_list{x[0].unfold(0, 3, 1)}; }, {rn({6})});
  check_view("unfold disjoint", [](const tensor_list& x) { return tensor_list{x[0].unfold(0, 2, 2)}; }, {rn({7})});
  check_view("unfold gaps", [](const tensor_list& x) { return tensor_list{x[0].unfold(0, 2, 3)}; }, {rn({8})});
  check_view("unfold dim 1 of transposed, overlapping",
             [](const tensor_list& x) { return tensor_list{x[0].t().unfold(1, 3, 2)}; }, {rn({7, 2})});
  check_view("unfold 0-dim", [](const tensor_list& x) { return tensor_list{x[0].unfold(0, 1, 1)}; }, {rn({})});
}

TEST(AutogradOpsViews, MultiOutput) {
  check_view("unbind", [](const tensor_list& x) { return x[0].unbind(1); }, {rn({3, 4})});
  check_view("unbind of transposed", [](const tensor_list& x) { return x[0].t().unbind(0); }, {rn({3, 4})});
  check_view("split", [](const tensor_list& x) { return x[0].split(3); }, {rn({7, 2})});
  check_view("split dim 1 of sliced", [](const tensor_list& x) { return x[0].slice(0, 0, 4, 2).split(2, 1); },
             {rn({4, 5})});
  check_view("split_with_sizes", [](const tensor_list& x) { return x[0].split_with_sizes({2, 0, 3}); }, {rn({5, 2})});
  check_view("split_with_sizes of transposed", [](const tensor_list& x) { return x[0].t().split_with_sizes({1, 2}, 1); },
             {rn({3, 2})});
  check_view("chunk", [](const tensor_list& x) { return x[0].chunk(3); }, {rn({7, 2})});
  check_view("chunk of expanded", [](const tensor_list& x) { return x[0].expand({4, 3}).chunk(2, 1); }, {rn({3})});
  // Only some outputs used: the others contribute nothing.
  Tensor x = rn({4, 2}).requires_grad_();
  auto parts = x.chunk(2);
  (parts[1] * 3).sum().backward();
  EXPECT_TRUE(close(x.grad(), cat({zeros({2, 2}, kFloat64), full({2, 2}, 3.0, kFloat64)})));
}

TEST(AutogradOpsViews, BasicIndexing) {
  check_view("ints and slices", [](const tensor_list& x) { return tensor_list{x[0].index({1, Slice(None, None, 2)})}; },
             {rn({3, 4, 2})});
  check_view("None and Ellipsis", [](const tensor_list& x) { return tensor_list{x[0].index({None, Ellipsis, -1})}; },
             {rn({3, 4, 2})});
  check_view("Ellipsis in the middle",
             [](const tensor_list& x) { return tensor_list{x[0].index({Slice(1, None), Ellipsis, None, 0})}; },
             {rn({3, 4, 2})});
  check_view("of transposed", [](const tensor_list& x) { return tensor_list{x[0].t().index({Slice(0, 3, 2), 1})}; },
             {rn({2, 4})});
  check_view("bools", [](const tensor_list& x) { return tensor_list{x[0].index({true, Slice(), false})}; },
             {rn({3, 2})});
  {
    Tensor x = rn({3, 4}).requires_grad_();
    EXPECT_EQ(x.index({1, Slice(1, 3)}).data_ptr(), x[1][1].data_ptr());  // a view (SEED B12)
  }
}

TEST(AutogradOpsViews, ViewsPropagateRequiresGrad) {  // SEED B2
  Tensor x = rn({2, 3}).requires_grad_();
  for (const Tensor& v : {x.view({3, 2}), x.t(), x.select(0, 1), x.slice(1, 0, 2), x.expand({2, 2, 3}),
                          x.diagonal(), x.unsqueeze(0), x.as_strided({2}, {1}), x.unfold(1, 2, 1)}) {
    EXPECT_TRUE(v.requires_grad());
    EXPECT_FALSE(v.is_leaf());
  }
  EXPECT_FALSE(x.detach().requires_grad());
  {
    NoGradGuard ng;
    EXPECT_FALSE(x.t().requires_grad());
  }
}

TEST(AutogradOpsViews, SecondDerivativesThroughViews) {
  // y = sum((x^T * x^T)): dy/dx = 2x, d/dx sum(dy/dx) = 2.
  Tensor x = rn({3, 4}).requires_grad_();
  Tensor y = (x.t() * x.t()).sum();
  Tensor g = autograd::grad({y}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_TRUE(g.requires_grad());
  EXPECT_TRUE(close(g, x.detach() * 2)) << g;
  Tensor gg = autograd::grad({g.sum()}, {x})[0];
  EXPECT_TRUE(close(gg, full({3, 4}, 2.0, kFloat64))) << gg;
  // y = sum(x^T ^ 3): dy/dx = 3x^2, second 6x.
  Tensor y3 = x.t().pow(3).sum();
  Tensor g3 = autograd::grad({y3}, {x}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(close(g3, x.detach() * x.detach() * 3)) << g3;
  Tensor gg3 = autograd::grad({g3.sum()}, {x})[0];
  EXPECT_TRUE(close(gg3, x.detach() * 6)) << gg3;
  // Through a region view: only the diagonal carries derivatives.
  Tensor yd = x.diagonal(1).pow(3).sum();
  Tensor gd = autograd::grad({yd}, {x}, {}, std::nullopt, true)[0];
  Tensor mask = zeros({3, 4}, kFloat64);
  mask.diagonal(1).fill_(1.0);
  EXPECT_TRUE(close(gd, mask * x.detach() * x.detach() * 3)) << gd;
  Tensor ggd = autograd::grad({gd.sum()}, {x})[0];
  EXPECT_TRUE(close(ggd, mask * x.detach() * 6)) << ggd;
  // Mixed second derivative through an expanded operand: y = sum(a * b.expand), d/db (dy/da) = 1.
  Tensor a = rn({3, 4}).requires_grad_(), b = rn({4}).requires_grad_();
  Tensor ga = autograd::grad({(a * b.expand({3, 4})).sum()}, {a}, {}, std::nullopt, true)[0];
  Tensor gab = autograd::grad({ga.sum()}, {b})[0];
  EXPECT_TRUE(close(gab, full({4}, 3.0, kFloat64))) << gab;
  // Backward of backward of a view, and then one more order.
  Tensor s = rn({5}).requires_grad_();
  Tensor t1 = autograd::grad({s.unfold(0, 2, 1).pow(4).sum()}, {s}, {}, std::nullopt, true)[0];
  Tensor t2 = autograd::grad({t1.sum()}, {s}, {}, std::nullopt, true)[0];
  Tensor t3 = autograd::grad({t2.sum()}, {s})[0];
  Tensor c = tensor({1.0, 2.0, 2.0, 2.0, 1.0}, kFloat64);  // windows reading each element
  EXPECT_TRUE(close(t3, c * s.detach() * 24)) << t3;
}
