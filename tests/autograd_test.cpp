// The autograd engine and its traps: version counters (SEED B6, F1), retain_graph, hooks,
// grad(), no-grad (E2), anomaly mode (G8), checkpointing (F4), graph growth (G2), leaves that
// received gradients (A1-trap), DOT pictures (A2).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "hearth/autograd.h"
#include "hearth/hearth.h"
#include "test_util.h"

using namespace hearth;
using autograd::tensor_list;

using test::contains;
using test::message_of;
using test::WarningCapture;

// ---- metadata and propagation (SEED B2, E2) ----

TEST(Autograd, RequiresGradPropagates) {  // SEED B2
  Tensor x = ones({2, 3}, requires_grad());
  Tensor c = ones({2, 3});
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(c.requires_grad());
  Tensor y = x * c + c;
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->name(), "AddBackward");
  Tensor z = c * c;
  EXPECT_FALSE(z.requires_grad());
  EXPECT_FALSE(z.grad_fn());
  // Views, copies and reductions carry it on.
  EXPECT_TRUE(x.t().requires_grad());
  EXPECT_TRUE(x.sum().requires_grad());
  EXPECT_TRUE(x.to(kFloat64).requires_grad());
  // Comparisons give bool results without history.
  EXPECT_FALSE(x.gt(0).requires_grad());
}

TEST(Autograd, RequiresGradRules) {
  EXPECT_THROW(ones({2}, kInt64).requires_grad_(), AutogradError);
  Tensor x = ones({2}, requires_grad());
  Tensor y = x * 2;
  EXPECT_THROW(y.requires_grad_(false), AutogradError);
  Tensor r = randn({3}, TensorOptions(kFloat64).requires_grad(true));
  EXPECT_TRUE(r.requires_grad());
  EXPECT_TRUE(r.is_leaf());
  Tensor e = eye(3, std::nullopt, TensorOptions().requires_grad(true));
  EXPECT_TRUE(e.requires_grad());
  EXPECT_TRUE(zeros_like(r, TensorOptions().requires_grad(true)).requires_grad());
}

TEST(Autograd, NoGradGuardBuildsNoGraph) {  // SEED E2
  Tensor x = ones({3}, requires_grad());
  Tensor y;
  {
    NoGradGuard ng;
    EXPECT_FALSE(is_grad_enabled());
    y = x * 2 + 1;
    // In-place on a leaf is allowed here: this is how optimizers update parameters.
    x.mul_(0.5);
  }
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FALSE(y.grad_fn());
  const std::string msg = message_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(msg, "does not require grad")) << msg;
}

// ---- the engine ----

TEST(Autograd, ChainAndBroadcastGradients) {
  Tensor x = tensor({1.0, 2.0, 3.0}, requires_grad());
  Tensor w = tensor({{2.0}, {3.0}}, requires_grad());  // [2,1] broadcasts against [3]
  Tensor y = (x * w).sum();
  y.backward();
  EXPECT_TRUE(allclose(x.grad(), tensor({5.0, 5.0, 5.0})));
  EXPECT_TRUE(allclose(w.grad(), tensor({{6.0}, {6.0}})));
}

TEST(Autograd, GradientsAccumulateOverTwoBackwards) {
  Tensor x = tensor({1.0, 2.0}, requires_grad());
  (x * x).sum().backward();
  (x * x).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), tensor({4.0, 8.0})));
  x.mutable_grad() = Tensor();
  (x * 3).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), tensor({3.0, 3.0})));
}

TEST(Autograd, SecondBackwardNeedsRetainGraph) {
  Tensor x = tensor({1.0, 2.0}, requires_grad());
  Tensor y = (x * x).sum();
  y.backward();
  const std::string msg = message_of([&] { y.backward(); });
  EXPECT_TRUE(contains(msg, "retain_graph")) << msg;
  EXPECT_TRUE(contains(msg, "MulBackward")) << msg;

  Tensor x2 = tensor({1.0, 2.0}, requires_grad());
  Tensor y2 = (x2 * x2).sum();
  y2.backward({}, /*retain_graph=*/true);
  y2.backward();
  EXPECT_TRUE(allclose(x2.grad(), tensor({4.0, 8.0})));
}

