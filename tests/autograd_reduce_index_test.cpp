// gradcheck of reductions (norm's zero subgradient at 0: SEED G7), the matmul family, joining
// and indexing ops, in float64, on contiguous inputs and on non-contiguous ones (transposed,
// expanded, sliced with step 2) built inside the checked function from contiguous leaves.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "hearth/autograd.h"
#include "hearth/hearth.h"

using namespace hearth;
using autograd::tensor_list;
using indexing::Slice;

namespace {

const autograd::GradcheckOptions kNoRaise{1e-6, 1e-5, 1e-3, /*raise_exception=*/false};

Tensor r64(IntArrayRef sizes) { return randn(sizes, kFloat64); }

/// A way to get an [m, n] operand from a contiguous leaf of shape `leaf`.
struct Layout {
  const char* name;
  DimVector leaf;
  std::function<Tensor(const Tensor&)> make;
};

std::vector<Layout> layouts(int64_t m, int64_t n) {
  return {
      {"contiguous", {m, n}, [](const Tensor& t) { return t; }},
      {"transposed", {n, m}, [](const Tensor& t) { return t.t(); }},
      {"expanded",
       {1, n},
       [m, n](const Tensor& t) {
         return t.expand({m, n});
       }},
      {"sliced", {2 * m, n}, [](const Tensor& t) { return t.slice(0, 0, std::nullopt, 2); }},
  };
}

/// gradcheck of op(x) for x of shape [m, n] in every layout.
void check_layouts(const std::string& what, const std::function<Tensor(const Tensor&)>& op, int64_t m = 3,
                   int64_t n = 4) {
  for (const Layout& l : layouts(m, n)) {
    const Tensor leaf = r64(l.leaf);
    if (std::string(l.name) != "contiguous") {
      ASSERT_FALSE(l.make(leaf).is_contiguous()) << l.name;
    }
    auto r =
        autograd::gradcheck([&](const tensor_list& in) { return tensor_list{op(l.make(in[0]))}; }, {leaf}, kNoRaise);
    EXPECT_TRUE(r.ok) << what << " on a " << l.name << " input: " << r.message;
  }
}

void expect_gradcheck(const std::string& what, const std::function<tensor_list(const tensor_list&)>& fn,
                      const tensor_list& inputs) {
  auto r = autograd::gradcheck(fn, inputs, kNoRaise);
  EXPECT_TRUE(r.ok) << what << ": " << r.message;
}

Tensor leaf(const Tensor& values) { return values.detach().clone().requires_grad_(true); }

bool all_finite(const Tensor& t) {
  Tensor d = t.to(kFloat64);
  return d.eq(d)
             .logical_and(d.abs().lt(Scalar(std::numeric_limits<double>::infinity())))
             .logical_not()
             .sum()
             .item<int64_t>() == 0;
}

}  // namespace

// ---- reductions ----

TEST(AutogradReduce, SumMean) {
  for (bool keep : {false, true}) {
    const std::string k = keep ? " keepdim" : "";
    check_layouts("sum()", [](const Tensor& x) { return x.sum(); });
    check_layouts("sum(0)" + k, [keep](const Tensor& x) { return x.sum({0}, keep); });
    check_layouts("sum(-1)" + k, [keep](const Tensor& x) { return x.sum({-1}, keep); });
    check_layouts("sum(0,1)" + k, [keep](const Tensor& x) { return x.sum({0, 1}, keep); });
    check_layouts("mean(1)" + k, [keep](const Tensor& x) { return x.mean({1}, keep); });
    check_layouts("mean(0,1)" + k, [keep](const Tensor& x) { return x.mean({1, 0}, keep); });
  }
  check_layouts("mean()", [](const Tensor& x) { return x.mean(); });
}

TEST(AutogradReduce, SumMeanWithDtype) {
  // sum(dtype=float64) of a float32 tensor: the gradient comes back as float32 ones.
  Tensor x = leaf(randn({2, 3}));
  Tensor y = x.sum(kFloat64);
  EXPECT_EQ(y.dtype(), kFloat64);
  y.backward();
  EXPECT_EQ(x.grad().dtype(), kFloat32);
  EXPECT_TRUE(allclose(x.grad(), ones({2, 3})));
  Tensor z = leaf(randn({2, 4}));
  z.mean({1}, false, kFloat64).sum().backward();
  EXPECT_EQ(z.grad().dtype(), kFloat32);
  EXPECT_TRUE(allclose(z.grad(), full({2, 4}, 0.25)));
  // An integer-typed sum is not differentiable.
  Tensor s = x.sum({}, false, kInt64);
  EXPECT_FALSE(s.requires_grad());
}

