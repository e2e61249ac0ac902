// conv2d / conv_transpose2d op layer: argument checks with PyTorch's messages, output sizes
// (SEED A4), allocation, and the gradients. Three differentiable primitives over the three
// kernels (forward, backward_input = transposed forward, backward_weight), each recording a node
// whose formula calls the others, so gradients of any order come out of the same kernels.
#include "hearth/nn/conv.h"

#include <array>
#include <sstream>

#include "../autograd/functions.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth {
namespace {

using autograd::tensor_list;
using HW = std::array<int64_t, 2>;

int64_t conv_size(int64_t in, int64_t k, int64_t s, int64_t pl, int64_t pr, int64_t d) {
  const int64_t num = in + pl + pr - d * (k - 1) - 1;
  return num < 0 ? 0 : num / s + 1;
}

/// Kernels take contiguous operands; a tensor in a backend's opaque layout (a oneDNN-blocked
/// activation) goes as it is: the CPU kernels read it in place (asking is_contiguous() would
/// convert it).
Tensor contiguous4(const Tensor& t) { return t.has_opaque_layout() || t.is_contiguous() ? t : t.contiguous(); }

// The three primitives. Each takes 4-D operands of one floating dtype (the public functions
// check), makes them contiguous, calls the kernel and records its node when an operand
// requires grad. conv_forward with relu is conv2d_relu: max(y, 0) in the same kernel.
Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& b, const attrs::Conv& at,
                    const HW* out_hw = nullptr, bool relu = false);
Tensor conv_backward_input(const Tensor& gy, const Tensor& w, const HW& in_hw, const attrs::Conv& at,
                           const Tensor& bias = {});
std::pair<Tensor, Tensor> conv_backward_weight(const Tensor& gy, const Tensor& x, const HW& kernel_hw,
                                               const attrs::Conv& at, bool with_bias);
using ops::relu_backward;

/// The gradients of y = x (*) w + b for the inputs that need one.
void conv_input_grads(const autograd::Node& n, const Tensor& gy, const Tensor& x, const Tensor& w, const HW& x_hw,
                      const HW& kernel_hw, const attrs::Conv& at, tensor_list& r) {
  if (n.needs_input_grad(0)) r[0] = conv_backward_input(gy, w, x_hw, at);
  if (n.needs_input_grad(1)) {
    // oneDNN computes the bias gradient in the same pass as the weight's.
    auto [gw, gb] = conv_backward_weight(gy, x, kernel_hw, at, n.needs_input_grad(2));
    r[1] = gw;
    r[2] = gb;
  } else if (n.needs_input_grad(2)) {
    r[2] = gy.sum({0, 2, 3});
  }
}

/// Gradient of conv2d (transposed = false: inputs x, w, b; y = x (*) w + b) and of
/// conv_transpose2d (transposed = true: inputs x, w, b; y = backward_input(x, w) + b).
class ConvolutionBackward final : public autograd::SavingNode<2> {
 public:
  ConvolutionBackward(bool transposed, const attrs::Conv& at) : transposed_(transposed), at_(at) {}
  std::string name() const override { return transposed_ ? "ConvTranspose2dBackward" : "Conv2dBackward"; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(3);
    if (!g[0].defined()) return r;
    const Tensor x = needs_input_grad(1) ? saved(0) : Tensor();
    const Tensor w = needs_input_grad(0) ? saved(1) : Tensor();
    if (!transposed_) {
      conv_input_grads(*this, g[0], x, w, x_hw_, kernel_hw_, at_, r);
    } else {
      // y = backward_input(x, w): x plays the conv's output, y its input.
      if (needs_input_grad(0)) {
        const HW out{x_hw_[0], x_hw_[1]};
        r[0] = conv_forward(g[0], w, {}, at_, &out);
      }
      if (needs_input_grad(1)) r[1] = conv_backward_weight(x, g[0], {kernel_hw_[0], kernel_hw_[1]}, at_, false).first;
      if (needs_input_grad(2)) r[2] = g[0].sum({0, 2, 3});
    }
    return r;
  }
  void set_shapes(const Tensor& x, const Tensor& w) {
    x_hw_ = {x.size(2), x.size(3)};
    kernel_hw_ = {w.size(2), w.size(3)};
  }

 private:
  bool transposed_;
  attrs::Conv at_;
  HW x_hw_{}, kernel_hw_{};
};

