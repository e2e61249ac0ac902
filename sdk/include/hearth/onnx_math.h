// Elementwise math ops added for ONNX import (trigonometric, hyperbolic, erf): float-only,
// differentiable, integer inputs computed in the default float dtype (as PyTorch's torch.sin).
#pragma once

#include "hearth/tensor.h"

namespace hearth {

Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor tan(const Tensor& a);
Tensor asin(const Tensor& a);
Tensor acos(const Tensor& a);
Tensor atan(const Tensor& a);
Tensor sinh(const Tensor& a);
Tensor cosh(const Tensor& a);
Tensor asinh(const Tensor& a);
Tensor acosh(const Tensor& a);
Tensor atanh(const Tensor& a);
Tensor erf(const Tensor& a);

}  // namespace hearth