TEST(AutogradReduce, Prod) {
  check_layouts("prod()", [](const Tensor& x) { return x.prod(); });
  for (bool keep : {false, true}) {
    check_layouts("prod(0)", [keep](const Tensor& x) { return x.prod(0, keep); });
    check_layouts("prod(-1)", [keep](const Tensor& x) { return x.prod(-1, keep); });
  }
  // A float32 input reduced in float64: the gradient comes back as float32.
  Tensor x = leaf(tensor({{1.5f, -2.f, 0.5f}}));
  Tensor y = x.prod(1, false, kFloat64);
  EXPECT_EQ(y.dtype(), kFloat64);
  y.sum().backward();
  EXPECT_EQ(x.grad().dtype(), kFloat32);
  EXPECT_TRUE(allclose(x.grad(), tensor({{-1.f, 0.75f, -3.f}}))) << x.grad();
}

TEST(AutogradReduce, ProdWithZeros) {
  // One zero: it gets the product of the others, the rest get 0. Two zeros: all 0. No NaN.
  Tensor one = leaf(tensor({2.0, 0.0, 3.0, 4.0}, kFloat64));
  one.prod().backward();
  EXPECT_TRUE(equal(one.grad(), tensor({0.0, 24.0, 0.0, 0.0}, kFloat64))) << one.grad();
  Tensor two = leaf(tensor({2.0, 0.0, 3.0, 0.0}, kFloat64));
  two.prod().backward();
  EXPECT_TRUE(equal(two.grad(), zeros({4}, kFloat64))) << two.grad();
  // Along a dim: rows with no, one and two zeros.
  Tensor m = leaf(tensor({{2.0, 0.0, 3.0}, {1.0, 2.0, 3.0}, {0.0, 0.0, 5.0}}, kFloat64));
  m.prod(1).sum().backward();
  EXPECT_TRUE(equal(m.grad(), tensor({{0.0, 6.0, 0.0}, {6.0, 3.0, 2.0}, {0.0, 0.0, 0.0}}, kFloat64))) << m.grad();
  // gradcheck across the zeros (prod is linear in each element, so differences are exact).
  for (const Tensor& x :
       {tensor({{2.0, 0.0, 3.0}, {1.5, -2.0, 0.5}}, kFloat64), tensor({{0.0, 0.0, 3.0}, {1.5, 0.0, 0.5}}, kFloat64)}) {
    expect_gradcheck("prod() with zeros", [](const tensor_list& in) { return tensor_list{in[0].prod()}; }, {x});
    expect_gradcheck("prod(1) with zeros", [](const tensor_list& in) { return tensor_list{in[0].prod(1)}; }, {x});
    expect_gradcheck("prod(0) with zeros", [](const tensor_list& in) { return tensor_list{in[0].prod(0, true)}; },
                     {x.t().contiguous()});
  }
}

TEST(AutogradReduce, ProdDoubleBackwardWithZeros) {
  // The gradient of prod is itself differentiable (create_graph), also between two zeros of
  // a slice: d2/dx_i dx_j prod = product of the others but i and j.
  auto grad_of_prod = [](const tensor_list& in) {
    autograd::AutoGradMode on(true);
    Tensor y = in[0].prod(1);
    return autograd::grad({y}, {in[0]}, {in[1]}, std::nullopt, /*create_graph=*/true);
  };
  for (const Tensor& x :
       {tensor({{2.0, 0.0, 3.0}, {1.5, -2.0, 0.5}}, kFloat64), tensor({{0.0, 0.0, 3.0}, {1.5, 0.0, 0.5}}, kFloat64),
        tensor({{0.0, 0.0, 0.0}, {1.5, 0.0, 0.0}}, kFloat64)})
    expect_gradcheck("second derivative of prod(1)", grad_of_prod, {x, tensor({0.7, -1.3}, kFloat64)});
}

TEST(AutogradReduce, AmaxAminMaxMin) {
  for (bool keep : {false, true}) {
    check_layouts("amax(1)", [keep](const Tensor& x) { return amax(x, {1}, keep); });
    check_layouts("amax(0)", [keep](const Tensor& x) { return amax(x, {0}, keep); });
    check_layouts("amin(0,1)", [keep](const Tensor& x) { return amin(x, {0, 1}, keep); });
    check_layouts("max(1) values", [keep](const Tensor& x) { return std::get<0>(x.max(1, keep)); });
    check_layouts("min(0) values", [keep](const Tensor& x) { return std::get<0>(x.min(0, keep)); });
  }
  check_layouts("max()", [](const Tensor& x) { return x.max(); });
  check_layouts("min()", [](const Tensor& x) { return x.min(); });
}

