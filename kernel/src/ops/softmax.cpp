// softmax and log_softmax (nn::functional): one fused kernel forward, one backward kernel, and a
// composite backward under create_graph so that second derivatives exist.
#include "../autograd/functions.h"
#include "hearth/nn/norm.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth::nn::functional {
namespace {

using autograd::tensor_list;

/// The backward kernel on contiguous operands.
Tensor softmax_backward_data(const Tensor& g, const Tensor& y, int64_t dim, bool log) {
  static const OpHandle op = find_op("softmax_backward");
  Tensor gc = g.contiguous(), yc = y.contiguous();
  Tensor gx = ops::new_tensor(y.sizes(), y.dtype(), y.device());
  attrs::Softmax at{dim, log};
  ops::call(op, ops::common_device("softmax_backward", {&gc, &yc}), {gc, yc}, {gx}, &at);
  return gx;
}

/// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g) (sums over dim).
/// Saves the output only, as PyTorch.
class SoftmaxBackward final : public autograd::SavingNode<1> {
 public:
  SoftmaxBackward(int64_t dim, bool log) : dim_(dim), log_(log) {}
  std::string name() const override { return log_ ? "LogSoftmaxBackward" : "SoftmaxBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor y = saved(0);
    const Tensor& g = grads[0];
    if (!is_grad_enabled()) return {softmax_backward_data(g, y, dim_, log_)};
    // create_graph: the same formula from differentiable ops (y carries this node's history).
    if (log_) return {g - y.exp() * g.sum({dim_}, /*keepdim=*/true)};
    return {y * (g - (g * y).sum({dim_}, /*keepdim=*/true))};
  }

 private:
  int64_t dim_;
  bool log_;
};

Tensor softmax_impl(const char* name, const Tensor& input, int64_t dim, std::optional<ScalarType> dtype, bool log) {
  static const OpHandle op = find_op("softmax");
  // The conversion is recorded by autograd; the node's input is the converted tensor.
  const Tensor in = dtype && *dtype != input.dtype() ? input.to(*dtype) : input;
  HEARTH_CHECK(is_floating_point(in.dtype()), DTypeError, name, ": expected a floating point input, got ",
               ops::describe(in), " (pass dtype= to convert)");
  const int64_t d = ops::wrap_dim(dim, in.dim());
  const bool rec = autograd::any_requires_grad({&in});
  Tensor out;
  {
    autograd::internal::ForwardGuard fg(rec);
    Tensor c = in.contiguous();
    out = ops::new_tensor(in.sizes(), in.dtype(), in.device());
    attrs::Softmax at{in.dim() == 0 ? 0 : d, log};
    ops::call(op, in.device(), {c}, {out}, &at);
  }
  if (rec) {
    auto n = std::make_shared<SoftmaxBackward>(d, log);
    autograd::record(n, {&in}, {&out});
    n->save(0, out, /*is_output=*/true);
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& input, int64_t dim, std::optional<ScalarType> dtype) {
  return softmax_impl("softmax", input, dim, dtype, false);
}

Tensor log_softmax(const Tensor& input, int64_t dim, std::optional<ScalarType> dtype) {
  return softmax_impl("log_softmax", input, dim, dtype, true);
}

}  // namespace hearth::nn::functional
