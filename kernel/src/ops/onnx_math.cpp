// Op layer of the elementwise math ops added for ONNX (sin ... atanh, erf): one float kernel each,
// backward formulas over other ops (so second derivatives work).
#include <cmath>

#include "../autograd/functions.h"
#include "hearth/onnx_math.h"
#include "op_utils.h"

namespace hearth {
namespace {

using autograd::SavingNode;
using autograd::tensor_list;
using autograd::internal::ForwardGuard;

/// grad = formula(g, x, y) with the input x and result y saved.
class MathBackward final : public SavingNode<2> {
 public:
  using Formula = Tensor (*)(const Tensor& g, const Tensor& x, const Tensor& y);
  MathBackward(const char* name, Formula f) : name_(name), f_(f) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& g) override { return {f_(g[0], saved(0), saved(1))}; }

 private:
  const char* name_;
  Formula f_;
};

Tensor math_unary(const OpHandle& op, const char* node_name, MathBackward::Formula f, const Tensor& a) {
  const bool rec = autograd::any_requires_grad({&a});
  Tensor out;
  {
    ForwardGuard fg(rec);
    // Integers and bool compute in the default float dtype, as PyTorch's unary float ops.
    const ScalarType dt = is_floating_point(a.dtype()) ? a.dtype() : default_dtype();
    const Tensor ac = dt == a.dtype() ? a : a.to(dt);
    out = ops::new_tensor(a.sizes(), dt, a.device());
    ops::call(op, a.device(), {ac}, {out});
  }
  if (rec) {
    auto n = std::make_shared<MathBackward>(node_name, f);
    autograd::record(n, {&a}, {&out});
    n->save(0, a);
    n->save(1, out, /*is_output=*/true);
  }
  return out;
}

}  // namespace

#define HEARTH_MATH_OP(fn, node_name, ...)                                                           \
  Tensor fn(const Tensor& a) {                                                                       \
    static const OpHandle op = find_op(#fn);                                                         \
    return math_unary(op, node_name,                                                                 \
                      [](const Tensor& g, const Tensor& x, const Tensor& y) -> Tensor {              \
                        (void)x;                                                                     \
                        (void)y;                                                                     \
                        return __VA_ARGS__;                                                          \
                      },                                                                             \
                      a);                                                                            \
  }

HEARTH_MATH_OP(sin, "SinBackward", g * cos(x))
HEARTH_MATH_OP(cos, "CosBackward", -(g * sin(x)))
HEARTH_MATH_OP(tan, "TanBackward", g * (y * y + Scalar(1)))
HEARTH_MATH_OP(asin, "AsinBackward", g * rsqrt(Scalar(1) - x * x))
HEARTH_MATH_OP(acos, "AcosBackward", -(g * rsqrt(Scalar(1) - x * x)))
HEARTH_MATH_OP(atan, "AtanBackward", g / (x * x + Scalar(1)))
HEARTH_MATH_OP(sinh, "SinhBackward", g * cosh(x))
HEARTH_MATH_OP(cosh, "CoshBackward", g * sinh(x))
HEARTH_MATH_OP(asinh, "AsinhBackward", g * rsqrt(x * x + Scalar(1)))
HEARTH_MATH_OP(acosh, "AcoshBackward", g * rsqrt(x * x - Scalar(1)))
HEARTH_MATH_OP(atanh, "AtanhBackward", g / (Scalar(1) - x * x))
HEARTH_MATH_OP(erf, "ErfBackward", g * exp(-(x * x)) * Scalar(2.0 / std::sqrt(M_PI)))

#undef HEARTH_MATH_OP

}  // namespace hearth
