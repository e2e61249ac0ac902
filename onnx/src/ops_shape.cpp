// ONNX shape, indexing and constant ops: Reshape, Flatten, Transpose, Concat, Split, Squeeze,
// Unsqueeze, Gather(Elements), Slice, Expand, Tile, Pad, Shape, Size, Constant(OfShape), Cast(Like),
// DepthToSpace, SpaceToDepth, Trilu, EyeLike, OneHot, Range.
#include <cmath>
#include <limits>

#include "onnx_internal.h"
#include "ops_common.h"

namespace hearth::onnx_impl {

namespace F = nn::functional;

namespace {

TensorOptions i64(const Tensor& like) { return TensorOptions(kInt64).device(like.device()); }

std::vector<int64_t> axes_of(const NodeCtx& c, size_t input, int64_t rank) {
  std::vector<int64_t> axes;
  if (c.opset >= 13) {
    if (c.has_in(input)) axes = to_ints(c.in[input], c.where() + " axes");
  } else {
    axes = c.ints("axes");
  }
  for (auto& a : axes) a = norm_axis(a, rank, c.where());
  return axes;
}

Tensor fix_negative(const Tensor& idx, int64_t n) {
  Tensor i = idx.to(kInt64);
  return where(i.lt(Scalar(0)), i + Scalar(n), i);
}

/// numpy slicing of one axis: start/end clamped by the sign of step.
Tensor slice_axis(const Tensor& x, int64_t axis, int64_t s, int64_t e, int64_t st, const std::string& where_) {
  HEARTH_CHECK(st != 0, ValueError, "onnx: ", where_, " has a zero step");
  const int64_t n = x.size(axis);
  if (s < 0) s = s < -n ? -1 : s + n;
  if (e < 0) e = e < -n ? -1 : e + n;
  if (st > 0) {
    s = std::clamp<int64_t>(s, 0, n);
    e = std::clamp<int64_t>(e, 0, n);
    if (e <= s) return x.narrow(axis, 0, 0);
    return x.slice(axis, s, e, st);
  }
  s = std::clamp<int64_t>(s, -1, n - 1);
  e = std::clamp<int64_t>(e, -1, n - 1);
  std::vector<int64_t> idx;
  for (int64_t i = s; i > e; i += st) idx.push_back(i);
  return x.index_select(axis, tensor(idx, i64(x)));
}

std::vector<int64_t> pad_indices(int64_t n, int64_t b, int64_t e, bool reflect) {
  std::vector<int64_t> idx;
  for (int64_t p = -b; p < n + e; ++p) {
    int64_t q = p;
    if (reflect && n > 1) {
      const int64_t period = 2 * (n - 1);
      q = ((q % period) + period) % period;
      if (q > n - 1) q = period - q;
    } else {
      q = std::clamp<int64_t>(q, 0, n - 1);
    }
    idx.push_back(q);
  }
  return idx;
}

ScalarType cast_target(const NodeCtx& c) { return dtype_from_onnx(c.i("to", 0)); }

}  // namespace

void register_shape_ops(std::map<std::string, OpEntry>& t) {
  add_op(t, "Reshape", kAll, 0, kAnyRank, "0 copies a dim (unless allowzero), -1 inferred", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    std::vector<int64_t> shape = c.opset < 5 ? c.ints("shape") : to_ints(c.in[1], c.where() + " shape");
    HEARTH_CHECK(shape.size() <= 64, ShapeError, "onnx: ", c.where(), " asks for rank ", shape.size());
    const bool allowzero = c.i("allowzero", 0) != 0;
    for (size_t i = 0; i < shape.size(); ++i)
      if (shape[i] == 0 && !allowzero) {
        HEARTH_CHECK(static_cast<int64_t>(i) < x.dim(), ShapeError, "onnx: ", c.where(), " copies dim ", i,
                     " of a rank-", x.dim(), " input");
        shape[i] = x.size(static_cast<int64_t>(i));
      }
    return outs(x.reshape(shape).contiguous());
  });
  add_op(t, "Flatten", kAll, 0, kAnyRank, "axis", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    int64_t axis = c.i("axis", 1);
    if (axis < 0) axis += x.dim();
    HEARTH_CHECK(axis >= 0 && axis <= x.dim(), IndexError, "onnx: ", c.where(), " axis out of range");
    int64_t outer = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.size(i);
    int64_t inner = 1;
    for (int64_t i = axis; i < x.dim(); ++i) inner *= x.size(i);
    return outs(x.reshape({outer, inner}).contiguous());
  });
  add_op(t, "Transpose", kAll, 0, kAnyRank, "perm (default reversed)", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    std::vector<int64_t> perm = c.ints("perm");
    if (perm.empty())
      for (int64_t i = x.dim() - 1; i >= 0; --i) perm.push_back(i);
    return outs(x.permute(perm).contiguous());
  });
  add_op(t, "Concat", kAll, 1, kAnyRank, "axis (negative too)", nullptr, [](NodeCtx& c) {
    std::vector<Tensor> xs;
    for (size_t k = 0; k < c.n_in; ++k)
      if (c.in[k].defined()) xs.push_back(c.in[k]);
    return outs(cat(xs, norm_axis(c.i("axis", 0), c.in[0].dim(), c.where())));
  });
  add_op(t, "Split", kAll, 1, kAnyRank, "axis, split sizes (attribute before opset 13, input after) or equal parts",
         nullptr, [](NodeCtx& c) {
           const Tensor& x = c.in[0];
           const int64_t axis = norm_axis(c.i("axis", 0), x.dim(), c.where());
           std::vector<int64_t> split;
           if (c.opset >= 13) {
             if (c.has_in(1)) split = to_ints(c.in[1], c.where() + " split");
           } else {
             split = c.ints("split");
           }
           const int64_t n = c.num_outputs();
           if (split.empty()) {
             HEARTH_CHECK(n > 0 && x.size(axis) % n == 0, ShapeError, "onnx: ", c.where(), " cannot split ",
                          x.size(axis), " into ", n, " equal parts");
             split.assign(n, x.size(axis) / n);
           }
           std::vector<Tensor> o;
           int64_t at = 0;
           for (int64_t s : split) {
             HEARTH_CHECK(s >= 0 && at + s <= x.size(axis), ShapeError, "onnx: ", c.where(), " split sizes exceed ",
                          x.size(axis));
             o.push_back(x.narrow(axis, at, s).contiguous());
             at += s;
           }
           return o;
         });
  add_op(t, "Squeeze", kAll, 0, kAnyRank, "axes (attribute before opset 13, input after)", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    std::vector<int64_t> axes = axes_of(c, 1, x.dim());
    if (axes.empty()) return outs(x.squeeze().contiguous());
    std::vector<int64_t> shape;
    for (int64_t i = 0; i < x.dim(); ++i) {
      if (std::find(axes.begin(), axes.end(), i) != axes.end()) {
        HEARTH_CHECK(x.size(i) == 1, ShapeError, "onnx: ", c.where(), " cannot squeeze dim ", i, " of size ", x.size(i));
        continue;
      }
      shape.push_back(x.size(i));
    }
    return outs(x.reshape(shape).contiguous());
  });
  add_op(t, "Unsqueeze", kAll, 0, kAnyRank, "axes (attribute before opset 13, input after), any order", nullptr,
         [](NodeCtx& c) {
           const Tensor& x = c.in[0];
           std::vector<int64_t> raw = c.opset >= 13 ? to_ints(c.in[1], c.where() + " axes") : c.ints("axes");
           const int64_t r = x.dim() + static_cast<int64_t>(raw.size());
           std::vector<int64_t> axes;
           for (int64_t a : raw) axes.push_back(norm_axis(a, r, c.where()));
           std::vector<int64_t> shape;
           int64_t k = 0;
           for (int64_t i = 0; i < r; ++i)
             shape.push_back(std::find(axes.begin(), axes.end(), i) != axes.end() ? 1 : x.size(k++));
           return outs(x.reshape(shape).contiguous());
         });
  add_op(t, "Gather", kAll, 1, kAnyRank, "axis, negative indices, indices of any rank", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    const int64_t axis = norm_axis(c.i("axis", 0), x.dim(), c.where());
    Tensor idx = fix_negative(c.in[1], x.size(axis));
    Tensor g = x.index_select(axis, idx.reshape({-1}));
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + axis);
    for (int64_t s : idx.sizes()) shape.push_back(s);
    for (int64_t i = axis + 1; i < x.dim(); ++i) shape.push_back(x.size(i));
    return outs(g.reshape(shape).contiguous());
  });
  add_op(t, "GatherElements", kAll, 1, kAnyRank, "axis, negative indices", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    const int64_t axis = norm_axis(c.i("axis", 0), x.dim(), c.where());
    return outs(x.gather(axis, fix_negative(c.in[1], x.size(axis))));
  });
  add_op(t, "Slice", kAll, 1, kAnyRank, "starts, ends, axes, steps (negative too), out-of-range clamped", nullptr,
         [](NodeCtx& c) {
           Tensor x = c.in[0];
           std::vector<int64_t> starts, ends, axes, steps;
           if (c.opset < 10) {
             starts = c.ints("starts");
             ends = c.ints("ends");
             axes = c.ints("axes");
           } else {
             starts = to_ints(c.in[1], c.where() + " starts");
             ends = to_ints(c.in[2], c.where() + " ends");
             if (c.has_in(3)) axes = to_ints(c.in[3], c.where() + " axes");
             if (c.has_in(4)) steps = to_ints(c.in[4], c.where() + " steps");
           }
           HEARTH_CHECK(starts.size() == ends.size(), ShapeError, "onnx: ", c.where(), " starts and ends differ in length");
           if (axes.empty())
             for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
           if (steps.empty()) steps.assign(starts.size(), 1);
           HEARTH_CHECK(axes.size() == starts.size() && steps.size() == starts.size(), ShapeError, "onnx: ", c.where(),
                        " starts, ends, axes and steps differ in length");
           for (size_t i = 0; i < starts.size(); ++i)
             x = slice_axis(x, norm_axis(axes[i], x.dim(), c.where()), starts[i], ends[i], steps[i], c.where());
           return outs(x.contiguous());
         });
  add_op(t, "Expand", kAll, 0, kAnyRank, "bidirectional broadcasting", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    std::vector<int64_t> shape = to_ints(c.in[1], c.where() + " shape");
    DimVector out = broadcast_shapes(x.sizes(), shape);
    check_alloc(std::vector<int64_t>(out.begin(), out.end()), c.where());
    return outs(x.expand(out).contiguous());
  });
  add_op(t, "Tile", kAll, 1, kAnyRank, "repeats", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    std::vector<int64_t> rep = to_ints(c.in[1], c.where() + " repeats");
    HEARTH_CHECK(static_cast<int64_t>(rep.size()) == x.dim(), ShapeError, "onnx: ", c.where(), " has ", rep.size(),
                 " repeats for a rank-", x.dim(), " input");
    std::vector<int64_t> inter, big, out;
    for (int64_t i = 0; i < x.dim(); ++i) {
      inter.push_back(1);
      inter.push_back(x.size(i));
      big.push_back(rep[i]);
      big.push_back(x.size(i));
      out.push_back(rep[i] * x.size(i));
    }
    check_alloc(big, c.where());
    return outs(x.reshape(inter).expand(big).reshape(out).contiguous());
  });
  add_op(t, "Pad", kAll, 0, kAnyRank, "modes constant, reflect, edge; pads as attribute (opset < 11) or input",
         [](const NodeCtx& c) -> std::string {
           const std::string m = c.s("mode", "constant");
           if (m != "constant" && m != "reflect" && m != "edge") return "Pad mode=" + m;
           if (c.opset >= 18) return "Pad with axes (opset 18)";
           return "";
         },
         [](NodeCtx& c) {
           Tensor x = c.in[0];
           const int64_t r = x.dim();
           std::vector<int64_t> pads = c.opset < 11 ? c.ints("pads") : to_ints(c.in[1], c.where() + " pads");
           HEARTH_CHECK(static_cast<int64_t>(pads.size()) == 2 * r, ShapeError, "onnx: ", c.where(), " has ",
                        pads.size(), " pads for a rank-", r, " input");
           const std::string mode = c.s("mode", "constant");
           {
             std::vector<int64_t> os;
             for (int64_t i = 0; i < r; ++i) {
               HEARTH_CHECK(std::abs(pads[i]) < (int64_t(1) << 40) && std::abs(pads[r + i]) < (int64_t(1) << 40),
                            ValueError, "onnx: ", c.where(), " pads out of range");
               os.push_back(std::max<int64_t>(x.size(i) + pads[i] + pads[r + i], 0));
             }
             check_alloc(os, c.where());
           }
           if (mode == "constant") {
             double v = c.opset < 11 ? c.f("value", 0.0) : (c.has_in(2) ? to_double(c.in[2]) : 0.0);
             std::vector<int64_t> hp;
             for (int64_t i = r - 1; i >= 0; --i) {
               hp.push_back(pads[i]);
               hp.push_back(pads[r + i]);
             }
             return outs(F::pad(x, hp, "constant", v));
           }
           for (int64_t i = 0; i < r; ++i) {
             int64_t b = pads[i], e = pads[r + i];
             if (b < 0) { x = x.narrow(i, -b, x.size(i) + b); b = 0; }
             if (e < 0) { x = x.narrow(i, 0, x.size(i) + e); e = 0; }
             if (b == 0 && e == 0) continue;
             HEARTH_CHECK(x.size(i) > 0, ShapeError, "onnx: ", c.where(), " cannot pad an empty dim in mode ", mode);
             x = x.index_select(i, tensor(pad_indices(x.size(i), b, e, mode == "reflect"), i64(x)));
           }
           return outs(x.contiguous());
         });
  add_op(t, "Shape", kAny, 0, kAnyRank, "start, end", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    const int64_t r = x.dim();
    int64_t s = c.i("start", 0), e = c.i("end", r);
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = std::clamp<int64_t>(s, 0, r);
    e = std::clamp<int64_t>(e, 0, r);
    std::vector<int64_t> v;
    for (int64_t i = s; i < e; ++i) v.push_back(x.size(i));
    return outs(tensor(v, TensorOptions(kInt64)).to(x.device()));
  });
  add_op(t, "Size", kAny, 0, kAnyRank, "", nullptr,
         [](NodeCtx& c) { return outs(scalar_tensor(c.in[0].numel(), i64(c.in[0]))); });
  add_op(t, "Constant", kAny, 0, kAnyRank, "value, value_float(s), value_int(s)",
         [](const NodeCtx& c) -> std::string {
           if (c.has("sparse_value")) return "Constant sparse_value";
           if (c.has("value_string") || c.has("value_strings")) return "Constant strings";
           return "";
         },
         [](NodeCtx& c) {
           Tensor v;
           if (c.has("value")) v = c.t("value");
           else if (c.has("value_float")) v = scalar_tensor(c.f("value_float", 0), TensorOptions(kFloat32));
           else if (c.has("value_int")) v = scalar_tensor(c.i("value_int", 0), TensorOptions(kInt64));
           else if (c.has("value_floats")) {
             std::vector<double> f = c.floats("value_floats");
             v = tensor(f, TensorOptions(kFloat64)).to(kFloat32);
           } else if (c.has("value_ints")) v = tensor(c.ints("value_ints"), TensorOptions(kInt64));
           HEARTH_CHECK(v.defined(), FormatError, "onnx: ", c.where(), " has no value attribute");
           return outs(v.to(c.device));
         });
  add_op(t, "ConstantOfShape", kAny, 0, 1, "value (one element)", nullptr, [](NodeCtx& c) {
    std::vector<int64_t> shape = to_ints(c.in[0], c.where() + " shape");
    Tensor v = c.has("value") ? c.t("value") : zeros({1}, TensorOptions(kFloat32));
    HEARTH_CHECK(v.numel() == 1, ShapeError, "onnx: ", c.where(), " value must have one element");
    check_alloc(shape, c.where());
    return outs(v.reshape({}).to(c.device).expand(shape).contiguous());
  });
  add_op(t, "Cast", kAll, 0, kAnyRank, "to any hearth dtype", [](const NodeCtx& c) -> std::string {
    if (cast_target(c) == ScalarType::Undefined) return "Cast to " + onnx_type_name(c.i("to", 0));
    return "";
  }, [](NodeCtx& c) { return outs(c.in[0].to(cast_target(c), true)); });
  add_op(t, "CastLike", kAll, 0, kAnyRank, "", nullptr,
         [](NodeCtx& c) { return outs(c.in[0].to(c.in[1].dtype(), true)); });
  add_op(t, "DepthToSpace", kAll, 4, 4, "blocksize, mode DCR/CRD", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    const int64_t b = c.i("blocksize", 1), N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    HEARTH_CHECK(b > 0 && C % (b * b) == 0, ShapeError, "onnx: ", c.where(), " channels ", C, " not divisible by ", b * b);
    Tensor y;
    if (c.s("mode", "DCR") == "CRD")
      y = x.reshape({N, C / (b * b), b, b, H, W}).permute({0, 1, 4, 2, 5, 3});
    else
      y = x.reshape({N, b, b, C / (b * b), H, W}).permute({0, 3, 4, 1, 5, 2});
    return outs(y.reshape({N, C / (b * b), H * b, W * b}).contiguous());
  });
  add_op(t, "SpaceToDepth", kAll, 4, 4, "blocksize", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    const int64_t b = c.i("blocksize", 1), N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    HEARTH_CHECK(b > 0 && H % b == 0 && W % b == 0, ShapeError, "onnx: ", c.where(), " spatial dims not divisible by ", b);
    return outs(x.reshape({N, C, H / b, b, W / b, b}).permute({0, 3, 5, 1, 2, 4}).reshape({N, C * b * b, H / b, W / b}).contiguous());
  });
  add_op(t, "Trilu", kAll, 2, kAnyRank, "upper, k", nullptr, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    const int64_t k = c.has_in(1) ? to_ints(c.in[1], c.where() + " k").at(0) : 0;
    const int64_t n = x.size(-2), m = x.size(-1);
    Tensor rows = arange(n, i64(x)).reshape({n, 1}), cols = arange(m, i64(x)).reshape({1, m});
    Tensor diff = cols - rows;
    Tensor mask = c.i("upper", 1) ? diff.ge(Scalar(k)) : diff.le(Scalar(k));
    return outs(where(mask, x, zeros({}, x.options())));
  });
  add_op(t, "EyeLike", kAll, 2, 2, "dtype, k", [](const NodeCtx& c) -> std::string {
    if (c.has("dtype") && dtype_from_onnx(c.i("dtype", 1)) == ScalarType::Undefined)
      return "EyeLike dtype " + onnx_type_name(c.i("dtype", 1));
    return "";
  }, [](NodeCtx& c) {
    const Tensor& x = c.in[0];
    const ScalarType dt = c.has("dtype") ? dtype_from_onnx(c.i("dtype", 1)) : x.dtype();
    const int64_t n = x.size(0), m = x.size(1);
    Tensor diff = arange(m, i64(x)).reshape({1, m}) - arange(n, i64(x)).reshape({n, 1});
    return outs(diff.eq(Scalar(c.i("k", 0))).to(dt));
  });
  add_op(t, "OneHot", kNum, 0, kAnyRank, "axis, negative indices", nullptr, [](NodeCtx& c) {
    const Tensor& ind = c.in[0];
    const int64_t depth = static_cast<int64_t>(to_double(c.in[1]));
    {
      std::vector<int64_t> os(ind.sizes().begin(), ind.sizes().end());
      os.push_back(depth);
      check_alloc(os, c.where());
    }
    const Tensor& vals = c.in[2];
    const int64_t r = ind.dim() + 1;
    const int64_t axis = norm_axis(c.i("axis", -1), r, c.where());
    Tensor idx = ind.to(kInt64);
    idx = where(idx.lt(Scalar(0)), idx + Scalar(depth), idx).unsqueeze(axis);
    std::vector<int64_t> s(r, 1);
    s[axis] = depth;
    Tensor mask = arange(depth, i64(ind)).reshape(s).eq(idx);
    Tensor vc = vals.reshape({2});
    return outs(where(mask, vc.select(0, 1), vc.select(0, 0)));
  });
  add_op(t, "Range", kNum, 0, 0, "start, limit, delta scalars", nullptr, [](NodeCtx& c) {
    const Tensor& s = c.in[0];
    const double st = to_double(s), lim = to_double(c.in[1]), d = to_double(c.in[2]);
    HEARTH_CHECK(d != 0, ValueError, "onnx: ", c.where(), " delta is zero");
    const double nd = std::ceil((lim - st) / d);
    HEARTH_CHECK(nd < double(kMaxOpElements), ValueError, "onnx: ", c.where(), " range too long");
    const int64_t n = std::max<int64_t>(static_cast<int64_t>(nd), 0);
    Tensor i = arange(n, TensorOptions(kFloat64).device(s.device()));
    return outs((i * Scalar(d) + Scalar(st)).to(s.dtype()));
  });
}

}  // namespace hearth::onnx_impl
