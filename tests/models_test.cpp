// The model zoo (hearth-models) and create_model: PyTorch's state-dict names, parameter and
// mult-add counts (SEED A3, A6), and PyTorch-trained lenet weights with "module." keys (E4).
#include <gtest/gtest.h>

#include "hearth/hearth.h"
#include "test_util.h"
#include "hearth/nn.h"
#include "hearth/nn/models.h"

using namespace hearth;

namespace {
std::vector<std::string> keys(const TensorList& sd) {
  std::vector<std::string> k;
  for (auto& [n, t] : sd) k.push_back(n);
  return k;
}
using test::message_of;
}  // namespace

TEST(Models, LenetKeysAndCounts) {  // SEED A3, A6
  auto m = nn::create_model("lenet");
  EXPECT_EQ(keys(m->state_dict()), (std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias", "7.weight",
                                                             "7.bias", "9.weight", "9.bias"}));
  auto s = nn::summary(*m, {{1, 1, 28, 28}});
  EXPECT_EQ(s.total_params, 421642);
  // thop: conv C_out*H_out*W_out*C_in*k^2/groups, linear in*out.
  EXPECT_EQ(s.total_mult_adds, 32 * 28 * 28 * 1 * 9 + 64 * 14 * 14 * 32 * 9 + 3136 * 128 + 128 * 10);
  EXPECT_EQ(s.layers[0].kernel, "3x3");
  EXPECT_EQ(IntArrayRef(s.layers[5].output_shape), IntArrayRef({1, 64, 7, 7}));
}

TEST(Models, LenetLoadsPyTorchWeightsAndReproducesLogits) {  // SEED E4
  auto fx = load_safetensors(std::string(HEARTH_TEST_DATA_DIR) + "/golden/lenet_fixture.safetensors");
  TensorList state;
  Tensor input, logits;
  for (auto& [k, v] : fx.tensors) {
    if (k == "input") input = v;
    else if (k == "logits") logits = v;
    else state.emplace_back(k, v);
  }
  ASSERT_TRUE(input.defined() && logits.defined());
  auto m = nn::create_model("lenet");
  auto r = m->load_state_dict(state);
  EXPECT_EQ(r.stripped_prefix, "module.");
  m->eval();
  NoGradGuard ng;
  Tensor out = (*m)(input);
  EXPECT_TRUE(allclose(out, logits, 1e-4, 1e-4)) << (out - logits).abs().max().item<float>();
}

TEST(Models, MlpAndArguments) {
  auto m = nn::create_model("mlp");
  EXPECT_EQ(keys(m->state_dict()), (std::vector<std::string>{"1.weight", "1.bias", "3.weight", "3.bias", "5.weight",
                                                             "5.bias"}));
  auto m2 = nn::create_model("mlp:num_classes=5");
  EXPECT_EQ((*m2)(zeros({2, 1, 28, 28})).size(1), 5);
  const std::string bad = message_of([] { nn::create_model("mlp:classes=5"); });
  EXPECT_NE(bad.find("num_classes"), std::string::npos) << bad;
  EXPECT_THROW(nn::create_model("mlp:num_classes=-1"), ValueError);
  EXPECT_THROW(nn::create_model("mlp:num_classes"), ValueError);
  const std::string unknown = message_of([] { nn::create_model("vgg16"); });
  EXPECT_NE(unknown.find("lenet, mlp, resnet18"), std::string::npos) << unknown;
}

TEST(Models, Resnet18HasTorchvisionNames) {
  auto m = nn::create_model("resnet18:num_classes=10");
  auto k = keys(m->state_dict());
  auto has = [&](const std::string& s) { return std::find(k.begin(), k.end(), s) != k.end(); };
  EXPECT_EQ(k.front(), "conv1.weight");
  EXPECT_TRUE(has("bn1.running_mean"));
  EXPECT_TRUE(has("bn1.num_batches_tracked"));
  EXPECT_TRUE(has("layer1.0.conv1.weight"));
  EXPECT_TRUE(has("layer2.0.downsample.0.weight"));
  EXPECT_TRUE(has("layer2.0.downsample.1.running_var"));
  EXPECT_FALSE(has("layer1.0.downsample.0.weight"));
  EXPECT_EQ(k.back(), "fc.bias");
  EXPECT_EQ(k.size(), 122u);  // torchvision's resnet18 state_dict has 122 entries
  int64_t params = 0;
  for (auto& p : m->parameters()) params += p.numel();
  EXPECT_EQ(params, 11181642);  // torchvision resnet18(num_classes=10)
  m->eval();
  NoGradGuard ng;
  EXPECT_EQ((*m)(zeros({1, 3, 64, 64})).sizes(), IntArrayRef({1, 10}));
}