TEST(Autograd, ImplicitGradientOnlyForOneElement) {
  Tensor x = ones({3}, requires_grad());
  Tensor y = x * 2;
  const std::string msg = message_of([&] { y.backward(); });
  EXPECT_TRUE(contains(msg, "one-element")) << msg;
  EXPECT_THROW(y.backward(ones({2})), ShapeError);
  y.backward(tensor({1.f, 2.f, 3.f}));
  EXPECT_TRUE(allclose(x.grad(), tensor({2.f, 4.f, 6.f})));
}

TEST(Autograd, GradFunctionLeavesDotGradAlone) {
  Tensor x = tensor({1.0, 2.0, 3.0}, requires_grad());
  Tensor unused = ones({2}, TensorOptions(kFloat64).requires_grad(true));
  Tensor y = (x * x * x).sum();
  tensor_list g = autograd::grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(allclose(g[0], tensor({3.0, 12.0, 27.0})));
  // Second derivative through create_graph: d/dx sum(3x^2) = 6x.
  // retain_graph: g's graph runs through y's nodes, which the calls below still need.
  tensor_list g2 = autograd::grad({g[0].sum()}, {x}, {}, /*retain_graph=*/true);
  EXPECT_TRUE(allclose(g2[0], tensor({6.0, 12.0, 18.0})));
  EXPECT_THROW(autograd::grad({y}, {unused}, {}, true), AutogradError);
  tensor_list g3 = autograd::grad({y}, {x, unused}, {}, true, false, /*allow_unused=*/true);
  EXPECT_FALSE(g3[1].defined());
}

TEST(Autograd, GradOfIntermediate) {
  Tensor x = tensor({1.0, 2.0}, requires_grad());
  Tensor h = x * 3;
  Tensor y = (h * h).sum();
  tensor_list g = autograd::grad({y}, {h});
  EXPECT_TRUE(allclose(g[0], tensor({6.0, 12.0})));
}

TEST(Autograd, BackwardWithInputsAccumulatesOnlyThere) {
  Tensor a = tensor({1.0}, requires_grad());
  Tensor b = tensor({2.0}, requires_grad());
  (a * b).sum().backward({}, std::nullopt, false, {a});
  EXPECT_TRUE(allclose(a.grad(), tensor({2.0})));
  EXPECT_FALSE(b.grad().defined());
}

TEST(Autograd, Hooks) {
  Tensor x = tensor({1.0, 2.0}, requires_grad());
  const unsigned id = x.register_hook([](const Tensor& g) { return g * 10; });
  Tensor h = x * 2;
  int seen = 0;
  h.register_hook([&](const Tensor& g) {
    ++seen;
    EXPECT_TRUE(allclose(g, tensor({1.0, 1.0})));
  });
  h.sum().backward();
  EXPECT_EQ(seen, 1);
  EXPECT_TRUE(allclose(x.grad(), tensor({20.0, 20.0})));
  x.remove_hook(id);
  x.mutable_grad() = Tensor();
  (x * 2).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), tensor({2.0, 2.0})));
  EXPECT_THROW(ones({2}).register_hook([](const Tensor& g) { return g; }), AutogradError);
}

TEST(Autograd, RetainGrad) {
  Tensor x = tensor({1.0, 2.0}, requires_grad());
  Tensor h = x * 2;
  h.retain_grad();
  EXPECT_TRUE(h.retains_grad());
  (h * h).sum().backward();
  EXPECT_TRUE(allclose(h.grad(), tensor({4.0, 8.0})));
  // A non-leaf without retain_grad has no gradient, and reading it warns once.
  WarningCapture w;
  Tensor k = x * 3;
  (k * 1).sum().backward();
  EXPECT_FALSE(k.grad().defined());
}

TEST(Autograd, LongChainIsFreedWithoutRecursion) {  // SEED G2's accumulated chains
  const int64_t before = autograd::live_nodes();
  {
    Tensor x = ones({1}, requires_grad());
    Tensor total = zeros({1});
    for (int i = 0; i < 200000; ++i) total = total + x;
    EXPECT_GE(autograd::live_nodes() - before, 200000);
  }
  EXPECT_EQ(autograd::live_nodes(), before);
}

