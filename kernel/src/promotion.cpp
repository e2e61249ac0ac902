// result_type (SEED B3) with PyTorch's priority of dimensioned tensors over 0-dim tensors over
// plain numbers, broadcast_shapes, and the thread-local grad mode.
#include <algorithm>

#include "hearth/functions.h"

namespace hearth {
namespace {

int category(ScalarType t) { return t == kBool ? 0 : is_floating_point(t) ? 2 : 1; }

/// Running state of PyTorch's ResultTypeState: one promoted dtype per priority class.
struct ResultState {
  ScalarType dim = ScalarType::Undefined, zero = ScalarType::Undefined, wrapped = ScalarType::Undefined;
  static ScalarType add(ScalarType acc, ScalarType t) { return acc == ScalarType::Undefined ? t : promote_types(acc, t); }
  void update(const Tensor& t) {
    if (t.dim() > 0) dim = add(dim, t.dtype());
    else zero = add(zero, t.dtype());
  }
  void update(const Scalar& s) {
    // A wrapped number contributes only its category, at default width.
    wrapped = add(wrapped, s.is_bool() ? kBool : s.is_integral() ? kInt64 : default_dtype());
  }
  ScalarType result() const {
    // Combine from highest priority; a lower class wins only with a higher category.
    auto combine = [](ScalarType higher, ScalarType lower) {
      if (higher == ScalarType::Undefined) return lower;
      if (lower == ScalarType::Undefined) return higher;
      return category(lower) > category(higher) ? promote_types(higher, lower) : higher;
    };
    return combine(combine(dim, zero), wrapped);
  }
};

}  // namespace

ScalarType result_type(const Tensor& a, const Tensor& b) {
  if (a.dtype() == b.dtype()) return a.dtype();
  ResultState s;
  s.update(a);
  s.update(b);
  return s.result();
}

ScalarType result_type(const Tensor& a, const Scalar& b) {
  ResultState s;
  s.update(a);
  s.update(b);
  return s.result();
}

ScalarType result_type(const std::vector<Tensor>& tensors) {
  ResultState s;
  for (const auto& t : tensors) s.update(t);
  HEARTH_CHECK(s.result() != ScalarType::Undefined, ValueError, "result_type: no tensors given");
  return s.result();
}

DimVector broadcast_shapes(IntArrayRef a, IntArrayRef b) {
  if (a == b) return DimVector(a.begin(), a.end());
  const size_t n = std::max(a.size(), b.size());
  DimVector out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    HEARTH_CHECK(da == db || da == 1 || db == 1, ShapeError, "The size of tensor a (", da,
                 ") must match the size of tensor b (", db, ") at non-singleton dimension ", i,
                 " (shapes ", a, " and ", b, " do not broadcast)");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {
thread_local bool t_grad_enabled = true;
}
NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = prev_; }
bool is_grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }

}  // namespace hearth
