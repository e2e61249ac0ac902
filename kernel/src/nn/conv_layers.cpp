// Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d: PyTorch's parameters, default
// initialization and printed form over the functional ops of kernel/src/ops/conv.cpp, pool.cpp.
#include <cmath>

#include "hearth/functions.h"
#include "hearth/nn/conv.h"
#include "hearth/nn/init.h"

namespace hearth::nn {

namespace F = functional;

namespace {

const char* py_bool(bool b) { return b ? "True" : "False"; }

void check_channels(const char* who, int64_t in, int64_t out, int64_t groups) {
  HEARTH_CHECK(groups > 0, ValueError, who, ": groups must be a positive integer, got ", groups);
  HEARTH_CHECK(in > 0 && out > 0, ValueError, who, ": in_channels and out_channels must be positive, got ", in, " and ",
               out);
  HEARTH_CHECK(in % groups == 0, ValueError, who, ": in_channels must be divisible by groups (", in, " and ", groups,
               ")");
  HEARTH_CHECK(out % groups == 0, ValueError, who, ": out_channels must be divisible by groups (", out, " and ", groups,
               ")");
}

/// PyTorch's _ConvNd.reset_parameters: kaiming_uniform(a=sqrt(5)) on the weight, and the bias
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in from the weight's shape.
void reset_conv(Tensor& weight, Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    if (fan_in != 0) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      init::uniform_(bias, -bound, bound);
    }
  }
}

/// PyTorch's _ConvNd.extra_repr (tuples everywhere; optional parts only when not default).
std::string conv_repr(int64_t in, int64_t out, const Int2& k, const Int2& s, const ConvPadding& p, const Int2& d,
                      const Int2* output_padding, int64_t groups, bool has_bias) {
  std::string r = detail::str(in, ", ", out, ", kernel_size=", k.str(true), ", stride=", s.str(true));
  if (!p.mode.empty())
    r += ", padding=" + p.mode;
  else if (!(p.h == 0 && p.w == 0))
    r += ", padding=" + p.str(true);
  if (!(d.h == 1 && d.w == 1)) r += ", dilation=" + d.str(true);
  if (output_padding && !(output_padding->h == 0 && output_padding->w == 0))
    r += ", output_padding=" + output_padding->str(true);
  if (groups != 1) r += detail::str(", groups=", groups);
  if (!has_bias) r += ", bias=False";
  return r;
}

}  // namespace

// ---- Conv2d ----