// ---- version counters (SEED B6, F1) ----

TEST(Autograd, InPlaceChangeOfSavedTensorRaises) {  // SEED B6, F1: PyTorch's classic case
  Tensor a = ones({3}, requires_grad());
  Tensor y = ones({3}, requires_grad());
  Tensor z = a * 1;  // a non-leaf
  Tensor w = z * y;  // saves z and y
  Tensor q = z + y;  // saves nothing
  z.add_(2);
  EXPECT_EQ(z._version(), 1u);
  const std::string msg = message_of([&] { w.sum().backward(); });
  EXPECT_TRUE(contains(msg, "MulBackward")) << msg;
  EXPECT_TRUE(contains(msg, "[3] float32")) << msg;
  EXPECT_TRUE(contains(msg, "version 1")) << msg;
  EXPECT_TRUE(contains(msg, "expected version 0")) << msg;
  // q = z + y still backpropagates: add keeps no inputs.
  q.sum().backward();
  EXPECT_TRUE(allclose(y.grad(), ones({3})));
  EXPECT_TRUE(allclose(a.grad(), ones({3})));
}

TEST(Autograd, InPlaceThroughDetachedAliasRaises) {  // SEED B6
  Tensor x = tensor({1.0, 2.0}, requires_grad());
  Tensor y = x.exp();  // ExpBackward saves its result
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.data_ptr(), y.data_ptr());
  d.zero_();
  EXPECT_EQ(y._version(), d._version());
  const std::string msg = message_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(msg, "ExpBackward")) << msg;
  EXPECT_TRUE(contains(msg, "in-place")) << msg;
}

TEST(Autograd, InPlaceOnLeafRaisesOnViewRebasesTheBase) {
  Tensor x = ones({2, 2}, requires_grad());
  const std::string leaf = message_of([&] { x.add_(1); });
  EXPECT_TRUE(contains(leaf, "leaf")) << leaf;
  EXPECT_TRUE(contains(leaf, "NoGradGuard")) << leaf;
  const std::string leaf_view = message_of([&] { x[0].add_(1); });
  EXPECT_TRUE(contains(leaf_view, "a view of a leaf")) << leaf_view;
  EXPECT_THROW(normal_(x), AutogradError);
  // A view of a non-leaf: the base's history is rebased (CopySlices, issue #15).
  Tensor h = x * 2;
  h[0].mul_(3);
  // A buffer that does not require grad takes a gradient-carrying value through a view.
  Tensor buf = zeros({2, 2});
  buf[1].copy_(x[1] * 5);
  (h.sum() + buf.sum()).backward();
  EXPECT_TRUE(allclose(x.grad(), tensor({{6.f, 6.f}, {7.f, 7.f}}))) << x.grad();
}

TEST(Autograd, InPlaceOnNonLeafGivesOutOfPlaceGradients) {  // SEED F1
  Tensor x = tensor({-1.0, 2.0, 3.0}, requires_grad());
  Tensor y = tensor({4.0, 5.0, 6.0}, requires_grad());
  Tensor h = x * 1;
  h.mul_(y);
  h.add_(y, 2);
  h.relu_();
  h.sum().backward();
  // d/dx relu(x*y + 2y) = y where positive; d/dy = (x + 2) where positive.
  EXPECT_TRUE(allclose(x.grad(), tensor({4.0, 5.0, 6.0})));
  EXPECT_TRUE(allclose(y.grad(), tensor({1.0, 4.0, 5.0})));
  // relu_ saves its result: changing it afterwards is caught.
  Tensor z = x * 1;
  z.relu_();
  Tensor w = z * 1;
  z.add_(1);
  (void)w;
  EXPECT_THROW(z.sum().backward(), AutogradError);
}

TEST(Autograd, CopyIntoBufferPassesGradientToSource) {  // SEED B4
  Tensor src = tensor({1.0, 2.0}, requires_grad());
  Tensor buf = zeros({2}, kFloat64);
  buf.copy_(src * 3);
  EXPECT_TRUE(buf.requires_grad());
  (buf * buf).sum().backward();
  EXPECT_TRUE(allclose(src.grad(), tensor({18.0, 36.0})));
}