/// Gradient of conv2d_relu: y = max(x (*) w + b, 0). The incoming gradient is masked by the saved
/// output (PyTorch's threshold_backward: zero where y <= 0), then it is conv2d's gradient. With
/// oneDNN the mask reads y and writes its result in y's blocked layout, which the two convolution
/// backward passes read as they are (issue 4).
class ConvReluBackward final : public autograd::SavingNode<3> {
 public:
  explicit ConvReluBackward(const attrs::Conv& at) : at_(at) {}
  std::string name() const override { return "Conv2dReluBackward"; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(3);
    if (!g[0].defined()) return r;
    const Tensor gm = relu_backward(g[0], saved(2));
    conv_input_grads(*this, gm, needs_input_grad(1) ? saved(0) : Tensor(), needs_input_grad(0) ? saved(1) : Tensor(),
                     x_hw_, kernel_hw_, at_, r);
    return r;
  }
  void set_shapes(const Tensor& x, const Tensor& w) {
    x_hw_ = {x.size(2), x.size(3)};
    kernel_hw_ = {w.size(2), w.size(3)};
  }

 private:
  attrs::Conv at_;
  HW x_hw_{}, kernel_hw_{};
};

/// Gradient of relu_backward(g, y) with respect to g: the same mask (y is treated as a constant,
/// as PyTorch's threshold_backward does; y's own derivative is zero almost everywhere).
class ReluBackwardBackward final : public autograd::SavingNode<1> {
 public:
  std::string name() const override { return "ReluBackwardBackward"; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(1);
    if (g[0].defined() && needs_input_grad(0)) r[0] = relu_backward(g[0], saved(0));
    return r;
  }
};

/// Gradient of (grad_weight, grad_bias) = backward_weight(gy, x): bilinear in gy and x.
/// d gy = x (*) ggw + ggb (a convolution with ggb as its bias); d x = backward_input(gy, ggw).
class ConvBackwardWeightBackward final : public autograd::SavingNode<2> {
 public:
  explicit ConvBackwardWeightBackward(const attrs::Conv& at) : at_(at) {}
  std::string name() const override { return "Conv2dBackwardWeightBackward"; }
  tensor_list apply(tensor_list&& g) override {
    tensor_list r(2);
    const Tensor& ggw = g[0];
    const Tensor ggb = g.size() > 1 ? g[1] : Tensor();
    if (needs_input_grad(0)) {
      if (ggw.defined()) {
        r[0] = conv_forward(saved(1), ggw, ggb, at_, &gy_hw_);
      } else if (ggb.defined()) {
        r[0] = ggb.view({1, ggb.size(0), 1, 1}).expand({gy_n_, ggb.size(0), gy_hw_[0], gy_hw_[1]});
      }
    }
    if (needs_input_grad(1) && ggw.defined()) r[1] = conv_backward_input(saved(0), ggw, x_hw_, at_);
    return r;
  }
  HW gy_hw_{}, x_hw_{};
  int64_t gy_n_ = 0;

 private:
  attrs::Conv at_;
};

Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& b, const attrs::Conv& at, const HW* out_hw,
                    bool relu) {
  static const OpHandle conv_op = find_op("conv2d"), relu_op = find_op("conv2d_relu");
  const Device dev = ops::common_device(relu ? "conv2d_relu" : "conv2d", {&x, &w, &b});
  const int64_t oh =
      out_hw ? (*out_hw)[0]
             : conv_size(x.size(2), w.size(2), at.stride[0], at.padding[0], at.padding_r[0], at.dilation[0]);
  const int64_t ow =
      out_hw ? (*out_hw)[1]
             : conv_size(x.size(3), w.size(3), at.stride[1], at.padding[1], at.padding_r[1], at.dilation[1]);
  const bool rec = autograd::any_requires_grad({&x, &w, &b});
  Tensor y;
  {
    autograd::internal::ForwardGuard fg(rec);
    y = ops::new_tensor({x.size(0), w.size(0), oh, ow}, x.dtype(), dev);
    const OpHandle& op = relu ? relu_op : conv_op;
    if (b.defined())
      ops::call(op, dev, {contiguous4(x), contiguous4(w), b.contiguous()}, {y}, &at);
    else
      ops::call(op, dev, {contiguous4(x), contiguous4(w)}, {y}, &at);
  }
  if (rec) {
    // Both nodes keep x and w for the gradients that need them; the fused one also keeps y (the mask).
    auto record = [&](auto n) {
      autograd::record(n, {&x, &w, &b}, {&y});
      n->set_shapes(x, w);
      if (n->needs_input_grad(1)) n->save(0, x);
      if (n->needs_input_grad(0)) n->save(1, w);
      return n;
    };
    if (relu)
      record(std::make_shared<ConvReluBackward>(at))->save(2, y, /*is_output=*/true);
    else
      record(std::make_shared<ConvolutionBackward>(false, at));
  }
  return y;
}

}  // namespace