TEST(AutogradReduce, AmaxTiesSplitEvenly) {
  Tensor x = leaf(tensor({1.0, 3.0, 3.0, 2.0}, kFloat64));
  amax(x).backward();
  EXPECT_TRUE(equal(x.grad(), tensor({0.0, 0.5, 0.5, 0.0}, kFloat64))) << x.grad();
  Tensor y = leaf(tensor({{1.0, 1.0, 1.0}, {5.0, 2.0, 5.0}}, kFloat64));
  y.max().backward();  // max() over all: the two 5s share
  EXPECT_TRUE(equal(y.grad(), tensor({{0.0, 0.0, 0.0}, {0.5, 0.0, 0.5}}, kFloat64))) << y.grad();
  Tensor z = leaf(tensor({{1.0, 1.0, 1.0}, {5.0, 2.0, 5.0}}, kFloat64));
  amin(z, {1}).sum().backward();
  EXPECT_TRUE(allclose(z.grad(), tensor({{1.0 / 3, 1.0 / 3, 1.0 / 3}, {0.0, 1.0, 0.0}}, kFloat64))) << z.grad();
  // max(dim) gives the whole gradient to the index it returns; the indices carry none.
  Tensor w = leaf(tensor({{1.0, 3.0, 3.0}}, kFloat64));
  auto [v, i] = w.max(1);
  EXPECT_FALSE(i.requires_grad());
  v.sum().backward();
  Tensor expect = zeros({1, 3}, kFloat64);
  expect.index_put_({0, i.item<int64_t>()}, 1.0);
  EXPECT_TRUE(equal(w.grad(), expect)) << w.grad();
}

TEST(AutogradReduce, VarStd) {
  for (int64_t c : {0, 1, 2}) {
    for (bool keep : {false, true}) {
      const std::string k = " correction " + std::to_string(c) + (keep ? " keepdim" : "");
      check_layouts("var(1)" + k, [c, keep](const Tensor& x) { return x.var({1}, c, keep); });
      check_layouts("var(0)" + k, [c, keep](const Tensor& x) { return x.var({0}, c, keep); });
      check_layouts("std(1)" + k, [c, keep](const Tensor& x) { return x.std({1}, c, keep); });
      check_layouts("std(0,1)" + k, [c, keep](const Tensor& x) { return x.std({0, 1}, c, keep); });
    }
    check_layouts("var()", [c](const Tensor& x) { return x.var({}, c); });
    check_layouts("std()", [c](const Tensor& x) { return x.std({}, c); });
  }
}

TEST(AutogradReduce, StdAtZeroVarianceMatchesPyTorch) {
  // Current PyTorch (std_backward masks std == 0): a constant input gets a zero gradient.
  Tensor x = leaf(full({4}, 2.5, kFloat64));
  x.std().backward();
  EXPECT_TRUE(equal(x.grad(), zeros({4}, kFloat64))) << x.grad();
  Tensor rows = leaf(tensor({{1.0, 1.0}, {1.0, 3.0}}, kFloat64));
  rows.std({1}).sum().backward();
  EXPECT_TRUE(allclose(rows.grad(), tensor({{0.0, 0.0}, {-std::sqrt(0.5), std::sqrt(0.5)}}, kFloat64))) << rows.grad();
  // No degrees of freedom left (N <= correction): std is NaN and so is its gradient.
  Tensor one = leaf(tensor({3.0}, kFloat64));
  Tensor s = one.std();
  EXPECT_TRUE(std::isnan(s.item<double>()));
  s.backward();
  EXPECT_TRUE(std::isnan(one.grad().item<double>()));
  // var over all elements with N <= correction: NaN where x == mean, +inf elsewhere (PyTorch).
  Tensor two = leaf(tensor({1.0, 2.0}, kFloat64));
  two.var({}, 2).backward();
  EXPECT_TRUE(std::isinf(two.grad()[0].item<double>()) && two.grad()[0].item<double>() > 0);
  EXPECT_TRUE(std::isinf(two.grad()[1].item<double>()) && two.grad()[1].item<double>() > 0);
  Tensor same = leaf(tensor({1.0}, kFloat64));
  same.var().backward();
  EXPECT_TRUE(std::isnan(same.grad().item<double>()));
}

TEST(AutogradReduce, Norm) {
  const double inf = std::numeric_limits<double>::infinity();
  for (double p : {2.0, 1.0, 3.0, 1.5, 0.5, inf, -inf}) {
    const std::string ps = " p=" + std::to_string(p);
    check_layouts("norm()" + ps, [p](const Tensor& x) { return x.norm(p); });
    check_layouts("norm(1)" + ps, [p](const Tensor& x) { return x.norm(p, {1}); });
    check_layouts("norm(0) keepdim" + ps, [p](const Tensor& x) { return x.norm(p, {0}, true); });
  }
  // p = 0 counts non-zeros: piecewise constant, zero gradient.
  check_layouts("norm(p=0)", [](const Tensor& x) { return x.norm(0, {1}); });
}

