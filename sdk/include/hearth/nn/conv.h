// Convolution and pooling: functional ops (conv2d, conv_transpose2d, max/avg/adaptive pooling)
// and their layers, with PyTorch's shapes, output-size rules (SEED A4), init and printing.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "hearth/arg.h"
#include "hearth/nn/module.h"
#include "hearth/tensor.h"

namespace hearth::nn {

/// A per-spatial-dim (height, width) argument given like PyTorch's int-or-tuple: `2` means
/// (2, 2), `{2, 3}` means (2, 3). Default-constructed means "not given" (a pooling stride then
/// defaults to the kernel size). Remembers which form it was given in, for printing.
struct Int2 {
  int64_t h = 0, w = 0;
  bool given = false;   ///< false for the default-constructed "not given"
  bool scalar = false;  ///< given as one number (printed "2", else "(2, 3)")
  Int2() = default;
  template <std::integral I>
  Int2(I v) : h(static_cast<int64_t>(v)), w(static_cast<int64_t>(v)), given(true), scalar(true) {}  // NOLINT
  Int2(int64_t h_, int64_t w_) : h(h_), w(w_), given(true) {}
  int64_t operator[](int i) const { return i == 0 ? h : w; }
  bool operator==(const Int2& o) const { return h == o.h && w == o.w; }
  /// "2" or "(2, 3)" as PyTorch prints the value it was given; as_tuple forces "(2, 2)".
  std::string str(bool as_tuple = false) const;
  /// "3x3", for summary()'s kernel column.
  std::string str_x() const { return std::to_string(h) + "x" + std::to_string(w); }
};

/// conv2d's padding: a number, an (h, w) pair, or "same" / "valid" (PyTorch's strings).
struct ConvPadding : Int2 {
  std::string mode;  ///< "" for explicit numbers, else "same" or "valid"
  ConvPadding() : Int2(0) {}
  template <std::integral I>
  ConvPadding(I v) : Int2(v) {}  // NOLINT
  ConvPadding(int64_t h_, int64_t w_) : Int2(h_, w_) {}
  ConvPadding(const Int2& p) : Int2(p) {}  // NOLINT
  ConvPadding(const char* m);              // NOLINT
  ConvPadding(const std::string& m);       // NOLINT
};

/// PyTorch's output size of a convolution along one dim: floor((in + 2p - d(k-1) - 1)/s) + 1
/// (SEED A4). May be <= 0 for a kernel larger than the padded input.
int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation);
/// Pooling's output size: like conv_output_size, rounded up with ceil_mode, where the last window
/// must still start inside the input or the left padding (SEED A4: 2x2/2 on 5 with padding 1
/// gives 3, not 4).
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, bool ceil_mode);

// ---- options (LibTorch's nn/options/conv.h, pooling.h): `Conv2dOptions(1, 6, 5).stride(2)` ----

struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, Int2 kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  HEARTH_ARG(int64_t, in_channels);
  HEARTH_ARG(int64_t, out_channels);
  HEARTH_ARG(Int2, kernel_size);
  HEARTH_ARG(Int2, stride) = 1;
  HEARTH_ARG(ConvPadding, padding) = 0;
  HEARTH_ARG(Int2, dilation) = 1;
  HEARTH_ARG(int64_t, groups) = 1;
  HEARTH_ARG(bool, bias) = true;
  /// Only "zeros" (kZeros) is supported; Conv2dImpl rejects others.
  HEARTH_ARG(std::string, padding_mode) = "zeros";
};
struct ConvTranspose2dOptions {
  ConvTranspose2dOptions(int64_t in_channels, int64_t out_channels, Int2 kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  HEARTH_ARG(int64_t, in_channels);
  HEARTH_ARG(int64_t, out_channels);
  HEARTH_ARG(Int2, kernel_size);
  HEARTH_ARG(Int2, stride) = 1;
  HEARTH_ARG(Int2, padding) = 0;
  HEARTH_ARG(Int2, output_padding) = 0;
  HEARTH_ARG(int64_t, groups) = 1;
  HEARTH_ARG(bool, bias) = true;
  HEARTH_ARG(Int2, dilation) = 1;
};
struct MaxPool2dOptions {
  MaxPool2dOptions(Int2 kernel_size) : kernel_size_(kernel_size) {}  // NOLINT
  HEARTH_ARG(Int2, kernel_size);
  /// Not given: the kernel size (as LibTorch, whose default stride is the kernel size).
  HEARTH_ARG(Int2, stride);
  HEARTH_ARG(Int2, padding) = 0;
  HEARTH_ARG(Int2, dilation) = 1;
  HEARTH_ARG(bool, ceil_mode) = false;
};
struct AvgPool2dOptions {
  AvgPool2dOptions(Int2 kernel_size) : kernel_size_(kernel_size) {}  // NOLINT
  HEARTH_ARG(Int2, kernel_size);
  HEARTH_ARG(Int2, stride);
  HEARTH_ARG(Int2, padding) = 0;
  HEARTH_ARG(bool, ceil_mode) = false;
  HEARTH_ARG(bool, count_include_pad) = true;
  HEARTH_ARG(std::optional<int64_t>, divisor_override);
};
struct AdaptiveAvgPool2dOptions {
  AdaptiveAvgPool2dOptions(Int2 output_size) : output_size_(output_size) {}  // NOLINT
  HEARTH_ARG(Int2, output_size);
};

namespace functional {

/// LibTorch's functional option structs: the same fields as the layers' options.
struct Conv2dFuncOptions {
  HEARTH_ARG(Tensor, bias);
  HEARTH_ARG(Int2, stride) = 1;
  HEARTH_ARG(ConvPadding, padding) = 0;
  HEARTH_ARG(Int2, dilation) = 1;
  HEARTH_ARG(int64_t, groups) = 1;
};
using MaxPool2dFuncOptions = MaxPool2dOptions;
using AvgPool2dFuncOptions = AvgPool2dOptions;
using AdaptiveAvgPool2dFuncOptions = AdaptiveAvgPool2dOptions;

/// 2-D convolution. input [N, C, H, W] or unbatched [C, H, W]; weight [O, C/groups, kH, kW];
/// bias [O] or undefined. Output [N, O, OH, OW] with OH = conv_output_size(H, kH, ...).
/// padding "same" (stride 1 only; odd total padding goes to the bottom/right as in PyTorch) or
/// "valid" (= 0). float32/bfloat16 run on oneDNN, float64/float16 on a reference loop.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, Int2 stride = 1,
              ConvPadding padding = 0, Int2 dilation = 1, int64_t groups = 1);

/// relu(conv2d(...)) in one pass: the same values and gradients as the two ops (the gradient is
/// masked where the output is <= 0, as PyTorch's relu backward), one kernel (a oneDNN post-op for
/// float32) and one autograd node (Conv2dReluBackward). Sequential uses it for a Conv2d directly
/// followed by a ReLU.
Tensor conv2d_relu(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, Int2 stride = 1,
                   ConvPadding padding = 0, Int2 dilation = 1, int64_t groups = 1);

/// Transposed convolution (the gradient of conv2d with respect to its input). weight
/// [C_in, C_out/groups, kH, kW] as PyTorch stores it; output H = (H_in-1)*stride - 2*padding +
/// dilation*(kH-1) + output_padding + 1, where output_padding < stride or < dilation.
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {}, Int2 stride = 1,
                        Int2 padding = 0, Int2 output_padding = 0, int64_t groups = 1, Int2 dilation = 1);

/// Max pooling; stride defaults to the kernel; padding at most half the kernel (padded
/// positions never win). ceil_mode per SEED A4. NaN propagates as in PyTorch.
Tensor max_pool2d(const Tensor& input, Int2 kernel_size, Int2 stride = {}, Int2 padding = 0, Int2 dilation = 1,
                  bool ceil_mode = false);
/// Also returns the int64 index of each maximum, flat within its input plane (h * W + w), as
/// PyTorch's return_indices=True. The indices are not differentiable.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Int2 kernel_size, Int2 stride = {},
                                                  Int2 padding = 0, Int2 dilation = 1, bool ceil_mode = false);

/// Average pooling. count_include_pad: padded zeros count in the divisor (windows are still
/// clipped to the padded input in ceil_mode); divisor_override replaces the divisor.
Tensor avg_pool2d(const Tensor& input, Int2 kernel_size, Int2 stride = {}, Int2 padding = 0, bool ceil_mode = false,
                  bool count_include_pad = true, std::optional<int64_t> divisor_override = std::nullopt);

/// Averages over windows [floor(i*H/OH), ceil((i+1)*H/OH)) so that any H maps to output_size.
Tensor adaptive_avg_pool2d(const Tensor& input, Int2 output_size);

/// LibTorch's option-struct forms: F::conv2d(x, w, F::Conv2dFuncOptions().stride(2)).
inline Tensor conv2d(const Tensor& input, const Tensor& weight, const Conv2dFuncOptions& o) {
  return ::hearth::nn::functional::conv2d(input, weight, o.bias(), o.stride(), o.padding(), o.dilation(), o.groups());
}
inline Tensor max_pool2d(const Tensor& input, const MaxPool2dFuncOptions& o) {
  return ::hearth::nn::functional::max_pool2d(input, o.kernel_size(), o.stride(), o.padding(), o.dilation(), o.ceil_mode());
}
inline Tensor avg_pool2d(const Tensor& input, const AvgPool2dFuncOptions& o) {
  return ::hearth::nn::functional::avg_pool2d(input, o.kernel_size(), o.stride(), o.padding(), o.ceil_mode(), o.count_include_pad(),
                    o.divisor_override());
}

}  // namespace functional

// ---- layers ----

