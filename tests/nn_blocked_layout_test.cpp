// Activations in oneDNN's blocked layouts (issue 4): conv -> relu -> pool -> conv chains keep
// nChw<B>c tensors between ops (B = 16 under AVX-512, 8 under AVX2: the plugin's ISA decides) and give the plain path's values and gradients; fused conv2d_relu
// (values, gradcheck, Sequential's fusion rule); user access, in-place ops, saving and version
// counters on blocked tensors; the cached blocked weights follow in-place updates.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "hearth/autograd.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "hearth/optim.h"
#include "hearth/serialize.h"
#include "test_util.h"

using namespace hearth;
using autograd::tensor_list;
using test::contains;
using test::RunResult;
using test::run_command;
namespace F = hearth::nn::functional;

namespace {

std::string layout_name(const Tensor& t) {
  return t.has_opaque_layout() ? t.impl()->opaque_layout()->name() : std::string("strided");
}

/// The blocked activation layout oneDNN picks at the ISA hearth-cpu reports (HEARTH_CPU_ISA caps
/// it): 16 channels to a register under AVX-512, 8 under AVX2 (issue 14: no test assumes one ISA).
std::string blocked_layout() {
  const std::string isa = plugin_property("cpu.isa");
  return isa.rfind("avx512", 0) == 0 ? "onednn:nChw16c" : "onednn:nChw8c";
}

/// Converts a blocked tensor to strided form (what any user access does) and returns it.
Tensor plain(Tensor t) {
  (void)t.data_ptr();
  return t;
}

Tensor isnan_mask(const Tensor& t) { return t.ne(t); }
Tensor nan_to_zero(const Tensor& t) { return where(t.ne(t), zeros({}, t.options()), t); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return (a.to(kFloat64) - b.to(kFloat64)).abs().max().item<double>();
}

struct Net {
  Tensor w1, b1, w2, b2;
  explicit Net(ScalarType dt, int64_t c1 = 16, int64_t c2 = 32, int64_t cin = 3) {
    manual_seed(7);
    w1 = (randn({c1, cin, 3, 3}) * 0.3).to(dt).requires_grad_();
    b1 = (randn({c1}) * 0.1).to(dt).requires_grad_();
    w2 = (randn({c2, c1, 3, 3}) * 0.1).to(dt).requires_grad_();
    b2 = (randn({c2}) * 0.1).to(dt).requires_grad_();
  }
  /// conv -> relu -> pool -> conv -> relu -> pool; fused: conv2d_relu, else conv2d then relu;
  /// to_plain: convert every intermediate (the plain path through the same kernels).
  Tensor forward(const Tensor& x, bool fused, bool to_plain, std::vector<Tensor>* acts = nullptr) const {
    auto stage = [&](Tensor t) {
      if (acts) acts->push_back(t);
      return to_plain ? plain(t) : t;
    };
    Tensor h = stage(fused ? F::conv2d_relu(x, w1, b1, 1, 1) : F::relu(F::conv2d(x, w1, b1, 1, 1)));
    h = stage(F::max_pool2d(h, 2));
    h = stage(fused ? F::conv2d_relu(h, w2, b2, 1, 1) : F::relu(F::conv2d(h, w2, b2, 1, 1)));
    return stage(F::max_pool2d(h, 2));
  }
};

}  // namespace

// Activations stay blocked between oneDNN ops (issue 4), forward and backward.
TEST(BlockedLayout, ChainKeepsBlockedLayoutsBetweenOps) {
  Net net(kFloat32);
  Tensor x = randn({4, 3, 16, 16});
  std::vector<Tensor> acts;
  Tensor out = net.forward(x, /*fused=*/true, /*to_plain=*/false, &acts);
  ASSERT_EQ(acts.size(), 4u);
  for (const Tensor& a : acts) EXPECT_EQ(layout_name(a), blocked_layout()) << a.sizes();
  // The gradient of the second conv's input comes back blocked too.
  Tensor xr = x.clone().requires_grad_();
  Tensor h1 = F::max_pool2d(F::conv2d_relu(xr, net.w1, net.b1, 1, 1), 2);
  h1.retain_grad();
  Tensor o = F::max_pool2d(F::conv2d_relu(h1, net.w2, net.b2, 1, 1), 2);
  o.sum().backward();
  EXPECT_EQ(layout_name(h1.grad()), blocked_layout());
  EXPECT_EQ(layout_name(xr.grad()), "strided");  // conv1's 3-channel input stays plain in oneDNN
  EXPECT_EQ(layout_name(net.w2.grad()), "strided");
}

