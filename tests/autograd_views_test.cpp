// In-place ops on views under autograd (issue #15): the base's history is rebased with CopySlices
// and checked by finite differences (float64 gradcheck) and hand-derived values; the cases
// PyTorch refuses (views of leaves, views made under NoGradGuard, unbind/split/chunk outputs);
// version counters; nn::ReLU(true) after Linear and BatchNorm2d; fresh op results are not views.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "hearth/autograd.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "test_util.h"

using namespace hearth;
using autograd::tensor_list;
using test::contains;
using test::message_of;

namespace {

using Fn = std::function<tensor_list(const tensor_list&)>;

::testing::AssertionResult grad_ok(const Fn& f, const tensor_list& in) {
  autograd::GradcheckOptions o;
  o.raise_exception = false;
  const autograd::GradcheckResult r = autograd::gradcheck(f, in, o);
  if (r.ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.message;
}

Tensor r64(IntArrayRef s) { return randn(s, kFloat64); }

bool close(const Tensor& a, const Tensor& b) { return allclose(a, b, 1e-10, 1e-12); }

}  // namespace

// ---- the gradient (SEED F1) ----

TEST(AutogradViews, NarrowMulOfANonLeafByHand) {
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0}, requires_grad());
  Tensor y = x * 2;
  y.narrow(0, 1, 2).mul_(3);
  EXPECT_TRUE(close(y, tensor({2.0, 12.0, 18.0, 8.0})));
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->name(), "CopySlices");
  y.sum().backward();
  // d(sum)/dx: 2 outside the narrowed part, 2*3 inside.
  EXPECT_TRUE(close(x.grad(), tensor({2.0, 6.0, 6.0, 2.0}))) << x.grad();
}

TEST(AutogradViews, ViewTakesTheInPlaceOpsHistoryThroughItsBase) {
  Tensor x = tensor({-1.0, 2.0, -3.0, 4.0}, requires_grad());
  Tensor y = x * 1;
  Tensor v = y.narrow(0, 0, 3);
  v.relu_();
  EXPECT_TRUE(close(y, tensor({0.0, 2.0, 0.0, 4.0})));
  // The view's grad_fn is replayed from the base's new history, not the in-place node.
  ASSERT_TRUE(v.grad_fn());
  EXPECT_EQ(v.grad_fn()->name(), "SliceBackward");
  ASSERT_EQ(v.grad_fn()->next_edges().size(), 1u);
  EXPECT_EQ(v.grad_fn()->next_edge(0).function->name(), "CopySlices");
  (v * tensor({10.0, 20.0, 30.0})).sum().backward();
  EXPECT_TRUE(close(x.grad(), tensor({0.0, 20.0, 0.0, 0.0}))) << x.grad();
}