TEST(Autograd, SqrtAtZeroHasInfiniteGradient) {  // SEED G7 (the trap side)
  Tensor x = tensor({0.0, 4.0}, requires_grad());
  x.sqrt().sum().backward();
  const Tensor g = x.grad();
  EXPECT_TRUE(std::isinf(g[0].item<double>()));
  EXPECT_DOUBLE_EQ(g[1].item<double>(), 0.25);
}

// ---- anomaly mode (SEED G8) ----

TEST(Autograd, AnomalyModeNamesTheOpThatMadeNaN) {  // SEED G8
  Tensor x = tensor({0.0, 1.0}, requires_grad());
  Tensor loss;
  {
    autograd::DetectAnomalyGuard anomaly;
    autograd::ScopeGuard scope("encoder.layer1");
    loss = (x.sqrt() * 0).sum();  // sqrt'(0) * 0 = inf * 0 = NaN in backward
  }
  // Without anomaly mode the NaN passes silently, as in PyTorch.
  {
    autograd::DetectAnomalyGuard anomaly;
    const std::string msg = message_of([&] { loss.backward(); });
    EXPECT_TRUE(contains(msg, "SqrtBackward")) << msg;
    EXPECT_TRUE(contains(msg, "nan")) << msg;
    EXPECT_TRUE(contains(msg, "encoder.layer1")) << msg;
    EXPECT_TRUE(contains(msg, "was called at")) << msg;
  }
  EXPECT_FALSE(autograd::is_anomaly_enabled());
}

TEST(Autograd, AnomalyModeReportsWhereAFailingNodeWasCreated) {  // SEED G8
  autograd::DetectAnomalyGuard anomaly;
  Tensor x = tensor({1.0, 2.0}, requires_grad());
  Tensor h = x * 1;
  Tensor y = h.exp();
  {
    NoGradGuard ng;
    y.mul_(2);
  }
  const std::string msg = message_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(msg, "ExpBackward")) << msg;
  EXPECT_TRUE(contains(msg, "was called at")) << msg;
  EXPECT_TRUE(contains(msg, "#0")) << msg;
}

TEST(Autograd, WithoutAnomalyModeFailuresSuggestIt) {
  Tensor x = tensor({1.0, 2.0}, requires_grad());
  Tensor y = x.exp();
  {
    NoGradGuard ng;
    y.mul_(2);
  }
  const std::string msg = message_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(msg, "set_detect_anomaly")) << msg;
}

// ---- gradcheck ----

namespace {
/// A deliberately wrong backward for x*x: returns g*x instead of 2*g*x.
class WrongSquareBackward final : public autograd::Node {
 public:
  explicit WrongSquareBackward(Tensor x) : x_(std::move(x)) {}
  std::string name() const override { return "WrongSquareBackward"; }
  tensor_list apply(tensor_list&& g) override { return {g[0] * x_}; }

 private:
  Tensor x_;
};

Tensor wrong_square(const Tensor& x) {
  Tensor out;
  {
    NoGradGuard ng;
    out = x * x;
  }
  if (autograd::any_requires_grad({&x})) {
    auto n = autograd::make_node(std::make_shared<WrongSquareBackward>(x.detach()), {&x});
    autograd::set_history(out, n);
  }
  return out;
}
}  // namespace

TEST(Autograd, GradcheckCatchesAWrongBackward) {
  Tensor x = tensor({1.0, -2.0, 3.0});
  autograd::GradcheckOptions o;
  o.raise_exception = false;
  auto r = autograd::gradcheck([](const tensor_list& in) { return tensor_list{wrong_square(in[0])}; }, {x}, o);
  EXPECT_FALSE(r.ok);
  // Worst element: index 2 (analytic 3, numeric 6).
  EXPECT_EQ(r.input, 0);
  ASSERT_EQ(r.index.size(), 1u);
  EXPECT_EQ(r.index[0], 2);
  EXPECT_NEAR(r.analytic, 3.0, 1e-9);
  EXPECT_NEAR(r.numeric, 6.0, 1e-4);
  EXPECT_TRUE(contains(r.message, "analytic")) << r.message;
  EXPECT_THROW(autograd::gradcheck([](const tensor_list& in) { return tensor_list{wrong_square(in[0])}; }, {x}),
               AutogradError);
  auto good = autograd::gradcheck([](const tensor_list& in) { return tensor_list{in[0] * in[0]}; }, {x});
  EXPECT_TRUE(good.ok);
}