TEST(BlockedLayout, ValuesAndGradientsMatchPlainPathAndFloat64) {
  Net net(kFloat32);
  Net net64(kFloat64);
  manual_seed(3);
  Tensor x = randn({4, 3, 16, 16});
  Tensor target = randn({4, 32, 4, 4});
  struct Result {
    Tensor out, gx, gw1, gb1, gw2, gb2;
  };
  auto run = [&](const Net& n, const Tensor& xin, bool fused, bool to_plain) {
    Tensor xr = xin.clone().requires_grad_();
    for (Tensor t : {n.w1, n.b1, n.w2, n.b2}) t.mutable_grad() = Tensor();
    Tensor out = n.forward(xr, fused, to_plain);
    (out - target.to(out.dtype())).pow(2).sum().backward();
    return Result{plain(out.detach()), xr.grad(), n.w1.grad(), n.b1.grad(), n.w2.grad(), n.b2.grad()};
  };
  const Result blocked = run(net, x, true, false);
  const Result plain_path = run(net, x, true, true);
  const Result unfused = run(net, x, false, true);
  const Result ref = run(net64, x.to(kFloat64), false, false);  // reference loops, no oneDNN
  auto check = [&](const Result& r, const char* what, double tol) {
    EXPECT_LE(max_abs_diff(r.out, ref.out), tol) << what << " out";
    EXPECT_LE(max_abs_diff(r.gx, ref.gx), tol * 10) << what << " grad x";
    EXPECT_LE(max_abs_diff(r.gw1, ref.gw1), tol * 50) << what << " grad w1";
    EXPECT_LE(max_abs_diff(r.gb1, ref.gb1), tol * 50) << what << " grad b1";
    EXPECT_LE(max_abs_diff(r.gw2, ref.gw2), tol * 50) << what << " grad w2";
    EXPECT_LE(max_abs_diff(r.gb2, ref.gb2), tol * 50) << what << " grad b2";
  };
  check(blocked, "blocked", 1e-4);
  check(plain_path, "plain", 1e-4);
  check(unfused, "unfused", 1e-4);
  // Same primitives, same order of accumulation: blocked and plain agree (nearly) bit for bit.
  EXPECT_LE(max_abs_diff(blocked.out, plain_path.out), 1e-6);
  EXPECT_LE(max_abs_diff(blocked.gw1, plain_path.gw1), 1e-4);
  EXPECT_LE(max_abs_diff(blocked.gx, unfused.gx), 1e-5);
}

TEST(BlockedLayout, ChannelsThatDoNotFillABlock) {
  // 10 and 20 channels: nChw16c pads them to 16 and 32 (nChw8c to 16 and 24); the padding must
  // never leak.
  Net net(kFloat32, 10, 20, 1);
  Net net64(kFloat64, 10, 20, 1);
  Tensor x = randn({3, 1, 12, 12});
  Tensor a = net.forward(x, true, false), b = net64.forward(x.to(kFloat64), false, false);
  EXPECT_LE(max_abs_diff(a, b), 1e-4);
  Tensor xr = x.clone().requires_grad_();
  net.forward(xr, true, false).sum().backward();
  Tensor xr64 = x.to(kFloat64).requires_grad_();
  net64.forward(xr64, false, false).sum().backward();
  EXPECT_LE(max_abs_diff(xr.grad(), xr64.grad()), 1e-3);
  EXPECT_LE(max_abs_diff(net.w2.grad(), net64.w2.grad()), 1e-3);
}

