// ONNX neural-network ops: Conv, pooling, normalization, softmax family, Gemm/MatMul, the losses,
// Resize/Upsample, Dropout, and the Reduce/ArgMax families, over hearth's ops.
#include <cmath>

#include "onnx_internal.h"
#include "ops_common.h"

namespace hearth::onnx_impl {

namespace F = nn::functional;

namespace {

/// Spatial geometry of a 1-D or 2-D conv/pool node, always as 2-D (a 1-D op gets H = 1).
struct Geo {
  int64_t k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1};
  int64_t pb[2] = {0, 0}, pe[2] = {0, 0};  // begin / end padding per spatial dim
  bool symmetric() const { return pb[0] == pe[0] && pb[1] == pe[1]; }
  bool any_pad() const { return pb[0] || pb[1] || pe[0] || pe[1]; }
};

std::vector<int64_t> spatial_attr(const NodeCtx& c, const std::string& name, int nsp, int64_t def) {
  std::vector<int64_t> v = c.ints(name);
  if (v.empty()) v.assign(nsp, def);
  HEARTH_CHECK(static_cast<int>(v.size()) == nsp, ShapeError, "onnx: ", c.where(), " attribute '", name, "' has ",
               v.size(), " values for ", nsp, " spatial dims");
  return v;
}

/// Reads kernel_shape (or `kernel` when given), strides, dilations, pads / auto_pad for input
/// spatial sizes `in` (nsp of them).
Geo geometry(const NodeCtx& c, IntArrayRef in, const std::vector<int64_t>& kernel) {
  const int nsp = static_cast<int>(in.size());
  // A hostile file may give any number of values: one per spatial dim, checked before any is read.
  HEARTH_CHECK(nsp >= 1 && nsp <= 2, ShapeError, "onnx: ", c.where(), " has ", nsp, " spatial dims (1 or 2 supported)");
  HEARTH_CHECK(static_cast<int>(kernel.size()) == nsp, ShapeError, "onnx: ", c.where(), " kernel_shape has ",
               kernel.size(), " values for ", nsp, " spatial dims");
  Geo g;
  auto s = spatial_attr(c, "strides", nsp, 1);
  auto d = spatial_attr(c, "dilations", nsp, 1);
  std::vector<int64_t> pads = c.ints("pads");
  if (pads.empty()) pads.assign(2 * nsp, 0);
  HEARTH_CHECK(static_cast<int>(pads.size()) == 2 * nsp, ShapeError, "onnx: ", c.where(), " has ", pads.size(),
               " pads for ", nsp, " spatial dims");
  const std::string ap = c.s("auto_pad", "NOTSET");
  const int off = 2 - nsp;
  for (int i = 0; i < nsp; ++i) {
    HEARTH_CHECK(kernel[i] > 0 && s[i] > 0 && d[i] > 0, ValueError, "onnx: ", c.where(),
                 " needs positive kernel, strides and dilations");
    g.k[off + i] = kernel[i];
    g.s[off + i] = s[i];
    g.d[off + i] = d[i];
    const int64_t keff = (kernel[i] - 1) * d[i] + 1;
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      const int64_t out = (in[i] + s[i] - 1) / s[i];
      const int64_t total = std::max<int64_t>((out - 1) * s[i] + keff - in[i], 0);
      const int64_t small = total / 2;
      g.pb[off + i] = ap == "SAME_UPPER" ? small : total - small;
      g.pe[off + i] = total - g.pb[off + i];
    } else if (ap == "VALID") {
      g.pb[off + i] = g.pe[off + i] = 0;
    } else {
      g.pb[off + i] = pads[i];
      g.pe[off + i] = pads[nsp + i];
      HEARTH_CHECK(pads[i] >= 0 && pads[nsp + i] >= 0, ValueError, "onnx: ", c.where(), " has negative pads");
    }
  }
  return g;
}

