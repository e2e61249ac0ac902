// pad and interpolate (nn::functional), composed of index_select, cat and elementwise ops.
//
// interpolate is separable: each spatial dim is resampled on its own as a sum of taps
// x.index_select(d, idx_k) * w_k (1 tap nearest, 2 linear, 4 cubic), so the gradient is the
// transpose of the same linear map (index_select's scatter-add backward). The indices and weights
// follow PyTorch 1.13's CPU kernels exactly (aten/src/ATen/native/UpSample.h), including which
// quantities are computed in float for a float32 input (SEED B9).
#include <cmath>
#include <string>
#include <vector>

#include "hearth/functions.h"
#include "hearth/nn/misc.h"
#include "op_utils.h"

namespace hearth::nn::functional {

// ================================ pad =============================================================

namespace {

/// One source index per output position of a padded dim (reflect / replicate / circular).
std::vector<int64_t> pad_indices(const std::string& mode, int64_t size, int64_t left, int64_t right) {
  std::vector<int64_t> idx;
  for (int64_t j = -left; j < size + right; ++j) {
    int64_t s;
    if (mode == "reflect") {
      // Mirror about the edge element without repeating it: -1 -> 1, size -> size - 2.
      const int64_t period = 2 * (size - 1);
      s = period == 0 ? 0 : ((j % period) + period) % period;
      if (s >= size) s = period - s;
    } else if (mode == "replicate") {
      s = std::clamp<int64_t>(j, 0, size - 1);
    } else {  // circular
      s = ((j % size) + size) % size;
    }
    idx.push_back(s);
  }
  return idx;
}

}  // namespace

Tensor pad(const Tensor& input, IntArrayRef pad, const std::string& mode, double value) {
  const int64_t np = static_cast<int64_t>(pad.size());
  HEARTH_CHECK(np % 2 == 0, ValueError, "pad: padding length must be divisible by 2, got ", np, " values ", pad);
  HEARTH_CHECK(np / 2 <= input.dim(), ValueError, "pad: padding length too large: ", np, " values pad ", np / 2,
               " dims, but the input ", input.sizes(), " has ", input.dim());
  const int64_t pairs = np / 2;
  if (mode == "constant") {
    Tensor r = input;
    for (int64_t k = 0; k < pairs; ++k) {
      const int64_t d = input.dim() - 1 - k, l = pad[static_cast<size_t>(2 * k)], rt = pad[static_cast<size_t>(2 * k + 1)];
      const int64_t out = r.size(d) + l + rt;
      HEARTH_CHECK(out >= 0, ShapeError, "pad: the input size ", r.size(d), ", plus negative padding ", l, " and ", rt,
                   " resulted in a negative output size, which is invalid. Check dimension ", d, " of your input ",
                   input.sizes());
      // Negative pads crop; positive ones concatenate blocks of `value`.
      if (l < 0) r = r.narrow(d, -l, r.size(d) + l);
      if (rt < 0) r = r.narrow(d, 0, r.size(d) + rt);
      if (l > 0 || rt > 0) {
        std::vector<Tensor> parts;
        auto block = [&](int64_t n) {
          DimVector s(r.sizes().begin(), r.sizes().end());
          s[static_cast<size_t>(d)] = n;
          return full(s, Scalar(value), r.options());
        };
        if (l > 0) parts.push_back(block(l));
        parts.push_back(r);
        if (rt > 0) parts.push_back(block(rt));
        r = cat(parts, d);
      }
    }
    // Always a new tensor, as PyTorch (all-zero padding included).
    return r.unsafeGetTensorImpl() == input.unsafeGetTensorImpl() ? input.clone() : r;
  }
  HEARTH_CHECK(mode == "reflect" || mode == "replicate" || mode == "circular", ValueError, "pad: mode '", mode,
               "' is not one of 'constant', 'reflect', 'replicate', 'circular'");
  HEARTH_CHECK(pairs >= 1 && pairs <= 3 && (input.dim() == pairs + 1 || input.dim() == pairs + 2), ShapeError, "pad: ",
               mode, " padding of ", pairs, " dim(s) needs a ", pairs + 1, "-D (unbatched) or ", pairs + 2,
               "-D (batched) input, got ", ops::describe(input), " (padding ", pad, ")");
  Tensor r = input;
  for (int64_t k = 0; k < pairs; ++k) {
    const int64_t d = input.dim() - 1 - k, l = pad[static_cast<size_t>(2 * k)], rt = pad[static_cast<size_t>(2 * k + 1)];
    const int64_t size = input.size(d);
    if (mode == "reflect")
      HEARTH_CHECK(l < size && rt < size, ValueError, "pad: padding size should be less than the corresponding input "
                   "dimension, but got: padding (", l, ", ", rt, ") at dimension ", d, " of input ", input.sizes());
    if (mode == "circular")
      HEARTH_CHECK(l <= size && rt <= size, ValueError, "pad: circular padding may wrap around at most once, but got: "
                   "padding (", l, ", ", rt, ") at dimension ", d, " of input ", input.sizes());
    HEARTH_CHECK(size > 0 && size + l + rt > 0, ShapeError, "pad: ", mode, " padding (", l, ", ", rt,
                 ") of dimension ", d, " of input ", input.sizes(), " gives no elements");
    if (l == 0 && rt == 0) continue;
    const std::vector<int64_t> idx = pad_indices(mode, size, l, rt);
    r = r.index_select(d, tensor(idx, TensorOptions(kInt64).device(input.device())));
  }
  return r.unsafeGetTensorImpl() == input.unsafeGetTensorImpl() ? input.clone() : r;
}

// ================================ interpolate =====================================================

namespace {

/// One spatial dim's resampling: taps[k][o] is the input index of tap k for output o, and
/// weights[k][o] its weight (no weights for nearest).
struct DimPlan {
  std::vector<std::vector<int64_t>> taps;
  std::vector<std::vector<double>> weights;
  bool identity = false;
};

// PyTorch's helpers, templated on the type it computes in (float for float32 input).
template <typename T>
T compute_scales_value(std::optional<double> scale, int64_t in, int64_t out) {
  return scale && *scale > 0. ? static_cast<T>(1.0 / *scale) : static_cast<T>(in) / static_cast<T>(out);
}
template <typename T>
T area_pixel_compute_scale(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  if (align_corners) return out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  return compute_scales_value<T>(scale, in, out);
}
template <typename T>
T area_pixel_compute_source_index(T scale, int64_t dst, bool align_corners, bool cubic) {
  if (align_corners) return scale * static_cast<T>(dst);
  const T src = scale * (static_cast<T>(dst) + T(0.5)) - T(0.5);
  return (!cubic && src < T(0)) ? T(0) : src;
}
template <typename T>
void cubic_coefficients(T coeffs[4], T t) {
  const T A = T(-0.75);
  auto conv1 = [&](T x) { return ((A + T(2)) * x - (A + T(3))) * x * x + T(1); };
  auto conv2 = [&](T x) { return ((A * x - T(5) * A) * x + T(8) * A) * x - T(4) * A; };
  coeffs[0] = conv2(t + T(1));
  coeffs[1] = conv1(t);
  coeffs[2] = conv1(T(1) - t);
  coeffs[3] = conv2(T(1) - t + T(1));
}

/// T: the scalar type PyTorch computes coordinates in (float for float32 input, double for
/// float64); linear's source index uses the accumulate type (double on CPU).
template <typename T>
DimPlan plan_dim(const std::string& mode, int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  DimPlan p;
  if (mode == "nearest" || mode == "nearest-exact") {
    p.taps.resize(1);
    const float s = compute_scales_value<float>(scale, in, out);
    for (int64_t o = 0; o < out; ++o) {
      int64_t i;
      if (mode == "nearest-exact")
        i = static_cast<int64_t>(std::floor((static_cast<float>(o) + 0.5f) * s));
      else if (out == in)
        i = o;  // PyTorch's nearest_idx special cases: scale 1 copies,
      else if (out == 2 * in)
        i = o >> 1;  // scale 2 shifts,
      else
        i = static_cast<int64_t>(std::floor(static_cast<float>(o) * s));
      p.taps[0].push_back(std::min(i, in - 1));
    }
    p.identity = out == in && mode == "nearest";
    return p;
  }
  if (mode == "linear" || mode == "bilinear" || mode == "trilinear") {
    p.taps.resize(2);
    p.weights.resize(2);
    if (out == in) {  // PyTorch copies (whatever the scale or align_corners)
      p.identity = true;
      return p;
    }
    const T s = area_pixel_compute_scale<T>(in, out, align_corners, scale);
    for (int64_t o = 0; o < out; ++o) {
      const double real = area_pixel_compute_source_index<double>(static_cast<double>(s), o, align_corners, false);
      const int64_t i0 = static_cast<int64_t>(real);
      const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
      const T l1 = static_cast<T>(real - static_cast<double>(i0));
      const T l0 = T(1) - l1;
      p.taps[0].push_back(i0);
      p.taps[1].push_back(i1);
      p.weights[0].push_back(static_cast<double>(l0));
      p.weights[1].push_back(static_cast<double>(l1));
    }
    return p;
  }
  // bicubic: 4 taps at floor(src) - 1 .. floor(src) + 2, clamped to the input.
  p.taps.resize(4);
  p.weights.resize(4);
  const T s = area_pixel_compute_scale<T>(in, out, align_corners, scale);
  for (int64_t o = 0; o < out; ++o) {
    const T real = area_pixel_compute_source_index<T>(s, o, align_corners, true);
    const int64_t i = static_cast<int64_t>(std::floor(static_cast<float>(real)));
    T c[4];
    cubic_coefficients<T>(c, real - static_cast<T>(i));
    for (int k = 0; k < 4; ++k) {
      p.taps[static_cast<size_t>(k)].push_back(std::clamp<int64_t>(i - 1 + k, 0, in - 1));
      p.weights[static_cast<size_t>(k)].push_back(static_cast<double>(c[k]));
    }
  }
  return p;
}

/// Spatial rank each mode needs, and the shape named in its error.
int64_t mode_rank(const std::string& mode) {
  if (mode == "linear") return 1;
  if (mode == "bilinear" || mode == "bicubic") return 2;
  if (mode == "trilinear") return 3;
  return 0;  // nearest: 1 to 3
}

}  // namespace

Tensor interpolate(const Tensor& input, const InterpolateOptions& o) {
  static const char* kModes = "'nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear'";
  const std::string& mode = o.mode;
  const bool nearest = mode == "nearest" || mode == "nearest-exact";
  HEARTH_CHECK(nearest || mode_rank(mode) > 0, ValueError, "interpolate: unknown mode '", mode, "' (expected one of ",
               kModes, ")");
  if (!nearest) {
    // SEED B9: say which shape the mode needs, and how to get it from an image.
    static const char* kShapes[] = {"", "(N, C, W)", "(N, C, H, W)", "(N, C, D, H, W)"};
    const int64_t want = mode_rank(mode) + 2;
    HEARTH_CHECK(input.dim() == want, ShapeError, "interpolate: Got ", input.dim(), "D input of shape ", input.sizes(),
                 ", but ", mode, " mode needs ", want, "D input ", kShapes[want - 2],
                 input.dim() == want - 1 ? "; for a single unbatched input add a batch dimension: input.unsqueeze(0)"
                                         : "");
  } else {
    HEARTH_CHECK(input.dim() >= 3 && input.dim() <= 5, ShapeError, "interpolate: ", mode,
                 " mode needs a 3D (N, C, W), 4D (N, C, H, W) or 5D (N, C, D, H, W) input, got ", input.dim(),
                 "D input of shape ", input.sizes(),
                 input.dim() == 2 ? "; for a single unbatched input add a batch dimension: input.unsqueeze(0)" : "");
  }
  HEARTH_CHECK(!o.align_corners || !nearest, ValueError,
               "interpolate: align_corners option can only be set with the interpolating modes: linear | bilinear | "
               "bicubic | trilinear");
  const bool has_size = !o.size.empty(), has_scale = !o.scale_factor.empty();
  HEARTH_CHECK(has_size != has_scale, ValueError, "interpolate: ",
               has_size ? "only one of size or scale_factor should be defined" : "either size or scale_factor should be defined");
  HEARTH_CHECK(!(has_size && o.recompute_scale_factor.value_or(false)), ValueError,
               "interpolate: recompute_scale_factor is not meaningful with an explicit size.");
  const int64_t sd = input.dim() - 2;
  const size_t given = has_size ? o.size.size() : o.scale_factor.size();
  HEARTH_CHECK(given == 1 || static_cast<int64_t>(given) == sd, ValueError, "interpolate: ",
               has_size ? "size" : "scale_factor", " shape must match input shape. Input is ", sd, "D, ",
               has_size ? "size" : "scale_factor", " is ", given);
  const bool align = o.align_corners.value_or(false);

  DimVector out_size;
  std::vector<std::optional<double>> scales;
  for (int64_t i = 0; i < sd; ++i) {
    const int64_t in = input.size(2 + i);
    if (has_size) {
      out_size.push_back(o.size[o.size.size() == 1 ? 0 : static_cast<size_t>(i)]);
      scales.push_back(std::nullopt);
    } else {
      const double f = o.scale_factor[o.scale_factor.size() == 1 ? 0 : static_cast<size_t>(i)];
      out_size.push_back(static_cast<int64_t>(std::floor(static_cast<double>(in) * f)));
      // The kernel gets the scale factor itself unless asked to recompute it from the sizes.
      scales.push_back(o.recompute_scale_factor.value_or(false) ? std::nullopt : std::optional<double>(f));
    }
  }
  bool positive = true;
  for (int64_t i = 0; i < sd; ++i) positive = positive && input.size(2 + i) > 0 && out_size[static_cast<size_t>(i)] > 0;
  HEARTH_CHECK(positive, ValueError, "interpolate: Input and output sizes should be greater than 0, but got input ",
               input.sizes(), " and output spatial size ", IntArrayRef(out_size));

  // Linear and cubic interpolation weights are floating: 16-bit inputs are computed in float32.
  const bool is16 = input.dtype() == kFloat16 || input.dtype() == kBFloat16;
  HEARTH_CHECK(nearest || is_floating_point(input.dtype()), DTypeError, "interpolate: ", mode,
               " mode needs a floating point input, got ", ops::describe(input));
  Tensor r = !nearest && is16 ? input.to(kFloat32) : input;
  const bool f64 = r.dtype() == kFloat64;
  const TensorOptions io = TensorOptions(kInt64).device(input.device());
  // Innermost dim first (PyTorch's cubic interpolates along W, then H).
  for (int64_t i = sd - 1; i >= 0; --i) {
    const int64_t d = 2 + i, in = input.size(d), out = out_size[static_cast<size_t>(i)];
    const DimPlan p = f64 ? plan_dim<double>(mode, in, out, align, scales[static_cast<size_t>(i)])
                          : plan_dim<float>(mode, in, out, align, scales[static_cast<size_t>(i)]);
    if (p.identity) continue;
    DimVector wshape(static_cast<size_t>(r.dim()), 1);
    wshape[static_cast<size_t>(d)] = out;
    Tensor acc;
    for (size_t k = 0; k < p.taps.size(); ++k) {
      Tensor t = r.index_select(d, tensor(p.taps[k], io));
      if (!p.weights.empty()) t = t * tensor(p.weights[k], TensorOptions(r.dtype()).device(r.device())).view(wshape);
      acc = acc.defined() ? acc + t : t;
    }
    r = acc;
  }
  if (r.unsafeGetTensorImpl() == input.unsafeGetTensorImpl()) return input.clone();
  return r.dtype() == input.dtype() ? r : r.to(input.dtype());
}

}  // namespace hearth::nn::functional