Tensor ops::relu_backward(const Tensor& g, const Tensor& y) {
  static const OpHandle op = find_op("relu_backward");
  const bool rec = autograd::any_requires_grad({&g});
  Tensor gi;
  {
    autograd::internal::ForwardGuard fg(rec);
    const Tensor gc = g.dtype() == y.dtype() ? g : g.to(y.dtype());
    gi = ops::new_tensor(y.sizes(), y.dtype(), y.device());
    ops::call(op, y.device(), {contiguous4(gc), contiguous4(y)}, {gi});
  }
  if (rec) {
    auto n = std::make_shared<ReluBackwardBackward>();
    autograd::record(n, {&g}, {&gi});
    n->save(0, y);
  }
  return gi;
}

namespace {

Tensor conv_backward_input(const Tensor& gy, const Tensor& w, const HW& in_hw, const attrs::Conv& at,
                           const Tensor& bias) {
  static const OpHandle op = find_op("conv2d_backward_input");
  const Device dev = ops::common_device("conv_transpose2d", {&gy, &w, &bias});
  const bool rec = autograd::any_requires_grad({&gy, &w, &bias});
  Tensor gx;
  {
    autograd::internal::ForwardGuard fg(rec);
    gx = ops::new_tensor({gy.size(0), w.size(1) * at.groups, in_hw[0], in_hw[1]}, gy.dtype(), dev);
    ops::call(op, dev, {contiguous4(gy), contiguous4(w)}, {gx}, &at);
    if (bias.defined()) gx.add_(bias.view({1, bias.size(0), 1, 1}));
  }
  if (rec) {
    auto n = std::make_shared<ConvolutionBackward>(true, at);
    autograd::record(n, {&gy, &w, &bias}, {&gx});
    n->set_shapes(gy, w);
    if (n->needs_input_grad(1)) n->save(0, gy);
    if (n->needs_input_grad(0)) n->save(1, w);
  }
  return gx;
}

std::pair<Tensor, Tensor> conv_backward_weight(const Tensor& gy, const Tensor& x, const HW& kernel_hw,
                                               const attrs::Conv& at, bool with_bias) {
  static const OpHandle op = find_op("conv2d_backward_weight");
  const Device dev = ops::common_device("conv2d_backward_weight", {&gy, &x});
  const bool rec = autograd::any_requires_grad({&gy, &x});
  Tensor gw, gb;
  {
    autograd::internal::ForwardGuard fg(rec);
    gw = ops::new_tensor({gy.size(1), x.size(1) / at.groups, kernel_hw[0], kernel_hw[1]}, gy.dtype(), dev);
    if (with_bias) gb = ops::new_tensor({gy.size(1)}, gy.dtype(), dev);
    ops::call(op, dev, {contiguous4(gy), contiguous4(x)}, {gw, gb}, &at);
  }
  if (rec) {
    auto n = std::make_shared<ConvBackwardWeightBackward>(at);
    if (with_bias)
      autograd::record(n, {&gy, &x}, {&gw, &gb});
    else
      autograd::record(n, {&gy, &x}, {&gw});
    n->gy_hw_ = {gy.size(2), gy.size(3)};
    n->gy_n_ = gy.size(0);
    n->x_hw_ = {x.size(2), x.size(3)};
    if (n->needs_input_grad(1)) n->save(0, gy);
    if (n->needs_input_grad(0)) n->save(1, x);
  }
  return {gw, gb};
}

// ---- argument checks shared by conv2d and conv_transpose2d ----

void check_float_same(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias) {
  HEARTH_CHECK(input.defined() && weight.defined(), ValueError, op, ": input and weight must be defined");
  HEARTH_CHECK(is_floating_point(input.dtype()), DTypeError, op, ": expected a floating point input, got ",
               input.dtype(), " (convolution is not implemented for integer or bool tensors)");
  HEARTH_CHECK(input.dtype() == weight.dtype(), DTypeError, op, ": input type (", input.dtype(), ") and weight type (",
               weight.dtype(), ") should be the same");
  HEARTH_CHECK(!bias.defined() || bias.dtype() == input.dtype(), DTypeError, op, ": input type (", input.dtype(),
               ") and bias type (", bias.dtype(), ") should be the same");
}

void check_positive(const char* op, const char* what, const nn::Int2& v) {
  HEARTH_CHECK(v.h > 0 && v.w > 0, ValueError, op, ": ", what, " must be positive, got ", v.str(true));
}
void check_non_negative(const char* op, const char* what, const nn::Int2& v) {
  HEARTH_CHECK(v.h >= 0 && v.w >= 0, ValueError, op, ": ", what, " must be non-negative, got ", v.str(true));
}

/// [N, C, H, W] from a 4-D input or an unbatched 3-D one; `batched` says which.
Tensor batch4(const char* op, const Tensor& input, const Tensor& weight, bool& batched) {
  HEARTH_CHECK(input.dim() == 3 || input.dim() == 4, ShapeError, op,
               ": expected a 3-D (unbatched) or 4-D (batched) input, got input of shape ", input.sizes());
  HEARTH_CHECK(weight.dim() == 4, ShapeError, op, ": expected a 4-D weight, got weight of shape ", weight.sizes());
  batched = input.dim() == 4;
  return batched ? input : input.unsqueeze(0);
}

}  // namespace

