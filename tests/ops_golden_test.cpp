// Golden-value op tests: every case in tests/golden/ops.json (made by gen_golden.py from PyTorch 1.13) is run through hearth and compared with PyTorch's result.
//
// One parameterized test per case, named by the case id (e.g. OpsGolden/Case.add_f32_bcast).
// The file format and the view / alias / attribute conventions are described at the top of
// tests/golden/gen_golden.py. Outputs must match PyTorch's dtype and shape exactly; values are
// compared with hearth::allclose (plus an independent element-by-element check on the host that
// also produces the diagnostics) using per-dtype tolerances: float32 rtol 1.3e-6 atol 1e-5,
// float64 rtol/atol 1e-12, float16 rtol 1e-3 atol 1e-5, bfloat16 rtol 1.6e-2 atol 1e-5
// (torch.testing's defaults for the low-precision types); integers, bools and cases marked
// "exact" (copies, selections, comparisons, conversions) must match bit for bit (NaN == NaN).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "hearth/hearth.h"
#include "hearth/serialize.h"

using hearth::Scalar;
using hearth::ScalarType;
using hearth::Tensor;
using json = nlohmann::json;

namespace {

// HEARTH_GOLDEN_DIR overrides the data directory (to try the runner on altered data).
const std::string kGoldenDir = std::getenv("HEARTH_GOLDEN_DIR") ? std::getenv("HEARTH_GOLDEN_DIR")
                                                                : std::string(HEARTH_TEST_DATA_DIR) + "/golden";

// ---- the data: ops.json is read at startup (it names the tests), ops.safetensors on first use ----

struct Golden {
  json cases;                                  // the "cases" array
  std::map<std::string, size_t> by_id;         // id -> index in cases
  std::string error;                           // why ops.json could not be read, if it could not
};

const Golden& golden() {
  static const Golden g = [] {
    Golden r;
    try {
      std::ifstream f(kGoldenDir + "/ops.json");
      if (!f) throw std::runtime_error("cannot open " + kGoldenDir + "/ops.json");
      json j = json::parse(f);
      r.cases = j.at("cases");
      for (size_t i = 0; i < r.cases.size(); ++i) r.by_id[r.cases[i].at("id").get<std::string>()] = i;
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  }();
  return g;
}

struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::string error;
};

const TensorFile& tensor_file() {
  static const TensorFile tf = [] {
    TensorFile r;
    try {
      auto contents = hearth::load_safetensors(kGoldenDir + "/ops.safetensors");
      for (auto& [name, t] : contents.tensors) r.tensors.emplace(name, t);
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  }();
  return tf;
}

std::vector<std::string> case_ids() {
  const Golden& g = golden();
  std::vector<std::string> ids;
  if (!g.error.empty()) return {"ops_json_unreadable"};
  for (const auto& c : g.cases) ids.push_back(c.at("id").get<std::string>());
  return ids;
}

// ---- helpers ----

std::string shape_str(hearth::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

std::string describe(const Tensor& t) {
  std::ostringstream os;
  os << t.dtype() << shape_str(t.sizes());
  if (t.numel() > 1 && !t.is_contiguous()) os << " strides " << shape_str(t.strides());
  return os.str();
}

/// A private copy of a stored tensor made on the host (memcpy), so a case that writes into its
/// input (index_put) cannot disturb a case that shares the stored tensor.
Tensor host_clone(const Tensor& t) {
  Tensor c = hearth::empty(t.sizes(), hearth::TensorOptions(t.dtype()));
  if (t.nbytes() > 0) std::memcpy(c.data_ptr(), t.data_ptr(), t.nbytes());
  return c;
}

/// A "gen" input: element i = ((i * mul) % mod) * scale + offset in double, cast to dtype.
Tensor generated(const json& g) {
  const auto shape = g.at("shape").get<std::vector<int64_t>>();
  const ScalarType dt = hearth::dtype_from_name(g.at("dtype").get<std::string>());
  const int64_t mul = g.at("mul").get<int64_t>(), mod = g.at("mod").get<int64_t>();
  const double scale = g.at("scale").get<double>(), offset = g.at("offset").get<double>();
  Tensor t = hearth::empty(shape, hearth::TensorOptions(dt));
  hearth::visit_dtype(dt, [&](auto v) {
    using T = decltype(v);
    if constexpr (std::is_same_v<T, hearth::Half> || std::is_same_v<T, hearth::BFloat16> || std::is_same_v<T, bool>) {
      throw std::runtime_error("generated inputs are float32, float64 or integer only");
    } else {
      T* p = static_cast<T*>(t.data_ptr());
      for (int64_t i = 0; i < t.numel(); ++i)
        p[i] = static_cast<T>(static_cast<double>((i * mul) % mod) * scale + offset);
    }
  });
  return t;
}

Scalar to_scalar(const json& v) {
  if (v.is_boolean()) return Scalar(v.get<bool>());
  if (v.is_number_integer()) return Scalar(v.get<int64_t>());
  if (v.is_number_float()) return Scalar(v.get<double>());
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "inf") return Scalar(std::numeric_limits<double>::infinity());
    if (s == "-inf") return Scalar(-std::numeric_limits<double>::infinity());
    if (s == "nan") return Scalar(std::numeric_limits<double>::quiet_NaN());
  }
  throw std::runtime_error("bad scalar in ops.json: " + v.dump());
}

std::optional<Scalar> opt_scalar(const json& a, const char* key) {
  if (!a.contains(key) || a[key].is_null()) return std::nullopt;
  return to_scalar(a[key]);
}

std::vector<int64_t> dims_of(const json& a, const char* key = "dims") {
  return a.contains(key) ? a[key].get<std::vector<int64_t>>() : std::vector<int64_t>{};
}

bool flag(const json& a, const char* key) { return a.contains(key) && a[key].get<bool>(); }

std::optional<ScalarType> opt_dtype(const json& a) {
  if (!a.contains("dtype")) return std::nullopt;
  return hearth::dtype_from_name(a["dtype"].get<std::string>());
}

hearth::TensorOptions options_of(const json& a) {
  auto dt = opt_dtype(a);
  return dt ? hearth::TensorOptions(*dt) : hearth::TensorOptions();
}

Tensor apply_view(const Tensor& s, const json& v) {
  const std::string kind = v.at("kind").get<std::string>();
  if (kind == "t") return s.t();
  if (kind == "permute") return s.permute(v.at("dims").get<std::vector<int64_t>>());
  if (kind == "step") return s.slice(v.at("dim").get<int64_t>(), std::nullopt, std::nullopt, v.at("step").get<int64_t>());
  if (kind == "expand") return s.expand(v.at("shape").get<std::vector<int64_t>>());
  throw std::runtime_error("unknown view kind " + kind);
}

std::vector<hearth::TensorIndex> index_list(const json& items, const std::vector<Tensor>& in) {
  std::vector<hearth::TensorIndex> out;
  for (const auto& it : items) {
    if (it.contains("tensor")) {
      out.emplace_back(in.at(it["tensor"].get<size_t>()));
    } else if (it.contains("int")) {
      out.emplace_back(it["int"].get<int64_t>());
    } else if (it.contains("slice")) {
      const auto& s = it["slice"];
      auto part = [&](size_t i) -> std::optional<int64_t> {
        return s[i].is_null() ? std::nullopt : std::optional<int64_t>(s[i].get<int64_t>());
      };
      out.emplace_back(hearth::indexing::Slice(part(0), part(1), part(2)));
    } else if (it.contains("none")) {
      out.emplace_back(hearth::indexing::None);
    } else if (it.contains("ellipsis")) {
      out.emplace_back(hearth::indexing::Ellipsis);
    } else if (it.contains("bool")) {
      out.emplace_back(it["bool"].get<bool>());
    } else {
      throw std::runtime_error("bad index item " + it.dump());
    }
  }
  return out;
}

// ---- op table: op name -> hearth call ----

using Inputs = std::vector<Tensor>;
using OpFn = std::function<std::vector<Tensor>(Inputs&, const json&)>;

template <typename TT, typename TS>
OpFn binary(TT tensor_fn, TS scalar_fn) {
  return [=](Inputs& in, const json& a) -> std::vector<Tensor> {
    if (in.size() == 2) return {tensor_fn(in[0], in[1], a)};
    return {scalar_fn(in[0], to_scalar(a.at("other")), a)};
  };
}

Scalar alpha_of(const json& a) { return a.contains("alpha") ? to_scalar(a["alpha"]) : Scalar(1); }

const std::map<std::string, OpFn>& op_table() {
  using namespace hearth;
  static const std::map<std::string, OpFn> t = [] {
    std::map<std::string, OpFn> m;
    // elementwise binary (tensor or scalar other)
    m["add"] = binary([](const Tensor& x, const Tensor& y, const json& a) { return add(x, y, alpha_of(a)); },
                      [](const Tensor& x, const Scalar& s, const json& a) { return x.add(s, alpha_of(a)); });
    m["sub"] = binary([](const Tensor& x, const Tensor& y, const json& a) { return sub(x, y, alpha_of(a)); },
                      [](const Tensor& x, const Scalar& s, const json& a) { return x.sub(s, alpha_of(a)); });
    m["mul"] = binary([](const Tensor& x, const Tensor& y, const json&) { return mul(x, y); },
                      [](const Tensor& x, const Scalar& s, const json&) { return x.mul(s); });
    m["div"] = binary(
        [](const Tensor& x, const Tensor& y, const json& a) {
          if (a.contains("rounding_mode") && !a["rounding_mode"].is_null())
            return div(x, y, a["rounding_mode"].get<std::string>());
          return div(x, y);
        },
        [](const Tensor& x, const Scalar& s, const json& a) {
          if (a.contains("rounding_mode") && !a["rounding_mode"].is_null())
            throw std::runtime_error("div with a scalar and a rounding mode has no hearth overload");
          return x.div(s);
        });
    m["pow"] = binary([](const Tensor& x, const Tensor& y, const json&) { return pow(x, y); },
                      [](const Tensor& x, const Scalar& s, const json&) { return pow(x, s); });
#define HEARTH_CMP(name)                                                                         \
  m[#name] = binary([](const Tensor& x, const Tensor& y, const json&) { return name(x, y); }, \
                    [](const Tensor& x, const Scalar& s, const json&) { return x.name(s); });
    HEARTH_CMP(eq) HEARTH_CMP(ne) HEARTH_CMP(lt) HEARTH_CMP(le) HEARTH_CMP(gt) HEARTH_CMP(ge)
#undef HEARTH_CMP
#define HEARTH_BIN(name) m[#name] = [](Inputs& in, const json&) -> std::vector<Tensor> { return {name(in.at(0), in.at(1))}; };
    HEARTH_BIN(maximum) HEARTH_BIN(minimum) HEARTH_BIN(logical_and) HEARTH_BIN(logical_or) HEARTH_BIN(logical_xor)
    HEARTH_BIN(matmul) HEARTH_BIN(mm) HEARTH_BIN(bmm) HEARTH_BIN(masked_select)
#undef HEARTH_BIN
#define HEARTH_UN(name) m[#name] = [](Inputs& in, const json&) -> std::vector<Tensor> { return {name(in.at(0))}; };
    HEARTH_UN(neg) HEARTH_UN(abs) HEARTH_UN(exp) HEARTH_UN(log) HEARTH_UN(sqrt) HEARTH_UN(rsqrt) HEARTH_UN(relu)
    HEARTH_UN(sigmoid) HEARTH_UN(tanh) HEARTH_UN(logical_not) HEARTH_UN(nonzero)
#undef HEARTH_UN
    m["gelu"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {gelu(in.at(0), a.value("approximate", std::string("none")))};
    };
    m["clamp"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {clamp(in.at(0), opt_scalar(a, "min"), opt_scalar(a, "max"))};
    };
    m["where"] = [](Inputs& in, const json&) -> std::vector<Tensor> { return {where(in.at(0), in.at(1), in.at(2))}; };
    // reductions
    m["sum"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {sum(in.at(0), dims_of(a), flag(a, "keepdim"), opt_dtype(a))};
    };
    m["mean"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {mean(in.at(0), dims_of(a), flag(a, "keepdim"), opt_dtype(a))};
    };
    m["prod"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      if (a.contains("dim")) return {in.at(0).prod(a["dim"].get<int64_t>(), flag(a, "keepdim"), opt_dtype(a))};
      return {in.at(0).prod(opt_dtype(a))};
    };
    m["amax"] = [](Inputs& in, const json& a) -> std::vector<Tensor> { return {amax(in.at(0), dims_of(a), flag(a, "keepdim"))}; };
    m["amin"] = [](Inputs& in, const json& a) -> std::vector<Tensor> { return {amin(in.at(0), dims_of(a), flag(a, "keepdim"))}; };
    m["max"] = [](Inputs& in, const json&) -> std::vector<Tensor> { return {in.at(0).max()}; };
    m["min"] = [](Inputs& in, const json&) -> std::vector<Tensor> { return {in.at(0).min()}; };
    m["max_dim"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      auto [v, i] = in.at(0).max(a.at("dim").get<int64_t>(), flag(a, "keepdim"));
      return {v, i};
    };
    m["min_dim"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      auto [v, i] = in.at(0).min(a.at("dim").get<int64_t>(), flag(a, "keepdim"));
      return {v, i};
    };
    auto dim_opt = [](const json& a) {
      return a.contains("dim") && !a["dim"].is_null() ? std::optional<int64_t>(a["dim"].get<int64_t>()) : std::nullopt;
    };
    m["argmax"] = [dim_opt](Inputs& in, const json& a) -> std::vector<Tensor> { return {in.at(0).argmax(dim_opt(a), flag(a, "keepdim"))}; };
    m["argmin"] = [dim_opt](Inputs& in, const json& a) -> std::vector<Tensor> { return {in.at(0).argmin(dim_opt(a), flag(a, "keepdim"))}; };
    m["var"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {in.at(0).var(dims_of(a), a.value("correction", int64_t{1}), flag(a, "keepdim"))};
    };
    m["std"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {in.at(0).std(dims_of(a), a.value("correction", int64_t{1}), flag(a, "keepdim"))};
    };
    m["norm"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {in.at(0).norm(to_scalar(a.at("p")), dims_of(a), flag(a, "keepdim"))};
    };
    // linear algebra
    m["addmm"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      Scalar beta = a.contains("beta") ? to_scalar(a["beta"]) : Scalar(1);
      Scalar alpha = a.contains("alpha") ? to_scalar(a["alpha"]) : Scalar(1);
      return {addmm(in.at(0), in.at(1), in.at(2), beta, alpha)};
    };
    // joining and indexing
    m["cat"] = [](Inputs& in, const json& a) -> std::vector<Tensor> { return {cat(in, a.value("dim", int64_t{0}))}; };
    m["stack"] = [](Inputs& in, const json& a) -> std::vector<Tensor> { return {stack(in, a.value("dim", int64_t{0}))}; };
    m["index_select"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {index_select(in.at(0), a.at("dim").get<int64_t>(), in.at(1))};
    };
    m["gather"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {gather(in.at(0), a.at("dim").get<int64_t>(), in.at(1))};
    };
    m["scatter"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {in.at(0).scatter(a.at("dim").get<int64_t>(), in.at(1), in.at(2))};
    };
    m["scatter_add"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {in.at(0).scatter_add(a.at("dim").get<int64_t>(), in.at(1), in.at(2))};
    };
    m["index"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      return {in.at(0).index(index_list(a.at("indices"), in))};
    };
    m["index_put"] = [](Inputs& in, const json& a) -> std::vector<Tensor> {
      Tensor self = in.at(0);  // a private copy (host_clone), possibly seen through a view
      auto idx = index_list(a.at("indices"), in);
      if (a.contains("value_input")) self.index_put_(idx, in.at(a["value_input"].get<size_t>()));
      else self.index_put_(idx, to_scalar(a.at("value")));
      return {self};
    };
    // conversions and factories
    m["to"] = [](Inputs& in, const json& a) -> std::vector<Tensor> { return {in.at(0).to(*opt_dtype(a))}; };
    m["contiguous"] = [](Inputs& in, const json&) -> std::vector<Tensor> {
      Tensor c = in.at(0).contiguous();
      if (!c.is_contiguous()) throw std::runtime_error("contiguous() returned a non-contiguous tensor");
      return {c};
    };
    m["arange"] = [](Inputs&, const json& a) -> std::vector<Tensor> {
      if (!a.contains("start")) return {arange(to_scalar(a.at("end")), options_of(a))};
      Scalar step = a.contains("step") ? to_scalar(a["step"]) : Scalar(1);
      return {arange(to_scalar(a.at("start")), to_scalar(a.at("end")), step, options_of(a))};
    };
    m["linspace"] = [](Inputs&, const json& a) -> std::vector<Tensor> {
      return {linspace(a.at("start").get<double>(), a.at("end").get<double>(), a.at("steps").get<int64_t>(), options_of(a))};
    };
    m["eye"] = [](Inputs&, const json& a) -> std::vector<Tensor> {
      std::optional<int64_t> cols = a.contains("m") ? std::optional<int64_t>(a["m"].get<int64_t>()) : std::nullopt;
      return {eye(a.at("n").get<int64_t>(), cols, options_of(a))};
    };
    return m;
  }();
  return t;
}

// ---- comparison ----

struct Tol {
  double rtol, atol;
};

Tol tolerance(ScalarType t) {
  switch (t) {
    case ScalarType::Float32: return {1.3e-6, 1e-5};
    case ScalarType::Float64: return {1e-12, 1e-12};
    case ScalarType::Float16: return {1e-3, 1e-5};
    case ScalarType::BFloat16: return {1.6e-2, 1e-5};
    default: return {0.0, 0.0};
  }
}

/// Element `flat` (row-major over sizes) of a CPU tensor of any strides, read on the host.
template <typename T>
T read_at(const Tensor& t, int64_t flat) {
  const auto sizes = t.sizes();
  const auto strides = t.strides();
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    const int64_t i = flat % sizes[d];
    flat /= sizes[d];
    off += i * strides[d];
  }
  const char* base = static_cast<const char*>(t.data_ptr());
  T out;
  hearth::visit_dtype(t.dtype(), [&](auto v) {
    using V = decltype(v);
    V x;
    std::memcpy(&x, base + off * static_cast<int64_t>(sizeof(V)), sizeof(V));
    if constexpr (std::is_same_v<V, hearth::Half> || std::is_same_v<V, hearth::BFloat16>)
      out = static_cast<T>(static_cast<float>(x));
    else
      out = static_cast<T>(x);
  });
  return out;
}

