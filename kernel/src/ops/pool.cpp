// max / avg / adaptive-avg pooling op layer: PyTorch's checks and output sizes (SEED A4 ceil_mode),
// allocation, and the gradients. Each backward is itself a recorded op (max: a gather through
// the saved indices; avg and adaptive: the forward pooling is the adjoint of the backward), so
// second derivatives work.
#include <array>
#include <cstdint>

#include "../autograd/functions.h"
#include "hearth/nn/conv.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth {
namespace {

using autograd::tensor_list;

/// Kernels take contiguous operands; a tensor in a backend's opaque layout goes as it is (the CPU
/// max-pool kernels read oneDNN's blocked layout in place; the others convert it themselves).
Tensor contiguous(const Tensor& t) { return t.has_opaque_layout() || t.is_contiguous() ? t : t.contiguous(); }

DimVector pooled_sizes(const Tensor& x, int64_t oh, int64_t ow) { return {x.size(0), x.size(1), oh, ow}; }

// ---- max ----

Tensor max_pool_backward(const Tensor& g, const Tensor& indices, const DimVector& in_sizes,
                         const attrs::Pool* at = nullptr);

/// Gradient of max_pool2d: the output's gradient goes back to the position of each maximum.
class MaxPool2dBackward final : public autograd::SavingNode<1> {
 public:
  MaxPool2dBackward(DimVector in_sizes, const attrs::Pool& at) : in_sizes_(std::move(in_sizes)), at_(at) {}
  std::string name() const override { return "MaxPool2dBackward"; }
  tensor_list apply(tensor_list&& g) override { return {max_pool_backward(g[0], saved(0), in_sizes_, &at_)}; }

 private:
  DimVector in_sizes_;
  attrs::Pool at_;
};

/// Gradient of max_pool2d_backward with respect to its incoming gradient: linear with fixed
/// indices, so its adjoint picks each window's maximum position out of the gradient.
class MaxPool2dBackwardBackward final : public autograd::SavingNode<1> {
 public:
  std::string name() const override { return "MaxPool2dBackwardBackward"; }
  tensor_list apply(tensor_list&& g) override {
    const Tensor ind = saved(0);
    const int64_t n = ind.size(0), c = ind.size(1);
    Tensor flat_idx = ind.to(kInt64).reshape({n, c, -1});
    return {g[0].reshape({n, c, -1}).gather(2, flat_idx).view(ind.sizes())};
  }
};

std::pair<Tensor, Tensor> max_pool_forward(const Tensor& x, const attrs::Pool& at, int64_t oh, int64_t ow,
                                           bool want_indices) {
  static const OpHandle op = find_op("max_pool2d");
  const Device dev = x.device();
  const bool rec = autograd::any_requires_grad({&x});
  Tensor out, ind;
  {
    autograd::internal::ForwardGuard fg(rec);
    const DimVector os = pooled_sizes(x, oh, ow);
    out = ops::new_tensor(os, x.dtype(), dev);
    // Indices only when someone reads them: int64 for the caller (PyTorch's dtype), int32 for
    // our own backward when a plane's positions fit (half the memory traffic).
    if (want_indices)
      ind = ops::new_tensor(os, kInt64, dev);
    else if (rec)
      ind = ops::new_tensor(os, x.size(2) * x.size(3) <= INT32_MAX ? kInt32 : kInt64, dev);
    ops::call(op, dev, {contiguous(x)}, {out, ind}, &at);
  }
  if (rec) {
    auto n = std::make_shared<MaxPool2dBackward>(DimVector(x.sizes().begin(), x.sizes().end()), at);
    autograd::record(n, {&x}, {&out});
    n->save(0, ind);
  }
  return {out, want_indices ? ind : Tensor()};
}

Tensor max_pool_backward(const Tensor& g, const Tensor& indices, const DimVector& in_sizes, const attrs::Pool* at) {
  static const OpHandle op = find_op("max_pool2d_backward");
  const bool rec = autograd::any_requires_grad({&g});
  Tensor gi;
  {
    autograd::internal::ForwardGuard fg(rec);
    gi = ops::new_tensor(in_sizes, g.dtype(), g.device());
    // The forward's attrs are a hint (optional): with them the kernel knows when windows tile
    // the input and writes each input pixel once instead of zero-filling and scattering.
    ops::call(op, g.device(), {contiguous(g), contiguous(indices)}, {gi}, at);
  }
  if (rec) {
    auto n = std::make_shared<MaxPool2dBackwardBackward>();
    autograd::record(n, {&g}, {&gi});
    n->save(0, indices);
  }
  return gi;
}

// ---- average ----

Tensor avg_pool_forward(const Tensor& x, const attrs::Pool& at, int64_t oh, int64_t ow);
Tensor avg_pool_backward(const Tensor& g, const attrs::Pool& at, const DimVector& in_sizes);

/// Gradient of avg_pool2d (and, with backward = false, of avg_pool2d_backward: the two are
/// each other's adjoints).
class AvgPool2dBackward final : public autograd::Node {
 public:
  AvgPool2dBackward(const attrs::Pool& at, DimVector in_sizes, DimVector out_sizes, bool of_backward)
      : at_(at), in_sizes_(std::move(in_sizes)), out_sizes_(std::move(out_sizes)), of_backward_(of_backward) {}
  std::string name() const override { return of_backward_ ? "AvgPool2dBackwardBackward" : "AvgPool2dBackward"; }
  tensor_list apply(tensor_list&& g) override {
    if (of_backward_) return {avg_pool_forward(g[0], at_, out_sizes_[2], out_sizes_[3])};
    return {avg_pool_backward(g[0], at_, in_sizes_)};
  }