TEST(BlockedLayout, MaxPoolOnBlockedInputMatchesPlainIncludingNaNAndCeilMode) {
  manual_seed(5);
  Tensor w = randn({16, 2, 3, 3});
  Tensor x = randn({2, 2, 11, 11});
  x.index_put_({0, 1, 3, 4}, std::numeric_limits<float>::quiet_NaN());
  Tensor y = F::conv2d(x, w, {}, 1, 1);  // blocked, with a NaN patch
  ASSERT_EQ(layout_name(y), blocked_layout());
  Tensor y_plain = plain(F::conv2d(x, w, {}, 1, 1));
  for (auto [k, s, p, ceil] : std::vector<std::tuple<int, int, int, bool>>{
           {2, 2, 0, false}, {3, 2, 1, true}, {2, 2, 0, true}, {3, 1, 1, false}}) {
    Tensor yb = F::conv2d(x, w, {}, 1, 1).requires_grad_();
    Tensor yp = y_plain.clone().requires_grad_();
    Tensor a = F::max_pool2d(yb, k, s, p, 1, ceil), b = F::max_pool2d(yp, k, s, p, 1, ceil);
    EXPECT_EQ(layout_name(a), blocked_layout());
    EXPECT_TRUE(equal(isnan_mask(plain(a)), isnan_mask(b)));
    EXPECT_TRUE(equal(nan_to_zero(plain(a)), nan_to_zero(b))) << k << " " << s << " " << p << " " << ceil;
    Tensor g = randn(b.sizes());
    a.backward(g);
    b.backward(g);
    EXPECT_TRUE(equal(plain(yb.grad()), yp.grad()));
    // PyTorch's int64 indices: the plain kernel, after converting.
    auto [v, idx] = F::max_pool2d_with_indices(F::conv2d(x, w, {}, 1, 1), k, s, p, 1, ceil);
    auto [v2, idx2] = F::max_pool2d_with_indices(y_plain, k, s, p, 1, ceil);
    EXPECT_TRUE(equal(idx, idx2));
  }
}

TEST(BlockedLayout, FusedConvReluMatchesUnfusedAndGradchecks) {
  manual_seed(11);
  for (ScalarType dt : {kFloat32, kFloat64}) {
    Tensor x = randn({2, 3, 7, 6}).to(dt), w = randn({5, 3, 3, 3}).to(dt), b = randn({5}).to(dt);
    for (auto [s, p, d] : std::vector<std::tuple<int, int, int>>{{1, 1, 1}, {2, 0, 1}, {1, 2, 2}}) {
      Tensor a = F::conv2d_relu(x, w, b, s, p, d), r = F::relu(F::conv2d(x, w, b, s, p, d));
      EXPECT_LE(max_abs_diff(a, r), dt == kFloat32 ? 1e-6 : 0.0);
    }
  }
  // Unbatched input and NaN (relu keeps NaN, as PyTorch).
  Tensor xn = randn({3, 5, 5});
  xn.index_put_({1, 2, 2}, std::numeric_limits<float>::quiet_NaN());
  Tensor wn = randn({4, 3, 3, 3});
  Tensor a = F::conv2d_relu(xn, wn, {}, 1, 1), r = F::relu(F::conv2d(xn, wn, {}, 1, 1));
  EXPECT_EQ(a.sizes(), r.sizes());
  EXPECT_TRUE(equal(isnan_mask(a), isnan_mask(r)));
  EXPECT_LE(max_abs_diff(nan_to_zero(a), nan_to_zero(r)), 1e-6);

  const autograd::GradcheckOptions opts{1e-6, 1e-5, 1e-3, false};
  Tensor x = randn({2, 2, 5, 5}, kFloat64), w = randn({3, 2, 3, 3}, kFloat64), b = randn({3}, kFloat64);
  auto f = [](const tensor_list& in) { return tensor_list{F::conv2d_relu(in[0], in[1], in[2], 1, 1)}; };
  auto r1 = autograd::gradcheck(f, {x, w, b}, opts);
  EXPECT_TRUE(r1.ok) << r1.message;
  // Second order: gradients of the gradients (through relu_backward and the conv backward ops).
  Tensor gy = randn({2, 3, 5, 5}, kFloat64);
  auto r2 = autograd::gradcheck(
      [](const tensor_list& in) {
        autograd::AutoGradMode on(true);
        tensor_list xs{in[0], in[1], in[2]};
        Tensor y = F::conv2d_relu(xs[0], xs[1], xs[2], 1, 1);
        return autograd::grad({y}, xs, {in[3]}, true, /*create_graph=*/true);
      },
      {x, w, b, gy}, opts);
  EXPECT_TRUE(r2.ok) << r2.message;
}