std::string multi_index(hearth::IntArrayRef sizes, int64_t flat) {
  std::vector<int64_t> idx(sizes.size());
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    idx[d] = flat % sizes[d];
    flat /= sizes[d];
  }
  return shape_str(idx);
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

/// Empty string if `actual` matches `expected`, else a description of the mismatch.
std::string compare(const Tensor& actual, const Tensor& expected, bool exact) {
  std::ostringstream why;
  if (actual.dtype() != expected.dtype()) {
    why << "dtype " << actual.dtype() << " != expected " << expected.dtype();
    return why.str();
  }
  if (!actual.sizes().equals(expected.sizes())) {
    why << "shape " << shape_str(actual.sizes()) << " != expected " << shape_str(expected.sizes());
    return why.str();
  }
  if (!actual.is_cpu()) return "output is not on the cpu device";
  const ScalarType dt = expected.dtype();
  const bool floating = hearth::is_floating_point(dt);
  const Tol tol = exact || !floating ? Tol{0.0, 0.0} : tolerance(dt);
  const int64_t n = expected.numel();

  // The host check: exact int64 comparison for integers and bools, |a-e| <= atol + rtol*|e| for
  // floats (equal values, including infinities, and NaN vs NaN count as equal).
  int64_t bad = 0, worst = -1, first_bad = -1;
  double max_diff = 0.0;
  std::ostringstream samples;
  int shown = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool ok;
    double diff;
    std::string a_s, e_s;
    if (floating) {
      const double a = read_at<double>(actual, i), e = read_at<double>(expected, i);
      ok = a == e || (std::isnan(a) && std::isnan(e)) || std::abs(a - e) <= tol.atol + tol.rtol * std::abs(e);
      diff = (std::isnan(a) && std::isnan(e)) || a == e ? 0.0 : std::abs(a - e);
      if (std::isnan(diff)) diff = std::numeric_limits<double>::infinity();
      a_s = fmt(a);
      e_s = fmt(e);
    } else {
      const int64_t a = read_at<int64_t>(actual, i), e = read_at<int64_t>(expected, i);
      ok = a == e;
      diff = std::abs(static_cast<double>(a) - static_cast<double>(e));
      a_s = std::to_string(a);
      e_s = std::to_string(e);
    }
    if (diff > max_diff || (worst < 0 && diff > 0)) {
      max_diff = diff;
      worst = i;
    }
    if (!ok) {
      if (first_bad < 0) first_bad = i;
      ++bad;
      if (shown < 8) {
        samples << "\n      at " << multi_index(expected.sizes(), i) << ": got " << a_s << ", expected " << e_s;
        ++shown;
      }
    }
  }

  // The verdict of hearth's own comparison (it runs through the backend's kernels).
  bool hearth_ok = true;
  std::string hearth_err;
  try {
    if (n > 0) {
      if (!floating) hearth_ok = hearth::equal(actual, expected);
      else hearth_ok = hearth::allclose(actual, expected, tol.rtol, tol.atol, /*equal_nan=*/true);
    }
  } catch (const std::exception& e) {
    hearth_ok = false;
    hearth_err = e.what();
  }

  if (bad == 0 && hearth_ok) return {};
  why << (bad ? std::to_string(bad) + " of " + std::to_string(n) + " elements differ" : "host check passes");
  why << " (" << (exact || !floating ? "exact" : "rtol " + fmt(tol.rtol) + " atol " + fmt(tol.atol)) << ")";
  if (worst >= 0)
    why << "; max abs difference " << fmt(max_diff) << " at " << multi_index(expected.sizes(), worst) << " (got "
        << fmt(read_at<double>(actual, worst)) << ", expected " << fmt(read_at<double>(expected, worst)) << ")";
  why << samples.str();
  if (!hearth_ok && bad == 0)
    why << "\n    but hearth::" << (floating ? "allclose" : "equal") << " says they differ"
        << (hearth_err.empty() ? "" : ": " + hearth_err);
  else if (hearth_ok && bad > 0)
    why << "\n    and hearth::" << (floating ? "allclose" : "equal") << " wrongly says they match";
  else if (!hearth_err.empty())
    why << "\n    hearth::" << (floating ? "allclose" : "equal") << " threw: " << hearth_err;
  return why.str();
}