 private:
  attrs::Pool at_;
  DimVector in_sizes_, out_sizes_;
  bool of_backward_;
};

Tensor avg_pool_forward(const Tensor& x, const attrs::Pool& at, int64_t oh, int64_t ow) {
  static const OpHandle op = find_op("avg_pool2d");
  const bool rec = autograd::any_requires_grad({&x});
  Tensor out;
  {
    autograd::internal::ForwardGuard fg(rec);
    out = ops::new_tensor(pooled_sizes(x, oh, ow), x.dtype(), x.device());
    ops::call(op, x.device(), {contiguous(x)}, {out}, &at);
  }
  if (rec) {
    auto n = std::make_shared<AvgPool2dBackward>(at, DimVector(x.sizes().begin(), x.sizes().end()),
                                                 DimVector(out.sizes().begin(), out.sizes().end()), false);
    autograd::record(n, {&x}, {&out});
  }
  return out;
}

Tensor avg_pool_backward(const Tensor& g, const attrs::Pool& at, const DimVector& in_sizes) {
  static const OpHandle op = find_op("avg_pool2d_backward");
  const bool rec = autograd::any_requires_grad({&g});
  Tensor gi;
  {
    autograd::internal::ForwardGuard fg(rec);
    gi = ops::new_tensor(in_sizes, g.dtype(), g.device());
    ops::call(op, g.device(), {contiguous(g)}, {gi}, &at);
  }
  if (rec) {
    auto n = std::make_shared<AvgPool2dBackward>(at, in_sizes, DimVector(g.sizes().begin(), g.sizes().end()), true);
    autograd::record(n, {&g}, {&gi});
  }
  return gi;
}

// ---- adaptive average ----

Tensor adaptive_forward(const Tensor& x, int64_t oh, int64_t ow);
Tensor adaptive_backward(const Tensor& g, const DimVector& in_sizes);

class AdaptiveAvgPool2dBackward final : public autograd::Node {
 public:
  AdaptiveAvgPool2dBackward(DimVector in_sizes, DimVector out_sizes, bool of_backward)
      : in_sizes_(std::move(in_sizes)), out_sizes_(std::move(out_sizes)), of_backward_(of_backward) {}
  std::string name() const override {
    return of_backward_ ? "AdaptiveAvgPool2dBackwardBackward" : "AdaptiveAvgPool2dBackward";
  }
  tensor_list apply(tensor_list&& g) override {
    if (of_backward_) return {adaptive_forward(g[0], out_sizes_[2], out_sizes_[3])};
    return {adaptive_backward(g[0], in_sizes_)};
  }