// ---- checkpointing (SEED F4) ----

namespace {
/// A segment with random numbers inside (dropout-like), so recomputation must replay them.
tensor_list segment(const tensor_list& in, const Tensor& w) {
  Tensor h = mm(in[0], w).tanh();
  Tensor mask = rand(h.sizes(), TensorOptions(h.dtype())).gt(0.3).to(h.dtype());
  h = (h * mask).sigmoid();
  return {(h * h).exp()};
}
}  // namespace

TEST(Autograd, CheckpointGivesSameGradientsWithFewerSavedTensors) {  // SEED F4
  Tensor x0 = randn({16, 32}, kFloat64);
  Tensor w0 = randn({32, 32}, kFloat64).mul(0.2);

  auto run = [&](bool use_checkpoint, int64_t& saved_after_forward) {
    Tensor x = x0.clone().requires_grad_();
    Tensor w = w0.clone().requires_grad_();
    manual_seed(1234);
    auto fn = [&w](const tensor_list& in) { return segment(in, w); };
    const int64_t before = autograd::live_saved_tensors();
    Tensor y = use_checkpoint ? autograd::checkpoint(fn, {x})[0] : fn({x})[0];
    saved_after_forward = autograd::live_saved_tensors() - before;
    // Draw more random numbers after the forward: the recomputation must not see them.
    (void)rand({100});
    y.sum().backward();
    return std::pair<Tensor, Tensor>(x.grad(), w.grad());
  };
  int64_t saved_plain = 0, saved_ckpt = 0;
  auto [gx, gw] = run(false, saved_plain);
  auto [cx, cw] = run(true, saved_ckpt);
  ASSERT_TRUE(cx.defined());
  ASSERT_TRUE(cw.defined());  // a parameter used inside the segment gets its gradient too
  EXPECT_TRUE(allclose(gx, cx, 1e-12, 1e-12));
  EXPECT_TRUE(allclose(gw, cw, 1e-12, 1e-12));
  EXPECT_LT(saved_ckpt, saved_plain);
  EXPECT_EQ(saved_ckpt, 1);  // only the segment's input
}

// ---- graph growth (SEED G2) and leaves that got gradients (A1-trap) ----

TEST(Autograd, GraphGrowthAcrossStepsWarns) {  // SEED G2
  autograd::reset_graph_growth_monitor();
  WarningCapture w;
  Tensor p = ones({4}, requires_grad());
  Tensor total = zeros({});
  for (int step = 0; step < 8; ++step) {
    Tensor loss = (p * p).sum();
    loss.backward();
    total = total + loss;  // the trap: keeps every step's graph
    autograd::on_optimizer_step();
  }
  ASSERT_EQ(w.got.size(), 1u);
  EXPECT_TRUE(contains(w.got[0], "item")) << w.got[0];
  EXPECT_TRUE(contains(w.got[0], "total_loss += loss")) << w.got[0];

  autograd::reset_graph_growth_monitor();
  WarningCapture w2;
  double total_ok = 0;
  for (int step = 0; step < 8; ++step) {
    Tensor loss = (p * p).sum();
    loss.backward();
    total_ok += loss.item<double>();
    autograd::on_optimizer_step();
  }
  EXPECT_TRUE(w2.got.empty());
  EXPECT_GT(total_ok, 0);
}

TEST(Autograd, LastBackwardRecordsLeavesAndTheirOps) {  // SEED A1-trap
  Tensor w = randn({3, 2}, requires_grad());
  Tensor b = randn({2}, requires_grad());
  Tensor unused = randn({5}, requires_grad());
  Tensor x = randn({4, 3});
  (mm(x, w) + b).sum().backward();
  auto leaves = autograd::last_backward_leaves();
  ASSERT_EQ(leaves.size(), 2u);
  bool saw_w = false, saw_b = false;
  for (const auto& l : leaves) {
    if (l.leaf_id == autograd::leaf_id(w)) {
      saw_w = true;
      EXPECT_EQ(l.used_by, "MmBackward");
      EXPECT_EQ(IntArrayRef(l.sizes), w.sizes());
    }
    if (l.leaf_id == autograd::leaf_id(b)) saw_b = true;
    EXPECT_NE(l.leaf_id, autograd::leaf_id(unused));
  }
  EXPECT_TRUE(saw_w && saw_b);
}

