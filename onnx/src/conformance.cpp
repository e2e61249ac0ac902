// The ONNX node-test runner: model.onnx + test_data_set_*/{input,output}_*.pb, compared with
// ONNX's backend-test rule (dtype and shape equal; integers exact; floats |d| <= atol + rtol|ref|).
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "onnx_internal.h"

namespace hearth::onnx {

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> numbered(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (int k = 0;; ++k) {
    fs::path p = dir / (prefix + std::to_string(k) + ".pb");
    if (!fs::exists(p)) break;
    out.push_back(p);
  }
  return out;
}

/// Max |out - ref| and whether every element is within tolerance (NaN matches NaN).
std::pair<double, bool> compare(const Tensor& out, const Tensor& ref) {
  if (ref.numel() == 0) return {0.0, true};
  Tensor o = out.cpu().to(kFloat64).contiguous(), r = ref.cpu().to(kFloat64).contiguous();
  const double* po = o.data_ptr<double>();
  const double* pr = r.data_ptr<double>();
  const bool exact = !is_floating_point(ref.dtype());
  double maxerr = 0.0;
  bool ok = true;
  for (int64_t i = 0; i < r.numel(); ++i) {
    const double a = po[i], b = pr[i];
    if (std::isnan(a) || std::isnan(b)) {
      if (std::isnan(a) != std::isnan(b)) { ok = false; maxerr = INFINITY; }
      continue;
    }
    if (a == b) continue;  // also equal infinities
    const double d = std::abs(a - b);
    maxerr = std::max(maxerr, d);
    if (exact || !(d <= kTestAtol + kTestRtol * std::abs(b))) ok = false;
  }
  return {maxerr, ok};
}

}  // namespace

std::string TestResult::line() const {
  char buf[64];
  switch (status) {
    case Status::Pass:
      std::snprintf(buf, sizeof buf, "%.3g", max_abs_error);
      return name + ": pass (max error " + buf + ")";
    case Status::Unsupported:
      return name + ": unsupported: " + reason;
    default:
      std::snprintf(buf, sizeof buf, "%.3g", max_abs_error);
      return name + ": FAIL (max error " + std::string(buf) + "): " + reason;
  }
}

TestResult run_node_test(const std::string& dir_s, Device device) {
  const fs::path dir(dir_s);
  TestResult r;
  r.name = dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
  try {
    Model m = Model::load((dir / "model.onnx").string());
    // The support table's static part, before any test data is read.
    const auto unsup = m.unsupported();
    if (!unsup.empty()) {
      r.status = TestResult::Status::Unsupported;
      for (const auto& u : unsup) r.reason += (r.reason.empty() ? "" : "; ") + u;
      return r;
    }
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    HEARTH_CHECK(!sets.empty(), FormatError, "onnx: '", dir_s, "' has no test_data_set_* directory");
    for (const auto& s : sets) {
      std::map<std::string, Tensor> feeds;
      const auto ins = numbered(s, "input_");
      HEARTH_CHECK(ins.size() <= m.inputs().size(), FormatError, "onnx: '", s.string(), "' has ", ins.size(),
                   " inputs, the model ", m.inputs().size());
      for (size_t k = 0; k < ins.size(); ++k) feeds[m.inputs()[k].name] = load_tensor_pb(ins[k].string());
      const auto outs_ = numbered(s, "output_");
      std::map<std::string, Tensor> got = m.run(feeds, device);
      HEARTH_CHECK(outs_.size() <= m.outputs().size(), FormatError, "onnx: '", s.string(), "' has more outputs than the model");
      for (size_t k = 0; k < outs_.size(); ++k) {
        const std::string& name = m.outputs()[k].name;
        Tensor ref = load_tensor_pb(outs_[k].string());
        const Tensor& out = got.at(name);
        if (out.dtype() != ref.dtype()) {
          r.reason = "output '" + name + "' has dtype " + dtype_name(out.dtype()) + ", expected " + dtype_name(ref.dtype());
          r.max_abs_error = INFINITY;
          return r;
        }
        if (out.sizes() != ref.sizes()) {
          std::ostringstream os;
          os << "output '" << name << "' has shape " << out.sizes() << ", expected " << ref.sizes();
          r.reason = os.str();
          r.max_abs_error = INFINITY;
          return r;
        }
        auto [err, ok] = compare(out, ref);
        r.max_abs_error = std::max(r.max_abs_error, err);
        if (!ok) {
          r.reason = "output '" + name + "' differs from the reference beyond rtol 1e-3, atol 1e-7 (" +
                     s.filename().string() + ")";
          return r;
        }
      }
    }
    r.status = TestResult::Status::Pass;
  } catch (const UnsupportedError& e) {
    r.status = TestResult::Status::Unsupported;
    r.reason = e.what();
  } catch (const std::exception& e) {
    r.status = TestResult::Status::Fail;
    r.reason = e.what();
  }
  return r;
}

}  // namespace hearth::onnx
