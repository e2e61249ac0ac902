// Normalization, softmax, embedding, pad, interpolate and the losses (issue 4): forward and gradients
// against PyTorch 1.13 (tests/golden/nn.json + nn.safetensors from gen_nn_golden.py), gradcheck in
// float64 (and second derivatives where backward has a create_graph path), errors for bad input,
// and the layers (SEED B7, B9, E2, G3).
//
// Golden tolerances (|a - b| <= atol + rtol |b|): float64 rtol 1e-9 atol 1e-11; float32 rtol 2e-5
// atol 2e-5 (oneDNN and PyTorch reduce in float in different orders).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <typeinfo>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "hearth/autograd.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "hearth/serialize.h"

using namespace hearth;
using autograd::tensor_list;
using json = nlohmann::json;
namespace F = hearth::nn::functional;

namespace {

const std::string kGoldenDir = std::string(HEARTH_TEST_DATA_DIR) + "/golden";

// ---- golden data ---------------------------------------------------------------------------------

struct Golden {
  json cases;
  std::map<std::string, std::string> aliases;
  std::map<std::string, Tensor> tensors;
  std::string error;
};

const Golden& golden() {
  static const Golden g = [] {
    Golden r;
    try {
      std::ifstream f(kGoldenDir + "/nn.json");
      if (!f) throw std::runtime_error("cannot open " + kGoldenDir + "/nn.json");
      json j = json::parse(f);
      r.cases = j.at("cases");
      for (auto& [k, v] : j.at("aliases").items()) r.aliases[k] = v.get<std::string>();
      for (auto& [name, t] : load_safetensors(kGoldenDir + "/nn.safetensors").tensors) r.tensors.emplace(name, t);
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  }();
  return g;
}

const json* find_case(const std::string& id) {
  for (const auto& c : golden().cases)
    if (c.at("id") == id) return &c;
  return nullptr;
}

/// A "gen" tensor: element i = ((i * mul) % mod) * scale + offset in double, cast to dtype.
Tensor generated(const json& g, ScalarType dt) {
  const auto shape = g.at("shape").get<std::vector<int64_t>>();
  const int64_t mul = g.at("mul"), mod = g.at("mod");
  const double scale = g.at("scale"), offset = g.at("offset");
  Tensor t = empty(shape, kFloat64);
  double* p = t.data_ptr<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<double>((i * mul) % mod) * scale + offset;
  return t.to(dt);
}

/// Tensor `name` of case c ("in0", "out", "grad1", ...): generated, stored, or an alias; a private
/// copy so a case cannot disturb another sharing the bytes.
Tensor get(const json& c, const std::string& name) {
  const std::string id = c.at("id");
  if (c.contains("gen") && c["gen"].contains(name))
    return generated(c["gen"][name], dtype_from_name(c.at("dtype").get<std::string>()));
  std::string key = id + "/" + name;
  const Golden& g = golden();
  if (auto a = g.aliases.find(key); a != g.aliases.end()) key = a->second;
  auto it = g.tensors.find(key);
  if (it == g.tensors.end()) throw std::runtime_error("golden tensor " + key + " missing");
  return it->second.clone();
}

std::string shape_str(IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

/// Compares on the host in double; reports the worst element.
::testing::AssertionResult close(const Tensor& got, const Tensor& want, const std::string& what) {
  if (!got.defined()) return ::testing::AssertionFailure() << what << ": hearth gave no tensor";
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure() << what << ": shape mismatch: hearth=" << shape_str(got.sizes())
                                         << " | torch=" << shape_str(want.sizes());
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << what << ": dtype mismatch: hearth=" << got.dtype()
                                         << " | torch=" << want.dtype();
  const bool f64 = want.dtype() == kFloat64;
  const double rtol = f64 ? 1e-9 : 2e-5, atol = f64 ? 1e-11 : 2e-5;
  Tensor a = got.detach().to(kFloat64).contiguous(), b = want.detach().to(kFloat64).contiguous();
  const double *pa = a.data_ptr<double>(), *pb = b.data_ptr<double>();
  int64_t worst = -1;
  double worst_excess = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const bool both_nan = std::isnan(pa[i]) && std::isnan(pb[i]);
    const bool same_inf = std::isinf(pa[i]) && pa[i] == pb[i];
    if (both_nan || same_inf) continue;
    const double err = std::abs(pa[i] - pb[i]), tol = atol + rtol * std::abs(pb[i]);
    if (!(err <= tol) && (worst < 0 || err - tol > worst_excess || std::isnan(err))) {
      worst = i;
      worst_excess = std::isnan(err) ? INFINITY : err - tol;
    }
  }
  if (worst < 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " " << want.dtype() << shape_str(want.sizes())
                                       << ": worst element " << worst << " hearth=" << pa[worst]
                                       << " | torch=" << pb[worst] << " (|diff| " << std::abs(pa[worst] - pb[worst])
                                       << ")";
}

Tensor opt_in(const json& a, const char* key, const std::vector<Tensor>& in) {
  return a.contains(key) && !a[key].is_null() ? in[a[key].get<size_t>()] : Tensor();
}

/// Runs one golden case's function on its inputs.
Tensor run_case(const json& c, const std::vector<Tensor>& in) {
  const std::string fn = c.at("fn");
  const json& a = c.at("args");
  const std::string red = a.value("reduction", std::string("mean"));
  if (fn == "mse_loss") return F::mse_loss(in[0], in[1], red);
  if (fn == "l1_loss") return F::l1_loss(in[0], in[1], red);
  if (fn == "smooth_l1_loss") return F::smooth_l1_loss(in[0], in[1], red, a.at("beta").get<double>());
  if (fn == "nll_loss")
    return F::nll_loss(in[0], in[1], opt_in(a, "weight", in), a.value("ignore_index", int64_t{-100}), red);
  if (fn == "cross_entropy")
    return F::cross_entropy(in[0], in[1], opt_in(a, "weight", in), a.value("ignore_index", int64_t{-100}), red,
                            a.value("label_smoothing", 0.0));
  if (fn == "binary_cross_entropy") return F::binary_cross_entropy(in[0], in[1], opt_in(a, "weight", in), red);
  if (fn == "binary_cross_entropy_with_logits")
    return F::binary_cross_entropy_with_logits(in[0], in[1], opt_in(a, "weight", in), red,
                                               opt_in(a, "pos_weight", in));
  if (fn == "interpolate") {
    F::InterpolateOptions o;
    o.mode = a.at("mode");
    if (a.contains("size")) o.size = a["size"].get<std::vector<int64_t>>();
    if (a.contains("scale_factor")) o.scale_factor = a["scale_factor"].get<std::vector<double>>();
    if (a.contains("align_corners")) o.align_corners = a["align_corners"].get<bool>();
    if (a.contains("recompute_scale_factor")) o.recompute_scale_factor = a["recompute_scale_factor"].get<bool>();
    return F::interpolate(in[0], o);
  }
  if (fn == "layer_norm")
    return F::layer_norm(in[0], a.at("shape").get<std::vector<int64_t>>(), opt_in(a, "weight", in),
                         opt_in(a, "bias", in), a.value("eps", 1e-5));
  if (fn == "batch_norm")
    return F::batch_norm(in[0], opt_in(a, "running_mean", in), opt_in(a, "running_var", in), opt_in(a, "weight", in),
                         opt_in(a, "bias", in), a.at("training").get<bool>(), 0.1, a.value("eps", 1e-5));
  if (fn == "softmax") return F::softmax(in[0], a.at("dim").get<int64_t>());
  if (fn == "log_softmax") return F::log_softmax(in[0], a.at("dim").get<int64_t>());
  if (fn == "embedding") {
    std::optional<int64_t> pad;
    if (a.contains("padding_idx")) pad = a["padding_idx"].get<int64_t>();
    return F::embedding(in[0], in[1], pad);
  }
  if (fn == "pad")
    return F::pad(in[0], a.at("pad").get<std::vector<int64_t>>(), a.at("mode").get<std::string>(),
                  a.at("value").get<double>());
  throw std::runtime_error("unknown golden fn " + fn);
}

/// BatchNorm module: running statistics after `steps` training steps, the last step's output and
/// gradients, then the eval output.
void run_batchnorm_steps(const json& c) {
  const json& a = c.at("args");
  const ScalarType dt = dtype_from_name(c.at("dtype").get<std::string>());
  const int64_t C = a.at("C"), steps = a.at("steps");
  std::optional<double> momentum;
  if (!a.at("momentum").is_null()) momentum = a["momentum"].get<double>();
  const bool affine = a.at("affine");
  std::shared_ptr<nn::BatchNorm> m;
  if (a.at("kind") == "2d")
    m = std::make_shared<nn::BatchNorm2dImpl>(C, 1e-5, momentum, affine);
  else
    m = std::make_shared<nn::BatchNorm1dImpl>(C, 1e-5, momentum, affine);
  m->to(dt);
  if (affine) {
    NoGradGuard ng;
    m->weight.copy_(get(c, "weight"));
    m->bias.copy_(get(c, "bias"));
  }
  m->train();
  Tensor out, x;
  for (int64_t i = 0; i < steps; ++i) {
    x = get(c, "in" + std::to_string(i)).requires_grad_();
    out = (*m)(x);
  }
  (out * get(c, "gout")).sum().backward();
  EXPECT_TRUE(close(out, get(c, "train_out"), "training output"));
  EXPECT_TRUE(close(x.grad(), get(c, "grad_x"), "grad input"));
  if (affine) {
    EXPECT_TRUE(close(m->weight.grad(), get(c, "grad_w"), "grad weight"));
    EXPECT_TRUE(close(m->bias.grad(), get(c, "grad_b"), "grad bias"));
  }
  EXPECT_TRUE(close(m->running_mean, get(c, "running_mean"), "running_mean"));
  EXPECT_TRUE(close(m->running_var, get(c, "running_var"), "running_var"));
  EXPECT_EQ(m->num_batches_tracked.item<int64_t>(), get(c, "num_batches_tracked").item<int64_t>());
  m->eval();
  NoGradGuard ng;
  EXPECT_TRUE(close((*m)(get(c, "in" + std::to_string(steps))), get(c, "out"), "eval output"));
}

std::vector<std::string> case_ids() {
  const Golden& g = golden();
  if (!g.error.empty()) return {"golden_unreadable"};
  std::vector<std::string> ids;
  for (const auto& c : g.cases) ids.push_back(c.at("id"));
  return ids;
}

class NnGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(NnGolden, MatchesPyTorch) {
  ASSERT_TRUE(golden().error.empty()) << golden().error;
  const json* cp = find_case(GetParam());
  ASSERT_NE(cp, nullptr);
  const json& c = *cp;
  if (c.at("fn") == "batchnorm_steps") return run_batchnorm_steps(c);
  std::vector<Tensor> in;
  for (int k = 0; k < c.at("inputs").get<int>(); ++k) in.push_back(get(c, "in" + std::to_string(k)));
  const auto grads = c.at("grads").get<std::vector<size_t>>();
  for (size_t k : grads) in[k].requires_grad_();
  const Tensor out = run_case(c, in);
  EXPECT_TRUE(close(out, get(c, "out"), "forward"));
  if (grads.empty()) return;
  (out * get(c, "gout")).sum().backward();
  for (size_t k : grads) EXPECT_TRUE(close(in[k].grad(), get(c, "grad" + std::to_string(k)), "grad of input " + std::to_string(k)));
}

INSTANTIATE_TEST_SUITE_P(Golden, NnGolden, ::testing::ValuesIn(case_ids()), [](const auto& info) {
  std::string n = info.param;
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
});

TEST(NnGoldenCoverage, EveryLossAndReductionAndInterpolateMode) {
  ASSERT_TRUE(golden().error.empty()) << golden().error;
  std::map<std::string, std::set<std::string>> seen;
  for (const auto& c : golden().cases) {
    const json& a = c.at("args");
    if (a.contains("reduction")) seen[c.at("fn")].insert(a["reduction"].get<std::string>());
    if (c.at("fn") == "interpolate")
      seen["interpolate"].insert(a.at("mode").get<std::string>() + (a.contains("align_corners") ? (a["align_corners"].get<bool>() ? "/ac" : "/hp") : "") +
                                 (a.contains("size") ? "/size" : "/scale"));
  }
  for (const char* fn : {"mse_loss", "l1_loss", "smooth_l1_loss", "nll_loss", "cross_entropy", "binary_cross_entropy",
                         "binary_cross_entropy_with_logits"})
    EXPECT_EQ(seen[fn], (std::set<std::string>{"none", "mean", "sum"})) << fn;
  for (const char* m : {"bilinear/ac/size", "bilinear/hp/size", "bilinear/ac/scale", "bilinear/hp/scale",
                        "bicubic/ac/size", "bicubic/hp/size", "bicubic/ac/scale", "bicubic/hp/scale", "nearest/size",
                        "nearest/scale", "nearest-exact/size", "nearest-exact/scale", "linear/ac/size",
                        "trilinear/hp/scale"})
    EXPECT_TRUE(seen["interpolate"].count(m)) << m;
}

// ---- gradcheck (float64) ------------------------------------------------------------------------

const autograd::GradcheckOptions kNoRaise{1e-6, 1e-5, 1e-3, /*raise_exception=*/false};

void expect_gradcheck(const std::string& what, const std::function<tensor_list(const tensor_list&)>& fn,
                      const tensor_list& inputs) {
  auto r = autograd::gradcheck(fn, inputs, kNoRaise);
  EXPECT_TRUE(r.ok) << what << ": " << r.message;
}

/// Second derivatives: gradcheck of x -> d(sum(f(x) * v))/dx computed with create_graph.
void expect_gradgradcheck(const std::string& what, const std::function<Tensor(const tensor_list&)>& f,
                          const tensor_list& inputs) {
  Tensor v;
  {
    NoGradGuard ng;
    v = f(inputs).detach();
  }
  const Tensor gv = randn(v.sizes(), kFloat64);
  expect_gradcheck(
      what + " (second derivative)",
      [&](const tensor_list& in) {
        autograd::AutoGradMode on(true);  // gradcheck's numeric pass runs under no-grad
        tensor_list diff;
        for (const Tensor& t : in)
          if (t.requires_grad()) diff.push_back(t);
        const Tensor y = f(in);
        tensor_list gs = autograd::grad({(y * gv).sum()}, diff, {}, /*retain_graph=*/true, /*create_graph=*/true,
                                        /*allow_unused=*/true);
        for (size_t i = 0; i < gs.size(); ++i)
          if (!gs[i].defined()) gs[i] = zeros_like(diff[i]);
        return gs;
      },
      inputs);
}

Tensor r64(IntArrayRef s) { return randn(s, kFloat64); }

TEST(NnGradcheck, SoftmaxAndLogSoftmaxEveryDim) {
  manual_seed(10);
  const Tensor x = r64({2, 3, 4});
  for (int64_t dim : {0, 1, 2, -1}) {
    expect_gradcheck("softmax dim " + std::to_string(dim),
                     [&](const tensor_list& in) { return tensor_list{F::softmax(in[0], dim)}; }, {x});
    expect_gradcheck("log_softmax dim " + std::to_string(dim),
                     [&](const tensor_list& in) { return tensor_list{F::log_softmax(in[0], dim)}; }, {x});
  }
  // Non-contiguous input (transposed inside the function).
  expect_gradcheck("softmax of a transposed input",
                   [&](const tensor_list& in) { return tensor_list{F::softmax(in[0].transpose(0, 2), 1)}; }, {x});
  expect_gradgradcheck("softmax", [](const tensor_list& in) { return F::softmax(in[0], 1); }, {x});
  expect_gradgradcheck("log_softmax", [](const tensor_list& in) { return F::log_softmax(in[0], 2); }, {x});
}

TEST(NnGradcheck, BatchNormTrainAndEval) {
  manual_seed(11);
  const Tensor x = r64({3, 2, 2, 2}), w = r64({2}), b = r64({2});
  const Tensor rm = r64({2}), rv = rand({2}, kFloat64) + 0.5;
  expect_gradcheck("batch_norm training",
                   [&](const tensor_list& in) {
                     return tensor_list{F::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true)};
                   },
                   {x, w, b});
  expect_gradcheck("batch_norm training, no affine",
                   [&](const tensor_list& in) { return tensor_list{F::batch_norm(in[0], Tensor(), Tensor(), {}, {}, true)}; },
                   {r64({4, 3})});
  expect_gradcheck("batch_norm eval",
                   [&](const tensor_list& in) { return tensor_list{F::batch_norm(in[0], rm, rv, in[1], in[2], false)}; },
                   {x, w, b});
  expect_gradgradcheck("batch_norm training",
                       [&](const tensor_list& in) { return F::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
                       {x, w, b});
  expect_gradgradcheck("batch_norm eval",
                       [&](const tensor_list& in) { return F::batch_norm(in[0], rm, rv, in[1], in[2], false); }, {x, w, b});
}

TEST(NnGradcheck, LayerNormLastOneAndTwoDims) {
  manual_seed(12);
  const Tensor x = r64({2, 3, 4});
  expect_gradcheck("layer_norm [4]",
                   [&](const tensor_list& in) { return tensor_list{F::layer_norm(in[0], {4}, in[1], in[2])}; },
                   {x, r64({4}), r64({4})});
  expect_gradcheck("layer_norm [3, 4]",
                   [&](const tensor_list& in) { return tensor_list{F::layer_norm(in[0], {3, 4}, in[1], in[2], 1e-3)}; },
                   {x, r64({3, 4}), r64({3, 4})});
  expect_gradcheck("layer_norm no affine", [&](const tensor_list& in) { return tensor_list{F::layer_norm(in[0], {4})}; },
                   {x});
  expect_gradgradcheck("layer_norm [4]", [&](const tensor_list& in) { return F::layer_norm(in[0], {4}, in[1], in[2]); },
                       {x, r64({4}), r64({4})});
}

TEST(NnGradcheck, Losses) {
  manual_seed(13);
  const Tensor x = r64({4, 3}), t = r64({4, 3});
  const Tensor target = tensor(std::vector<int64_t>{0, 2, -100, 1});
  const Tensor w = rand({3}, kFloat64) + 0.5;
  const Tensor p = rand({4, 3}, kFloat64) * 0.9 + 0.05, y = rand({4, 3}, kFloat64);
  const Tensor pw = rand({3}, kFloat64) + 0.5;
  const Tensor x4 = r64({2, 3, 2, 2});
  const Tensor t4 = tensor(std::vector<int64_t>{0, 2, 1, 1, 2, 0, -100, 1}).view({2, 2, 2});
  for (const char* red : {"none", "mean", "sum"}) {
    const std::string r = red;
    expect_gradcheck("mse " + r, [&](const tensor_list& in) { return tensor_list{F::mse_loss(in[0], in[1], r)}; },
                     {x, t});
    expect_gradcheck("l1 " + r, [&](const tensor_list& in) { return tensor_list{F::l1_loss(in[0], in[1], r)}; },
                     {x, t});
    expect_gradcheck("smooth_l1 " + r,
                     [&](const tensor_list& in) { return tensor_list{F::smooth_l1_loss(in[0], in[1], r, 0.7)}; },
                     {x, t});
    // Weights are constants (no gradient, as PyTorch): captured, not passed as inputs.
    expect_gradcheck("nll " + r,
                     [&](const tensor_list& in) { return tensor_list{F::nll_loss(in[0], target, w, -100, r)}; }, {x});
    expect_gradcheck("nll K-dim " + r,
                     [&](const tensor_list& in) { return tensor_list{F::nll_loss(in[0], t4, w, -100, r)}; }, {x4});
    expect_gradcheck("cross_entropy " + r,
                     [&](const tensor_list& in) { return tensor_list{F::cross_entropy(in[0], target, {}, -100, r)}; },
                     {x});
    expect_gradcheck("cross_entropy label smoothing, weight " + r, [&](const tensor_list& in) {
      return tensor_list{F::cross_entropy(in[0], target, w, -100, r, 0.2)};
    }, {x});
    expect_gradcheck("cross_entropy probabilities " + r, [&](const tensor_list& in) {
      return tensor_list{F::cross_entropy(in[0], F::softmax(in[1], 1), w, -100, r, 0.1)};
    }, {x, t});
    expect_gradcheck("binary_cross_entropy " + r, [&](const tensor_list& in) {
      return tensor_list{F::binary_cross_entropy(in[0], in[1], w, r)};
    }, {p, y});
    expect_gradcheck("binary_cross_entropy_with_logits " + r, [&](const tensor_list& in) {
      return tensor_list{F::binary_cross_entropy_with_logits(in[0], in[1], w, r, pw)};
    }, {x, y});
  }
  expect_gradgradcheck("cross_entropy", [&](const tensor_list& in) { return F::cross_entropy(in[0], target); }, {x});
  expect_gradgradcheck("nll_loss none", [&](const tensor_list& in) {
    return F::nll_loss(in[0] * in[0], target, w, -100, "none");
  }, {x});
}

TEST(NnGradcheck, EmbeddingPadInterpolate) {
  manual_seed(14);
  const Tensor idx = tensor(std::vector<int64_t>{0, 3, 3, 1, 4, 0}).view({2, 3});
  expect_gradcheck("embedding", [&](const tensor_list& in) { return tensor_list{F::embedding(idx, in[0])}; },
                   {r64({5, 2})});
  // With padding_idx the padding row gets no gradient on purpose (its Jacobian is not checked:
  // the golden cases and EmbeddingPaddingRowIsZeroAndNeverTrained test it); the other rows do.
  expect_gradcheck("embedding padding_idx", [&](const tensor_list& in) {
    return tensor_list{F::embedding(idx, in[0], 2)};
  }, {r64({5, 2})});
  const Tensor x = r64({1, 2, 3, 4});
  for (const char* mode : {"constant", "reflect", "replicate", "circular"}) {
    expect_gradcheck(std::string("pad ") + mode, [&](const tensor_list& in) {
      return tensor_list{F::pad(in[0], {2, 1, 1, 2}, mode, 0.5)};
    }, {x});
  }
  expect_gradcheck("pad constant, negative (crop)",
                   [&](const tensor_list& in) { return tensor_list{F::pad(in[0], {-1, 2, 0, -1})}; }, {x});
  for (const char* mode : {"nearest", "nearest-exact", "bilinear", "bicubic"}) {
    for (int ac = 0; ac < (std::string(mode).rfind("nearest", 0) == 0 ? 1 : 2); ++ac) {
      for (bool up : {true, false}) {
        F::InterpolateOptions o;
        o.mode = mode;
        if (std::string(mode).rfind("nearest", 0) != 0) o.align_corners = ac == 1;
        if (up) o.size = {5, 7};
        else o.scale_factor = {0.7, 0.6};
        expect_gradcheck(std::string("interpolate ") + mode + (ac ? " align_corners" : "") + (up ? " up" : " down"),
                         [&](const tensor_list& in) { return tensor_list{F::interpolate(in[0], o)}; }, {x});
      }
    }
  }
  expect_gradcheck("interpolate linear", [&](const tensor_list& in) {
    return tensor_list{F::interpolate(in[0], {.size = {7}, .mode = "linear", .align_corners = true})};
  }, {r64({1, 2, 4})});
  expect_gradcheck("interpolate trilinear", [&](const tensor_list& in) {
    return tensor_list{F::interpolate(in[0], {.scale_factor = {1.5}, .mode = "trilinear"})};
  }, {r64({1, 1, 2, 3, 2})});
}

// ---- numerics beyond the golden cases ---------------------------------------------------------------

TEST(NnNumerics, SoftmaxIsStableForHugeAndInfiniteInputs) {
  const Tensor x = tensor({{1e30f, 0.f, -1e30f}, {88.f, 89.f, 90.f}});
  const Tensor s = F::softmax(x, 1), ls = F::log_softmax(x, 1);
  EXPECT_FLOAT_EQ(s.index({0, 0}).item<float>(), 1.f);
  EXPECT_FLOAT_EQ(s.index({0, 2}).item<float>(), 0.f);
  EXPECT_TRUE(std::isfinite(ls.index({1, 0}).item<float>()));
  EXPECT_NEAR(ls.index({1, 2}).item<float>(), -0.40760596f, 1e-6);
  EXPECT_NEAR(s.sum(1).index({1}).item<float>(), 1.f, 1e-6);
  // A -inf logit has probability 0 and log-probability -inf, the rest are unaffected.
  const Tensor y = F::log_softmax(tensor({-INFINITY, 0.f}), 0);
  EXPECT_EQ(y.index({0}).item<float>(), -INFINITY);
  EXPECT_FLOAT_EQ(y.index({1}).item<float>(), 0.f);
}

TEST(NnNumerics, OnednnAndReferenceKernelsAgree) {
  // float32 above the oneDNN threshold against the float64 loops, forward and backward.
  manual_seed(15);
  const Tensor x = randn({8, 16, 6, 6}) * 2 + 1;
  const Tensor w = randn({16}), b = randn({16}), g = randn({8, 16, 6, 6});
  auto both = [&](const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f, const char* what) {
    Tensor x32 = x.clone().requires_grad_(), w32 = w.clone().requires_grad_(), b32 = b.clone().requires_grad_();
    Tensor x64 = x.to(kFloat64).requires_grad_(), w64 = w.to(kFloat64).requires_grad_(),
           b64 = b.to(kFloat64).requires_grad_();
    Tensor y32 = f(x32, w32, b32), y64 = f(x64, w64, b64);
    (y32 * g).sum().backward();
    (y64 * g.to(kFloat64)).sum().backward();
    EXPECT_TRUE(allclose(y32.detach().to(kFloat64), y64.detach(), 1e-4, 1e-4)) << what << " forward";
    EXPECT_TRUE(allclose(x32.grad().to(kFloat64), x64.grad(), 1e-3, 1e-4)) << what << " grad input";
    if (w64.grad().defined()) {
      EXPECT_TRUE(allclose(w32.grad().to(kFloat64), w64.grad(), 1e-3, 1e-3)) << what << " grad weight";
    }
    if (b64.grad().defined()) {
      EXPECT_TRUE(allclose(b32.grad().to(kFloat64), b64.grad(), 1e-3, 1e-3)) << what << " grad bias";
    }
  };
  both([](const Tensor& x, const Tensor& w, const Tensor& b) { return F::batch_norm(x, {}, {}, w, b, true); },
       "batch_norm training");
  both([](const Tensor& x, const Tensor& w, const Tensor& b) { return F::batch_norm(x, {}, {}, {}, b, true); },
       "batch_norm training, bias only");
  both([](const Tensor& x, const Tensor& w, const Tensor& b) {
    return F::batch_norm(x, w.detach().mul(0.5), w.detach().abs() + 0.5, w, b, false);
  }, "batch_norm eval");
  both([](const Tensor& x, const Tensor& w, const Tensor& b) {
    return F::layer_norm(x.permute({0, 2, 3, 1}), {16}, w, b).permute({0, 3, 1, 2});
  }, "layer_norm");
  both([](const Tensor& x, const Tensor& w, const Tensor& b) { return F::softmax(x, 1) * w.view({1, 16, 1, 1}); },
       "softmax inner dim");
  both([](const Tensor& x, const Tensor& w, const Tensor& b) { return F::log_softmax(x, -1) + b.sum(); },
       "log_softmax last dim");
}

TEST(NnNumerics, BatchNormRunningStatsFollowPyTorchMomentum) {
  // One step by hand: running = (1 - m) running + m batch, unbiased variance for running_var.
  const Tensor x = tensor({{1.0, 2.0}, {3.0, 6.0}, {5.0, 10.0}}, kFloat64);
  Tensor rm = zeros({2}, kFloat64), rv = ones({2}, kFloat64);
  const uint32_t v0 = rm._version();
  F::batch_norm(x, rm, rv, {}, {}, true, 0.25);
  EXPECT_GT(rm._version(), v0);  // written in place, so autograd sees the change
  EXPECT_TRUE(allclose(rm, tensor({0.75, 1.5}, kFloat64)));
  EXPECT_TRUE(allclose(rv, tensor({0.75 + 0.25 * 4.0, 0.75 + 0.25 * 16.0}, kFloat64)));
  // A running-stat tensor of another dtype is converted and written back.
  Tensor rm32 = zeros({2}), rv32 = ones({2});
  F::batch_norm(x, rm32, rv32, {}, {}, true, 0.25);
  EXPECT_TRUE(allclose(rm32, tensor({0.75f, 1.5f})));
  // Eval leaves them alone.
  F::batch_norm(x, rm, rv, {}, {}, false);
  EXPECT_TRUE(allclose(rm, tensor({0.75, 1.5}, kFloat64)));
}

// ---- errors ---------------------------------------------------------------------------------------

template <typename E>
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no " << typeid(E).name() << " thrown (expected a message with '" << parts[0] << "')";
  } catch (const E& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\n  lacks: " << p;
  }
}

TEST(NnErrors, CrossEntropyAndNllTargets) {
  const Tensor x = randn({4, 3});
  // A floating target of another shape: neither probabilities nor class indices.
  expect_error<ShapeError>([&] { F::cross_entropy(x, tensor({0.f, 1.f, 2.f, 1.f})); },
                           {"cross_entropy", "class probabilities", "[4, 3]", "int64"});
  expect_error<DTypeError>([&] { F::cross_entropy(x, tensor({0, 1, 2, 1}).to(kInt32)); }, {"int64", "int32"});
  expect_error<IndexError>([&] { F::cross_entropy(x, tensor(std::vector<int64_t>{0, 1, 7, 1})); },
                           {"Target 7 is out of bounds", "3 classes"});
  expect_error<IndexError>([&] { F::nll_loss(x, tensor(std::vector<int64_t>{0, -1, 1, 1})); }, {"Target -1"});
  expect_error<ShapeError>([&] { F::cross_entropy(x, tensor(std::vector<int64_t>{0, 1, 2})); },
                           {"Expected input batch_size (4) to match target batch_size (3)"});
  expect_error<ShapeError>([&] { F::nll_loss(x, tensor(std::vector<int64_t>{0, 1, 2, 1}), ones({2})); },
                           {"weight tensor should be defined either for all 3 classes"});
  expect_error<ValueError>([&] { F::cross_entropy(x, tensor(std::vector<int64_t>{0, 1, 2, 1}), {}, -100, "avg"); },
                           {"'avg' is not a valid value for reduction"});
  expect_error<ValueError>([&] { F::cross_entropy(x, tensor(std::vector<int64_t>{0, 1, 2, 1}), {}, -100, "mean", 1.5); },
                           {"label_smoothing must be between 0.0 and 1.0"});
  // Backward checks the targets too (they are read again).
  EXPECT_NO_THROW(F::cross_entropy(x.clone().requires_grad_(), tensor(std::vector<int64_t>{0, 1, 2, -100})).backward());
}

TEST(NnErrors, OtherLosses) {
  expect_error<ValueError>([] { F::binary_cross_entropy(tensor({0.5f, 1.5f}), tensor({0.f, 1.f})); },
                           {"between 0 and 1", "with_logits"});
  expect_error<ShapeError>([] { F::binary_cross_entropy(tensor({0.5f, 0.5f}), tensor({{0.f, 1.f}})); },
                           {"target size", "input size"});
  expect_error<ShapeError>([] { F::binary_cross_entropy_with_logits(zeros({3}), zeros({3, 1})); },
                           {"must be the same as input size"});
  expect_error<ValueError>([] { F::smooth_l1_loss(zeros({3}), zeros({3}), "mean", -1); }, {"negative values for beta"});
  expect_error<ValueError>([] { F::mse_loss(zeros({3}), zeros({3}), "elementwise_mean"); }, {"not a valid value"});
  // A target of another shape broadcasts with a warning (as PyTorch).
  std::string warned;
  auto prev = set_warning_handler([&](const std::string& m) { warned = m; });
  const Tensor l = F::mse_loss(zeros({3, 1}), ones({3}), "none");
  set_warning_handler(prev);
  EXPECT_EQ(l.sizes(), IntArrayRef({3, 3}));
  EXPECT_NE(warned.find("different to the input size"), std::string::npos) << warned;
}

TEST(NnErrors, BatchNormOneValuePerChannelInTrainingSeedG3) {
  const Tensor x = randn({1, 4});
  expect_error<ValueError>([&] { F::batch_norm(x, {}, {}, {}, {}, true); },
                           {"Expected more than 1 value per channel when training", "[1, 4]"});
  nn::BatchNorm1dImpl bn(4);
  expect_error<ValueError>([&] { bn(x); }, {"Expected more than 1 value per channel when training"});
  nn::BatchNorm2dImpl bn2(3);
  expect_error<ValueError>([&] { bn2(randn({1, 3, 1, 1})); }, {"more than 1 value per channel"});
  EXPECT_NO_THROW(bn2(randn({1, 3, 2, 1})));  // two values per channel are enough
  bn.eval();
  EXPECT_EQ(bn(x).sizes(), IntArrayRef({1, 4}));  // eval uses the running statistics
  expect_error<ShapeError>([&] { bn2(randn({2, 3, 4})); }, {"BatchNorm2d", "expected 4D input (got 3D input"});
  expect_error<ShapeError>([&] { bn(randn({2, 4, 3, 3})); }, {"expected 2D or 3D input (got 4D input"});
  expect_error<ValueError>([&] { F::batch_norm(randn({2, 4}), {}, {}, {}, {}, false); }, {"evaluation mode"});
  expect_error<ShapeError>([&] { F::batch_norm(randn({2, 4}), zeros({3}), ones({3}), {}, {}, true); },
                           {"running_mean", "4 elements"});
}

TEST(NnErrors, InterpolateSeedB9) {
  const Tensor img = randn({3, 8, 8});
  // A (C, H, W) image to bilinear: the message names the mode, the expected 4-D shape and the fix.
  expect_error<ShapeError>([&] { F::interpolate(img, {.size = {16, 16}, .mode = "bilinear"}); },
                           {"Got 3D input", "bilinear mode needs 4D input (N, C, H, W)", "unsqueeze(0)"});
  expect_error<ShapeError>([&] { F::interpolate(img, {.scale_factor = {2}, .mode = "bicubic"}); },
                           {"bicubic mode needs 4D input"});
  EXPECT_EQ(F::interpolate(img.unsqueeze(0), {.size = {16, 16}, .mode = "bilinear"}).sizes(),
            IntArrayRef({1, 3, 16, 16}));
  expect_error<ValueError>([&] { F::interpolate(img.unsqueeze(0), {.size = {4, 4}, .align_corners = true}); },
                           {"align_corners option can only be set with the interpolating modes"});
  expect_error<ValueError>([&] { F::interpolate(img.unsqueeze(0), {.size = {4, 4}, .scale_factor = {2}}); },
                           {"only one of size or scale_factor"});
  expect_error<ValueError>([&] { F::interpolate(img.unsqueeze(0), {.mode = "bilinear"}); },
                           {"either size or scale_factor"});
  expect_error<ValueError>([&] { F::interpolate(img.unsqueeze(0), {.size = {4, 4, 4}}); }, {"Input is 2D, size is 3"});
  expect_error<ValueError>([&] { F::interpolate(img.unsqueeze(0), {.size = {4}, .mode = "area"}); }, {"unknown mode 'area'"});
  expect_error<ValueError>([&] { F::interpolate(img.unsqueeze(0), {.scale_factor = {0.01}}); }, {"greater than 0"});
}

TEST(NnErrors, EmbeddingPadLayerNormSoftmax) {
  const Tensor w = randn({5, 2});
  expect_error<IndexError>([&] { F::embedding(tensor(std::vector<int64_t>{0, 5}), w); },
                           {"embedding: index 5 is out of range", "5 embeddings"});
  expect_error<DTypeError>([&] { F::embedding(tensor({0.f, 1.f}), w); }, {"indices", "float32"});
  expect_error<IndexError>([&] { F::embedding(tensor(std::vector<int64_t>{0}), w, 5); }, {"padding_idx 5"});
  expect_error<ValueError>([] { F::pad(zeros({1, 2, 3}), {3, 0}, "reflect"); },
                           {"padding size should be less than the corresponding input dimension", "(3, 0)"});
  expect_error<ShapeError>([] { F::pad(zeros({1, 1, 2, 3}), {1, 1}, "reflect"); }, {"2-D (unbatched) or 3-D (batched)"});
  expect_error<ValueError>([] { F::pad(zeros({2, 3}), {1}); }, {"divisible by 2"});
  expect_error<ValueError>([] { F::pad(zeros({2, 3}), {1, 1}, "wrap"); }, {"mode 'wrap'"});
  expect_error<ShapeError>([] { F::layer_norm(zeros({2, 5}), {4}); },
                           {"normalized_shape=[4]", "expected input with shape [*, 4]", "[2, 5]"});
  expect_error<DTypeError>([] { F::softmax(tensor(std::vector<int64_t>{1, 2}), 0); }, {"softmax", "int64"});
  EXPECT_EQ(F::softmax(tensor(std::vector<int64_t>{1, 2}), 0, kFloat64).dtype(), kFloat64);
  expect_error<IndexError>([] { F::softmax(zeros({2, 3}), 2); }, {"dimension out of range"});
}

// ---- layers ---------------------------------------------------------------------------------------

TEST(NnLayers, BatchNormStateDictReprAndModes) {
  nn::BatchNorm2dImpl bn(16);
  EXPECT_EQ(bn.repr(), "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  std::vector<std::string> keys;
  for (auto& [k, t] : bn.state_dict()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn.num_batches_tracked.dtype(), kInt64);
  EXPECT_EQ(bn.parameters().size(), 2u);
  EXPECT_EQ(nn::BatchNorm1dImpl(3, 1e-3, std::nullopt, false).repr(),
            "BatchNorm1d(3, eps=0.001, momentum=None, affine=False, track_running_stats=True)");
  // train(): batch statistics; eval(): running statistics (SEED E2).
  manual_seed(16);
  const Tensor x = randn({8, 16, 3, 3}) * 3 + 2;
  Tensor yt = bn(x);
  EXPECT_NEAR(yt.mean().item<float>(), 0.f, 1e-5);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  bn.eval();
  Tensor ye = bn(x);
  EXPECT_FALSE(allclose(yt, ye, 1e-3, 1e-3));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);  // not counted in eval
  // No running stats: batch statistics in both modes, no buffers.
  nn::BatchNorm2dImpl plain(16, 1e-5, 0.1, true, false);
  EXPECT_TRUE(plain.buffers().empty());
  plain.eval();
  EXPECT_TRUE(allclose(plain(x), yt, 1e-5, 1e-5));
  // to(float64) converts the floating buffers and keeps the counter int64.
  bn.to(kFloat64);
  EXPECT_EQ(bn.running_mean.dtype(), kFloat64);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), kInt64);
  EXPECT_EQ(bn(x.to(kFloat64)).dtype(), kFloat64);
}