std::string check_auto_pad(const NodeCtx& c) {
  const std::string ap = c.s("auto_pad", "NOTSET");
  if (ap != "NOTSET" && ap != "SAME_UPPER" && ap != "SAME_LOWER" && ap != "VALID") return "auto_pad=" + ap;
  return "";
}

Tensor to4d(const Tensor& x) { return x.dim() == 3 ? x.unsqueeze(2) : x; }
Tensor from4d(const Tensor& y, int64_t rank) { return rank == 3 ? y.squeeze(2) : y; }

Tensor pad_hw(const Tensor& x, const Geo& g, double value) {
  return F::pad(x, {g.pb[1], g.pe[1], g.pb[0], g.pe[0]}, "constant", value);
}

/// (C) vector shaped to broadcast over (N, C, ...) of rank r.
Tensor chan(const Tensor& v, int64_t r) {
  std::vector<int64_t> s(r, 1);
  s[1] = v.numel();
  return v.reshape(s);
}

std::vector<int64_t> dims_except(int64_t r, std::initializer_list<int64_t> keep) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < r; ++i)
    if (std::find(keep.begin(), keep.end(), i) == keep.end()) out.push_back(i);
  return out;
}

int64_t softmax_axis(const NodeCtx& c, int64_t r) {
  return norm_axis(c.i("axis", c.opset < 13 ? 1 : -1), r, c.where());
}

/// Softmax-like op: opset >= 13 normalizes over one axis; older opsets flatten to 2-D at axis.
Tensor softmax_family(const NodeCtx& c, const std::function<Tensor(const Tensor&, int64_t)>& f) {
  const Tensor& x = c.in[0];
  const int64_t axis = softmax_axis(c, x.dim());
  if (c.opset >= 13 || x.dim() == 0) return f(x, axis);
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.size(i);
  return f(x.reshape({outer, x.numel() / std::max<int64_t>(outer, 1)}), 1).reshape(x.sizes());
}

Tensor hardmax_dim(const Tensor& x, int64_t dim) {
  Tensor idx = x.argmax(dim, true);
  std::vector<int64_t> s(x.dim(), 1);
  s[dim] = x.size(dim);
  Tensor ar = arange(x.size(dim), TensorOptions(kInt64).device(x.device())).reshape(s);
  return ar.eq(idx).to(x.dtype());
}

// ---- Reduce ----

struct ReduceAxes {
  std::vector<int64_t> dims;  // sorted, non-negative; empty with noop = identity
  bool noop = false;
};

ReduceAxes reduce_axes(const NodeCtx& c, int64_t r, bool axes_input) {
  std::vector<int64_t> axes;
  bool given = false;
  if (axes_input) {
    if (c.has_in(1)) {
      axes = to_ints(c.in[1], c.where() + " axes");
      given = !axes.empty();
    }
  } else if (c.has("axes")) {
    axes = c.ints("axes");
    given = !axes.empty();
  }
  ReduceAxes ra;
  if (!given) {
    if (c.i("noop_with_empty_axes", 0) != 0) {
      ra.noop = true;
      return ra;
    }
    for (int64_t i = 0; i < r; ++i) ra.dims.push_back(i);
    return ra;
  }
  for (int64_t a : axes) ra.dims.push_back(norm_axis(a, r, c.where()));
  std::sort(ra.dims.begin(), ra.dims.end());
  ra.dims.erase(std::unique(ra.dims.begin(), ra.dims.end()), ra.dims.end());
  return ra;
}

/// Shape after reducing `dims` with ONNX's keepdims.
std::vector<int64_t> reduced_shape(IntArrayRef in, const std::vector<int64_t>& dims, bool keep) {
  std::vector<int64_t> s;
  for (int64_t i = 0; i < static_cast<int64_t>(in.size()); ++i) {
    const bool red = std::find(dims.begin(), dims.end(), i) != dims.end();
    if (!red) s.push_back(in[i]);
    else if (keep) s.push_back(1);
  }
  return s;
}