// ---- Int2 / ConvPadding / sizes ----

namespace nn {

std::string Int2::str(bool as_tuple) const {
  if (scalar && !as_tuple) return std::to_string(h);
  return "(" + std::to_string(h) + ", " + std::to_string(w) + ")";
}

ConvPadding::ConvPadding(const char* m) : ConvPadding(std::string(m ? m : "")) {}
ConvPadding::ConvPadding(const std::string& m) : Int2(0), mode(m) {
  HEARTH_CHECK(m == "same" || m == "valid", ValueError, "Invalid padding string '", m,
               "', should be one of {'valid', 'same'}");
}

int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation) {
  HEARTH_CHECK(stride > 0, ValueError, "conv_output_size: stride must be positive, got ", stride);
  const int64_t num = in + 2 * padding - dilation * (kernel - 1) - 1;
  // floor division, also for a negative numerator (kernel larger than the padded input)
  return (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
}

namespace functional {

namespace {
/// conv2d's (and conv2d_relu's) argument checks, attributes and the 4-D input.
Tensor prepare_conv2d(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride,
                      const ConvPadding& padding, Int2 dilation, int64_t groups, attrs::Conv& at, bool& batched) {
  check_float_same(op, input, weight, bias);
  const Tensor x = batch4(op, input, weight, batched);
  if (!stride.given) stride = 1;
  if (!dilation.given) dilation = 1;
  check_positive(op, "stride", stride);
  check_positive(op, "dilation", dilation);
  HEARTH_CHECK(groups > 0, ValueError, op, ": non-positive groups is not supported (got groups=", groups, ")");
  const int64_t O = weight.size(0), C = x.size(1);
  HEARTH_CHECK(O % groups == 0, ShapeError, op, ": given groups=", groups, ", expected weight to be divisible by ",
               groups, " at dimension 0, but got weight of size ", weight.sizes(), " instead");
  HEARTH_CHECK(C == weight.size(1) * groups, ShapeError, op, ": given groups=", groups, ", weight of size ",
               weight.sizes(), ", expected input", input.sizes(), " to have ", weight.size(1) * groups,
               " channels, but got ", C, " channels instead");
  HEARTH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == O), ShapeError, op, ": given weight of size ",
               weight.sizes(), ", expected bias to be 1-dimensional with ", O, " elements, but got bias of size ",
               bias.sizes(), " instead");
  at.stride[0] = stride.h;
  at.stride[1] = stride.w;
  at.dilation[0] = dilation.h;
  at.dilation[1] = dilation.w;
  at.groups = groups;
  if (padding.mode == "same") {
    HEARTH_CHECK(stride.h == 1 && stride.w == 1, ValueError, op,
                 ": padding='same' is not supported for strided convolutions (stride ", stride.str(true), ")");
    for (int i = 0; i < 2; ++i) {
      const int64_t total = at.dilation[i] * (weight.size(2 + i) - 1);
      at.padding[i] = total / 2;  // PyTorch puts the odd one at the bottom / right
      at.padding_r[i] = total - total / 2;
    }
  } else {
    check_non_negative(op, "padding", padding);
    at.padding[0] = at.padding_r[0] = padding.h;
    at.padding[1] = at.padding_r[1] = padding.w;
  }
  const int64_t oh = conv_size(x.size(2), weight.size(2), at.stride[0], at.padding[0], at.padding_r[0], at.dilation[0]);
  const int64_t ow = conv_size(x.size(3), weight.size(3), at.stride[1], at.padding[1], at.padding_r[1], at.dilation[1]);
  HEARTH_CHECK(oh > 0 && ow > 0, ShapeError, op, ": calculated padded input size per channel: (",
               x.size(2) + at.padding[0] + at.padding_r[0], " x ", x.size(3) + at.padding[1] + at.padding_r[1],
               "). Kernel size: (", at.dilation[0] * (weight.size(2) - 1) + 1, " x ",
               at.dilation[1] * (weight.size(3) - 1) + 1,
               "). Kernel size can't be greater than actual input size (input ", input.sizes(), ", weight ",
               weight.sizes(), ")");
  return x;
}
}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, ConvPadding padding,
              Int2 dilation, int64_t groups) {
  attrs::Conv at;
  bool batched = true;
  const Tensor x = prepare_conv2d("conv2d", input, weight, bias, stride, padding, dilation, groups, at, batched);
  Tensor y = conv_forward(x, weight, bias, at);
  return batched ? y : y.squeeze(0);
}