TEST(AutogradViews, GradcheckOfInPlaceOpsOnViewsOfNonLeaves) {
  manual_seed(1);
  // in[0]: the base's input [4, 3]; in[1]: an operand [4]; in[2]: [3, 4]; in[3]: positive [6].
  const tensor_list in = {r64({4, 3}), r64({4}), r64({3, 4}), rand({6}, kFloat64).add(1.0)};
  const std::vector<std::pair<const char*, Fn>> cases = {
      {"narrow mul_ scalar", [](const tensor_list& a) {
         Tensor y = a[0] * 1.5;
         y.narrow(0, 1, 2).mul_(3);
         return tensor_list{y * y};
       }},
      {"select add_ tensor alpha", [](const tensor_list& a) {
         Tensor y = a[0] * a[0];
         y.select(1, 2).add_(a[1], 2.0);
         return tensor_list{y * 1.0};
       }},
      {"transpose mul_ tensor", [](const tensor_list& a) {
         Tensor y = a[0] * 2.0;
         y.t().mul_(a[2]);
         return tensor_list{y.exp()};
       }},
      {"view select div_", [](const tensor_list& a) {
         Tensor y = a[0] + 0.5;
         y.view({2, 6}).select(0, 1).div_(a[3]);
         return tensor_list{y * y};
       }},
      {"diagonal relu_", [](const tensor_list& a) {
         Tensor y = a[0] * 1.0;
         y.diagonal().relu_();
         return tensor_list{y * y};
       }},
      {"strided slice clamp_", [](const tensor_list& a) {
         Tensor y = a[0] * 1.0;
         y.slice(0, 0, 4, 2).clamp_(-0.5, 0.5);
         return tensor_list{y * 3.0};
       }},
      {"select copy_", [](const tensor_list& a) {
         Tensor y = a[0] * a[0];
         y.select(0, 3).copy_(a[1].narrow(0, 0, 3));
         return tensor_list{y * y};
       }},
      {"narrow zero_", [](const tensor_list& a) {
         Tensor y = a[0] * a[0];  // (exp would save its result, which zero_ then changes)
         y.narrow(1, 0, 1).zero_();
         return tensor_list{y * 1.0};
       }},
      {"as_strided mul_", [](const tensor_list& a) {
         Tensor y = a[0] * 1.0;
         y.as_strided({2, 2}, {3, 1}, 1).mul_(a[2].narrow(0, 0, 2).narrow(1, 0, 2));
         return tensor_list{y * y};
       }},
      {"view of a view of a view", [](const tensor_list& a) {
         Tensor y = a[0] * 1.0;
         y.unsqueeze(0).slice(2, 1, 3).select(1, 2).mul_(a[1].narrow(0, 1, 2));
         return tensor_list{y * y};
       }},
      {"index_put_ and scatter_add_ on views", [](const tensor_list& a) {
         Tensor y = a[0] * 1.0;
         y.narrow(0, 1, 3).index_put_({tensor({0, 2})}, a[1].narrow(0, 0, 3));
         y.t().scatter_add_(1, tensor({{0, 3}, {1, 1}, {2, 0}}), a[2].narrow(1, 0, 2));
         return tensor_list{y * y};
       }},
      {"other views see the write", [](const tensor_list& a) {
         // a and b overlap in row 1; b's write changes a's values, so a's history must follow.
         Tensor y = a[0] * 1.0;
         Tensor r0 = y.narrow(0, 0, 2), r1 = y.narrow(0, 1, 2);
         r0.mul_(2.0);
         r1.add_(a[1].narrow(0, 0, 3));
         return tensor_list{r0 * r0, r1.exp(), y};
       }},
      {"in place on the base while a view lives", [](const tensor_list& a) {
         Tensor y = a[0] * 1.0;
         Tensor v = y.select(0, 1);
         y.mul_(a[0]);
         return tensor_list{v * 1.0};
       }},
      {"buffer without grad filled through views", [](const tensor_list& a) {
         Tensor buf = zeros({4, 3}, kFloat64);
         buf.select(0, 1).copy_(a[0].select(0, 1));
         buf.narrow(0, 2, 2).add_(a[0].narrow(0, 0, 2) * a[1].narrow(0, 0, 2).unsqueeze(1));
         return tensor_list{buf * buf};
       }},
  };
  for (const auto& [name, f] : cases) EXPECT_TRUE(grad_ok(f, in)) << name;
}

TEST(AutogradViews, BufferThatNeedsNoGradTakesHistoryFromTheWrittenValue) {  // SEED B4
  Tensor src = tensor({1.0, 2.0}, requires_grad());
  Tensor buf = zeros({3, 2}, kFloat64);
  EXPECT_FALSE(buf.requires_grad());
  buf[1].copy_(src * 3);
  EXPECT_TRUE(buf.requires_grad());
  EXPECT_FALSE(buf.is_leaf());
  EXPECT_EQ(buf.grad_fn()->name(), "CopySlices");
  (buf * buf).sum().backward();
  EXPECT_TRUE(close(src.grad(), tensor({18.0, 36.0}))) << src.grad();  // d(9 s^2)/ds
}

TEST(AutogradViews, SecondDerivativeThroughCopySlices) {
  Tensor x = tensor({1.0, 2.0, 3.0}, requires_grad());
  Tensor y = x * x;
  y.narrow(0, 1, 2).mul_(x.narrow(0, 0, 2));
  // y = [x0^2, x1^2 x0, x2^2 x1]
  Tensor g = autograd::grad({y.sum()}, {x}, {}, true, true)[0];
  EXPECT_TRUE(close(g, tensor({2.0 + 4.0, 2 * 2.0 * 1.0 + 9.0, 2 * 3.0 * 2.0}))) << g;
  g.sum().backward();
  // d/dx of g0 + g1 + g2 = (2x0 + x1^2) + (2x1x0 + x2^2) + 2x2x1
  EXPECT_TRUE(close(x.grad(), tensor({2.0 + 2 * 2.0, 2 * 2.0 + 2 * 1.0 + 2 * 3.0, 2 * 3.0 + 2 * 2.0}))) << x.grad();
}

TEST(AutogradViews, GraphPictureShowsCopySlices) {  // SEED A2
  Tensor x = ones({2, 3}, requires_grad());
  Tensor y = x * 2;
  y[0].relu_();
  const std::string dot = autograd::to_dot(y.sum());
  EXPECT_TRUE(contains(dot, "CopySlices")) << dot;
  EXPECT_TRUE(contains(dot, "orange")) << dot;  // the wrapped relu_ node's saved result
}