void reduce_op(std::map<std::string, OpEntry>& t, const std::string& op, const std::vector<ScalarType>& dt,
               std::function<Tensor(const Tensor&, IntArrayRef)> keep_reduce, bool axes_input_at13) {
  add_op(t, op, dt, 0, kAnyRank,
         axes_input_at13 ? "axes (input from opset 13), keepdims, noop_with_empty_axes" : "axes, keepdims",
         nullptr, [keep_reduce, axes_input_at13](NodeCtx& c) {
           const Tensor& x = c.in[0];
           ReduceAxes ra = reduce_axes(c, x.dim(), axes_input_at13 && c.opset >= 13);
           if (ra.noop) return outs(x.clone());
           Tensor r = ra.dims.empty() ? x : keep_reduce(x, ra.dims);
           return outs(r.reshape(reduced_shape(x.sizes(), ra.dims, c.i("keepdims", 1) != 0)).contiguous());
         });
}

Tensor prod_dims(const Tensor& x, IntArrayRef dims) {
  Tensor r = x;
  for (int64_t d : dims) r = r.prod(d, true);
  return r;
}

// ---- Resize ----

/// The (out x in) interpolation matrix of one axis, following ONNX's reference (onnx 1.12
/// backend/test/case/node/resize.py): n taps around x_ori, edge padding, optional exclusion.
Tensor resize_matrix(int64_t in, int64_t out, double scale, const std::string& mode, const std::string& ctm,
                     const std::string& nearest_mode, double A, bool exclude_outside, const TensorOptions& opts) {
  std::vector<double> w(static_cast<size_t>(out * in), 0.0);
  const double out_width = scale * static_cast<double>(in);
  const int n = mode == "cubic" ? 4 : 2;
  const int64_t pad = (n + 1) / 2, limit = in + 2 * pad;
  for (int64_t o = 0; o < out; ++o) {
    const double x = static_cast<double>(o);
    double xo;
    if (ctm == "align_corners") xo = out_width == 1 ? 0.0 : x * (in - 1) / (out_width - 1);
    else if (ctm == "asymmetric") xo = x / scale;
    else if (ctm == "pytorch_half_pixel") xo = out_width == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    else if (ctm == "tf_half_pixel_for_nn") xo = (x + 0.5) / scale;
    else xo = (x + 0.5) / scale - 0.5;  // half_pixel
    const double fl = std::floor(xo);
    const double ratio = xo == fl ? 1.0 : xo - fl;
    double coeffs[4];
    if (mode == "nearest") {
      if (xo == fl) { coeffs[0] = 0; coeffs[1] = 1; }
      else if (nearest_mode == "round_prefer_ceil") { coeffs[0] = ratio < 0.5; coeffs[1] = ratio >= 0.5; }
      else if (nearest_mode == "floor") { coeffs[0] = 1; coeffs[1] = 0; }
      else if (nearest_mode == "ceil") { coeffs[0] = 0; coeffs[1] = 1; }
      else { coeffs[0] = ratio <= 0.5; coeffs[1] = ratio > 0.5; }
    } else if (mode == "linear") {
      coeffs[0] = 1 - ratio;
      coeffs[1] = ratio;
    } else {
      const double r = ratio, q = 1 - ratio;
      coeffs[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
      coeffs[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
      coeffs[2] = ((A + 2) * q - (A + 3)) * q * q + 1;
      coeffs[3] = ((A * (q + 1) - 5 * A) * (q + 1) + 8 * A) * (q + 1) - 4 * A;
    }
    // The n nearest indexes of the edge-padded array, preferring smaller ones (a window).
    const double xp = xo + static_cast<double>(pad);
    int64_t start = static_cast<int64_t>(std::ceil(xp)) - n / 2;
    start = std::clamp<int64_t>(start, 0, limit - n);
    double sum = 0;
    for (int j = 0; j < n; ++j) {
      const int64_t idx = start + j - pad;
      if (exclude_outside && (idx < 0 || idx >= in)) coeffs[j] = 0;
      sum += coeffs[j];
    }
    for (int j = 0; j < n; ++j) {
      const int64_t idx = std::clamp<int64_t>(start + j - pad, 0, in - 1);
      w[static_cast<size_t>(o * in + idx)] += exclude_outside ? coeffs[j] / sum : coeffs[j];
    }
  }
  return tensor(w, TensorOptions(kFloat64)).reshape({out, in}).to(opts);
}

std::vector<Tensor> run_resize(NodeCtx& c, bool upsample) {
  const Tensor& x = c.in[0];
  const int64_t r = x.dim();
  std::string mode = c.s("mode", "nearest");
  std::string ctm = c.s("coordinate_transformation_mode", "half_pixel");
  std::string nm = c.s("nearest_mode", "round_prefer_floor");
  if (upsample || c.opset < 11) {
    ctm = "asymmetric";
    if (upsample) nm = "floor";
  }
  std::vector<double> scales;
  std::vector<int64_t> sizes;
  if (upsample && c.opset < 9) {
    scales = c.floats("scales");
  } else {
    const int scales_at = (upsample || c.opset < 11) ? 1 : 2;
    if (c.has_in(scales_at) && c.in[scales_at].numel() > 0) {
      Tensor s = c.in[scales_at].cpu().to(kFloat64).contiguous();
      scales.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
    }
    if (!upsample && c.opset >= 11 && c.has_in(3) && c.in[3].numel() > 0) sizes = to_ints(c.in[3], c.where() + " sizes");
  }
  HEARTH_CHECK(!scales.empty() || !sizes.empty(), ValueError, "onnx: ", c.where(), " needs scales or sizes");
  HEARTH_CHECK(scales.empty() || static_cast<int64_t>(scales.size()) == r, ShapeError, "onnx: ", c.where(), " has ",
               scales.size(), " scales for a rank-", r, " input");
  HEARTH_CHECK(sizes.empty() || static_cast<int64_t>(sizes.size()) == r, ShapeError, "onnx: ", c.where(), " has ",
               sizes.size(), " sizes for a rank-", r, " input");
  Tensor y = x;
  for (int64_t d = 0; d < r; ++d) {
    const int64_t in = x.size(d);
    int64_t out;
    double scale;
    if (!sizes.empty()) {
      out = sizes[d];
      scale = static_cast<double>(out) / static_cast<double>(in);
    } else {
      scale = scales[d];
      HEARTH_CHECK(scale > 0, ValueError, "onnx: ", c.where(), " scale ", scale, " must be positive");
      out = static_cast<int64_t>(scale * static_cast<double>(in));
    }
    HEARTH_CHECK(out >= 0 && out <= (int64_t(1) << 24), ValueError, "onnx: ", c.where(), " output size ", out,
                 " is out of range");
    {
      std::vector<int64_t> s(y.sizes().begin(), y.sizes().end());
      s[d] = out;
      check_alloc(s, c.where());
      HEARTH_CHECK(out * in <= (int64_t(1) << 26), ValueError, "onnx: ", c.where(), " resizes an axis of ", in,
                   " to ", out, ", beyond hearth's dense interpolation limit (2^26 weights per axis)");
    }
    if (out == in && scale == 1.0) continue;  // every mode maps x to itself
    Tensor w = resize_matrix(in, out, scale, mode, ctm, nm, c.f("cubic_coeff_a", -0.75),
                             c.i("exclude_outside", 0) != 0, x.options());
    y = matmul(y.movedim(d, -1), w.t()).movedim(-1, d);
  }
  return outs(y.contiguous());
}

std::string check_resize(const NodeCtx& c) {
  const std::string mode = c.s("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic") return "mode=" + mode;
  const std::string ctm = c.s("coordinate_transformation_mode", "half_pixel");
  if (ctm != "half_pixel" && ctm != "pytorch_half_pixel" && ctm != "align_corners" && ctm != "asymmetric" &&
      ctm != "tf_half_pixel_for_nn")
    return "coordinate_transformation_mode=" + ctm;
  const std::string nm = c.s("nearest_mode", "round_prefer_floor");
  if (nm != "round_prefer_floor" && nm != "round_prefer_ceil" && nm != "floor" && nm != "ceil") return "nearest_mode=" + nm;
  return "";
}

// ---- losses ----

std::string reduction_of(const NodeCtx& c) { return c.s("reduction", "mean"); }

Tensor nll(const NodeCtx& c, const Tensor& logp, const Tensor& target, const Tensor& weight) {
  const int64_t ii = c.i("ignore_index", std::numeric_limits<int64_t>::min());
  const Tensor tg = target.to(kInt64);
  if (ii != std::numeric_limits<int64_t>::min()) return F::nll_loss(logp, tg, weight, ii, reduction_of(c));
  return F::nll_loss(logp, tg, weight, -100, reduction_of(c));
}

std::string check_reduction(const NodeCtx& c) {
  const std::string r = c.s("reduction", "mean");
  if (r != "mean" && r != "sum" && r != "none") return "reduction=" + r;
  if (c.in[0].defined() && c.in[0].dim() < 2) return c.node->op_type() + " on a rank-1 input";
  return "";
}

}  // namespace

void register_nn_ops(std::map<std::string, OpEntry>& t) {
  add_op(t, "Conv", kFloats, 3, 4, "1-D and 2-D; group, strides, dilations, pads (asymmetric too), auto_pad",
         check_auto_pad, [](NodeCtx& c) {
           const Tensor& x = c.in[0];
           const Tensor& w = c.in[1];
           HEARTH_CHECK(w.dim() == x.dim(), ShapeError, "onnx: ", c.where(), " weight of shape ", w.sizes(),
                        " does not match input of shape ", x.sizes());
           std::vector<int64_t> k(w.sizes().begin() + 2, w.sizes().end());
           Geo g = geometry(c, x.sizes().slice(2), k);
           Tensor x4 = to4d(x), w4 = to4d(w);
           Tensor b = c.has_in(2) ? c.in[2] : Tensor();
           const int64_t groups = c.i("group", 1);
           Tensor y;
           if (g.symmetric())
             y = F::conv2d(x4, w4, b, {g.s[0], g.s[1]}, nn::ConvPadding(g.pb[0], g.pb[1]), {g.d[0], g.d[1]}, groups);
           else
             y = F::conv2d(pad_hw(x4, g, 0.0), w4, b, {g.s[0], g.s[1]}, 0, {g.d[0], g.d[1]}, groups);
           return outs(from4d(y, x.dim()));
         });
  add_op(t, "MaxPool", kFloats, 3, 4,
         "1-D and 2-D; kernel_shape, strides, dilations, pads, auto_pad, ceil_mode; storage_order 0; no Indices output",
         [](const NodeCtx& c) -> std::string {
           if (c.i("storage_order", 0) != 0) return "MaxPool storage_order=1";
           if (c.num_outputs() > 1 && !c.node->output(1).empty()) return "MaxPool Indices output";
           return check_auto_pad(c);
         },
         [](NodeCtx& c) {
           const Tensor& x = c.in[0];
           Geo g = geometry(c, x.sizes().slice(2), c.ints("kernel_shape"));
           Tensor x4 = to4d(x);
           if (g.any_pad()) x4 = pad_hw(x4, g, -INFINITY);
           Tensor y = F::max_pool2d(x4, {g.k[0], g.k[1]}, {g.s[0], g.s[1]}, 0, {g.d[0], g.d[1]}, c.i("ceil_mode", 0) != 0);
           return outs(from4d(y, x.dim()));
         });
  t.at("MaxPool").check = [](const NodeCtx& c) -> std::string {
    if (c.i("storage_order", 0) != 0) return "MaxPool storage_order=1";
    if (c.num_outputs() > 1 && !c.node->output(1).empty()) return "MaxPool Indices output";
    if (c.ints("kernel_shape").empty()) return "MaxPool without kernel_shape";
    return check_auto_pad(c);
  };
  add_op(t, "AveragePool", kFloats, 3, 4, "1-D and 2-D; kernel_shape, strides, pads, auto_pad, ceil_mode, count_include_pad",
         [](const NodeCtx& c) -> std::string {
           if (c.ints("kernel_shape").empty()) return "AveragePool without kernel_shape";
           return check_auto_pad(c);
         },
         [](NodeCtx& c) {
           const Tensor& x = c.in[0];
           Geo g = geometry(c, x.sizes().slice(2), c.ints("kernel_shape"));
           const bool ceil = c.i("ceil_mode", 0) != 0, cip = c.i("count_include_pad", 0) != 0;
           Tensor x4 = to4d(x);
           // Sums over windows clipped to the padded input, divided by the count of input (and,
           // with count_include_pad, pad) positions in each window.
           auto sum_pool = [&](const Tensor& v) {
             return F::avg_pool2d(v, {g.k[0], g.k[1]}, {g.s[0], g.s[1]}, 0, ceil, true, 1);
           };
           Tensor ones_ = ones({1, 1, x4.size(2), x4.size(3)}, x.options());
           Tensor num = sum_pool(pad_hw(x4, g, 0.0));
           Tensor cnt = sum_pool(F::pad(ones_, {g.pb[1], g.pe[1], g.pb[0], g.pe[0]}, "constant", cip ? 1.0 : 0.0));
           return outs(from4d(num / cnt, x.dim()));
         });
  add_op(t, "GlobalAveragePool", kFloats, 3, kAnyRank, "", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    return outs(x.mean(dims_except(x.dim(), {0, 1}), true));
  });
  add_op(t, "GlobalMaxPool", kFloats, 3, kAnyRank, "", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    return outs(amax(x, dims_except(x.dim(), {0, 1}), true));
  });
  add_op(t, "BatchNormalization", kFloats, 2, kAnyRank,
         "epsilon, momentum; inference, and training_mode=1 with running statistics outputs", nullptr, [](NodeCtx& c) {
           const Tensor& x = c.in[0];
           const int64_t r = x.dim();
           const double eps = c.f("epsilon", 1e-5), mom = c.f("momentum", 0.9);
           const Tensor &scale = c.in[1], &bias = c.in[2], &mean = c.in[3], &var = c.in[4];
           if (c.i("training_mode", 0) == 0)
             return outs(F::batch_norm(x, mean, var, scale, bias, false, 0.0, eps));
           // ONNX's training mode: batch statistics (biased variance) normalize; the running
           // statistics outputs are mean * momentum + batch * (1 - momentum).
           const auto dims = dims_except(r, {1});
           Tensor bm = x.mean(dims), bv = (x - chan(bm, r)).pow(Scalar(2)).mean(dims);
           Tensor y = (x - chan(bm, r)) * rsqrt(chan(bv, r) + Scalar(eps)) * chan(scale, r) + chan(bias, r);
           std::vector<Tensor> o{y, mean * Scalar(mom) + bm * Scalar(1 - mom), var * Scalar(mom) + bv * Scalar(1 - mom)};
           return o;
         });
  add_op(t, "InstanceNormalization", kFloats, 3, kAnyRank, "epsilon", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    const int64_t r = x.dim();
    const auto dims = dims_except(r, {0, 1});
    Tensor m = x.mean(dims, true), v = (x - m).pow(Scalar(2)).mean(dims, true);
    return outs((x - m) * rsqrt(v + Scalar(c.f("epsilon", 1e-5))) * chan(c.in[1], r) + chan(c.in[2], r));
  });
  add_op(t, "LayerNormalization", kFloats, 1, kAnyRank, "axis, epsilon; Mean and InvStdDev outputs", nullptr,
         [](NodeCtx& c) {
           const Tensor& x = c.in[0];
           const int64_t axis = norm_axis(c.i("axis", -1), x.dim(), c.where());
           std::vector<int64_t> dims;
           for (int64_t i = axis; i < x.dim(); ++i) dims.push_back(i);
           Tensor m = x.mean(dims, true), v = (x - m).pow(Scalar(2)).mean(dims, true);
           Tensor inv = rsqrt(v + Scalar(c.f("epsilon", 1e-5)));
           Tensor y = (x - m) * inv * c.in[1];
           if (c.has_in(2)) y = y + c.in[2];
           return std::vector<Tensor>{y, m, inv};
         });
  add_op(t, "MeanVarianceNormalization", kFloats, 1, kAnyRank, "axes", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    std::vector<int64_t> axes = c.ints("axes", {0, 2, 3});
    for (auto& a : axes) a = norm_axis(a, x.dim(), c.where());
    Tensor m = x.mean(axes, true);
    Tensor var = (x * x).mean(axes, true) - m * m;
    return outs((x - m) / (sqrt(var) + Scalar(1e-9)));
  });
  add_op(t, "Softmax", kFloats, 0, kAnyRank, "axis (opset < 13: flattened at axis)", nullptr, [](NodeCtx& c) {
    return outs(softmax_family(c, [](const Tensor& x, int64_t d) { return F::softmax(x, d); }));
  });
  add_op(t, "LogSoftmax", kFloats, 0, kAnyRank, "axis (opset < 13: flattened at axis)", nullptr, [](NodeCtx& c) {
    return outs(softmax_family(c, [](const Tensor& x, int64_t d) { return F::log_softmax(x, d); }));
  });
  add_op(t, "Hardmax", kFloats, 1, kAnyRank, "axis (opset < 13: flattened at axis)", nullptr,
         [](NodeCtx& c) { return outs(softmax_family(c, hardmax_dim)); });
  add_op(t, "Gemm", kFloats, 2, 2, "alpha, beta, transA, transB, C broadcast", nullptr, [](NodeCtx& c) {
    Tensor a = c.in[0], b = c.in[1];
    if (c.i("transA", 0)) a = a.t();
    if (c.i("transB", 0)) b = b.t();
    Tensor y = matmul(a, b);
    const double alpha = c.f("alpha", 1.0), beta = c.f("beta", 1.0);
    if (alpha != 1.0) y = y * Scalar(alpha);
    if (c.has_in(2)) y = y + (beta != 1.0 ? c.in[2] * Scalar(beta) : c.in[2]);
    return outs(y);
  });
  add_op(t, "MatMul", kFloats, 1, kAnyRank, "numpy matmul broadcasting", nullptr,
         [](NodeCtx& c) { return outs(matmul(c.in[0], c.in[1])); });
  add_op(t, "NegativeLogLikelihoodLoss", kFloats, 2, kAnyRank,
         "reduction none/sum/mean, ignore_index, weight; input (N, C, d1...)", check_reduction, [](NodeCtx& c) {
           return outs(nll(c, c.in[0], c.in[1], c.has_in(2) ? c.in[2] : Tensor()));
         });
  add_op(t, "SoftmaxCrossEntropyLoss", kFloats, 2, kAnyRank,
         "reduction none/sum/mean, ignore_index, weights; log_prob output", check_reduction, [](NodeCtx& c) {
           Tensor lp = F::log_softmax(c.in[0], 1);
           return std::vector<Tensor>{nll(c, lp, c.in[1], c.has_in(2) ? c.in[2] : Tensor()), lp};
         });
  add_op(t, "Resize", kFloats, 1, kAnyRank,
         "modes nearest (round_prefer_floor/ceil, floor, ceil), linear, cubic (cubic_coeff_a, exclude_outside); "
         "coordinate modes half_pixel, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn; "
         "scales or sizes; any axes",
         check_resize, [](NodeCtx& c) { return run_resize(c, false); });
  add_op(t, "Upsample", kFloats, 1, kAnyRank, "nearest, linear (asymmetric)", check_resize,
         [](NodeCtx& c) { return run_resize(c, true); });
  add_op(t, "Dropout", kAll, 0, kAnyRank, "inference (identity, mask all true); training_mode only with ratio 0",
         [](const NodeCtx& c) -> std::string {
           const bool training = c.has_in(2) && to_double(c.in[2]) != 0;
           const double ratio = c.has_in(1) ? to_double(c.in[1]) : c.f("ratio", 0.5);
           if (training && ratio != 0) return "Dropout in training mode (random)";
           return "";
         },
         [](NodeCtx& c) {
           return std::vector<Tensor>{c.in[0].clone(), ones(c.in[0].sizes(), TensorOptions(kBool).device(c.in[0].device()))};
         });

  // Reductions.
  reduce_op(t, "ReduceSum", kNum, [](const Tensor& x, IntArrayRef d) { return x.sum(d, true); }, true);
  reduce_op(t, "ReduceMean", kFloats, [](const Tensor& x, IntArrayRef d) { return x.mean(d, true); }, false);
  reduce_op(t, "ReduceMax", kNum, [](const Tensor& x, IntArrayRef d) { return amax(x, d, true); }, false);
  reduce_op(t, "ReduceMin", kNum, [](const Tensor& x, IntArrayRef d) { return amin(x, d, true); }, false);
  reduce_op(t, "ReduceProd", kNum, prod_dims, false);
  reduce_op(t, "ReduceL1", kFloats, [](const Tensor& x, IntArrayRef d) { return abs(x).sum(d, true); }, false);
  reduce_op(t, "ReduceL2", kFloats, [](const Tensor& x, IntArrayRef d) { return sqrt((x * x).sum(d, true)); }, false);
  reduce_op(t, "ReduceSumSquare", kFloats, [](const Tensor& x, IntArrayRef d) { return (x * x).sum(d, true); }, false);
  reduce_op(t, "ReduceLogSum", kFloats, [](const Tensor& x, IntArrayRef d) { return log(x.sum(d, true)); }, false);
  reduce_op(t, "ReduceLogSumExp", kFloats, [](const Tensor& x, IntArrayRef d) {
    Tensor m = amax(x, d, true);
    // Shift by the max for stability, except where it is infinite or NaN.
    Tensor ms = where(m.eq(m).logical_and(m.abs().ne(Scalar(INFINITY))), m, zeros_like(m));
    return log(exp(x - ms).sum(d, true)) + ms;
  }, false);
  for (const char* op : {"ArgMax", "ArgMin"}) {
    const bool is_max = std::string(op) == "ArgMax";
    add_op(t, op, kNum, 1, kAnyRank, "axis, keepdims, select_last_index", nullptr, [is_max](NodeCtx& c) {
      const Tensor& x = c.in[0];
      const int64_t axis = norm_axis(c.i("axis", 0), x.dim(), c.where());
      const bool keep = c.i("keepdims", 1) != 0;
      if (c.i("select_last_index", 0) == 0)
        return outs(is_max ? x.argmax(axis, keep) : x.argmin(axis, keep));
      const int64_t n = x.size(axis);
      Tensor rev = arange(n - 1, -1, -1, TensorOptions(kInt64).device(x.device()));
      Tensor xr = x.index_select(axis, rev);
      Tensor i = is_max ? xr.argmax(axis, keep) : xr.argmin(axis, keep);
      return outs(Scalar(n - 1) - i);
    });
  }
}

}  // namespace hearth::onnx_impl