TEST(BlockedLayout, UserAccessConvertsCorrectly) {
  manual_seed(13);
  Tensor x = randn({2, 4, 6, 6}), w = randn({16, 4, 3, 3});
  const Tensor want = plain(F::conv2d_relu(x, w, {}, 1, 1));
  auto fresh = [&] {
    Tensor y = F::conv2d_relu(x, w, {}, 1, 1);
    EXPECT_EQ(layout_name(y), blocked_layout());
    return y;
  };
  {  // data_ptr reads the plain NCHW order
    Tensor y = fresh();
    const float* p = y.data_ptr<float>();
    const float* q = want.data_ptr<float>();
    bool same = true;
    for (int64_t i = 0; i < want.numel(); ++i) same &= p[i] == q[i];
    EXPECT_TRUE(same);
    EXPECT_EQ(layout_name(y), "strided");
    EXPECT_TRUE(y.is_contiguous());
  }
  EXPECT_EQ(fresh().index({1, 5, 2, 3}).item<float>(), want.index({1, 5, 2, 3}).item<float>());
  EXPECT_TRUE(equal(fresh().index({indexing::Slice(), 3}), want.index({indexing::Slice(), 3})));
  EXPECT_TRUE(equal(fresh().to(Device("testdev")).cpu(), want));
  EXPECT_TRUE(equal(fresh().permute({0, 2, 3, 1}).contiguous(), want.permute({0, 2, 3, 1}).contiguous()));
  EXPECT_NEAR(fresh().sum().item<double>(), want.sum().item<double>(), 1e-3);
  EXPECT_TRUE(equal(fresh().view({2, -1}), want.view({2, -1})));
  {  // saving writes the plain values
    const test::TempDir tmp("hearth_blocked_layout");
    const std::string path = tmp / "y.safetensors";
    save_safetensors(path, {{"y", fresh()}});
    auto loaded = load_safetensors(path);
    ASSERT_EQ(loaded.tensors.size(), 1u);
    EXPECT_TRUE(equal(loaded.tensors[0].second, want));
  }
}

// SEED B6: converting a blocked tensor keeps the version counter its aliases share; in-place
// writes bump it and a changed saved output is caught.
TEST(BlockedLayout, InPlaceOpsAndVersionCounters) {
  manual_seed(17);
  Tensor x = randn({2, 4, 6, 6}), w = randn({16, 4, 3, 3});
  const Tensor want = plain(F::conv2d_relu(x, w, {}, 1, 1));
  {  // in-place arithmetic converts first, then writes and bumps the version
    Tensor y = F::conv2d_relu(x, w, {}, 1, 1);
    const uint32_t v0 = y._version();
    y.mul_(2);
    EXPECT_EQ(y._version(), v0 + 1);
    EXPECT_TRUE(equal(y, want * 2));
    Tensor z = F::conv2d_relu(x, w, {}, 1, 1);
    z.relu_();
    EXPECT_TRUE(equal(z, want));
    Tensor u = F::conv2d_relu(x, w, {}, 1, 1);
    u.zero_();
    EXPECT_EQ(u.abs().sum().item<float>(), 0.0f);
  }
  {  // converting is not a write: the version stays and the saved output still backs backward
    Tensor wr = w.clone().requires_grad_();
    Tensor y = F::conv2d_relu(x, wr, {}, 1, 1);
    const uint32_t v0 = y._version();
    (void)y.data_ptr();  // the node's saved alias shares the storage and is converted with it
    EXPECT_EQ(y._version(), v0);
    y.sum().backward();
    Tensor wr2 = w.clone().requires_grad_();
    F::conv2d_relu(x, wr2, {}, 1, 1).sum().backward();
    EXPECT_TRUE(equal(wr.grad(), wr2.grad()));
  }
  {  // an in-place change of the saved output is caught at backward, as in PyTorch
    Tensor wr = w.clone().requires_grad_();
    Tensor y = F::conv2d_relu(x, wr, {}, 1, 1);
    Tensor s = y.sum();
    {
      NoGradGuard ng;
      y.mul_(3);
    }
    EXPECT_THROW(s.backward(), Error);
  }
}

