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

void print_rec(std::ostringstream& os, const std::vector<double>& vals, IntArrayRef sizes, size_t dim, size_t& pos,
               const Fmt& f, int indent) {
  if (sizes.empty()) {
    os << fmt_value(vals[pos++], f);
    return;
  }
  os << '[';
  const int64_t n = sizes[dim];
  for (int64_t i = 0; i < n; ++i) {
    if (dim + 1 == sizes.size()) {
      std::string s = fmt_value(vals[pos++], f);
      if (i) os << ", ";
      os << std::string(static_cast<size_t>(std::max<int>(0, f.width - static_cast<int>(s.size()))), ' ') << s;
    } else {
      if (i) {
        os << ',';
        for (size_t k = dim + 1; k < sizes.size(); ++k) os << '\n';
        os << std::string(static_cast<size_t>(indent + static_cast<int>(dim) + 1), ' ');
      }
      print_rec(os, vals, sizes, dim + 1, pos, f, indent);
    }
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
  size_t pos = 0;
  if (numel() == 0) {
    os << "[]";
  } else {
    print_rec(os, vals, sizes(), 0, pos, f, 7);
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