// SEED G7: the p=2 norm has a zero subgradient at 0, while sqrt has an infinite derivative at 0.
TEST(AutogradReduce, NormZeroSubgradientAtZero) {
  Tensor x = leaf(zeros({3}, kFloat64));
  x.norm().backward();
  EXPECT_TRUE(equal(x.grad(), zeros({3}, kFloat64))) << x.grad();
  // A zero row next to a non-zero one: only the zero row takes the subgradient.
  Tensor m = leaf(tensor({{0.0, 0.0}, {3.0, 4.0}}, kFloat64));
  m.norm(2, {1}).sum().backward();
  EXPECT_TRUE(allclose(m.grad(), tensor({{0.0, 0.0}, {0.6, 0.8}}, kFloat64))) << m.grad();
  // Every p keeps the gradient finite (zero) at x == 0.
  for (double p : {1.0, 3.0, 1.5, 0.5, std::numeric_limits<double>::infinity()}) {
    Tensor z = leaf(zeros({2, 3}, kFloat64));
    z.norm(p, {1}).sum().backward();
    EXPECT_TRUE(equal(z.grad(), zeros({2, 3}, kFloat64))) << "p=" << p << ": " << z.grad();
  }
  // The acceptance contrast: sqrt(0) gives an infinite gradient ...
  Tensor s = leaf(zeros({}, kFloat64));
  s.sqrt().backward();
  EXPECT_TRUE(std::isinf(s.grad().item<double>()) && s.grad().item<double>() > 0) << s.grad();
  // ... so the hand-written norm sqrt(sum(x*x)) gets a non-finite gradient at 0 (inf * 0).
  Tensor y = leaf(zeros({3}, kFloat64));
  (y * y).sum().sqrt().backward();
  EXPECT_FALSE(all_finite(y.grad())) << y.grad();
}

TEST(AutogradReduce, ZeroDimAndEmpty) {
  const Tensor s = tensor({1.7}, kFloat64).reshape({});
  auto check0 = [&](const char* what, std::function<Tensor(const Tensor&)> op) {
    expect_gradcheck(what, [op](const tensor_list& in) { return tensor_list{op(in[0])}; }, {s});
  };
  check0("sum of 0-dim", [](const Tensor& x) { return x.sum(); });
  check0("mean of 0-dim", [](const Tensor& x) { return x.mean(); });
  check0("prod of 0-dim", [](const Tensor& x) { return x.prod(); });
  check0("prod(0) of 0-dim", [](const Tensor& x) { return x.prod(0); });
  check0("amax of 0-dim", [](const Tensor& x) { return amax(x); });
  check0("max(0) of 0-dim", [](const Tensor& x) { return std::get<0>(x.max(0)); });
  check0("var(c=0) of 0-dim", [](const Tensor& x) { return x.var({}, 0); });
  check0("std(c=0) of 0-dim", [](const Tensor& x) { return x.std({}, 0); });
  check0("norm of 0-dim", [](const Tensor& x) { return x.norm(); });
  check0("norm(p=3) of 0-dim", [](const Tensor& x) { return x.norm(3); });
  // Reducing an empty dim: the gradient has the input's (empty) shape.
  Tensor e = leaf(zeros({3, 0}, kFloat64));
  Tensor y = e.sum({1});
  EXPECT_TRUE(equal(y, zeros({3}, kFloat64)));
  y.sum().backward();
  EXPECT_EQ(e.grad().sizes(), IntArrayRef({3, 0}));
  Tensor f = leaf(zeros({0, 3}, kFloat64));
  amax(f, {1}).sum().backward();
  EXPECT_EQ(f.grad().sizes(), IntArrayRef({0, 3}));
  Tensor g = leaf(ones({2, 0}, kFloat64));
  g.prod(1).sum().backward();
  EXPECT_EQ(g.grad().sizes(), IntArrayRef({2, 0}));
}

TEST(AutogradReduce, NoGradientOps) {
  Tensor x = leaf(r64({3, 4}));
  EXPECT_FALSE(x.argmax().requires_grad());
  EXPECT_FALSE(x.argmin(1).requires_grad());
  EXPECT_FALSE(nonzero(x).requires_grad());
  EXPECT_FALSE(x.gt(Scalar(0)).requires_grad());
  EXPECT_FALSE(std::get<1>(x.min(0)).requires_grad());
}

// ---- matmul family ----

TEST(AutogradLinalg, MmBmmAddmm) {
  for (const Layout& la : layouts(3, 4)) {
    for (const Layout& lb : layouts(4, 2)) {
      expect_gradcheck(std::string("mm ") + la.name + " x " + lb.name,
                       [&](const tensor_list& in) { return tensor_list{mm(la.make(in[0]), lb.make(in[1]))}; },
                       {r64(la.leaf), r64(lb.leaf)});
    }
  }
  expect_gradcheck("bmm", [](const tensor_list& in) { return tensor_list{bmm(in[0], in[1])}; },
                   {r64({2, 3, 4}), r64({2, 4, 2})});
  expect_gradcheck("bmm transposed/expanded/sliced",
                   [](const tensor_list& in) {
                     return tensor_list{bmm(in[0].transpose(1, 2), in[1].expand({2, 4, 2})),
                                        bmm(in[2].slice(2, 0, std::nullopt, 2), in[1].expand({2, 4, 2}))};
                   },
                   {r64({2, 4, 3}), r64({1, 4, 2}), r64({2, 3, 8})});
  // addmm: self broadcast from [n], [1, n], [m, 1] and 0-dim; alpha and beta.
  for (const DimVector& ss : {DimVector{2}, DimVector{1, 2}, DimVector{3, 1}, DimVector{}, DimVector{3, 2}}) {
    expect_gradcheck("addmm self " + std::to_string(ss.size()) + "-D",
                     [](const tensor_list& in) {
                       return tensor_list{addmm(in[0], in[1], in[2]), addmm(in[0], in[1], in[2], 0.5, -2.0),
                                          addmm(in[0], in[1], in[3].t(), 0.0, 3.0)};
                     },
                     {r64(ss), r64({3, 4}), r64({4, 2}), r64({2, 4})});
  }
}

