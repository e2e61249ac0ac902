// Modules (SEED A1, A1-trap, B8, B10, E2, E3, E4): registration and naming, containers, devices,
// modes, state dicts through safetensors, PyTorch-style printing, Linear and dropout.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "hearth/hearth.h"
#include "test_util.h"
#include "hearth/nn.h"
#include "hearth/nn/summary.h"

using namespace hearth;
namespace F = hearth::nn::functional;

namespace {

using test::contains;
using test::message_of;

std::shared_ptr<nn::SequentialImpl> mlp() {
  return std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::LinearImpl>(4, 8), std::make_shared<nn::ReLUImpl>(), std::make_shared<nn::LinearImpl>(8, 3)});
}

/// A module with a buffer, a child and a plain (unregistered) member tensor.
struct Net : nn::Module {
  Net() {
    fc = register_module("fc", std::make_shared<nn::LinearImpl>(3, 2));
    running = register_buffer("running", zeros({2}));
    scratch = register_buffer("scratch", ones({2}), /*persistent=*/false);
    stray = randn({2}, requires_grad());  // not registered: not trained, not saved, not moved
  }
  std::string type_name() const override { return "Net"; }
  Tensor forward(const Tensor& x) override { return (*fc)(x) + running; }
  std::shared_ptr<nn::LinearImpl> fc;
  Tensor running, scratch, stray;
};

}  // namespace

TEST(Module, SequentialNamesAndForward) {  // SEED A1
  auto m = mlp();
  auto names = m->named_parameters();
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0].first, "0.weight");
  EXPECT_EQ(names[1].first, "0.bias");
  EXPECT_EQ(names[2].first, "2.weight");
  EXPECT_EQ(names[3].first, "2.bias");
  for (auto& [n, p] : names) EXPECT_TRUE(p.requires_grad()) << n;
  Tensor x = randn({5, 4});
  auto l0 = m->at<nn::Linear>(0), l2 = m->at<nn::Linear>(2);
  Tensor want = mm(mm(x, l0->weight.t()).add(l0->bias).relu(), l2->weight.t()).add(l2->bias);
  EXPECT_TRUE(allclose((*m)(x), want, 1e-5, 1e-6));
  EXPECT_THROW(m->at<nn::ReLU>(0), ValueError);
  EXPECT_THROW((*m)[3], IndexError);
  EXPECT_EQ(m->named_modules().size(), 4u);
}

TEST(Module, NestedModuleListAndDict) {  // SEED A1
  auto outer = std::make_shared<nn::ModuleListImpl>();
  for (int i = 0; i < 2; ++i) {
    auto inner = std::make_shared<nn::ModuleListImpl>();
    for (int j = 0; j < 3; ++j) inner->push_back(std::make_shared<nn::LinearImpl>(2, 2));
    outer->push_back(inner);
  }
  auto cell = outer->at<nn::ModuleList>(1)->at<nn::Linear>(2);  // outs[1][2]
  EXPECT_EQ(cell->in_features, 2);
  auto sd = outer->state_dict();
  ASSERT_EQ(sd.size(), 12u);
  EXPECT_EQ(sd[10].first, "1.2.weight");
  EXPECT_EQ(outer->parameters().size(), 12u);
  const std::string msg = message_of([&] { (*outer)(ones({2})); });
  EXPECT_TRUE(contains(msg, "ModuleList has no forward")) << msg;

  nn::ModuleDictImpl d({{"enc", std::make_shared<nn::LinearImpl>(2, 3)}, {"dec", std::make_shared<nn::LinearImpl>(3, 2)}});
  EXPECT_TRUE(d.contains("enc"));
  EXPECT_EQ(d.keys(), (std::vector<std::string>{"enc", "dec"}));
  EXPECT_EQ(d.named_parameters()[2].first, "dec.weight");
  EXPECT_THROW(d.forward(ones({2})), NotImplementedError);
  const std::string missing = message_of([&] { d["nope"]; });
  EXPECT_TRUE(contains(missing, "enc, dec")) << missing;
}

