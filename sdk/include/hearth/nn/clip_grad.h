// Gradient tools (issue #5): clip_grad_norm_ and clip_grad_value_ with PyTorch 1.13's numerics.
// They act on .grad in place and skip parameters whose gradient is unset (SEED G4).
#pragma once

#include <limits>
#include <vector>

#include "hearth/tensor.h"

namespace hearth::nn::utils {

/// Scales all gradients together so that their joint norm (the norm of the per-tensor norms)
/// is at most max_norm: each is multiplied by min(1, max_norm / (total_norm + 1e-6)). norm_type
/// is p (>0) or infinity (the largest absolute value). Returns the total norm before clipping (0
/// when no parameter has a gradient). error_if_nonfinite: ValueError if the norm is NaN or Inf
/// (then nothing is changed). Works on any device: norms are computed with tensor ops and the
/// only host read is the returned value.
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
/// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);

}  // namespace hearth::nn::utils