// ---- the test ----

class OpsGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(OpsGolden, Case) {
  const Golden& g = golden();
  ASSERT_TRUE(g.error.empty()) << "cannot read " << kGoldenDir << "/ops.json: " << g.error;
  const TensorFile& tf = tensor_file();
  ASSERT_TRUE(tf.error.empty()) << "cannot read " << kGoldenDir << "/ops.safetensors: " << tf.error;
  const json& c = g.cases.at(g.by_id.at(GetParam()));
  const std::string id = c.at("id").get<std::string>();
  const std::string op = c.at("op").get<std::string>();
  const json attrs = c.contains("attrs") ? c["attrs"] : json::object();
  const bool exact = c.value("exact", false);

  auto stored = [&](const std::string& slot) -> const Tensor& {
    std::string name = id + "/" + slot;
    if (c.contains("alias") && c["alias"].contains(slot)) name = c["alias"][slot].get<std::string>();
    auto it = tf.tensors.find(name);
    if (it == tf.tensors.end()) throw std::runtime_error("tensor '" + name + "' missing from ops.safetensors");
    return it->second;
  };

  // Inputs: a private host copy of each stored tensor, then its view.
  Inputs in;
  std::ostringstream in_desc;
  const int n_in = c.at("inputs").get<int>();
  for (int k = 0; k < n_in; ++k) {
    const std::string slot = "in" + std::to_string(k);
    Tensor t = c.contains("gen") && c["gen"].contains(slot) ? generated(c["gen"][slot]) : host_clone(stored(slot));
    if (c.contains("views") && !c["views"][k].is_null()) {
      const json& v = c["views"][k];
      t = apply_view(t, v);
      // The op must see the layout PyTorch saw (strides of dims of size > 1).
      if (v.contains("strides")) {
        auto want = v["strides"].get<std::vector<int64_t>>();
        bool same = static_cast<int64_t>(want.size()) == t.dim();
        for (int64_t d = 0; same && d < t.dim(); ++d) same = t.size(d) <= 1 || t.stride(d) == want[d];
        ASSERT_TRUE(same) << "case " << id << ": input " << k << " view " << v.dump() << " gives strides "
                          << shape_str(t.strides()) << " for shape " << shape_str(t.sizes());
      }
    }
    in.push_back(t);
    in_desc << (k ? ", " : "") << describe(t);
  }
  std::string context = "case " + id + ": op " + op + " attrs " + attrs.dump() + " inputs (" + in_desc.str() + ")";