// SEED issue 4: relu(conv2d(...)) in one pass (a oneDNN post-op), with its own backward node.
Tensor conv2d_relu(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, ConvPadding padding,
                   Int2 dilation, int64_t groups) {
  attrs::Conv at;
  bool batched = true;
  const Tensor x = prepare_conv2d("conv2d_relu", input, weight, bias, stride, padding, dilation, groups, at, batched);
  Tensor y = conv_forward(x, weight, bias, at, nullptr, /*relu=*/true);
  return batched ? y : y.squeeze(0);
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, Int2 padding,
                        Int2 output_padding, int64_t groups, Int2 dilation) {
  const char* op = "conv_transpose2d";
  check_float_same(op, input, weight, bias);
  bool batched = true;
  const Tensor x = batch4(op, input, weight, batched);
  if (!stride.given) stride = 1;
  if (!padding.given) padding = 0;
  if (!output_padding.given) output_padding = 0;
  if (!dilation.given) dilation = 1;
  check_positive(op, "stride", stride);
  check_positive(op, "dilation", dilation);
  check_non_negative(op, "padding", padding);
  check_non_negative(op, "output_padding", output_padding);
  HEARTH_CHECK(groups > 0, ValueError, op, ": non-positive groups is not supported (got groups=", groups, ")");
  const int64_t Cin = weight.size(0), Cout = weight.size(1) * groups;
  HEARTH_CHECK(x.size(1) == Cin, ShapeError, op, ": given transposed=1, weight of size ", weight.sizes(),
               ", expected input", input.sizes(), " to have ", Cin, " channels, but got ", x.size(1),
               " channels instead");
  HEARTH_CHECK(Cin % groups == 0, ShapeError, op, ": given groups=", groups, ", expected weight to be divisible by ",
               groups, " at dimension 0, but got weight of size ", weight.sizes(), " instead");
  HEARTH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == Cout), ShapeError, op,
               ": given transposed=1, weight of size ", weight.sizes(), ", expected bias to be 1-dimensional with ",
               Cout, " elements, but got bias of size ", bias.sizes(), " instead");
  HEARTH_CHECK((output_padding.h < stride.h || output_padding.h < dilation.h) &&
                   (output_padding.w < stride.w || output_padding.w < dilation.w),
               ValueError, op,
               ": output padding must be smaller than either stride or dilation, but got output_padding ",
               output_padding.str(true), ", stride ", stride.str(true), ", dilation ", dilation.str(true));
  HW out{};
  for (int i = 0; i < 2; ++i)
    out[i] = (x.size(2 + i) - 1) * stride[i] - 2 * padding[i] + dilation[i] * (weight.size(2 + i) - 1) +
             output_padding[i] + 1;
  HEARTH_CHECK(out[0] > 0 && out[1] > 0, ShapeError, op, ": input ", input.sizes(), " with weight ", weight.sizes(),
               ", stride ", stride.str(true), ", padding ", padding.str(true), " gives a non-positive output size (",
               out[0], " x ", out[1], ")");
  attrs::Conv at;
  for (int i = 0; i < 2; ++i) {
    at.stride[i] = stride[i];
    at.padding[i] = at.padding_r[i] = padding[i];
    at.dilation[i] = dilation[i];
  }
  at.groups = groups;
  Tensor y = conv_backward_input(x, weight, out, at, bias);
  return batched ? y : y.squeeze(0);
}

}  // namespace functional
}  // namespace nn
}  // namespace hearth