TEST(NnLayers, LayerNormSoftmaxEmbeddingUpsampleReprs) {
  EXPECT_EQ(nn::LayerNormImpl({10}).repr(), "LayerNorm((10,), eps=1e-05, elementwise_affine=True)");
  EXPECT_EQ(nn::LayerNormImpl({4, 5}, 1e-6, false).repr(), "LayerNorm((4, 5), eps=1e-06, elementwise_affine=False)");
  EXPECT_EQ(nn::SoftmaxImpl(1).repr(), "Softmax(dim=1)");
  EXPECT_EQ(nn::LogSoftmaxImpl(-1).repr(), "LogSoftmax(dim=-1)");
  EXPECT_EQ(nn::EmbeddingImpl(10, 3, -1).repr(), "Embedding(10, 3, padding_idx=9)");
  EXPECT_EQ(nn::EmbeddingImpl(10, 3).repr(), "Embedding(10, 3)");
  EXPECT_EQ(nn::UpsampleImpl({.scale_factor = {2}}).repr(), "Upsample(scale_factor=2.0, mode=nearest)");
  EXPECT_EQ(nn::UpsampleImpl({.size = {4, 5}, .mode = "bilinear", .align_corners = true}).repr(),
            "Upsample(size=(4, 5), mode=bilinear)");
  EXPECT_EQ(nn::CrossEntropyLossImpl().repr(), "CrossEntropyLoss()");
  nn::LayerNormImpl ln({4});
  std::vector<std::string> keys;
  for (auto& [k, t] : ln.state_dict()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"weight", "bias"}));
  EXPECT_TRUE(allclose(ln.weight, ones({4})));
}

