// LibTorch C++-frontend idioms that must compile and behave the same against hearth (issue #15):
// this file builds against LibTorch too, with -DHEARTH_PORT_USE_LIBTORCH
// (bench/libtorch_port_accuracy.sh does both), so every expectation holds for both frameworks.
#ifdef HEARTH_PORT_USE_LIBTORCH
#include <torch/torch.h>
#else
#include <hearth/hearth.h>
namespace torch = hearth;
#endif

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

namespace F = torch::nn::functional;

namespace {

// A module with a Sequential holder, a ModuleList and a buffer.
struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(int64_t width)
      : body(torch::nn::Linear(width, width), torch::nn::ReLU(), torch::nn::Dropout(0.0)),
        heads(torch::nn::Linear(width, 2), torch::nn::Linear(width, 3)) {
    register_module("body", body);
    register_module("heads", heads);
    scale = register_buffer("scale", torch::ones({width}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return body->forward(x * scale); }
  torch::nn::Sequential body{nullptr};
  torch::nn::ModuleList heads{nullptr};
  torch::Tensor scale;
};
TORCH_MODULE(Block);

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "libtorch_idioms_" + name; }

}  // namespace

TEST(LibTorchIdioms, ModuleHoldersAndOptions) {
  torch::nn::Linear l(torch::nn::LinearOptions(3, 4).bias(false));
  EXPECT_FALSE(l.is_empty());
  EXPECT_EQ(l->weight.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_FALSE(l->bias.defined());
  EXPECT_EQ(l->forward(torch::ones({2, 3})).sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(l(torch::ones({5, 3})).size(0), 5);  // operator() calls forward
  torch::nn::Linear shared = l;                  // copies share the module
  EXPECT_EQ(shared.get(), l.get());
  EXPECT_EQ(shared.ptr(), l.ptr());

  torch::nn::Linear empty{nullptr};
  EXPECT_TRUE(empty.is_empty());
  EXPECT_FALSE(static_cast<bool>(empty));
  EXPECT_ANY_THROW(empty->forward(torch::ones({1, 3})));

  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3).stride(2).padding(1).bias(false));
  EXPECT_EQ(conv->forward(torch::zeros({1, 3, 8, 8})).sizes(), (std::vector<int64_t>{1, 8, 4, 4}));
  torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(8).eps(1e-3).momentum(0.2));
  EXPECT_EQ(bn->running_mean.size(0), 8);
  torch::nn::MaxPool2d pool(torch::nn::MaxPool2dOptions(2).stride(2));
  EXPECT_EQ(pool->forward(torch::zeros({1, 1, 6, 6})).size(2), 3);
  torch::nn::AvgPool2d avg(torch::nn::AvgPool2dOptions(3).stride(1).padding(1));
  EXPECT_EQ(avg->forward(torch::zeros({1, 1, 5, 5})).size(3), 5);
  torch::nn::Embedding emb(torch::nn::EmbeddingOptions(10, 4).padding_idx(0));
  EXPECT_EQ(emb->forward(torch::tensor({1, 0, 3}, torch::kLong)).sizes(), (std::vector<int64_t>{3, 4}));
  torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({4}).eps(1e-6));
  EXPECT_EQ(ln->forward(torch::randn({2, 4})).sizes(), (std::vector<int64_t>{2, 4}));
  torch::nn::Dropout drop(torch::nn::DropoutOptions().p(0.3));
  drop->eval();
  EXPECT_TRUE(torch::equal(drop->forward(torch::ones({3})), torch::ones({3})));
  torch::nn::Flatten flat(torch::nn::FlattenOptions().start_dim(1));
  EXPECT_EQ(flat->forward(torch::zeros({2, 3, 4})).sizes(), (std::vector<int64_t>{2, 12}));
}

