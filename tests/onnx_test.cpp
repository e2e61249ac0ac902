// hearth-onnx: the math ops added for ONNX (reference values, gradcheck), the trace hook, export of
// lenet/resnet18 (checker, run back through hearth, onnxruntime where installed), the support
// table against docs/onnx.md, and bad input (not protobuf, truncated, unknown op, missing
// initializer, wrong input shape/dtype, hostile tensors).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "hearth/autograd.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "hearth/nn/models.h"
#include "hearth/onnx.h"
#include "hearth/onnx_math.h"
#include "test_util.h"

using namespace hearth;
using hearth::test::contains;
using hearth::test::message_of;
namespace fs = std::filesystem;
namespace hx = hearth::onnx;  // ::onnx is the protobuf namespace

namespace {

const std::string kBuildDir = HEARTH_BUILD_DIR;
const std::string kSourceDir = std::string(HEARTH_TEST_DATA_DIR) + "/..";

/// This process's scratch directory, removed at exit.
fs::path tmpdir() {
  static const test::TempDir d("hearth_onnx_test");
  return d.str();
}

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f << bytes;
}

bool ci() {
  const char* c = std::getenv("CI");
  return c && std::string(c) == "true";
}

int sh(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

// ---- the new math ops ----

struct MathCase {
  const char* name;
  Tensor (*fn)(const Tensor&);
  double (*ref)(double);
  double lo, hi;  // domain of the test points
};

const MathCase kMath[] = {
    {"sin", hearth::sin, [](double x) { return std::sin(x); }, -3, 3},
    {"cos", hearth::cos, [](double x) { return std::cos(x); }, -3, 3},
    {"tan", hearth::tan, [](double x) { return std::tan(x); }, -1.2, 1.2},
    {"asin", hearth::asin, [](double x) { return std::asin(x); }, -0.9, 0.9},
    {"acos", hearth::acos, [](double x) { return std::acos(x); }, -0.9, 0.9},
    {"atan", hearth::atan, [](double x) { return std::atan(x); }, -3, 3},
    {"sinh", hearth::sinh, [](double x) { return std::sinh(x); }, -2, 2},
    {"cosh", hearth::cosh, [](double x) { return std::cosh(x); }, -2, 2},
    {"asinh", hearth::asinh, [](double x) { return std::asinh(x); }, -3, 3},
    {"acosh", hearth::acosh, [](double x) { return std::acosh(x); }, 1.2, 4},
    {"atanh", hearth::atanh, [](double x) { return std::atanh(x); }, -0.9, 0.9},
    {"erf", hearth::erf, [](double x) { return std::erf(x); }, -2.5, 2.5},
};

TEST(OnnxMath, MatchesTheCLibraryInFloat64AndFloat32) {
  for (const auto& c : kMath) {
    SCOPED_TRACE(c.name);
    Tensor x = linspace(c.lo, c.hi, 37, kFloat64);
    Tensor y = c.fn(x);
    ASSERT_EQ(y.dtype(), kFloat64);
    for (int64_t i = 0; i < 37; ++i) EXPECT_DOUBLE_EQ(y[i].item<double>(), c.ref(x[i].item<double>()));
    Tensor y32 = c.fn(x.to(kFloat32));
    ASSERT_EQ(y32.dtype(), kFloat32);
    for (int64_t i = 0; i < 37; ++i) EXPECT_NEAR(y32[i].item<float>(), c.ref(x[i].item<double>()), 1e-5);
  }
}

TEST(OnnxMath, IntegerInputsComputeInTheDefaultFloatDtype) {
  Tensor y = hearth::sin(tensor(std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_NEAR(y[1].item<float>(), std::sin(1.0), 1e-6);
}

TEST(OnnxMath, Gradcheck) {
  autograd::GradcheckOptions o;
  o.raise_exception = false;
  for (const auto& c : kMath) {
    SCOPED_TRACE(c.name);
    Tensor x = linspace(c.lo, c.hi, 7, kFloat64).requires_grad_();
    auto f = c.fn;
    auto r = autograd::gradcheck([f](const autograd::tensor_list& in) -> autograd::tensor_list { return {f(in[0])}; },
                                 {x}, o);
    EXPECT_TRUE(r.ok) << r.message;
    // Second derivatives: the backward formulas are differentiable ops too.
    auto r2 = autograd::gradcheck(
        [f](const autograd::tensor_list& in) -> autograd::tensor_list {
          autograd::AutoGradMode on(true);  // gradcheck's numeric pass runs under no-grad
          Tensor y = f(in[0]).mul(linspace(0.5, 1.5, in[0].numel(), kFloat64)).sum();
          auto g = autograd::grad({y}, {in[0]}, {}, std::nullopt, true);
          return {g[0]};
        },
        {x}, o);
    EXPECT_TRUE(r2.ok) << r2.message;
  }
}

// ---- the trace hook ----

struct Recorder : TraceHook {
  std::vector<std::string> ops;
  void before(const OpSchema&, const KernelArgs&) override {}
  void after(const OpSchema& op, const KernelArgs&) override { ops.push_back(op.name); }
};

TEST(OnnxTraceHook, SeesOutermostOpsOfItsThreadOnly) {
  Tensor a = ones({3}), b = ones({3});
  Recorder r;
  set_trace_hook(&r);
  Tensor c = a + b;
  std::thread([&] { Tensor d = a * b; }).join();  // another thread: not reported
  Tensor e = hearth::sin(c);
  set_trace_hook(nullptr);
  Tensor f = a - b;  // after removal: not reported
  EXPECT_EQ(r.ops, (std::vector<std::string>{"add", "sin"}));
}

TEST(OnnxTraceHook, OneTracingThreadAtATime) {
  Recorder r1, r2;
  set_trace_hook(&r1);
  std::string msg;
  std::thread([&] { msg = message_of([&] { set_trace_hook(&r2); }); }).join();
  set_trace_hook(nullptr);
  EXPECT_TRUE(contains(msg, "another thread")) << msg;
}

// ---- export ----

std::map<std::string, Tensor> run_back(const std::string& bytes, const Tensor& x) {
  hx::Model m = hx::Model::parse(bytes, "exported");
  return m.run({{m.inputs().at(0).name, x}});
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

void check_with_python_checker(const fs::path& model) {
  if (!fs::exists("/usr/bin/python3") || sh("/usr/bin/python3 -c 'import onnx' 2>/dev/null") != 0) {
    ASSERT_FALSE(ci()) << "python3-onnx is missing under CI=true (quickstart.sh installs it)";
    GTEST_SKIP() << "python3-onnx not installed: onnx.checker not run";
  }
  const std::string cmd = "/usr/bin/python3 -c \"import onnx,sys; m=onnx.load(sys.argv[1]); "
                          "onnx.checker.check_model(m, full_check=True)\" " + model.string();
  EXPECT_EQ(sh(cmd), 0) << "onnx.checker.check_model failed on " << model;
}

struct ExportCase {
  const char* model;
  std::vector<int64_t> input;
};

class OnnxExport : public ::testing::TestWithParam<ExportCase> {};

TEST_P(OnnxExport, PassesTheCheckerAndRunsBackThroughHearth) {
  const auto& c = GetParam();
  manual_seed(3);
  auto m = nn::create_model(c.model);
  m->eval();
  // Non-trivial BatchNorm statistics, so that their export is checked too.
  {
    NoGradGuard ng;
    for (auto& [name, b] : m->named_buffers())
      if (contains(name, "running_var")) b.copy_(rand(b.sizes()).add(0.5));
      else if (contains(name, "running_mean")) b.copy_(randn(b.sizes()).mul(0.1));
  }
  Tensor x = randn(c.input);
  Tensor want;
  {
    NoGradGuard ng;
    want = (*m)(x);
  }
  const std::string bytes = hx::export_module_to_bytes(*m, x);
  ::onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(bytes));
  // Parameters keep their state-dict names; Linear is one Gemm.
  std::set<std::string> inits;
  for (const auto& t : proto.graph().initializer()) inits.insert(t.name());
  for (const auto& [name, p] : m->named_parameters()) EXPECT_TRUE(inits.count(name)) << name;
  int gemms = 0;
  for (const auto& n : proto.graph().node()) gemms += n.op_type() == "Gemm";
  EXPECT_GE(gemms, 1);
  const fs::path path = tmpdir() / (std::string(c.model) + ".onnx");
  write(path, bytes);
  auto got = run_back(bytes, x);
  ASSERT_EQ(got.size(), 1u);
  const Tensor& y = got.begin()->second;
  ASSERT_EQ(y.sizes(), want.sizes());
  EXPECT_LE(max_abs_diff(y, want), 1e-5);
  check_with_python_checker(path);
}

/// The Python that has onnxruntime: $HEARTH_ORT_PYTHON, else the venv `./quickstart.sh test` makes
/// in the build tree (Debian has no onnxruntime; it comes from PyPI), else python3 on PATH.
std::string ort_python() {
  if (const char* p = std::getenv("HEARTH_ORT_PYTHON"); p && *p) return p;
  const std::string venv = std::string(HEARTH_BUILD_DIR) + "/py-ort/bin/python3";
  return fs::exists(venv) ? venv : "python3";
}

TEST_P(OnnxExport, MatchesOnnxruntimeWhereInstalled) {
  const auto& c = GetParam();
  const std::string py = ort_python();
  if (sh("'" + py + "' -c 'import onnxruntime, numpy' 2>/dev/null") != 0) {
    ASSERT_FALSE(ci()) << "onnxruntime is missing under CI=true (./quickstart.sh test installs it in build/py-ort)";
    GTEST_SKIP() << "onnxruntime is not importable by " << py << " (./quickstart.sh test installs it); hearth's own "
                 << "run-back and onnx.checker are asserted by PassesTheCheckerAndRunsBackThroughHearth";
  }
  manual_seed(4);
  auto m = nn::create_model(c.model);
  m->eval();
  Tensor x = randn(c.input);
  Tensor want;
  {
    NoGradGuard ng;
    want = (*m)(x).contiguous();
  }
  const fs::path dir = tmpdir();
  const fs::path model = dir / (std::string(c.model) + "_ort.onnx");
  hx::export_module(*m, x, model.string());
  write(dir / "x.bin", std::string(static_cast<const char*>(x.contiguous().data_ptr()), x.nbytes()));
  write(dir / "y.bin", std::string(static_cast<const char*>(want.data_ptr()), want.nbytes()));
  std::string shape;
  for (auto d : c.input) shape += (shape.empty() ? "" : ",") + std::to_string(d);
  const std::string cmd = "'" + py + "' " + kSourceDir + "/tests/golden/onnx_ort_check.py " + model.string() + " " +
                          (dir / "x.bin").string() + " " + shape + " " + (dir / "y.bin").string() + " 1e-5";
  EXPECT_EQ(sh(cmd), 0) << cmd;
}

INSTANTIATE_TEST_SUITE_P(Zoo, OnnxExport,
                         ::testing::Values(ExportCase{"lenet", {2, 1, 28, 28}}, ExportCase{"resnet18", {1, 3, 64, 64}}),
                         [](const auto& info) { return std::string(info.param.model); });

TEST(OnnxExportErrors, OpsWithoutAnOnnxFormAreNamed) {
  struct Bad : nn::Module {
    Tensor forward(const Tensor& x) override {
      Tensor y = x.clone();
      return y.index_put_({x.gt(0)}, Scalar(1.0));
    }
  } bad;
  std::string msg = message_of([&] { hx::export_module_to_bytes(bad, ones({3})); });
  EXPECT_TRUE(contains(msg, "no ONNX form")) << msg;
  EXPECT_TRUE(contains(msg, "nonzero") || contains(msg, "put_")) << msg;
}

TEST(OnnxExport, FunctionalOpsAndViewsRoundTrip) {
  struct Net : nn::Module {
    Tensor w = randn({4, 6});
    Tensor forward(const Tensor& x) override {
      Tensor h = matmul(x, w).permute({1, 0});   // (6, 3): a transpose view
      h = h.narrow(0, 1, 4) * 2.0 + 1.0;          // a slice and scalar ops
      h = nn::functional::softmax(h.sigmoid(), 0);
      return cat({h, hearth::erf(h)}, 1).flatten();
    }
  } net;
  Tensor x = randn({3, 4});
  Tensor want;
  {
    NoGradGuard ng;
    want = net(x);
  }
  auto got = run_back(hx::export_module_to_bytes(net, x), x);
  EXPECT_LE(max_abs_diff(got.begin()->second, want), 1e-6);
}

// ---- the support table ----

TEST(OnnxSupportTable, DocsOnnxMdHoldsTheTableTheCodeDeclares) {
  std::ifstream f(kSourceDir + "/docs/onnx.md");
  ASSERT_TRUE(f.good()) << "docs/onnx.md is missing";
  std::string doc((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string begin = "<!-- support-table:begin (hearth onnx ops) -->\n", end = "<!-- support-table:end -->";
  const auto b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(doc.substr(b + begin.size(), e - b - begin.size()), hx::support_table_markdown())
      << "regenerate the table: ./build/bin/hearth onnx ops";
  // The required ops are declared.
  std::set<std::string> ops;
  for (const auto& r : hx::support_table()) ops.insert(r.op);
  for (const char* op : {"Conv", "MaxPool", "AveragePool", "BatchNormalization", "Resize", "Softmax", "LogSoftmax",
                         "SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss", "Gemm", "MatMul", "Transpose",
                         "Reshape", "Flatten", "Concat", "Gather", "Slice", "Squeeze", "Unsqueeze", "ReduceSum",
                         "ReduceMean", "ReduceMax", "Add", "Relu"})
    EXPECT_TRUE(ops.count(op)) << op;
}

// ---- bad input ----

std::string small_model(const std::function<void(::onnx::GraphProto&)>& edit = {}) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
  auto* shp = in->mutable_type()->mutable_tensor_type()->mutable_shape();
  shp->add_dim()->set_dim_value(2);
  shp->add_dim()->set_dim_value(3);
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(1);
  w->add_dims(3);
  for (int i = 0; i < 3; ++i) w->add_float_data(1.0f + i);
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->add_input("x");
  n->add_input("w");
  n->add_output("y");
  g->add_output()->set_name("y");
  if (edit) edit(*g);
  return m.SerializeAsString();
}

TEST(OnnxBadInput, AWellFormedModelRuns) {
  hx::Model m = hx::Model::parse(small_model());
  auto y = m.run({{"x", zeros({2, 3})}}).at("y");
  EXPECT_TRUE(allclose(y, tensor(std::vector<float>{1, 2, 3}).expand({2, 3})));
}

TEST(OnnxBadInput, NotProtobuf) {
  EXPECT_THROW(hx::Model::parse("this is not a protobuf file\n\xff\xff\xff", "text"), FormatError);
  EXPECT_THROW(hx::Model::parse("", "empty"), FormatError);
  std::string msg = message_of([] { hx::Model::parse("hello", "hello.onnx"); });
  EXPECT_TRUE(contains(msg, "hello.onnx")) << msg;
}

TEST(OnnxBadInput, TruncatedModel) {
  const std::string full = small_model();
  for (size_t n : {full.size() - 1, full.size() / 2, size_t(3)})
    EXPECT_THROW(hx::Model::parse(full.substr(0, n), "cut"), FormatError) << n;
}

TEST(OnnxBadInput, UnknownOp) {
  hx::Model m = hx::Model::parse(small_model([](auto& g) { g.mutable_node(0)->set_op_type("FrobnicateV2"); }));
  std::string msg = message_of([&] { m.run({{"x", zeros({2, 3})}}); });
  EXPECT_TRUE(contains(msg, "FrobnicateV2")) << msg;
  EXPECT_THROW(m.run({{"x", zeros({2, 3})}}), hx::UnsupportedError);
}

TEST(OnnxBadInput, MissingInitializer) {
  std::string msg = message_of([] { hx::Model::parse(small_model([](auto& g) { g.clear_initializer(); }), "m.onnx"); });
  EXPECT_TRUE(contains(msg, "'w'") && contains(msg, "missing initializer")) << msg;
  EXPECT_THROW(hx::Model::parse(small_model([](auto& g) { g.clear_initializer(); })), FormatError);
}

TEST(OnnxBadInput, WrongInputShapeOrDtype) {
  hx::Model m = hx::Model::parse(small_model());
  EXPECT_THROW(m.run({{"x", zeros({3, 3})}}), ShapeError);
  EXPECT_THROW(m.run({{"x", zeros({2, 3}, kFloat64)}}), DTypeError);
  EXPECT_THROW(m.run({}), ValueError);
  EXPECT_THROW(m.run({{"x", zeros({2, 3})}, {"nope", zeros({1})}}), ValueError);
}

// Issue 16: a pooling node's per-dimension attributes are counted before any is read (a 1-value
// kernel_shape on a 2-D pool used to read past its end).
TEST(OnnxBadInput, PoolAttributesWithTheWrongArity) {
  for (const char* op : {"MaxPool", "AveragePool"}) {
    for (const char* attr : {"kernel_shape", "strides", "dilations", "pads"}) {
      if (std::string(op) == "AveragePool" && std::string(attr) == "dilations") continue;
      const std::string bytes = small_model([&](::onnx::GraphProto& g) {
        auto* shp = g.mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
        shp->clear_dim();
        for (int d : {1, 1, 4, 4}) shp->add_dim()->set_dim_value(d);
        g.clear_initializer();
        auto* n = g.mutable_node(0);
        n->set_op_type(op);
        n->clear_input();
        n->add_input("x");
        auto add_ints = [&](const char* name, std::vector<int64_t> v) {
          auto* a = n->add_attribute();
          a->set_name(name);
          a->set_type(::onnx::AttributeProto::INTS);
          for (int64_t x : v) a->add_ints(x);
        };
        const bool k = std::string(attr) == "kernel_shape";
        add_ints("kernel_shape", k ? std::vector<int64_t>{2} : std::vector<int64_t>{2, 2});
        if (!k) add_ints(attr, {1});  // one value where 2 (pads: 4) are needed
      });
      hx::Model m = hx::Model::parse(bytes, "pool.onnx");
      const std::string msg = message_of([&] { m.run({{"x", zeros({1, 1, 4, 4})}}); });
      EXPECT_TRUE(contains(msg, attr) || contains(msg, "pads")) << op << " " << attr << ": " << msg;
      EXPECT_TRUE(contains(msg, "spatial dims")) << op << " " << attr << ": " << msg;
    }
  }
}

TEST(OnnxBadInput, HostileTensors) {
  // raw_data shorter than the dims say.
  EXPECT_THROW(hx::Model::parse(small_model([](auto& g) {
                 auto* w = g.mutable_initializer(0);
                 w->clear_float_data();
                 w->set_raw_data(std::string(8, '\0'));
               })),
               FormatError);
  // Dims whose product overflows, negative dims, too few values, an invalid data type.
  EXPECT_THROW(hx::Model::parse(small_model([](auto& g) {
                 auto* w = g.mutable_initializer(0);
                 w->clear_dims();
                 for (int i = 0; i < 4; ++i) w->add_dims(int64_t(1) << 40);
               })),
               FormatError);
  EXPECT_THROW(hx::Model::parse(small_model([](auto& g) { g.mutable_initializer(0)->set_dims(0, -3); })), FormatError);
  EXPECT_THROW(hx::Model::parse(small_model([](auto& g) { g.mutable_initializer(0)->add_float_data(4); })), FormatError);
  EXPECT_THROW(hx::Model::parse(small_model([](auto& g) { g.mutable_initializer(0)->set_data_type(99); })), FormatError);
  // A graph output nothing produces; a node reading a later node's output.
  EXPECT_THROW(hx::Model::parse(small_model([](auto& g) { g.mutable_output(0)->set_name("zz"); })), FormatError);
  EXPECT_THROW(hx::Model::parse(small_model([](auto& g) { g.mutable_node(0)->set_input(0, "y"); })), FormatError);
  // An attribute of the wrong type is a FormatError when the op reads it.
  hx::Model m = hx::Model::parse(small_model([](auto& g) {
    auto* n = g.mutable_node(0);
    n->set_op_type("Softmax");
    n->clear_input();
    n->add_input("x");
    auto* a = n->add_attribute();
    a->set_name("axis");
    a->set_type(::onnx::AttributeProto::STRING);
    a->set_s("one");
  }));
  EXPECT_THROW(m.run({{"x", zeros({2, 3})}}), FormatError);
}

TEST(OnnxBadInput, MutatedModelsFailCleanlyNeverCrash) {
  // A small exported conv net and the Add model, with random bytes changed: every outcome is a
  // result or a hearth::Error (run under ASan in the sanitizer build).
  struct Net2 : nn::Module {
    std::shared_ptr<nn::Conv2dImpl> conv = register_module("conv", std::make_shared<nn::Conv2dImpl>(1, 2, 3, 1, 1));
    Tensor forward(const Tensor& x) override {
      return nn::functional::log_softmax(nn::functional::max_pool2d((*conv)(x).relu(), 2).flatten(1), 1);
    }
  } net;
  const std::vector<std::string> seeds = {small_model(), hx::export_module_to_bytes(net, ones({1, 1, 6, 6}))};
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  int parsed = 0, ran = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::string b = seeds[iter % seeds.size()];
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int f = 0; f < flips; ++f) b[next() % b.size()] = static_cast<char>(next() & 0xff);
    if (next() % 5 == 0) b.resize(next() % b.size());
    try {
      hx::Model m = hx::Model::parse(b, "mutated");
      ++parsed;
      std::map<std::string, Tensor> feeds;
      for (const auto& vi : m.inputs()) {
        std::vector<int64_t> dims;
        for (auto d : vi.dims) dims.push_back(d < 0 ? 1 : std::min<int64_t>(d, 16));
        if (vi.dtype == ScalarType::Undefined) continue;
        feeds[vi.name] = zeros(dims, TensorOptions(vi.dtype));
      }
      m.run(feeds);
      ++ran;
    } catch (const hearth::Error&) {
    }
  }
  EXPECT_GT(parsed, 0);
  std::printf("mutated models: %d parsed, %d ran to the end\n", parsed, ran);
}

TEST(OnnxBadInput, TensorProtoFiles) {
  const fs::path d = tmpdir();
  hx::save_tensor_pb((d / "t.pb").string(), arange(6, kFloat32).reshape({2, 3}), "t");
  Tensor t = hx::load_tensor_pb((d / "t.pb").string());
  EXPECT_TRUE(equal(t, arange(6, kFloat32).reshape({2, 3})));
  write(d / "bad.pb", "\x08\x02\x08");  // dims field cut short
  EXPECT_THROW(hx::load_tensor_pb((d / "bad.pb").string()), FormatError);
  EXPECT_THROW(hx::load_tensor_pb((d / "missing.pb").string()), FormatError);
}

TEST(OnnxCli, BadFilesExitOneWithOneClearLine) {
  const fs::path d = tmpdir();
  const std::string hearth = kBuildDir + "/bin/hearth";
  write(d / "text.onnx", "not a model at all");
  write(d / "cut.onnx", small_model().substr(0, 20));
  write(d / "unknown.onnx", small_model([](auto& g) { g.mutable_node(0)->set_op_type("NoSuchOp"); }));
  write(d / "noinit.onnx", small_model([](auto& g) { g.clear_initializer(); }));
  write(d / "good.onnx", small_model());
  hx::save_tensor_pb((d / "x23.pb").string(), zeros({2, 3}));
  hx::save_tensor_pb((d / "x33.pb").string(), zeros({3, 3}));
  hx::save_tensor_pb((d / "x23d.pb").string(), zeros({2, 3}, kFloat64));
  struct Case { std::string args, expect; };
  const std::vector<Case> cases = {
      {"text.onnx --input " + (d / "x23.pb").string(), "not an ONNX model"},
      {"cut.onnx --input " + (d / "x23.pb").string(), "not an ONNX model"},
      {"unknown.onnx --input " + (d / "x23.pb").string(), "NoSuchOp"},
      {"noinit.onnx --input " + (d / "x23.pb").string(), "missing initializer"},
      {"good.onnx --input x=" + (d / "x33.pb").string(), "must have shape"},
      {"good.onnx --input x=" + (d / "x23d.pb").string(), "must be FLOAT"},
  };
  for (const auto& c : cases) {
    const std::string cmd = "cd " + d.string() + " && " + hearth + " onnx run " + c.args + " > out.txt 2> err.txt";
    EXPECT_EQ(sh(cmd), 1) << cmd;
    std::ifstream f(d / "err.txt");
    std::string err((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(contains(err, c.expect)) << c.args << ": " << err;
  }
  EXPECT_EQ(sh("cd " + d.string() + " && " + hearth + " onnx run good.onnx --input " + (d / "x23.pb").string() +
               " --out y.safetensors > /dev/null"),
            0);
  auto y = load_safetensors((d / "y.safetensors").string());
  ASSERT_EQ(y.tensors.size(), 1u);
  EXPECT_EQ(y.tensors[0].first, "y");
}

TEST(OnnxCli, ExportWithWeightsThenRunMatchesTheModel) {
  const fs::path d = tmpdir();
  const std::string hearth = kBuildDir + "/bin/hearth";
  manual_seed(11);
  auto m = nn::create_model("lenet");
  m->eval();
  save_safetensors((d / "w.safetensors").string(), m->state_dict());
  Tensor x = randn({1, 1, 28, 28});
  hx::save_tensor_pb((d / "x.pb").string(), x, "input");
  Tensor want;
  {
    NoGradGuard ng;
    want = (*m)(x);
  }
  ASSERT_EQ(sh(hearth + " export --model lenet --weights " + (d / "w.safetensors").string() +
               " --input 1,1,28,28 --out " + (d / "m.onnx").string() + " > /dev/null"),
            0);
  ASSERT_EQ(sh(hearth + " onnx run " + (d / "m.onnx").string() + " --input input=" + (d / "x.pb").string() +
               " --out " + (d / "y.safetensors").string() + " > /dev/null"),
            0);
  auto y = load_safetensors((d / "y.safetensors").string());
  ASSERT_EQ(y.tensors.size(), 1u);
  EXPECT_LE(max_abs_diff(y.tensors[0].second, want), 1e-5);
  // A model without weights differs: the weights were really used.
  ASSERT_EQ(sh(hearth + " export --model lenet --input 1,1,28,28 --out " + (d / "m0.onnx").string() + " > /dev/null"), 0);
  EXPECT_NE(sh("cmp -s " + (d / "m.onnx").string() + " " + (d / "m0.onnx").string()), 0);
}

}  // namespace