TEST(AutogradLinalg, MatmulCompositePaths) {
  auto mmul = [](const tensor_list& in) { return tensor_list{matmul(in[0], in[1])}; };
  expect_gradcheck("matmul 1-D x 1-D", mmul, {r64({4}), r64({4})});
  expect_gradcheck("matmul 1-D x 2-D", mmul, {r64({4}), r64({4, 3})});
  expect_gradcheck("matmul 2-D x 1-D", mmul, {r64({3, 4}), r64({4})});
  expect_gradcheck("matmul 3-D x 2-D (batch broadcast)", mmul, {r64({2, 3, 4}), r64({4, 2})});
  expect_gradcheck("matmul 2-D x 3-D", mmul, {r64({3, 4}), r64({2, 4, 2})});
  expect_gradcheck("matmul 3-D x 1-D", mmul, {r64({2, 3, 4}), r64({4})});
  expect_gradcheck("matmul 4-D x 3-D", mmul, {r64({2, 1, 2, 3}), r64({3, 3, 2})});
  expect_gradcheck("matmul 4-D x 3-D, non-contiguous",
                   [](const tensor_list& in) {
                     return tensor_list{matmul(in[0].transpose(2, 3), in[1].slice(1, 0, std::nullopt, 2))};
                   },
                   {r64({2, 1, 3, 2}), r64({3, 6, 2})});
}

TEST(AutogradLinalg, ExpandedIncomingGradient) {
  // sum()'s gradient reaches mm as a stride-0 tensor.
  Tensor a = leaf(r64({3, 4})), b = leaf(r64({4, 2}));
  mm(a, b).sum().backward();
  NoGradGuard ng;
  EXPECT_TRUE(allclose(a.grad(), mm(ones({3, 2}, kFloat64), b.t())));
  EXPECT_TRUE(allclose(b.grad(), mm(a.t(), ones({3, 2}, kFloat64))));
}