TEST(BlockedLayout, CachedBlockedWeightsFollowUpdates) {
  manual_seed(19);
  Tensor x = randn({2, 8, 6, 6});
  Tensor w = randn({16, 8, 3, 3}).requires_grad_();  // a leaf: its blocked copy is cached
  Tensor b = zeros({16}).requires_grad_();
  auto ref = [&] { return plain(F::conv2d(x, w.detach().clone(), b.detach().clone(), 1, 1)); };
  EXPECT_TRUE(equal(plain(F::conv2d(x, w, b, 1, 1)), ref()));
  EXPECT_TRUE(equal(plain(F::conv2d(x, w, b, 1, 1)), ref()));  // a cache hit
  {
    NoGradGuard ng;
    w.add_(1.0);  // in-place: new version, the cached copy is stale
  }
  EXPECT_TRUE(equal(plain(F::conv2d(x, w, b, 1, 1)), ref()));
  // An optimizer step changes the weight too (fused updates write through data_ptr).
  optim::SGD opt({w, b}, optim::SGDOptions().lr(0.1).momentum(0.9));
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    F::conv2d_relu(x, w, b, 1, 1).pow(2).sum().backward();
    opt.step();
    EXPECT_TRUE(equal(plain(F::conv2d(x, w, b, 1, 1)), ref())) << "after step " << i;
  }
  // Loading a state dict (copy_) too.
  nn::Conv2dImpl conv(8, 16, 3, 1, 1);
  Tensor before = plain(conv(x));
  conv.load_state_dict({{"weight", w.detach().clone()}, {"bias", b.detach().clone()}});
  EXPECT_TRUE(equal(plain(conv(x)), ref()));
  EXPECT_FALSE(equal(before, ref()));
}

TEST(BlockedLayout, SequentialFusesConvReluOnlyWithoutHooks) {
  manual_seed(23);
  auto seq = std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2dImpl>(1, 16, 3, 1, 1), std::make_shared<nn::ReLUImpl>(), std::make_shared<nn::MaxPool2dImpl>(2),
      std::make_shared<nn::Conv2dImpl>(16, 16, 3, 1, 1), std::make_shared<nn::ReLUImpl>(true), std::make_shared<nn::FlattenImpl>()});
  auto c0 = seq->at<nn::Conv2d>(0), c3 = seq->at<nn::Conv2d>(3);
  Tensor x = randn({3, 1, 10, 10});
  auto manual = [&] {
    Tensor h = F::relu(F::conv2d(x, c0->weight, c0->bias, 1, 1));
    h = F::max_pool2d(h, 2);
    return F::relu(F::conv2d(h, c3->weight, c3->bias, 1, 1)).flatten(1);
  };
  Tensor fused = (*seq)(x);
  EXPECT_LE(max_abs_diff(fused, manual()), 1e-6);
  // The fused node is the last conv's; the state dict is the layers' own.
  std::vector<std::string> keys;
  for (auto& [k, v] : seq->state_dict()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias"}));
  Tensor out = (*seq)(x);
  ASSERT_TRUE(out.grad_fn());
  ASSERT_TRUE(out.grad_fn()->next_edge(0).is_valid());
  EXPECT_EQ(out.grad_fn()->next_edge(0).function->name(), "Conv2dReluBackward");
  // Gradients as the unfused layers'.
  (*seq)(x).pow(2).sum().backward();
  Tensor g0 = c0->weight.grad().clone(), g3 = c3->weight.grad().clone();
  seq->zero_grad();
  manual().pow(2).sum().backward();
  EXPECT_LE(max_abs_diff(g0, c0->weight.grad()), 1e-4);
  EXPECT_LE(max_abs_diff(g3, c3->weight.grad()), 1e-4);
  // A hook on the ReLU must see the ReLU's own input and output: no fusion then.
  Tensor seen_in, seen_out;
  const unsigned id = (*seq)[1]->register_forward_hook([&](nn::Module&, const Tensor& in, const Tensor& o) {
    seen_in = in;
    seen_out = o;
  });
  Tensor hooked = (*seq)(x);
  ASSERT_TRUE(seen_in.defined());
  EXPECT_LE(max_abs_diff(seen_in, F::conv2d(x, c0->weight, c0->bias, 1, 1)), 1e-6);
  EXPECT_LE(max_abs_diff(seen_out, F::relu(seen_in)), 0.0);
  EXPECT_LE(max_abs_diff(hooked, fused), 1e-6);
  (*seq)[1]->remove_forward_hook(id);
}