TEST(Module, RegistrationRules) {
  Net n;
  EXPECT_THROW(n.register_parameter("fc", ones({1})), ValueError);  // taken by a submodule
  EXPECT_THROW(n.register_buffer("a.b", ones({1})), ValueError);
  EXPECT_THROW(n.register_parameter("", ones({1})), ValueError);
  EXPECT_THROW(n.register_module("null", std::shared_ptr<nn::LinearImpl>()), ValueError);
  // Integer parameters are registered without requires_grad.
  Tensor& steps = n.register_parameter("steps", zeros({1}, kInt64));
  EXPECT_FALSE(steps.requires_grad());
}

TEST(Module, BuffersVsParametersVsPlainMembers) {  // SEED B10, A1-trap
  Net n;
  auto params = n.named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "fc.weight");
  auto bufs = n.named_buffers();
  ASSERT_EQ(bufs.size(), 2u);
  auto sd = n.state_dict();
  std::vector<std::string> keys;
  for (auto& [k, v] : sd) keys.push_back(k);
  // PyTorch's order: own parameters, own (persistent) buffers, then children.
  EXPECT_EQ(keys, (std::vector<std::string>{"running", "fc.weight", "fc.bias"}));
  for (auto& [k, v] : params) EXPECT_FALSE(v.is_same(n.stray));
}

TEST(Module, ToDeviceMovesRegisteredTensorsInPlace) {  // SEED B8
  load_plugins();
  Net n;
  Tensor w_before = n.fc->weight.clone();
  n.fc->weight.mutable_grad() = ones({2, 3});
  n.to(Device("testdev"));
  // Member handles see the move: the module changed the same tensors.
  EXPECT_EQ(n.fc->weight.device(), Device("testdev"));
  EXPECT_EQ(n.running.device(), Device("testdev"));
  EXPECT_EQ(n.scratch.device(), Device("testdev"));
  EXPECT_TRUE(n.fc->weight.requires_grad());
  EXPECT_EQ(n.fc->weight.grad().device(), Device("testdev"));
  EXPECT_TRUE(equal(n.fc->weight.cpu(), w_before));
  // The plain member stayed behind; using it raises a DeviceError with the hint (A1-trap b).
  EXPECT_TRUE(n.stray.is_cpu());
  const std::string msg = message_of([&] { (void)(n.running + n.stray); });
  EXPECT_TRUE(contains(msg, "register_parameter")) << msg;
  n.to(Device("cpu"));
  n.to(kFloat64);
  EXPECT_EQ(n.fc->weight.dtype(), kFloat64);
  EXPECT_EQ(n.fc->weight.grad().dtype(), kFloat64);
  Tensor y = n(ones({1, 3}, kFloat64));
  EXPECT_EQ(y.dtype(), kFloat64);
}

TEST(Module, TrainEvalAndDropout) {  // SEED E2, E3
  auto m = std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::DropoutImpl>(0.5)});
  Tensor x = ones({1000});
  EXPECT_TRUE(m->is_training());
  manual_seed(7);
  Tensor y = (*m)(x);
  const double zeros_frac = y.eq(0).to(kFloat64).mean().item<double>();
  EXPECT_NEAR(zeros_frac, 0.5, 0.06);
  EXPECT_TRUE(allclose(y.masked_select(y.ne(0)), full({1}, 2.0f).expand({y.ne(0).sum().item<int64_t>()})));
  m->eval();
  EXPECT_FALSE(m->at<nn::Dropout>(0)->is_training());
  EXPECT_TRUE(equal((*m)(x), x));
  EXPECT_TRUE(equal(F::dropout(x, 0.5, /*training=*/false), x));
  EXPECT_THROW(nn::Dropout(1.5), ValueError);
  Tensor img = ones({2, 8, 3, 3});
  Tensor d2 = F::dropout2d(img, 0.5, true);
  // Whole channels are zeroed: each [3,3] plane is all zero or all 2.
  Tensor per_channel = d2.sum({2, 3});
  EXPECT_EQ(logical_or(per_channel.eq(0), per_channel.eq(18)).logical_not().sum().item<int64_t>(), 0);
}