TEST(LibTorchIdioms, SequentialModuleListNamedParameters) {
  Block block(4);
  auto params = block->named_parameters();
  std::vector<std::string> keys;
  for (const auto& item : params) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"body.0.weight", "body.0.bias", "heads.0.weight", "heads.0.bias",
                                            "heads.1.weight", "heads.1.bias"}));
  for (auto& p : block->named_parameters()) EXPECT_TRUE(p.value().requires_grad()) << p.key();
  EXPECT_EQ(block->named_buffers().size(), 1u);
  EXPECT_EQ(block->named_buffers()[0].key(), "scale");
  EXPECT_TRUE(params.contains("heads.1.bias"));
  EXPECT_EQ(params["heads.1.bias"].size(0), 3);
  EXPECT_EQ(params.find("nope"), nullptr);
  std::vector<std::string> children;
  for (const auto& c : block->named_children()) children.push_back(c.key());
  EXPECT_EQ(children, (std::vector<std::string>{"body", "heads"}));
  EXPECT_EQ(block->body->size(), 3u);
  EXPECT_EQ(block->heads->size(), 2u);
  EXPECT_EQ(block->forward(torch::ones({2, 4})).sizes(), (std::vector<int64_t>{2, 4}));

  torch::nn::Sequential seq;
  seq->push_back(torch::nn::Linear(2, 3));
  seq->push_back("act", torch::nn::Functional(torch::relu));
  EXPECT_EQ(seq->forward(torch::ones({1, 2})).size(1), 3);
  EXPECT_TRUE((seq->forward(-torch::ones({4, 2})) >= 0).all().item<bool>());
}

TEST(LibTorchIdioms, AdamBetasTupleAndSGDDoubleLr) {
  auto opts = torch::optim::AdamOptions(0.05).betas(std::make_tuple(0.8, 0.99)).weight_decay(0.0);
  EXPECT_DOUBLE_EQ(std::get<0>(opts.betas()), 0.8);
  EXPECT_DOUBLE_EQ(std::get<1>(opts.betas()), 0.99);

  // Minimises (w - 3)^2 with both optimizers.
  torch::Tensor w = torch::zeros({1}, torch::requires_grad());
  torch::optim::Adam adam({w}, opts);
  for (int i = 0; i < 500; ++i) {
    adam.zero_grad();
    torch::Tensor loss = (w - 3).pow(2).sum();
    loss.backward();
    adam.step();
  }
  EXPECT_NEAR(w.item<float>(), 3.0f, 0.05f);

  torch::Tensor v = torch::zeros({1}, torch::requires_grad());
  torch::optim::SGD sgd({v}, 0.1);  // SGDOptions from a double, as LibTorch
  for (int i = 0; i < 100; ++i) {
    sgd.zero_grad();
    torch::Tensor loss = (v - 3).pow(2).sum();
    loss.backward();
    sgd.step();
  }
  EXPECT_NEAR(v.item<float>(), 3.0f, 1e-3f);
}

