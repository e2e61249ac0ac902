// PyTorch interop of state-dict files (issue #7 acceptance), with fixtures from
// tests/golden/gen_ckpt_interop.py: a PyTorch state dict with "module." keys (safetensors and h5py
// HDF5) loads into hearth and gives PyTorch's outputs (E4); a hearth-written state dict gives, in
// PyTorch, hearth's outputs: always against the committed fixture, and live through /usr/bin/python3
// when it has torch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "test_util.h"

using namespace hearth;
namespace fs = std::filesystem;

namespace {

const std::string kGolden = std::string(HEARTH_TEST_DATA_DIR) + "/golden/";

/// The fixture's architecture (gen_ckpt_interop.py's model()).
std::shared_ptr<nn::SequentialImpl> model() {
  return std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2dImpl>(1, 4, 3, 1, 1), std::make_shared<nn::BatchNorm2dImpl>(4), std::make_shared<nn::ReLUImpl>(),
      std::make_shared<nn::MaxPool2dImpl>(2), std::make_shared<nn::FlattenImpl>(), std::make_shared<nn::LinearImpl>(64, 5)});
}

Tensor get(const SafetensorsContents& c, const std::string& key) {
  for (auto& [k, v] : c.tensors)
    if (k == key) return v;
  ADD_FAILURE() << "no '" << key << "'";
  return {};
}

Tensor eval(nn::Module& m, const Tensor& x) {
  m.eval();
  NoGradGuard ng;
  return m(x);
}

/// A hearth model with trained-looking weights and BatchNorm statistics, its input and output.
struct HearthSide {
  std::shared_ptr<nn::SequentialImpl> m;
  Tensor input, output;
  HearthSide() {
    manual_seed(123);
    m = model();
    m->train();
    for (int i = 0; i < 3; ++i) {  // moves the running statistics off their initial values
      NoGradGuard ng;
      (*m)(randn({6, 1, 8, 8}) * 2 + 0.5);
    }
    input = randn({2, 1, 8, 8});
    output = eval(*m, input);
  }
  void write(const std::string& dir, const std::string& model_name, const std::string& io_name) {
    save_state_dict(dir + "/" + model_name, *m, {{"source", "tests/checkpoint_interop_test.cpp"}});
    save_state_dict(dir + "/" + io_name, TensorList{{"input", input}, {"output", output}});
  }
};

}  // namespace

TEST(CkptInterop, PyTorchModulePrefixedStateDictGivesPyTorchOutputs) {  // SEED E4
  const auto io = load_tensors(kGolden + "ckpt_torch_io.safetensors");
  for (const std::string file : {"ckpt_torch_model.safetensors", "ckpt_torch_model.h5"}) {
    auto m = model();
    auto r = load_state_dict(kGolden + file, *m);
    EXPECT_EQ(r.stripped_prefix, "module.") << file;
    EXPECT_TRUE(r.ok()) << file;
    Tensor out = eval(*m, get(io, "input"));
    EXPECT_TRUE(allclose(out, get(io, "output"), 1e-5, 1e-5)) << file << ": " << (out - get(io, "output")).abs().max().item<float>();
  }
  // Without a model, through map_location: the same tensors, on the device asked for.
  auto a = load_tensors(kGolden + "ckpt_torch_model.safetensors");
  auto b = load_tensors(kGolden + "ckpt_torch_model.h5", "testdev:0");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (auto& [k, v] : b.tensors) {  // h5py files list keys by name unless written with track_order
    EXPECT_EQ(v.device(), Device("testdev:0"));
    EXPECT_TRUE(equal(get(a, k), v.to(Device("cpu")))) << k;
  }
}

TEST(CkptInterop, CommittedHearthStateDictGivesHearthOutputsInPyTorch) {
  // The committed file was written by hearth (HearthSide::write); gen_ckpt_interop.py ran it in
  // PyTorch. Reading it back and running it here must give what PyTorch gave.
  if (const char* d = std::getenv("HEARTH_CKPT_WRITE_FIXTURES")) {
    HearthSide().write(d, "ckpt_hearth_model.safetensors", "ckpt_hearth_io.safetensors");
    GTEST_SKIP() << "wrote the hearth fixtures into " << d << "; now run gen_ckpt_interop.py";
  }
  auto m = model();
  EXPECT_TRUE(load_state_dict(kGolden + "ckpt_hearth_model.safetensors", *m).ok());
  const auto io = load_tensors(kGolden + "ckpt_hearth_io.safetensors");
  const auto torch_out = load_tensors(kGolden + "ckpt_hearth_torch_out.safetensors");
  Tensor out = eval(*m, get(io, "input"));
  EXPECT_TRUE(allclose(out, get(torch_out, "output"), 1e-5, 1e-5)) << (out - get(torch_out, "output")).abs().max().item<float>();
  EXPECT_TRUE(allclose(get(io, "output"), get(torch_out, "output"), 1e-5, 1e-5));
}

TEST(CkptInterop, FreshHearthStateDictLoadsInPyTorchLive) {
  if (std::system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") != 0) {
    const char* ci = std::getenv("CI");
    ASSERT_FALSE(ci && std::string(ci) == "true") << "python3-torch is missing under CI=true (quickstart.sh installs it)";
    GTEST_SKIP() << "/usr/bin/python3 has no torch (Debian: python3-torch): the committed-fixture test covers this";
  }
  const test::TempDir tmp("hearth_ckpt_interop");
  const fs::path dir = tmp.str();
  HearthSide side;
  side.write(dir.string(), "model.safetensors", "io.safetensors");
  save_state_dict((dir / "model.h5").string(), *side.m);  // read through h5py where installed
  const std::string cmd = "/usr/bin/python3 '" + kGolden + "gen_ckpt_interop.py' --check '" + dir.string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}