TEST(Module, ZeroGradUnsetsGradients) {  // SEED G4
  auto m = mlp();
  (*m)(randn({2, 4})).sum().backward();
  for (auto& p : m->parameters()) EXPECT_TRUE(p.grad().defined());
  m->zero_grad();
  for (auto& p : m->parameters()) EXPECT_FALSE(p.grad().defined());
  (*m)(randn({2, 4})).sum().backward();
  m->zero_grad(/*set_to_none=*/false);
  for (auto& p : m->parameters()) EXPECT_EQ(p.grad().abs().sum().item<float>(), 0.f);
}

TEST(Module, StateDictRoundTripThroughSafetensors) {
  auto a = mlp(), b = mlp();
  const auto path = std::filesystem::temp_directory_path() / ("hearth_sd_" + std::to_string(::getpid()) + ".safetensors");
  save_safetensors(path.string(), a->state_dict());
  auto loaded = load_safetensors(path.string());
  auto r = b->load_state_dict(loaded.tensors);
  EXPECT_TRUE(r.ok());
  Tensor x = randn({3, 4});
  EXPECT_TRUE(equal((*a)(x), (*b)(x)));
  std::filesystem::remove(path);
}

TEST(Module, LoadStateDictReportsAndStripsModulePrefix) {  // SEED E4
  auto a = mlp();
  TensorList sd = a->state_dict();
  // A data-parallel checkpoint: every key prefixed.
  TensorList prefixed;
  for (auto& [k, v] : sd) prefixed.emplace_back("module." + k, v.clone());
  auto b = mlp();
  auto r = b->load_state_dict(prefixed);
  EXPECT_EQ(r.stripped_prefix, "module.");
  EXPECT_TRUE(equal(b->at<nn::Linear>(0)->weight, a->at<nn::Linear>(0)->weight));

  // Strict: everything wrong is listed and nothing is copied.
  TensorList bad = {{"0.weight", zeros({8, 4})}, {"0.bias", zeros({7})}, {"9.extra", zeros({1})}};
  auto c = mlp();
  Tensor w_before = c->at<nn::Linear>(0)->weight.clone();
  const std::string msg = message_of([&] { c->load_state_dict(bad); });
  EXPECT_TRUE(contains(msg, "Missing key(s): 2.weight, 2.bias")) << msg;
  EXPECT_TRUE(contains(msg, "Unexpected key(s): 9.extra")) << msg;
  EXPECT_TRUE(contains(msg, "size mismatch for 0.bias")) << msg;
  EXPECT_TRUE(equal(c->at<nn::Linear>(0)->weight, w_before));
  // Non-strict: the matching keys are copied, the rest reported.
  auto r2 = c->load_state_dict(bad, /*strict=*/false);
  EXPECT_EQ(r2.missing_keys.size(), 2u);
  EXPECT_EQ(r2.unexpected_keys, std::vector<std::string>{"9.extra"});
  ASSERT_EQ(r2.shape_mismatches.size(), 1u);
  EXPECT_EQ(r2.shape_mismatches[0].key, "0.bias");
  EXPECT_EQ(c->at<nn::Linear>(0)->weight.abs().sum().item<float>(), 0.f);
}

TEST(Module, LoadConvertsDtypeAndKeepsParametersLeaves) {
  auto a = mlp();
  TensorList sd;
  for (auto& [k, v] : a->state_dict()) sd.emplace_back(k, v.to(kFloat64));
  auto b = mlp();
  b->load_state_dict(sd);
  auto w = b->at<nn::Linear>(0)->weight;
  EXPECT_EQ(w.dtype(), kFloat32);
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(allclose(w, a->at<nn::Linear>(0)->weight));
}

TEST(Module, PrintsLikePyTorch) {
  auto m = mlp();
  EXPECT_EQ(m->repr(),
            "Sequential(\n"
            "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
            "  (1): ReLU()\n"
            "  (2): Linear(in_features=8, out_features=3, bias=True)\n"
            ")");
}