Conv2dImpl::Conv2dImpl(int64_t in, int64_t out, Int2 k, Int2 s, ConvPadding p, Int2 d, int64_t g, bool with_bias)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(std::move(p)), dilation(d), groups(g) {
  check_channels("Conv2d", in, out, g);
  HEARTH_CHECK(k.given && k.h > 0 && k.w > 0, ValueError, "Conv2d: kernel_size must be positive, got ", k.str(true));
  if (!stride.given) stride = 1;
  if (!dilation.given) dilation = 1;
  HEARTH_CHECK(stride.h > 0 && stride.w > 0 && dilation.h > 0 && dilation.w > 0, ValueError,
               "Conv2d: stride and dilation must be positive, got stride=", stride.str(true),
               ", dilation=", dilation.str(true));
  HEARTH_CHECK(padding.mode != "same" || (stride.h == 1 && stride.w == 1), ValueError,
               "Conv2d: padding='same' is not supported for strided convolutions");
  HEARTH_CHECK(!padding.mode.empty() || (padding.h >= 0 && padding.w >= 0), ValueError,
               "Conv2d: padding must be non-negative, got ", padding.str(true));
  weight = register_parameter("weight", empty({out, in / g, k.h, k.w}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

Conv2dImpl::Conv2dImpl(const Conv2dOptions& o)
    : Conv2dImpl(o.in_channels(), o.out_channels(), o.kernel_size(), o.stride(), o.padding(), o.dilation(), o.groups(),
                 o.bias()) {
  HEARTH_CHECK(o.padding_mode() == "zeros", ValueError, "Conv2d: padding_mode '", o.padding_mode(),
               "' is not supported (only 'zeros'; pad with F::pad first)");
}

void Conv2dImpl::reset_parameters() { reset_conv(weight, bias); }

std::string Conv2dImpl::extra_repr() const {
  return conv_repr(in_channels, out_channels, kernel_size, stride, padding, dilation, nullptr, groups, bias.defined());
}

Tensor Conv2dImpl::forward(const Tensor& x) { return F::conv2d(x, weight, bias, stride, padding, dilation, groups); }
Tensor Conv2dImpl::forward_relu(const Tensor& x) {
  return F::conv2d_relu(x, weight, bias, stride, padding, dilation, groups);
}

int64_t Conv2dImpl::mult_adds(const Tensor&, const Tensor& out) const {
  return out.numel() * (in_channels / groups) * kernel_size.h * kernel_size.w;
}

// ---- ConvTranspose2d ----

ConvTranspose2dImpl::ConvTranspose2dImpl(int64_t in, int64_t out, Int2 k, Int2 s, Int2 p, Int2 op, int64_t g, bool with_bias,
                                 Int2 d)
    : in_channels(in),
      out_channels(out),
      kernel_size(k),
      stride(s),
      padding(p),
      output_padding(op),
      groups(g),
      dilation(d) {
  check_channels("ConvTranspose2d", in, out, g);
  HEARTH_CHECK(k.given && k.h > 0 && k.w > 0, ValueError, "ConvTranspose2d: kernel_size must be positive, got ",
               k.str(true));
  if (!stride.given) stride = 1;
  if (!padding.given) padding = 0;
  if (!output_padding.given) output_padding = 0;
  if (!dilation.given) dilation = 1;
  HEARTH_CHECK((output_padding.h < stride.h || output_padding.h < dilation.h) &&
                   (output_padding.w < stride.w || output_padding.w < dilation.w),
               ValueError, "ConvTranspose2d: output padding must be smaller than either stride or dilation, got ",
               "output_padding=", output_padding.str(true), ", stride=", stride.str(true),
               ", dilation=", dilation.str(true));
  weight = register_parameter("weight", empty({in, out / g, k.h, k.w}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void ConvTranspose2dImpl::reset_parameters() { reset_conv(weight, bias); }

std::string ConvTranspose2dImpl::extra_repr() const {
  return conv_repr(in_channels, out_channels, kernel_size, stride, ConvPadding(padding), dilation, &output_padding,
                   groups, bias.defined());
}

Tensor ConvTranspose2dImpl::forward(const Tensor& x) {
  return F::conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation);
}

int64_t ConvTranspose2dImpl::mult_adds(const Tensor&, const Tensor& out) const {
  return out.numel() * (in_channels / groups) * kernel_size.h * kernel_size.w;
}

// ---- pooling ----

MaxPool2dImpl::MaxPool2dImpl(Int2 k, Int2 s, Int2 p, Int2 d, bool ceil)
    : kernel_size(k), stride(s.given ? s : k), padding(p), dilation(d), ceil_mode(ceil) {}

std::string MaxPool2dImpl::extra_repr() const {
  return detail::str("kernel_size=", kernel_size.str(), ", stride=", stride.str(), ", padding=", padding.str(),
                     ", dilation=", dilation.str(), ", ceil_mode=", py_bool(ceil_mode));
}

Tensor MaxPool2dImpl::forward(const Tensor& x) {
  return F::max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode);
}

std::pair<Tensor, Tensor> MaxPool2dImpl::forward_with_indices(const Tensor& x) {
  return F::max_pool2d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode);
}

AvgPool2dImpl::AvgPool2dImpl(Int2 k, Int2 s, Int2 p, bool ceil, bool include_pad, std::optional<int64_t> divisor)
    : kernel_size(k),
      stride(s.given ? s : k),
      padding(p),
      ceil_mode(ceil),
      count_include_pad(include_pad),
      divisor_override(divisor) {}

std::string AvgPool2dImpl::extra_repr() const {
  return detail::str("kernel_size=", kernel_size.str(), ", stride=", stride.str(), ", padding=", padding.str());
}

int64_t AvgPool2dImpl::mult_adds(const Tensor&, const Tensor& out) const { return out.numel(); }

Tensor AvgPool2dImpl::forward(const Tensor& x) {
  return F::avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
}

AdaptiveAvgPool2dImpl::AdaptiveAvgPool2dImpl(Int2 out) : output_size(out) {}

std::string AdaptiveAvgPool2dImpl::extra_repr() const { return "output_size=" + output_size.str(); }

Tensor AdaptiveAvgPool2dImpl::forward(const Tensor& x) { return F::adaptive_avg_pool2d(x, output_size); }

int64_t AdaptiveAvgPool2dImpl::mult_adds(const Tensor& in, const Tensor& out) const {
  // thop: kernel = input / output size per spatial dim (as floats), ops = (prod(kernel) + 1) per
  // output element, truncated to an integer at the end.
  const int64_t d = in.dim();
  const double kernel = static_cast<double>(in.size(d - 2)) / static_cast<double>(out.size(d - 2)) *
                        static_cast<double>(in.size(d - 1)) / static_cast<double>(out.size(d - 1));
  return static_cast<int64_t>((kernel + 1.0) * static_cast<double>(out.numel()));
}

}  // namespace hearth::nn