TEST(LibTorchIdioms, TensorMethods) {
  torch::Tensor x = torch::tensor({-1.0f, 0.0f, 2.0f});
  EXPECT_TRUE(torch::allclose(x.softmax(0).sum(), torch::tensor(1.0f)));
  EXPECT_TRUE(torch::allclose(x.log_softmax(0).exp(), x.softmax(0)));
  EXPECT_TRUE(torch::allclose(x.sin(), torch::tensor({-0.8414709848f, 0.0f, 0.9092974268f})));
  EXPECT_TRUE(torch::allclose(x.cos().pow(2) + x.sin().pow(2), torch::ones({3})));
  EXPECT_TRUE(torch::allclose(x.clamp_min(0), torch::tensor({0.0f, 0.0f, 2.0f})));
  EXPECT_TRUE(torch::allclose(x.clamp_max(0), torch::tensor({-1.0f, 0.0f, 0.0f})));
  EXPECT_TRUE(torch::allclose(x.masked_fill(x < 0, 5.0), torch::tensor({5.0f, 0.0f, 2.0f})));
  torch::Tensor y = x.clone();
  y.masked_fill_(y > 1, -7);
  EXPECT_TRUE(torch::allclose(y, torch::tensor({-1.0f, 0.0f, -7.0f})));
  torch::Tensor r = torch::tensor({{1, 2}}, torch::kLong).repeat({2, 2});
  EXPECT_TRUE(torch::equal(r, torch::tensor({{1, 2, 1, 2}, {1, 2, 1, 2}}, torch::kLong)));
  EXPECT_EQ(torch::ones({3}).repeat({2, 1, 2}).sizes(), (std::vector<int64_t>{2, 1, 6}));
  EXPECT_EQ(x.toType(torch::kDouble).scalar_type(), torch::kDouble);
  EXPECT_EQ(x.toType(torch::kLong).scalar_type(), torch::kLong);
  torch::Tensor n = torch::randn_like(x);
  EXPECT_EQ(n.sizes(), x.sizes());
  EXPECT_EQ(torch::zeros_like(x).sum().item<float>(), 0.0f);
  EXPECT_EQ(torch::ones_like(x).sum().item<float>(), 3.0f);
  torch::Tensor u = torch::rand_like(x);
  EXPECT_TRUE(((u >= 0) & (u < 1)).all().item<bool>());
  EXPECT_EQ(x.argmax().item<int64_t>(), 2);
  EXPECT_EQ(x.to(torch::kCPU).device(), torch::Device(torch::kCPU));
  EXPECT_TRUE(x.to(torch::Device(torch::kCPU)).is_cpu());
  EXPECT_EQ(torch::Device(torch::kCPU).type(), torch::kCPU);

  // masked_fill and repeat pass gradients like the ops they stand for.
  torch::Tensor g = torch::tensor({1.0f, 2.0f}, torch::requires_grad());
  (g.masked_fill(torch::tensor({true, false}), 0.0).sum() + g.repeat({3}).sum()).backward();
  EXPECT_TRUE(torch::allclose(g.grad(), torch::tensor({3.0f, 4.0f})));
}

TEST(LibTorchIdioms, GradModesAndFunctional) {
  torch::Tensor w = torch::ones({2}, torch::requires_grad());
  {
    torch::InferenceMode guard;
    EXPECT_FALSE((w * 2).requires_grad());
  }
  {
    torch::NoGradGuard guard;
    EXPECT_FALSE((w * 2).requires_grad());
    torch::AutoGradMode enable(true);
    EXPECT_TRUE((w * 2).requires_grad());
  }
  EXPECT_TRUE((w * 2).requires_grad());

  torch::Tensor logits = torch::tensor({{2.0f, 0.0f}, {0.0f, 2.0f}});
  torch::Tensor target = torch::tensor({0, 1}, torch::kLong);
  torch::Tensor ce = F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kSum));
  torch::Tensor nll = torch::nll_loss(torch::log_softmax(logits, 1), target);
  EXPECT_TRUE(torch::allclose(ce, nll * 2));
  EXPECT_TRUE(torch::allclose(F::log_softmax(logits, F::LogSoftmaxFuncOptions(1)), torch::log_softmax(logits, 1)));
  torch::Tensor d = F::dropout(torch::ones({4}), F::DropoutFuncOptions().p(0.5).training(false));
  EXPECT_TRUE(torch::equal(d, torch::ones({4})));
  EXPECT_EQ(F::max_pool2d(torch::zeros({1, 1, 4, 4}), F::MaxPool2dFuncOptions(2)).size(2), 2);
  torch::nn::CrossEntropyLoss loss_fn(torch::nn::CrossEntropyLossOptions().reduction(torch::kMean));
  EXPECT_TRUE(torch::allclose(loss_fn(logits, target), nll));
}

TEST(LibTorchIdioms, SaveLoadTensorAndModule) {
  torch::manual_seed(3);
  torch::Tensor t = torch::randn({2, 3});
  torch::save(t, temp_path("tensor.pt"));
  torch::Tensor back;
  torch::load(back, temp_path("tensor.pt"));
  EXPECT_TRUE(torch::equal(t, back));

  Block a(4), b(4);
  torch::save(a, temp_path("block.pt"));
  torch::load(b, temp_path("block.pt"));
  auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i].value(), pb[i].value())) << pa[i].key();
  torch::Tensor x = torch::randn({3, 4});
  EXPECT_TRUE(torch::allclose(a->forward(x), b->forward(x)));
}