 private:
  DimVector in_sizes_, out_sizes_;
  bool of_backward_;
};

Tensor adaptive_forward(const Tensor& x, int64_t oh, int64_t ow) {
  static const OpHandle op = find_op("adaptive_avg_pool2d");
  const bool rec = autograd::any_requires_grad({&x});
  Tensor out;
  {
    autograd::internal::ForwardGuard fg(rec);
    out = ops::new_tensor(pooled_sizes(x, oh, ow), x.dtype(), x.device());
    ops::call(op, x.device(), {contiguous(x)}, {out});
  }
  if (rec) {
    auto n = std::make_shared<AdaptiveAvgPool2dBackward>(DimVector(x.sizes().begin(), x.sizes().end()),
                                                         DimVector(out.sizes().begin(), out.sizes().end()), false);
    autograd::record(n, {&x}, {&out});
  }
  return out;
}

Tensor adaptive_backward(const Tensor& g, const DimVector& in_sizes) {
  static const OpHandle op = find_op("adaptive_avg_pool2d_backward");
  const bool rec = autograd::any_requires_grad({&g});
  Tensor gi;
  {
    autograd::internal::ForwardGuard fg(rec);
    gi = ops::new_tensor(in_sizes, g.dtype(), g.device());
    ops::call(op, g.device(), {contiguous(g)}, {gi});
  }
  if (rec) {
    auto n = std::make_shared<AdaptiveAvgPool2dBackward>(in_sizes, DimVector(g.sizes().begin(), g.sizes().end()), true);
    autograd::record(n, {&g}, {&gi});
  }
  return gi;
}

// ---- checks (PyTorch's pool2d_shape_check) ----

/// [N, C, H, W] from a 4-D input or an unbatched 3-D one, with non-empty C, H, W.
Tensor pool_batch4(const char* op, const Tensor& input, bool& batched) {
  HEARTH_CHECK(input.defined(), ValueError, op, ": input is undefined");
  HEARTH_CHECK(is_floating_point(input.dtype()), DTypeError, op, ": expected a floating point input, got ",
               input.dtype());
  const int64_t d = input.dim();
  HEARTH_CHECK(
      (d == 3 || d == 4) && input.size(d - 1) > 0 && input.size(d - 2) > 0 && input.size(d - 3) > 0, ShapeError, op,
      ": expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got: ", input.sizes());
  batched = d == 4;
  return batched ? input : input.unsqueeze(0);
}

struct PoolArgs {
  attrs::Pool at;
  int64_t oh = 0, ow = 0;
};

PoolArgs pool_args(const char* op, const Tensor& x, const nn::Int2& kernel, nn::Int2 stride, const nn::Int2& padding,
                   const nn::Int2& dilation, bool ceil_mode) {
  if (!stride.given) stride = kernel;
  HEARTH_CHECK(kernel.given && kernel.h > 0 && kernel.w > 0, ValueError, op,
               ": kernel size should be greater than zero, but got kH: ", kernel.h, " kW: ", kernel.w);
  HEARTH_CHECK(stride.h > 0 && stride.w > 0, ValueError, op,
               ": stride should be greater than zero, but got dH: ", stride.h, " dW: ", stride.w);
  HEARTH_CHECK(dilation.h > 0 && dilation.w > 0, ValueError, op,
               ": dilation should be greater than zero, but got dilationH: ", dilation.h, " dilationW: ", dilation.w);
  HEARTH_CHECK(padding.h >= 0 && padding.w >= 0 && kernel.h / 2 >= padding.h && kernel.w / 2 >= padding.w, ValueError,
               op, ": pad should be non-negative and smaller than or equal to half of kernel size, but got padW = ",
               padding.w, ", padH = ", padding.h, ", kW = ", kernel.w, ", kH = ", kernel.h);
  PoolArgs r;
  for (int i = 0; i < 2; ++i) {
    r.at.kernel[i] = kernel[i];
    r.at.stride[i] = stride[i];
    r.at.padding[i] = padding[i];
    r.at.dilation[i] = dilation[i];
  }
  r.at.ceil_mode = ceil_mode;
  r.oh = nn::pool_output_size(x.size(2), kernel.h, stride.h, padding.h, dilation.h, ceil_mode);
  r.ow = nn::pool_output_size(x.size(3), kernel.w, stride.w, padding.w, dilation.w, ceil_mode);
  HEARTH_CHECK(r.oh >= 1 && r.ow >= 1, ShapeError, op, ": given input size: (", x.size(1), "x", x.size(2), "x",
               x.size(3), "). Calculated output size: (", x.size(1), "x", r.oh, "x", r.ow,
               "). Output size is too small");
  return r;
}

}  // namespace

namespace nn {

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                         bool ceil_mode) {
  HEARTH_CHECK(stride > 0, ValueError, "pool_output_size: stride must be positive, got ", stride);
  const int64_t num = in + 2 * padding - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;  // floor division
  // The last window must start inside the input or the left padding (SEED A4).
  if (ceil_mode && (out - 1) * stride >= in + padding) --out;
  return out;
}

namespace functional {

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Int2 kernel_size, Int2 stride, Int2 padding,
                                                  Int2 dilation, bool ceil_mode) {
  bool batched = true;
  const Tensor x = pool_batch4("max_pool2d", input, batched);
  const PoolArgs a = pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode);
  auto [out, ind] = max_pool_forward(x, a.at, a.oh, a.ow, true);
  if (!batched) return {out.squeeze(0), ind.squeeze(0)};
  return {out, ind};
}

Tensor max_pool2d(const Tensor& input, Int2 kernel_size, Int2 stride, Int2 padding, Int2 dilation, bool ceil_mode) {
  bool batched = true;
  const Tensor x = pool_batch4("max_pool2d", input, batched);
  const PoolArgs a = pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode);
  Tensor out = max_pool_forward(x, a.at, a.oh, a.ow, false).first;
  return batched ? out : out.squeeze(0);
}

Tensor avg_pool2d(const Tensor& input, Int2 kernel_size, Int2 stride, Int2 padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override) {
  bool batched = true;
  const Tensor x = pool_batch4("avg_pool2d", input, batched);
  HEARTH_CHECK(!divisor_override || *divisor_override != 0, ValueError, "avg_pool2d: divisor must be not zero");
  PoolArgs a = pool_args("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode);
  a.at.count_include_pad = count_include_pad;
  a.at.divisor_override = divisor_override.value_or(0);
  Tensor out = avg_pool_forward(x, a.at, a.oh, a.ow);
  return batched ? out : out.squeeze(0);
}

Tensor adaptive_avg_pool2d(const Tensor& input, Int2 output_size) {
  bool batched = true;
  const Tensor x = pool_batch4("adaptive_avg_pool2d", input, batched);
  HEARTH_CHECK(output_size.given && output_size.h > 0 && output_size.w > 0, ValueError,
               "adaptive_avg_pool2d: output_size must be positive, got ", output_size.str(true));
  Tensor out = adaptive_forward(x, output_size.h, output_size.w);
  return batched ? out : out.squeeze(0);
}

}  // namespace functional
}  // namespace nn
}  // namespace hearth