// ---- what stays refused ----

TEST(AutogradViews, ViewOfALeafThatRequiresGradRaises) {
  Tensor w = ones({3, 2}, requires_grad());
  for (const auto& [name, op] : std::vector<std::pair<const char*, std::function<void()>>>{
           {"mul_", [&] { w.narrow(0, 0, 2).mul_(2); }},
           {"relu_", [&] { w[1].relu_(); }},
           {"copy_", [&] { w.t().copy_(zeros({2, 3})); }},
           {"fill_", [&] { w.select(1, 0).fill_(1); }}}) {
    const std::string msg = message_of(op);
    EXPECT_TRUE(contains(msg, "a view of a leaf tensor that requires grad")) << msg;
    EXPECT_TRUE(contains(msg, name)) << msg;
    EXPECT_TRUE(contains(msg, "NoGradGuard")) << msg;
  }
  // Optimizers update parameters through views under NoGradGuard.
  {
    NoGradGuard ng;
    w.narrow(0, 0, 2).mul_(2);
  }
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(close(w.to(kFloat64), tensor({{2.0, 2.0}, {2.0, 2.0}, {1.0, 1.0}})));
}

TEST(AutogradViews, ViewMadeUnderNoGradThenChangedWithGradRaises) {
  Tensor x = ones({4}, requires_grad());
  Tensor y = x * 2;
  Tensor w = ones({2}, requires_grad());
  Tensor buf = zeros({4});
  Tensor v, b;
  {
    NoGradGuard ng;
    v = y.narrow(0, 0, 2);
    b = buf.narrow(0, 1, 2);
  }
  EXPECT_FALSE(v.requires_grad());
  for (const auto& op : std::vector<std::function<void()>>{[&] { v.mul_(w); }, [&] { b.copy_(w); },
                                                          [&] { b.unsqueeze(0).add_(w); }}) {
    const std::string msg = message_of(op);
    EXPECT_TRUE(contains(msg, "created in no_grad mode")) << msg;
  }
  // Both inside the guard, or both outside, is fine.
  {
    NoGradGuard ng;
    v.mul_(w);
  }
  y.narrow(0, 0, 2).mul_(w);
  y.sum().backward();
  EXPECT_TRUE(close(w.grad().to(kFloat64), tensor({2.0, 2.0}))) << w.grad();  // y's old values
}

TEST(AutogradViews, OutputsOfUnbindSplitChunkRaise) {
  Tensor x = ones({4, 2}, requires_grad());
  Tensor y = x * 2;
  for (const auto& [name, op] : std::vector<std::pair<const char*, std::function<void()>>>{
           {"unbind", [&] { y.unbind(0)[1].mul_(2); }},
           {"split", [&] { y.split(2)[0].add_(1); }},
           {"split_with_sizes", [&] { y.split_with_sizes({1, 3})[1].relu_(); }},
           {"chunk", [&] { y.chunk(2, 1)[1].zero_(); }},
           {"split", [&] { y.split(2)[1][0].mul_(3); }}}) {  // a view of one keeps the restriction
    const std::string msg = message_of(op);
    EXPECT_TRUE(contains(msg, std::string("output of ") + name + " ")) << msg;
    EXPECT_TRUE(contains(msg, "out-of-place")) << msg;
  }
  EXPECT_TRUE(close(y.to(kFloat64), full({4, 2}, 2.0, kFloat64)));  // nothing was written
  // Reading them is fine, and so is writing them when autograd is not involved.
  (y.unbind(0)[1] * 3).sum().backward();
  EXPECT_TRUE(close(x.grad().to(kFloat64), tensor({{0.0, 0.0}, {6.0, 6.0}, {0.0, 0.0}, {0.0, 0.0}})));
  Tensor plain = zeros({4});
  plain.split(2)[1].fill_(1);
  EXPECT_TRUE(close(plain.to(kFloat64), tensor({0.0, 0.0, 1.0, 1.0})));
}

TEST(AutogradViews, SavedTensorChangedThroughAViewIsCaught) {  // SEED B6
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0}, requires_grad());
  Tensor y = x * 2;
  Tensor z = y * y;  // saves y
  y.narrow(0, 1, 2).mul_(3);
  const std::string msg = message_of([&] { z.sum().backward(); });
  EXPECT_TRUE(contains(msg, "modified by an in-place operation")) << msg;
  EXPECT_TRUE(contains(msg, "MulBackward")) << msg;
  // The view's in-place node saved the result (relu_): changing it again is caught too.
  Tensor a = x * 1;
  Tensor r = a[2];
  r.relu_();
  Tensor s = a * 1;
  a.add_(1);
  EXPECT_THROW(s.sum().backward(), AutogradError);
  EXPECT_THROW(a.sum().backward(), AutogradError);
}