TEST(NnLayers, EmbeddingPaddingRowIsZeroAndNeverTrained) {
  manual_seed(17);
  nn::EmbeddingImpl emb(6, 4, 2);
  EXPECT_TRUE(allclose(emb.weight.select(0, 2), zeros({4})));
  EXPECT_GT(emb.weight.std().item<float>(), 0.5f);  // N(0, 1)
  const Tensor idx = tensor(std::vector<int64_t>{2, 0, 2, 5, 0}).view({5, 1});
  Tensor y = emb(idx);
  EXPECT_EQ(y.sizes(), IntArrayRef({5, 1, 4}));
  (y * y).sum().backward();
  const Tensor g = emb.weight.grad();
  EXPECT_TRUE(allclose(g.select(0, 2), zeros({4})));
  EXPECT_TRUE(allclose(g.select(0, 0), emb.weight.select(0, 0).detach() * 4));  // used twice, d(y^2) = 2y
  EXPECT_TRUE(allclose(g.select(0, 1), zeros({4})));
}

TEST(NnLayers, LossModulesRegisterWeightsAsBuffers) {
  const Tensor w = tensor({1.f, 2.f, 0.5f});
  nn::CrossEntropyLossImpl ce(w, -100, "sum", 0.1);
  auto sd = ce.state_dict();
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].first, "weight");
  EXPECT_TRUE(nn::CrossEntropyLossImpl().state_dict().empty());
  nn::BCEWithLogitsLossImpl bce({}, "mean", tensor({2.f}));
  EXPECT_EQ(bce.state_dict()[0].first, "pos_weight");
  const Tensor x = randn({4, 3}), t = tensor(std::vector<int64_t>{0, 2, 1, 1});
  EXPECT_TRUE(allclose(ce(x, t), F::cross_entropy(x, t, w, -100, "sum", 0.1)));
  EXPECT_TRUE(allclose(nn::MSELoss("sum")(x, x * 2), (x * x).sum()));
  EXPECT_TRUE(allclose(nn::L1Loss()(x, x * 2), x.abs().mean()));
  EXPECT_TRUE(allclose(nn::NLLLoss()(F::log_softmax(x, 1), t), F::cross_entropy(x, t)));
  EXPECT_TRUE(allclose(nn::SmoothL1Loss("none", 0.5)(x, zeros({4, 3})), F::smooth_l1_loss(x, zeros({4, 3}), "none", 0.5)));
  const Tensor p = rand({4, 3}) * 0.8 + 0.1, y = rand({4, 3});
  EXPECT_TRUE(allclose(nn::BCELoss()(p, y), F::binary_cross_entropy(p, y)));
  EXPECT_THROW(nn::MSELoss("avg"), ValueError);
}

TEST(NnLayers, FunctionalDropoutTakesTheTrainingFlagSeedE3) {
  // SEED E3: the functional form has no default for `training`; the layer follows its mode.
  const Tensor x = ones({1000});
  EXPECT_TRUE(allclose(F::dropout(x, 0.5, false), x));
  EXPECT_FALSE(allclose(F::dropout(x, 0.5, true), x));
  nn::DropoutImpl d(0.5);
  d.eval();
  EXPECT_TRUE(allclose(d(x), x));
}

}  // namespace