/// PyTorch's Conv2d: weight [out, in/groups, kH, kW] and bias [out], initialized with
/// kaiming_uniform(a=sqrt(5)) and U(+-1/sqrt(fan_in)); prints as
/// "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))". Only zero padding (padding_mode "zeros").
class Conv2dImpl : public Module {
 public:
  Conv2dImpl(int64_t in_channels, int64_t out_channels, Int2 kernel_size, Int2 stride = 1, ConvPadding padding = 0,
         Int2 dilation = 1, int64_t groups = 1, bool bias = true);
  explicit Conv2dImpl(const Conv2dOptions& o);
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  /// relu(forward(input)) as one fused op (functional::conv2d_relu); what Sequential calls for
  /// a Conv2d followed by a ReLU when neither has forward hooks.
  Tensor forward_relu(const Tensor& input);
  /// thop's count: in_channels / groups * kH * kW per output element (bias not counted).
  int64_t mult_adds(const Tensor& input, const Tensor& output) const override;
  std::string kernel_repr() const override { return kernel_size.str_x(); }
  void reset_parameters();
  int64_t in_channels, out_channels;
  Int2 kernel_size, stride;
  ConvPadding padding;
  Int2 dilation;
  int64_t groups;
  Tensor weight, bias;  // handles to the registered tensors (bias undefined without bias)
};

/// PyTorch's ConvTranspose2d (argument order as PyTorch's: ..., output_padding, groups, bias,
/// dilation); weight [in, out/groups, kH, kW].
class ConvTranspose2dImpl : public Module {
 public:
  ConvTranspose2dImpl(int64_t in_channels, int64_t out_channels, Int2 kernel_size, Int2 stride = 1, Int2 padding = 0,
                  Int2 output_padding = 0, int64_t groups = 1, bool bias = true, Int2 dilation = 1);
  explicit ConvTranspose2dImpl(const ConvTranspose2dOptions& o)
      : ConvTranspose2dImpl(o.in_channels(), o.out_channels(), o.kernel_size(), o.stride(), o.padding(),
                            o.output_padding(), o.groups(), o.bias(), o.dilation()) {}
  std::string type_name() const override { return "ConvTranspose2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  /// thop's count, as for Conv2d: in_channels / groups * kH * kW per output element.
  int64_t mult_adds(const Tensor& input, const Tensor& output) const override;
  std::string kernel_repr() const override { return kernel_size.str_x(); }
  void reset_parameters();
  int64_t in_channels, out_channels;
  Int2 kernel_size, stride, padding, output_padding;
  int64_t groups;
  Int2 dilation;
  Tensor weight, bias;
};

/// Prints "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)".
/// forward_with_indices() is PyTorch's return_indices=True.
class MaxPool2dImpl : public Module {
 public:
  MaxPool2dImpl(Int2 kernel_size, Int2 stride = {}, Int2 padding = 0, Int2 dilation = 1, bool ceil_mode = false);
  explicit MaxPool2dImpl(const MaxPool2dOptions& o)
      : MaxPool2dImpl(o.kernel_size(), o.stride(), o.padding(), o.dilation(), o.ceil_mode()) {}
  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;
  std::string kernel_repr() const override { return kernel_size.str_x(); }  // thop counts no ops
  Tensor forward(const Tensor& input) override;
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& input);
  Int2 kernel_size, stride, padding, dilation;
  bool ceil_mode;
};

/// Prints "AvgPool2d(kernel_size=2, stride=2, padding=0)".
class AvgPool2dImpl : public Module {
 public:
  AvgPool2dImpl(Int2 kernel_size, Int2 stride = {}, Int2 padding = 0, bool ceil_mode = false, bool count_include_pad = true,
            std::optional<int64_t> divisor_override = std::nullopt);
  explicit AvgPool2dImpl(const AvgPool2dOptions& o)
      : AvgPool2dImpl(o.kernel_size(), o.stride(), o.padding(), o.ceil_mode(), o.count_include_pad(),
                      o.divisor_override()) {}
  std::string type_name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;
  std::string kernel_repr() const override { return kernel_size.str_x(); }
  /// thop's count: one per output element.
  int64_t mult_adds(const Tensor& input, const Tensor& output) const override;
  Tensor forward(const Tensor& input) override;
  Int2 kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
  std::optional<int64_t> divisor_override;
};

/// Prints "AdaptiveAvgPool2d(output_size=(5, 7))" (or "output_size=1").
class AdaptiveAvgPool2dImpl : public Module {
 public:
  explicit AdaptiveAvgPool2dImpl(Int2 output_size);
  explicit AdaptiveAvgPool2dImpl(const AdaptiveAvgPool2dOptions& o) : AdaptiveAvgPool2dImpl(o.output_size()) {}
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string extra_repr() const override;
  /// thop's count: (input/output area ratio + 1) per output element.
  int64_t mult_adds(const Tensor& input, const Tensor& output) const override;
  Tensor forward(const Tensor& input) override;
  Int2 output_size;
};

HEARTH_MODULE(Conv2d);
HEARTH_MODULE(ConvTranspose2d);
HEARTH_MODULE(MaxPool2d);
HEARTH_MODULE(AvgPool2d);
HEARTH_MODULE(AdaptiveAvgPool2d);

}  // namespace hearth::nn
