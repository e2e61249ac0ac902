// Printing like PyTorch: tensor([[1., 2.], [3., 4.]]) with a dtype suffix when not implied.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "hearth/functions.h"
#include "ops/op_utils.h"

namespace hearth {
namespace {

struct Fmt {
  bool is_float = false, is_bool = false;
  bool int_mode = false;  // all finite values integral: print "1." style
  bool sci = false;
  int precision = 4;
  int width = 1;
};

std::string fmt_value(double v, const Fmt& f) {
  char buf[64];
  if (f.is_bool) return v != 0 ? "True" : "False";
  if (!f.is_float) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (f.sci) std::snprintf(buf, sizeof buf, "%.*e", f.precision, v);
  else if (f.int_mode) std::snprintf(buf, sizeof buf, "%.0f.", v);
  else std::snprintf(buf, sizeof buf, "%.*f", f.precision, v);
  return buf;
}

// PyTorch's print options: summarize tensors of more than 1000 elements, showing 3 items at
// each edge of every long dim.
constexpr int64_t kThreshold = 1000, kEdge = 3;

/// Indices of dim d to print; -1 marks the "..." gap.
std::vector<int64_t> shown(int64_t n, bool summarize) {
  std::vector<int64_t> idx;
  if (summarize && n > 2 * kEdge) {
    for (int64_t i = 0; i < kEdge; ++i) idx.push_back(i);
    idx.push_back(-1);
    for (int64_t i = n - kEdge; i < n; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  }
  return idx;
}

void print_rec(std::ostringstream& os, const std::vector<double>& vals, IntArrayRef sizes, const DimVector& strides,
               size_t dim, int64_t offset, const Fmt& f, int indent, bool summarize) {
  if (sizes.empty()) {
    os << fmt_value(vals[static_cast<size_t>(offset)], f);
    return;
  }
  os << '[';
  bool first = true;
  for (int64_t i : shown(sizes[dim], summarize)) {
    if (dim + 1 == sizes.size()) {
      if (!first) os << ", ";
      std::string s = i < 0 ? "..." : fmt_value(vals[static_cast<size_t>(offset + i * strides[dim])], f);
      os << std::string(static_cast<size_t>(std::max<int>(0, f.width - static_cast<int>(s.size()))), ' ') << s;
    } else {
      if (!first) {
        os << ',';
        for (size_t k = dim + 1; k < sizes.size(); ++k) os << '\n';
        os << std::string(static_cast<size_t>(indent + static_cast<int>(dim) + 1), ' ');
      }
      if (i < 0) os << "...";
      else print_rec(os, vals, sizes, strides, dim + 1, offset + i * strides[dim], f, indent, summarize);
    }
    first = false;
  }
  os << ']';
}

}  // namespace

std::string Tensor::toString() const {
  if (!defined()) return "[ undefined Tensor ]";
  Tensor host = to(Device(kCPUType), kFloat64);
  host = host.contiguous();
  std::vector<double> vals(static_cast<size_t>(numel()));
  if (!vals.empty()) std::memcpy(vals.data(), host.data_ptr(), vals.size() * sizeof(double));
  Fmt f;
  f.is_float = is_floating_point();
  f.is_bool = dtype() == kBool;
  if (f.is_float) {
    bool all_int = true;
    double amax = 0, amin_nz = INFINITY;
    for (double v : vals) {
      if (!std::isfinite(v)) continue;
      if (v != std::floor(v)) all_int = false;
      amax = std::max(amax, std::fabs(v));
      if (v != 0) amin_nz = std::min(amin_nz, std::fabs(v));
    }
    f.int_mode = all_int;
    // PyTorch switches to scientific notation for a wide dynamic range.
    if (amax > 0 && (amax / amin_nz > 1000.0 || amax > 1e8 || amin_nz < 1e-4)) f.sci = true;
    if (all_int && amax < 1e8) f.sci = false;
  }
  for (double v : vals) f.width = std::max<int>(f.width, static_cast<int>(fmt_value(v, f).size()));
  std::ostringstream os;
  os << "tensor(";
  if (numel() == 0) {
    os << "[]";
  } else {
    print_rec(os, vals, sizes(), contiguous_strides(sizes()), 0, 0, f, 7, numel() > kThreshold);
  }
  // The suffix PyTorch prints when the dtype is not the one inferred from the values.
  const bool implied = dtype() == default_dtype() || dtype() == kInt64 || dtype() == kBool;
  if (!implied || (numel() == 0 && dtype() != default_dtype())) os << ", dtype=" << dtype();
  if (numel() == 0 && dim() != 1) os << ", size=" << sizes();
  if (!is_cpu()) os << ", device='" << device().str() << "'";
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.toString(); }

}  // namespace hearth