TEST(BlockedLayout, ConcurrentFirstReadsOfOneBlockedTensor) {
  // Reading a tensor from several threads is safe in PyTorch; a blocked one converts on the
  // first plain read, which must be safe too, also beside a layout-aware kernel reading it.
  manual_seed(29);
  Tensor x = randn({4, 8, 12, 12}), w = randn({32, 8, 3, 3});
  const Tensor want = plain(F::conv2d_relu(x, w, {}, 1, 1));
  const Tensor want_pool = plain(F::max_pool2d(want, 2));
  for (int round = 0; round < 20; ++round) {
    Tensor y = F::conv2d_relu(x, w, {}, 1, 1);
    ASSERT_EQ(layout_name(y), blocked_layout());
    std::vector<int> bad(4, 0);
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&, t] {
        if (t % 2 == 0) bad[static_cast<size_t>(t)] = !equal(y, want);
        else bad[static_cast<size_t>(t)] = !equal(plain(F::max_pool2d(y, 2)), want_pool);
      });
    for (auto& th : ts) th.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[static_cast<size_t>(t)], 0) << "round " << round << " thread " << t;
  }
}

/// lenet's conv2 geometry (32 -> 64 channels, 3x3, stride 1, padding 1), where the CPU plugin
/// picks oneDNN's Winograd kernel when the CPU has one: float32 forward and both gradients
/// against float64 (the exact reference loop), relative to each result's scale.
TEST(ConvAlgo, ThreeByThreeConvolutionMatchesFloat64) {
  manual_seed(31);
  const Tensor x64 = randn({4, 32, 14, 14}).to(kFloat64), w64 = (randn({64, 32, 3, 3}) * 0.1).to(kFloat64),
               b64 = (randn({64}) * 0.1).to(kFloat64), g64 = randn({4, 64, 14, 14}).to(kFloat64);
  auto run = [&](ScalarType dt, bool relu) {
    Tensor x = x64.to(dt).detach().requires_grad_(), w = w64.to(dt).detach().requires_grad_(),
           b = b64.to(dt).detach().requires_grad_();
    Tensor y = relu ? F::conv2d_relu(x, w, b, 1, 1) : F::conv2d(x, w, b, 1, 1);
    y.backward(g64.to(dt));
    return std::vector<Tensor>{plain(y), x.grad(), w.grad(), b.grad()};
  };
  for (bool relu : {false, true}) {
    const auto want = run(kFloat64, relu), got = run(kFloat32, relu);
    const char* names[] = {"output", "grad input", "grad weight", "grad bias"};
    for (size_t i = 0; i < want.size(); ++i) {
      const double scale = want[i].abs().max().item<double>();
      ASSERT_GT(scale, 0.0) << names[i];
      // Here the direct kernels land within 4e-7 to 1.2e-6 of the scale, Winograd within 4e-7 to 1.6e-6.
      EXPECT_LE(max_abs_diff(got[i], want[i]) / scale, 1e-5) << names[i] << (relu ? " (fused relu)" : "");
    }
  }
}

/// Which kernel oneDNN ran, from its verbose log: this test binary reruns the test above in a
/// child with ONEDNN_VERBOSE=1. Winograd where hearth-cpu's ISA is AVX-512 (oneDNN's jit_wino_4x3
/// needs it; HEARTH_CPU_ISA may cap it away), never with HEARTH_CPU_CONV_ALGO=direct.
TEST(ConvAlgo, WinogradWhereTheCpuHasItAndDirectOnRequest) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string child =
      "'" + self + "' --gtest_filter=ConvAlgo.ThreeByThreeConvolutionMatchesFloat64 --gtest_brief=1";
  const RunResult dflt = run_command("ONEDNN_VERBOSE=1 " + child);
  ASSERT_EQ(dflt.code, 0) << dflt.out << dflt.err;
  ASSERT_TRUE(contains(dflt.out, "onednn_verbose,exec,cpu,convolution")) << dflt.out;
  const bool avx512 = plugin_property("cpu.isa").rfind("avx512", 0) == 0;
  EXPECT_EQ(contains(dflt.out, "jit_wino_4x3"), avx512) << plugin_property("cpu.isa") << "\n" << dflt.out;
  const RunResult direct = run_command("ONEDNN_VERBOSE=1 HEARTH_CPU_CONV_ALGO=direct " + child);
  ASSERT_EQ(direct.code, 0) << direct.out << direct.err;
  ASSERT_TRUE(contains(direct.out, "onednn_verbose,exec,cpu,convolution")) << direct.out;
  EXPECT_FALSE(contains(direct.out, "wino")) << direct.out;
}