TEST(AutogradViews, DetachIsNotAViewOfTheGraph) {  // SEED B6
  Tensor x = ones({3}, requires_grad());
  Tensor y = x * 2;
  Tensor w = tensor({1.f, 2.f, 3.f}, requires_grad());
  Tensor d = y.detach();
  d.mul_(w);  // history on d alone, as PyTorch's detach() (a non-differentiable view)
  EXPECT_TRUE(d.requires_grad());
  EXPECT_EQ(y.grad_fn()->name(), "MulBackward");
  d.sum().backward();
  EXPECT_TRUE(close(w.grad().to(kFloat64), full({3}, 2.0, kFloat64)));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_EQ(y._version(), d._version());  // shared memory and counter all the same
}

// ---- nn::ReLU(true) (issue #15) ----

namespace {
/// Parameter gradients (and the input's) of sum(relu(layer(x)) * weights), with the ReLU in
/// place or not.
std::vector<Tensor> relu_grads(nn::Module& layer, const Tensor& x0, bool inplace) {
  layer.zero_grad();
  Tensor x = x0.detach().requires_grad_();
  Tensor h = layer.forward(x);
  EXPECT_FALSE(h.impl()->is_view()) << "the layer's output is a view";
  Tensor y = nn::ReLU(inplace)->forward(h);
  if (inplace) {
    EXPECT_TRUE(y.is_same(h));
  }
  Tensor wts = arange(y.numel(), kFloat32).view(y.sizes()).mul(0.01f).add(0.5f);
  (y * wts).sum().backward();
  std::vector<Tensor> g{x.grad().clone()};
  for (auto& p : layer.parameters()) g.push_back(p.grad().clone());
  return g;
}
void expect_same_grads(nn::Module& layer, const Tensor& x) {
  const auto want = relu_grads(layer, x, false);
  const auto got = relu_grads(layer, x, true);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(allclose(got[i], want[i], 1e-5, 1e-6)) << i;
}
}  // namespace

TEST(AutogradViews, InPlaceReluAfterLinearAndBatchNorm) {
  manual_seed(5);
  nn::Linear lin(5, 4);
  expect_same_grads(*lin, randn({3, 5}));
  expect_same_grads(*lin, randn({2, 3, 5}));  // matmul's result, reshaped
  nn::Linear nobias(nn::LinearOptions(5, 4).bias(false));
  expect_same_grads(*nobias, randn({3, 5}));
  nn::BatchNorm2d bn(3);
  bn->train();
  expect_same_grads(*bn, randn({2, 3, 4, 4}));
  bn->eval();
  expect_same_grads(*bn, randn({2, 3, 4, 4}));
  nn::LayerNorm ln(std::vector<int64_t>{4});
  expect_same_grads(*ln, randn({2, 3, 4}));
}

TEST(AutogradViews, FreshResultsAreNotViews) {
  manual_seed(6);
  Tensor a = randn({3, 4}), b = randn({4, 2}), c = randn({2, 3, 4}), v = randn({4});
  for (bool grad : {false, true}) {
    SCOPED_TRACE(grad ? "requires grad" : "no grad");
    Tensor ag = grad ? a.detach().requires_grad_() : a;
    const std::vector<std::pair<const char*, Tensor>> outs = {
        {"mm", mm(ag, b)},
        {"addmm", addmm(zeros({2}), ag, b)},
        {"matmul 3d", matmul(c, b)},
        {"matmul vector", matmul(ag, v)},
        {"sum dim", ag.sum({1})},
        {"mean dim", ag.mean({0})},
        {"max dim", std::get<0>(ag.max(1))},
        {"argmax", ag.argmax()},
        {"index", ag.index({tensor({0, 2})})},
        {"index_select 0-dim", scalar_tensor(1.5).index_select(0, tensor({0}))},
        {"batch_norm", nn::functional::batch_norm(ag.view({3, 4, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true)},
        {"layer_norm", nn::functional::layer_norm(ag, {4})},
        {"linear", nn::functional::linear(ag, b.t())},
        {"nll_loss none", nn::functional::nll_loss(nn::functional::log_softmax(ag, 1), tensor({0, 1, 3}), Tensor(), -100, "none")},
    };
    for (const auto& [name, t] : outs) EXPECT_FALSE(t.impl()->is_view()) << name;
    // Views stay views.
    EXPECT_TRUE(ag.t().impl()->is_view());
    EXPECT_TRUE(ag.flatten().impl()->is_view());
  }
}