TEST(Module, LinearInitAndGradients) {
  nn::LinearImpl l(100, 50);
  const double bound = 1.0 / std::sqrt(100.0);
  EXPECT_LE(l.weight.abs().max().item<float>(), bound);
  EXPECT_GT(l.weight.abs().max().item<float>(), 0.8 * bound);
  EXPECT_LE(l.bias.abs().max().item<float>(), bound);
  nn::LinearImpl nb(3, 2, /*bias=*/false);
  EXPECT_FALSE(nb.bias.defined());
  EXPECT_EQ(nb.named_parameters().size(), 1u);
  auto r = autograd::gradcheck(
      [](const autograd::tensor_list& in) { return autograd::tensor_list{F::linear(in[0], in[1], in[2])}; },
      {randn({4, 3}), randn({2, 3}), randn({2})});
  EXPECT_TRUE(r.ok) << r.message;
  auto r3 = autograd::gradcheck(  // batched input goes through matmul
      [](const autograd::tensor_list& in) { return autograd::tensor_list{F::linear(in[0], in[1], in[2])}; },
      {randn({2, 2, 3}), randn({2, 3}), randn({2})});
  EXPECT_TRUE(r3.ok) << r3.message;
  EXPECT_THROW(l.forward(ones({2, 3})), ShapeError);
}

TEST(Module, TrainsASmallRegression) {
  manual_seed(0);
  auto m = mlp();
  Tensor x = randn({64, 4});
  Tensor y = x.matmul(randn({4, 3}));
  double first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    m->zero_grad();
    Tensor loss = ((*m)(x) - y).pow(2).mean();
    loss.backward();
    {
      NoGradGuard ng;
      for (auto& p : m->parameters()) p.sub_(p.grad(), 0.05);
    }
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, 0.1 * first);
}

TEST(Summary, MlpCountsAndTable) {  // SEED A3, A6
  auto m = std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::FlattenImpl>(), std::make_shared<nn::LinearImpl>(784, 256), std::make_shared<nn::ReLUImpl>(),
      std::make_shared<nn::LinearImpl>(256, 128), std::make_shared<nn::ReLUImpl>(), std::make_shared<nn::LinearImpl>(128, 10)});
  auto s = nn::summary(*m, {{1, 1, 28, 28}});
  EXPECT_EQ(s.total_params, 235146);
  EXPECT_EQ(s.trainable_params, 235146);
  EXPECT_EQ(s.total_mult_adds, 784 * 256 + 256 * 128 + 128 * 10);
  ASSERT_EQ(s.layers.size(), 6u);
  EXPECT_EQ(s.layers[1].name, "1");
  EXPECT_EQ(s.layers[1].type, "Linear");
  EXPECT_EQ(s.layers[1].params, 200960);
  EXPECT_EQ(IntArrayRef(s.layers[0].output_shape), IntArrayRef({1, 784}));
  EXPECT_EQ(IntArrayRef(s.layers[5].output_shape), IntArrayRef({1, 10}));
  const std::string t = s.table();
  EXPECT_NE(t.find("Total params: 235146 (235.146K)"), std::string::npos) << t;
  EXPECT_NE(t.find("5 (Linear)"), std::string::npos) << t;
  // Batch 64 multiplies the mult-adds, not the parameters; hooks are removed afterwards.
  auto [macs, params] = nn::profile(*m, {zeros({64, 1, 28, 28})});
  EXPECT_EQ(macs, 64 * s.total_mult_adds);
  EXPECT_EQ(params, 235146);
  EXPECT_EQ(nn::summary(*m, {{1, 1, 28, 28}}).layers[1].calls, 1);
  // Several inputs go through a run function.
  auto two = nn::summary(*m, {{2, 784}, {2, 784}}, [&](const std::vector<Tensor>& in) { (*m)(in[0] + in[1]); });
  EXPECT_EQ(two.total_mult_adds, 2 * s.total_mult_adds);
  EXPECT_THROW(nn::summary(*m, {{1, 784}, {1, 784}}), ValueError);
}

TEST(Summary, CleverFormat) {  // SEED A6
  EXPECT_EQ(nn::clever_format(421642), "421.642K");
  EXPECT_EQ(nn::clever_format(4241152), "4.241M");
  EXPECT_EQ(nn::clever_format(1.5e9), "1.500G");
  EXPECT_EQ(nn::clever_format(999), "999.000B");
}
