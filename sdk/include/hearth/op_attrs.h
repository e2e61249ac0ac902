// Attribute structs of the built-in ops: what KernelArgs::attrs points to, per op family.
// Plugin kernels cast attrs to the struct their op documents here.
#pragma once

#include <cstdint>
#include <optional>

#include "hearth/array_ref.h"
#include "hearth/dtype.h"
#include "hearth/scalar.h"

namespace hearth::attrs {

/// add, sub (alpha scales the second operand: a + alpha*b), mul, div, pow, maximum, minimum,
/// comparisons, logical ops. Inputs share one compute dtype; comparisons write bool.
/// With one input, `scalar` is the second operand.
struct Binary {
  Scalar alpha = 1;
  bool rhs_is_scalar = false;
  Scalar scalar;
  /// div only: 0 true division, 1 "trunc", 2 "floor".
  int rounding_mode = 0;
};

/// Unary elementwise ops; input and output share a dtype.
struct Unary {
  /// gelu: 0 exact (erf), 1 tanh approximation. leaky_relu: slope in `alpha`.
  int approximate = 0;
  double alpha = 0.0;
};

/// clamp: bounds as optional scalars.
struct Clamp {
  std::optional<Scalar> min, max;
};

/// fill_: the value.
struct Fill {
  Scalar value;
};

/// Reductions. The output has the input's rank (keepdim shape); `dims` is sorted, non-negative
/// and never empty (the op layer expands "all dims").
struct Reduce {
  DimVector dims;
  int64_t correction = 1;  ///< var/std
  double p = 2.0;          ///< norm
};

/// gemm: out[b] = beta*c[b] + alpha * a[b] @ b[b]. Inputs a (B,M,K), b (B,K,N) and optionally
/// c broadcastable to out (B,M,N). Batch strides may be 0 (broadcast).
struct Gemm {
  double alpha = 1.0;
  double beta = 0.0;
};

/// cat: inputs concatenated along dim into the output.
struct Cat {
  int64_t dim = 0;
};

/// index_select (self, index), gather (self, index), scatter_ (index, src; output = self).
struct DimIndex {
  int64_t dim = 0;
  /// scatter_: 0 replace, 1 add.
  int reduce = 0;
};

/// Random fills: counter-based (Philox) stream at (seed, offset); element i uses counter
/// offset + i, so results are the same on every device and thread count.
struct Random {
  uint64_t seed = 0;
  uint64_t offset = 0;
  double a = 0.0, b = 1.0;  ///< uniform [a,b); normal mean a, std b; randint [a,b)
};

/// arange / linspace fills: element i = start + i*step (arange), or linspace's symmetric form.
struct Range {
  double start = 0.0, end = 0.0, step = 1.0;
  int64_t steps = 0;
  bool is_linspace = false;
};

/// conv2d, conv2d_backward_input, conv2d_backward_weight (kernels: plugins/cpu/src/conv.cpp).
/// Always describes the forward convolution x [N, C, H, W] (*) w [O, C/groups, kH, kW] ->
/// y [N, O, OH, OW], also when the op computes one of its gradients (conv_transpose2d is
/// conv2d_backward_input). Spatial sizes come from the operands and the preallocated outputs.
/// All operands are contiguous NCHW / OIHW and share one floating dtype.
/// Input position of output oh and kernel tap kh: oh*stride - padding + kh*dilation.
struct Conv {
  int64_t stride[2] = {1, 1};
  int64_t padding[2] = {0, 0};    ///< top, left
  int64_t padding_r[2] = {0, 0};  ///< bottom, right (differs only for padding="same" with even taps)
  int64_t dilation[2] = {1, 1};
  int64_t groups = 1;
};

/// max_pool2d(_backward), avg_pool2d(_backward) (kernels: plugins/cpu/src/pool.cpp). Inputs are
/// contiguous [N, C, H, W]; output sizes (ceil_mode included) come from the preallocated outputs.
/// A window starts at o*stride - padding; max pooling walks it with `dilation`, avg pooling has
/// none. adaptive_avg_pool2d(_backward) take no attrs (windows follow from the two shapes).
struct Pool {
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t padding[2] = {0, 0};
  int64_t dilation[2] = {1, 1};
  bool ceil_mode = false;
  /// avg: divide by the window clipped to the padded input (true) or to the input (false).
  bool count_include_pad = true;
  /// avg: divide every window by this instead (0: not set).
  int64_t divisor_override = 0;
};

/// softmax and softmax_backward (kernels: plugins/cpu/src/softmax.cpp): normalize over `dim`
/// (non-negative) of a contiguous tensor; `log` selects log_softmax. The backward's inputs are
/// (grad, output): softmax dx = y * (g - sum(g * y)), log_softmax dx = g - exp(y) * sum(g).
struct Softmax {
  int64_t dim = 0;
  bool log = false;
};

/// batch_norm(_backward) (kernels: plugins/cpu/src/norm.cpp). Input viewed as contiguous (N, C, S);
/// weight, bias, running stats and saved stats are (C) vectors of the input's dtype (each may be
/// undefined where the schema says Tensor?). Training: batch statistics, saved as mean and biased
/// variance, and running stats (when given) updated in place as
/// new = (1 - momentum) * old + momentum * batch (unbiased variance for running_var).
/// Eval: normalizes with the running stats, which are also what the saved outputs hold.
struct BatchNorm {
  bool training = true;
  double momentum = 0.1;
  double eps = 1e-5;
};

/// layer_norm(_backward) (kernels: plugins/cpu/src/norm.cpp). Input viewed as contiguous (M, N),
/// each row normalized; weight and bias (N) may be undefined; saved mean and biased variance (M).
struct LayerNorm {
  double eps = 1e-5;
};

/// nll_loss(_backward) (kernels: plugins/cpu/src/loss.cpp). Input contiguous (N, C, S), target
/// int64 (N, S), weight (C) or undefined. reduction: 0 none (loss (N, S)), 1 mean (divided by the
/// summed weight of the non-ignored targets, also the total_weight output), 2 sum.
struct NllLoss {
  int reduction = 1;
  int64_t ignore_index = -100;
};

}  // namespace hearth::attrs