// ---- devices ----

TEST(Autograd, BackwardOnTestdev) {
  load_plugins();
  Tensor xh = tensor({1.f, -2.f, 3.f});
  Tensor x = xh.to(Device("testdev")).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().device(), Device("testdev"));
  EXPECT_TRUE(allclose(x.grad().cpu(), tensor({2.f, -4.f, 6.f})));
  // A copy across devices sends the gradient back to the source's device.
  Tensor a = tensor({1.f, 2.f}, requires_grad());
  (a.to(Device("testdev")) * 3).sum().backward();
  EXPECT_TRUE(a.grad().is_cpu());
  EXPECT_TRUE(allclose(a.grad(), tensor({3.f, 3.f})));
}

TEST(Autograd, ReluBackwardOnTestdevMatchesCpu) {
  // relu's backward is one kernel (relu_backward), so it runs on any device that has it.
  load_plugins();
  const Tensor xh = tensor({1.5f, -2.f, 0.f, 3.f, -0.5f});
  const Tensor gh = tensor({1.f, 2.f, 3.f, 4.f, 5.f});
  Tensor x = xh.to(Device("testdev")).requires_grad_();
  x.relu().backward(gh.to(Device("testdev")));
  ASSERT_EQ(x.grad().device(), Device("testdev"));
  EXPECT_TRUE(equal(x.grad().cpu(), tensor({1.f, 0.f, 0.f, 4.f, 0.f})));
  // Second order through relu's backward: d/dg of (relu'(x) * g) is the same mask.
  Tensor xc = xh.detach().requires_grad_(), g = gh.detach().requires_grad_();
  Tensor gx = autograd::grad({xc.relu()}, {xc}, {g}, std::nullopt, /*create_graph=*/true)[0];
  gx.sum().backward();
  EXPECT_TRUE(equal(g.grad(), tensor({1.f, 0.f, 0.f, 1.f, 0.f})));
}

// ---- graph pictures (SEED A2) ----

TEST(Autograd, ToDotRendersWithGraphviz) {  // SEED A2
  Tensor w = randn({3, 2}, requires_grad());
  Tensor b = randn({2}, requires_grad());
  Tensor x = randn({4, 3});
  Tensor y = (mm(x, w) + b).relu().sum();
  const std::string dot = autograd::to_dot(y, {{"fc.weight", w}, {"fc.bias", b}});
  EXPECT_TRUE(contains(dot, "digraph"));
  EXPECT_TRUE(contains(dot, "fc.weight\\n[3, 2]")) << dot;
  EXPECT_TRUE(contains(dot, "fc.bias")) << dot;
  EXPECT_TRUE(contains(dot, "MmBackward")) << dot;
  EXPECT_TRUE(contains(dot, "fillcolor=lightblue")) << dot;  // parameters
  EXPECT_TRUE(contains(dot, "fillcolor=orange")) << dot;     // saved tensors
  EXPECT_TRUE(contains(dot, "fillcolor=lightgrey")) << dot;  // function nodes

  const bool have_dot = std::system("command -v dot >/dev/null 2>&1") == 0;
  const char* ci = std::getenv("CI");
  if (!have_dot) {
    ASSERT_FALSE(ci && std::string(ci) == "true") << "graphviz `dot` is missing under CI=true";
    GTEST_SKIP() << "graphviz `dot` not installed (./quickstart.sh test installs it)";
  }
  const auto dir = std::filesystem::temp_directory_path() / ("hearth_dot_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "g.dot");
    f << dot;
  }
  const std::string cmd = "dot -Tsvg '" + (dir / "g.dot").string() + "' -o '" + (dir / "g.svg").string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_GT(std::filesystem::file_size(dir / "g.svg"), 100u);
  std::filesystem::remove_all(dir);
}