  auto fn = op_table().find(op);
  ASSERT_NE(fn, op_table().end()) << context << ": the runner has no mapping for op '" << op << "'";
  std::vector<Tensor> outs;
  try {
    outs = fn->second(in, attrs);
  } catch (const std::exception& e) {
    FAIL() << context << "\n  threw: " << e.what();
  }
  const int n_out = c.at("outputs").get<int>();
  ASSERT_EQ(static_cast<int>(outs.size()), n_out) << context;
  for (int k = 0; k < n_out; ++k) {
    const Tensor& expected = stored("out" + std::to_string(k));
    std::string why;
    try {
      why = compare(outs[k], expected, exact);
    } catch (const std::exception& e) {
      why = std::string("comparison threw: ") + e.what();
    }
    EXPECT_TRUE(why.empty()) << context << "\n  output " << k << ": got " << describe(outs[k]) << ", expected "
                             << describe(expected) << "\n    " << why;
  }
}

INSTANTIATE_TEST_SUITE_P(OpsGolden, OpsGolden, ::testing::ValuesIn(case_ids()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The table itself: readable, every op mapped, every case's tensors present.
TEST(OpsGoldenData, TableIsComplete) {
  const Golden& g = golden();
  ASSERT_TRUE(g.error.empty()) << g.error;
  ASSERT_GT(g.cases.size(), 500u);
  const TensorFile& tf = tensor_file();
  ASSERT_TRUE(tf.error.empty()) << tf.error;
  for (const auto& c : g.cases) {
    const std::string id = c.at("id").get<std::string>();
    EXPECT_TRUE(op_table().count(c.at("op").get<std::string>())) << id << ": unmapped op " << c["op"];
    for (const char* role : {"in", "out"}) {
      const int n = c.at(std::string(role) == "in" ? "inputs" : "outputs").get<int>();
      for (int k = 0; k < n; ++k) {
        const std::string slot = role + std::to_string(k);
        if (c.contains("gen") && c["gen"].contains(slot)) continue;
        std::string name = id + "/" + slot;
        if (c.contains("alias") && c["alias"].contains(slot)) name = c["alias"][slot].get<std::string>();
        EXPECT_TRUE(tf.tensors.count(name)) << id << ": tensor " << name << " missing";
      }
    }
  }
}

}  // namespace