TEST(AutogradLinalg, Float32GradientMatchesFloat64) {
  Tensor a64 = r64({5, 7}), b64 = r64({7, 3}), w64 = r64({5, 3});
  Tensor a = leaf(a64.to(kFloat32)), b = leaf(b64.to(kFloat32));
  Tensor a2 = leaf(a64), b2 = leaf(b64);
  (matmul(a, b) * w64.to(kFloat32)).sum().backward();
  (matmul(a2, b2) * w64).sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_TRUE(allclose(a.grad().to(kFloat64), a2.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(allclose(b.grad().to(kFloat64), b2.grad(), 1e-4, 1e-5));
}

TEST(AutogradLinalg, MmDoubleBackward) {
  // The gradients of mm are themselves differentiable: gradcheck the map (a, b, v) -> (v b^T, a^T v).
  auto grads_of_mm = [](const tensor_list& in) {
    autograd::AutoGradMode on(true);
    Tensor y = mm(in[0], in[1]);
    return autograd::grad({y}, {in[0], in[1]}, {in[2]}, std::nullopt, /*create_graph=*/true);
  };
  expect_gradcheck("mm double backward", grads_of_mm, {r64({3, 4}), r64({4, 2}), r64({3, 2})});
  // A scalar second derivative: d/da of sum(grad_a(sum(mm(a, b)^2))).
  Tensor a = leaf(r64({2, 3})), b = leaf(r64({3, 2}));
  Tensor y = mm(a, b);
  Tensor ga = autograd::grad({(y * y).sum()}, {a}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(ga.requires_grad());
  // ga = 2 (a b) b^T, so sum(ga) = 2 * 1^T a (b b^T 1) and its gradient is 2 * ones(2, 3) @ (b b^T).
  Tensor gga = autograd::grad({ga.sum()}, {a})[0];
  NoGradGuard ng;
  Tensor bbT = mm(b, b.t());
  EXPECT_TRUE(allclose(gga, mm(ones({2, 3}, kFloat64), bbT).mul(Scalar(2)))) << gga;
}

// ---- joining ----

TEST(AutogradJoin, Cat) {
  for (int64_t d : {0, 1, -1}) {
    expect_gradcheck("cat dim " + std::to_string(d),
                     [d](const tensor_list& in) {
                       return tensor_list{cat({in[0], in[1], in[2]}, d)};
                     },
                     {r64({2, 3}), r64({2, 3}), r64({2, 3})});
  }
  expect_gradcheck("cat of transposed, expanded and sliced parts",
                   [](const tensor_list& in) {
                     return tensor_list{cat({in[0].t(), in[1].expand({2, 3}), in[2].slice(0, 0, std::nullopt, 2)}, 0)};
                   },
                   {r64({3, 2}), r64({1, 3}), r64({4, 3})});
  expect_gradcheck("stack",
                   [](const tensor_list& in) {
                     return tensor_list{stack({in[0], in[1].t()}, 1)};
                   },
                   {r64({2, 3}), r64({3, 2})});
  expect_gradcheck("stack dim -1",
                   [](const tensor_list& in) {
                     return tensor_list{stack({in[0], in[1]}, -1)};
                   },
                   {r64({2, 3}), r64({2, 3})});
}

TEST(AutogradJoin, CatOfThreeWithOneConstant) {
  Tensor a = leaf(r64({2, 2})), b = leaf(r64({1, 2}));
  Tensor c = r64({3, 2});  // does not require grad
  Tensor y = cat({a, c, b}, 0);
  ASSERT_TRUE(y.requires_grad());
  EXPECT_EQ(y.grad_fn()->name(), "CatBackward");
  Tensor w = r64({6, 2});
  (y * w).sum().backward();
  EXPECT_TRUE(equal(a.grad(), w.narrow(0, 0, 2)));
  EXPECT_TRUE(equal(b.grad(), w.narrow(0, 5, 1)));
  EXPECT_FALSE(c.grad().defined());
  // The same through gradcheck, the constant captured inside the function.
  expect_gradcheck("cat with a constant part",
                   [c](const tensor_list& in) {
                     return tensor_list{cat({in[0], c, in[1]}, 0)};
                   },
                   {r64({2, 2}), r64({1, 2})});
}

TEST(AutogradJoin, CatMixedDtypesAndLegacyEmpty) {
  Tensor a = leaf(randn({2})), b = leaf(r64({3}));
  Tensor skipped = leaf(zeros({0}, kFloat64));  // 1-D [0]: cat skips it (PyTorch's legacy rule)
  Tensor y = cat({a, skipped, b});
  EXPECT_EQ(y.dtype(), kFloat64);
  (y * arange(5, kFloat64)).sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_TRUE(equal(a.grad(), tensor({0.f, 1.f})));
  EXPECT_TRUE(equal(b.grad(), tensor({2.0, 3.0, 4.0}, kFloat64)));
  EXPECT_EQ(skipped.grad().sizes(), IntArrayRef({0}));
}

TEST(AutogradJoin, CatFallbackPathRecords) {
  // testdev has no cat kernel, so cat copies into narrow() views of the output there: those
  // copies must not record (or be refused as in-place changes of views). tests/CMakeLists.txt
  // builds testdev before this test.
  load_plugins();
  Tensor a = r64({2, 3}).to(Device("testdev")).requires_grad_(true);
  Tensor b = r64({2, 1}).to(Device("testdev")).requires_grad_(true);
  Tensor y = cat({a, b}, 1);
  EXPECT_EQ(y.grad_fn()->name(), "CatBackward");
  Tensor w = r64({2, 4});
  (y * w.to(Device("testdev"))).sum().backward();
  EXPECT_TRUE(equal(a.grad().cpu(), w.narrow(1, 0, 3)));
  EXPECT_TRUE(equal(b.grad().cpu(), w.narrow(1, 3, 1)));
}

// ---- indexing ----

TEST(AutogradIndex, IndexSelect) {
  const Tensor idx = tensor({2, 0, 2, 1, 2});  // repeats add up
  for (int64_t d : {0, 1}) {
    check_layouts("index_select dim " + std::to_string(d),
                  [idx, d](const Tensor& x) { return index_select(x, d, idx); });
  }
  // Repeated indices: the gradient counts each selection.
  Tensor x = leaf(r64({3, 2}));
  index_select(x, 0, tensor({1, 1, 1, 0})).sum().backward();
  EXPECT_TRUE(equal(x.grad(), tensor({{1.0, 1.0}, {3.0, 3.0}, {0.0, 0.0}}, kFloat64))) << x.grad();
  expect_gradcheck("index_select of 0-dim",
                   [](const tensor_list& in) { return tensor_list{index_select(in[0], 0, tensor({0}))}; },
                   {tensor({1.5}, kFloat64).reshape({})});
  expect_gradcheck("index_select, int32 index",
                   [](const tensor_list& in) {
                     return tensor_list{index_select(in[0], 1, tensor({3, 3, 0}).to(kInt32))};
                   },
                   {r64({2, 4})});
}

TEST(AutogradIndex, Gather) {
  const Tensor idx0 = tensor({{0, 2, 1, 0}, {2, 2, 0, 1}});  // [2, 4], along dim 0 of [3, 4]
  const Tensor idx1 = tensor({{3, 3}, {0, 1}, {2, 0}});      // [3, 2], along dim 1
  check_layouts("gather dim 0", [idx0](const Tensor& x) { return gather(x, 0, idx0); });
  check_layouts("gather dim 1", [idx1](const Tensor& x) { return gather(x, 1, idx1); });
  Tensor x = leaf(r64({2, 3}));
  gather(x, 1, tensor({{0, 0, 0}, {2, 1, 2}})).sum().backward();
  EXPECT_TRUE(equal(x.grad(), tensor({{3.0, 0.0, 0.0}, {0.0, 1.0, 2.0}}, kFloat64))) << x.grad();
  expect_gradcheck("gather of 0-dim",
                   [](const tensor_list& in) {
                     return tensor_list{gather(in[0], 0, tensor({0, 0}))};
                   },
                   {tensor({1.5}, kFloat64).reshape({})});
}

TEST(AutogradIndex, ScatterOutOfPlace) {
  const Tensor idx = tensor({{1, 0, 2, 3}, {0, 2, 1, 0}});  // distinct targets per column, along dim 0 of [4, 4]
  for (const Layout& l : layouts(4, 4)) {
    expect_gradcheck(std::string("scatter, self ") + l.name,
                     [&](const tensor_list& in) { return tensor_list{scatter(l.make(in[0]), 0, idx, in[1])}; },
                     {r64(l.leaf), r64({2, 4})});
    expect_gradcheck(std::string("scatter_add, self ") + l.name,
                     [&](const tensor_list& in) { return tensor_list{scatter_add(l.make(in[0]), 0, idx, in[1].t())}; },
                     {r64(l.leaf), r64({4, 2})});
  }
  // scatter_add with repeated targets; src larger than index (its extra elements get 0).
  const Tensor rep = tensor({{0, 0, 1}, {0, 0, 0}});
  expect_gradcheck("scatter_add, repeated targets, larger src",
                   [rep](const tensor_list& in) { return tensor_list{scatter_add(in[0], 1, rep, in[1])}; },
                   {r64({2, 2}), r64({3, 4})});
  Tensor self = leaf(r64({2, 3})), src = leaf(r64({2, 4}));
  scatter(self, 1, tensor({{2}, {0}}), src).sum().backward();
  EXPECT_TRUE(equal(self.grad(), tensor({{1.0, 1.0, 0.0}, {0.0, 1.0, 1.0}}, kFloat64))) << self.grad();
  EXPECT_TRUE(equal(src.grad(), tensor({{1.0, 0.0, 0.0, 0.0}, {1.0, 0.0, 0.0, 0.0}}, kFloat64))) << src.grad();
}

TEST(AutogradIndex, ScatterInPlace) {
  const Tensor idx = tensor({{2, 0}, {1, 1}});
  expect_gradcheck("scatter_ on a non-leaf",
                   [idx](const tensor_list& in) {
                     Tensor y = in[0] * Scalar(2);
                     y.scatter_(1, idx.slice(0, 0, 1), in[1]);
                     return tensor_list{y};
                   },
                   {r64({2, 3}), r64({1, 2})});
  expect_gradcheck("scatter_add_ on a non-leaf, transposed src",
                   [idx](const tensor_list& in) {
                     Tensor y = in[0].clone();
                     y.scatter_add_(1, idx, in[1].t());
                     return tensor_list{y};
                   },
                   {r64({2, 3}), r64({2, 2})});
  // A float32 src into float64 self: src's gradient comes back as float32.
  Tensor src32 = leaf(randn({2, 2}));
  Tensor y = r64({2, 3}) * Scalar(1);
  y.scatter_add_(1, idx, src32);
  (y * Scalar(3)).sum().backward();
  EXPECT_EQ(src32.grad().dtype(), kFloat32);
  EXPECT_TRUE(equal(src32.grad(), full({2, 2}, 3.f)));
  // The in-place rules: a leaf that requires grad is refused; on a view of a non-leaf the write
  // reaches the base's gradient (CopySlices, issue #15).
  Tensor l = leaf(r64({2, 3}));
  EXPECT_THROW(l.scatter_(1, idx, r64({2, 2})), AutogradError);
  Tensor base = l * Scalar(1);
  Tensor v = base.narrow(1, 0, 2);
  v.scatter_(1, tensor({{1, 0}, {1, 1}}), r64({2, 2}));
  base.sum().backward();
  // Overwritten: row 0 both of v's columns, row 1 column 1 only.
  EXPECT_TRUE(equal(l.grad(), tensor({{0.0, 0.0, 1.0}, {1.0, 0.0, 1.0}}, kFloat64))) << l.grad();
  // A saved tensor changed by scatter_ is detected at backward (SEED B6).
  Tensor s = l * Scalar(1);
  Tensor p = s * s;
  s.scatter_(1, idx, r64({2, 2}));
  EXPECT_THROW(p.sum().backward(), AutogradError);
}

TEST(AutogradIndex, MaskedSelect) {
  const Tensor mask = tensor({{true, false, true, true}, {false, false, true, false}, {true, true, false, true}});
  check_layouts("masked_select", [mask](const Tensor& x) { return masked_select(x, mask); });
  const Tensor row = tensor({false, true, true, false});  // broadcast over rows
  check_layouts("masked_select, broadcast mask", [row](const Tensor& x) { return x.masked_select(row); });
  expect_gradcheck("masked_select, broadcast input",
                   [mask](const tensor_list& in) { return tensor_list{masked_select(in[0], mask)}; }, {r64({4})});
}

TEST(AutogradIndex, AdvancedIndex) {
  const Tensor i = tensor({2, 0, 2});
  const Tensor j = tensor({1, 3, 1});
  check_layouts("x[i]", [i](const Tensor& x) { return x.index({i}); });
  check_layouts("x[:, j]", [j](const Tensor& x) { return x.index({Slice(), j}); });
  check_layouts("x[i, j]", [i, j](const Tensor& x) { return x.index({i, j}); });
  check_layouts("x[1:, j]", [j](const Tensor& x) { return x.index({Slice(1), j}); });
  const Tensor mask = tensor({{true, false, false, true}, {false, true, true, false}, {true, false, false, false}});
  check_layouts("x[mask]", [mask](const Tensor& x) { return x.index({mask}); });
  check_layouts("x[:, row mask]", [](const Tensor& x) {
    return x.index({Slice(), tensor({true, false, true, true})});
  });
  // Non-adjacent index tensors on 3-D: the broadcast dims go first.
  expect_gradcheck("x[i, :, k] on 3-D",
                   [](const tensor_list& in) {
                     return tensor_list{in[0].permute({2, 0, 1}).index({tensor({1, 0}), Slice(), tensor({2, 2})})};
                   },
                   {r64({2, 3, 2})});
}

TEST(AutogradIndex, IndexPut) {
  const Tensor i = tensor({2, 0});
  // Advanced indices: self's gradient is zero where written, value's is g at those positions.
  for (const Layout& l : layouts(3, 4)) {
    expect_gradcheck(std::string("index_put_ rows, self ") + l.name,
                     [&](const tensor_list& in) {
                       Tensor y = l.make(in[0]) * Scalar(1);
                       y.index_put_({i}, in[1]);
                       return tensor_list{y};
                     },
                     {r64(l.leaf), r64({2, 4})});
  }
  expect_gradcheck("index_put_ broadcast value",
                   [i](const tensor_list& in) {
                     Tensor y = in[0].clone();
                     y.index_put_({i, Slice(1, 3)}, in[1]);  // value [2] broadcast to [2, 2]
                     return tensor_list{y};
                   },
                   {r64({3, 4}), r64({2})});
  const Tensor mask = tensor({{true, false, false, true}, {false, true, true, false}, {true, false, false, false}});
  expect_gradcheck("index_put_ mask, 0-dim value",
                   [mask](const tensor_list& in) {
                     Tensor y = in[0].clone();
                     y.index_put_({mask}, in[1]);
                     return tensor_list{y};
                   },
                   {r64({3, 4}), tensor({0.5}, kFloat64).reshape({})});
  expect_gradcheck("index_put_ basic slice",
                   [](const tensor_list& in) {
                     Tensor y = in[0].clone();
                     y.index_put_({Slice(0, 2), 1}, in[1]);
                     return tensor_list{y};
                   },
                   {r64({3, 4}), r64({2})});
  // Scalar values: the written positions get zero gradient.
  Tensor x = leaf(r64({2, 3}));
  Tensor y = x * Scalar(1);
  y.index_put_({tensor({1}), tensor({2})}, 0.0);
  y.index_put_({0, Slice(0, 2)}, 7.0);
  y.sum().backward();
  EXPECT_TRUE(equal(x.grad(), tensor({{0.0, 0.0, 1.0}, {1.0, 1.0, 0.0}}, kFloat64))) << x.grad();
  // The value's gradient sums over every element it was broadcast to.
  Tensor base = r64({3, 4});
  Tensor val = leaf(r64({1}));
  Tensor z = base.clone();
  z.index_put_({tensor({0, 2})}, val);
  z.sum().backward();
  EXPECT_TRUE(equal(val.grad(), tensor({8.0}, kFloat64))) << val.grad();
  // A leaf that requires grad cannot be written in place.
  Tensor l = leaf(r64({3}));
  EXPECT_THROW(l.index_put_({tensor({0})}, r64({1})), AutogradError);
}
