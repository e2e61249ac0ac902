// ONNX export by tracing: a TraceHook records every op the module's forward dispatches, views
// are recovered from storage geometry (Reshape/Transpose/Expand/Slice), parameters become
// initializers with their state-dict names, and nn::Linear is folded into one Gemm.
#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <unordered_map>

#include "hearth/op_attrs.h"
#include "hearth/version.h"
#include "onnx_internal.h"

namespace hearth::onnx {

using namespace onnx_impl;

namespace {

struct Geo {
  std::vector<int64_t> sizes, strides;
  int64_t offset = 0;
  bool operator==(const Geo& o) const { return sizes == o.sizes && strides == o.strides && offset == o.offset; }
};

Geo geo_of(const Tensor& t) {
  Geo g;
  g.sizes.assign(t.sizes().begin(), t.sizes().end());
  g.strides.assign(t.strides().begin(), t.strides().end());
  g.offset = t.storage_offset();
  return g;
}

bool contiguous(const Geo& g) {
  int64_t expect = 1;
  for (int64_t i = static_cast<int64_t>(g.sizes.size()) - 1; i >= 0; --i) {
    if (g.sizes[i] != 1 && g.strides[i] != expect) return false;
    expect *= g.sizes[i];
  }
  return true;
}

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto v : s) n *= v;
  return n;
}

class Tracer final : public TraceHook {
 public:
  explicit Tracer(nn::Module& root) {
    for (const auto& [name, t] : root.named_parameters()) add_param(name, t);
    for (const auto& [name, t] : root.named_buffers()) add_param(name, t);
  }

  pb::GraphProto graph;
  std::map<std::string, int> unsupported;  // hearth op -> count

  std::string add_input(const std::string& name, const Tensor& t) {
    auto* vi = graph.add_input();
    set_type(vi, name, t);
    register_value(name, t);
    return name;
  }

  /// The ONNX value holding tensor `t` (creating view nodes or a constant initializer).
  std::string resolve(const Tensor& t) {
    if (!t.defined()) return "";
    if (auto n = lookup(t)) return *n;
    const std::string name = fresh("const");
    add_initializer(name, t);
    register_value(name, t);
    return name;
  }

  void before(const OpSchema& op, const KernelArgs& a) override {
    pending_.clear();
    for (size_t i = 0; i < a.num_inputs; ++i) pending_.push_back(resolve(a.inputs[i]));
    // In-place ops read their output's old value (e.g. copy_ into a slice); resolve it now.
    pending_out_.clear();
    for (size_t i = 0; i < a.num_outputs; ++i) pending_out_.push_back(a.outputs[i].defined() ? lookup_name(a.outputs[i]) : "");
    (void)op;
  }

  void after(const OpSchema& op, const KernelArgs& a) override { record(op.name, a); }

  /// nn::Linear's forward hook: the ops its forward recorded become one Gemm.
  void fold_linear(nn::LinearImpl& l, const Tensor& in, const Tensor& out) {
    if (in.dim() != 2 || !out.defined()) return;
    auto oname = lookup(out);
    if (!oname) return;
    const void* in_storage = in.has_opaque_layout() ? nullptr : in.impl()->storage().get();
    fold_input_ = in.impl().get();
    // Walk back from the output, removing the nodes it depends on, up to the node that produced
    // the Linear's input (everything the Linear recorded comes after it).
    std::set<std::string> needed{*oname};
    for (int k = graph.node_size() - 1; k >= 0; --k) {
      const pb::NodeProto& n = graph.node(k);
      bool is_needed = false, makes_input = false;
      for (const auto& o : n.output()) {
        is_needed = is_needed || needed.count(o);
        makes_input = makes_input || shares_storage(o, in_storage);
      }
      if (makes_input && !is_needed) break;
      if (!is_needed) continue;
      for (const auto& i : n.input())
        if (!i.empty() && !is_initializer(i) && !shares_storage(i, in_storage)) needed.insert(i);
      for (const auto& o : n.output()) kill_value(o);
      graph.mutable_node()->DeleteSubrange(k, 1);
    }
    const std::string x = resolve(in);
    std::vector<std::string> ins{x, resolve(l.weight)};
    if (l.bias.defined()) ins.push_back(resolve(l.bias));
    const std::string y = fresh("gemm");
    auto* n = emit("Gemm", ins, {y});
    set_int(n, "transB", 1);
    register_value(y, out);
  }

  void finish(const Tensor& out, const std::string& out_name) {
    std::string o = resolve(out);
    // A graph output must be a node output with its own name.
    emit("Identity", {o}, {out_name});
    set_type(graph.add_output(), out_name, out);
    // Nodes whose outputs nothing reads (copies the op layer made for its own bookkeeping, views
    // resolved but then folded away) and initializers no node reads are dropped.
    std::set<std::string> used{out_name};
    auto* nodes = graph.mutable_node();
    for (int k = nodes->size() - 1; k >= 0; --k) {
      const auto& n = nodes->Get(k);
      bool live = false;
      for (const auto& o : n.output()) live = live || used.count(o);
      if (!live) {
        nodes->DeleteSubrange(k, 1);
        continue;
      }
      for (const auto& i : n.input()) used.insert(i);
    }
    auto* inits = graph.mutable_initializer();
    for (int i = inits->size() - 1; i >= 0; --i)
      if (!used.count(inits->Get(i).name())) inits->DeleteSubrange(i, 1);
  }

 private:
  struct Value {
    std::string name;
    Tensor t;  // keeps the impl alive, so its address is never reused during the trace
    Geo geo;
    const void* storage = nullptr;  // null for opaque layouts (matched by identity only)
    bool dead = false;
  };
  struct Param {
    std::string name;
    Tensor t;
    bool emitted = false;
  };
  std::vector<Value> values_;
  std::unordered_map<const TensorImpl*, size_t> by_impl_;
  std::vector<Param> params_;
  std::unordered_map<const TensorImpl*, size_t> param_by_impl_;
  std::set<std::string> initializers_;
  /// Values whose ONNX shape differs from the traced tensor's (BatchNormalization on the 4-D
  /// input where hearth normalized an (N, C, S) view).
  std::map<std::string, std::vector<int64_t>> onnx_shape_;

  const pb::NodeProto* producer(const std::string& name) const {
    for (int k = graph.node_size() - 1; k >= 0; --k)
      for (const auto& o : graph.node(k).output())
        if (o == name) return &graph.node(k);
    return nullptr;
  }
  /// The shape `name` has in ONNX, where known (graph input, node outputs registered here).
  std::optional<std::vector<int64_t>> shape_of(const std::string& name) const {
    auto it = onnx_shape_.find(name);
    if (it != onnx_shape_.end()) return it->second;
    for (const auto& v : values_)
      if (v.name == name) return std::vector<int64_t>(v.t.sizes().begin(), v.t.sizes().end());
    return std::nullopt;
  }
  std::vector<std::string> pending_, pending_out_;
  int next_ = 0;

  std::string fresh(const std::string& base) { return base + "_" + std::to_string(next_++); }

  void add_param(const std::string& name, const Tensor& t) {
    if (!t.defined() || param_by_impl_.count(t.impl().get())) return;
    param_by_impl_[t.impl().get()] = params_.size();
    params_.push_back({name, t, false});
  }

  static void set_type(pb::ValueInfoProto* vi, const std::string& name, const Tensor& t) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx_from_dtype(t.dtype()));
    auto* sh = tt->mutable_shape();
    for (int64_t d : t.sizes()) sh->add_dim()->set_dim_value(d);
  }

  void add_initializer(const std::string& name, const Tensor& t) {
    auto* p = graph.add_initializer();
    tensor_to_proto(t.detach(), p);
    p->set_name(name);
    initializers_.insert(name);
  }
  bool is_initializer(const std::string& n) const { return initializers_.count(n) > 0; }

  void register_value(const std::string& name, const Tensor& t) {
    Value v{name, t, {}, nullptr, false};
    if (!t.has_opaque_layout()) {
      v.geo = geo_of(t);
      v.storage = t.impl()->storage().get();
    }
    by_impl_[t.impl().get()] = values_.size();
    values_.push_back(std::move(v));
  }

  void kill_value(const std::string& name) {
    for (size_t i = 0; i < values_.size(); ++i)
      if (values_[i].name == name && !values_[i].dead) {
        values_[i].dead = true;
        auto it = by_impl_.find(values_[i].t.impl().get());
        if (it != by_impl_.end() && it->second == i) by_impl_.erase(it);
      }
  }

  /// True if value `name` is the Linear's input tensor or shares its memory.
  bool shares_storage(const std::string& name, const void* storage) const {
    for (const auto& v : values_)
      if (v.name == name && ((storage && v.storage == storage) || v.t.impl().get() == fold_input_)) return true;
    return false;
  }
  const TensorImpl* fold_input_ = nullptr;

  std::string lookup_name(const Tensor& t) {
    auto n = lookup(t);
    return n ? *n : "";
  }

  std::string param_value(size_t i) {
    Param& p = params_[i];
    if (!p.emitted) {
      add_initializer(p.name, p.t);
      register_value(p.name, p.t);
      p.emitted = true;
    }
    return p.name;
  }

  /// A known value or a view of one; nullopt for tensors the trace has not seen.
  std::optional<std::string> lookup(const Tensor& t) {
    auto it = by_impl_.find(t.impl().get());
    if (it != by_impl_.end() && !values_[it->second].dead) return values_[it->second].name;
    auto pit = param_by_impl_.find(t.impl().get());
    if (pit != param_by_impl_.end()) return param_value(pit->second);
    if (t.has_opaque_layout()) return std::nullopt;
    const void* st = t.impl()->storage().get();
    const Geo g = geo_of(t);
    for (size_t i = values_.size(); i-- > 0;) {
      Value& v = values_[i];
      if (!v.storage && !v.dead && !v.t.has_opaque_layout()) {
        // Registered in a backend's opaque layout, converted to strided since (by a view).
        v.geo = geo_of(v.t);
        v.storage = v.t.impl()->storage().get();
      }
      if (v.dead || v.storage != st || v.t.dtype() != t.dtype()) continue;
      if (auto n = view_of(v.name, v.geo, g)) return n;
    }
    for (size_t i = 0; i < params_.size(); ++i) {
      const Param& p = params_[i];
      if (p.t.has_opaque_layout() || p.t.impl()->storage().get() != st || p.t.dtype() != t.dtype()) continue;
      const Geo pg = geo_of(p.t);
      if (!view_geo_possible(pg, g)) continue;
      const std::string base = param_value(i);
      if (auto n = view_of(base, pg, g)) return n;
    }
    return std::nullopt;
  }

  static bool view_geo_possible(const Geo& b, const Geo& t) { return t.offset >= b.offset; }

  std::string const_i64(const std::vector<int64_t>& v) {
    const std::string name = fresh("shape");
    add_initializer(name, tensor(v, TensorOptions(kInt64)));
    return name;
  }

  std::string reshape(const std::string& x, const std::vector<int64_t>& shape) {
    auto it = onnx_shape_.find(x);
    if (it != onnx_shape_.end() && it->second == shape) return x;  // already that shape in ONNX
    // A reshape of a reshape reads the original value.
    const pb::NodeProto* prod = producer(x);
    if (prod && prod->op_type() == "Reshape") return reshape(prod->input(0), shape);
    const std::string y = fresh("view");
    emit("Reshape", {x, const_i64(shape)}, {y});
    return y;
  }

  /// ONNX ops that turn the value `base` (geometry b) into geometry t, if the view is one of:
  /// same geometry, reshape of contiguous data, permutation (+ size-1 dims), broadcast, slice.
  std::optional<std::string> view_of(const std::string& base, const Geo& b, const Geo& t) {
    if (b == t) return base;
    // Broadcast dims (stride 0, size > 1): view the un-broadcast tensor, then Expand.
    bool expanded = false;
    Geo t1 = t;
    for (size_t i = 0; i < t.sizes.size(); ++i)
      if (t.sizes[i] > 1 && t.strides[i] == 0) {
        bool base_has = false;
        for (size_t j = 0; j < b.sizes.size(); ++j) base_has = base_has || (b.sizes[j] > 1 && b.strides[j] == 0);
        if (base_has) return std::nullopt;
        t1.sizes[i] = 1;
        expanded = true;
      }
    if (expanded) {
      auto inner = view_of(base, b, t1);
      if (!inner) return std::nullopt;
      const std::string y = fresh("expand");
      emit("Expand", {*inner, const_i64(t.sizes)}, {y});
      return y;
    }
    if (t.offset == b.offset) {
      // Same (size, stride) pairs of the non-1 dims: a permutation, with reshapes for 1-dims.
      std::vector<std::pair<int64_t, int64_t>> bn, tn;
      for (size_t i = 0; i < b.sizes.size(); ++i)
        if (b.sizes[i] != 1) bn.emplace_back(b.sizes[i], b.strides[i]);
      for (size_t i = 0; i < t.sizes.size(); ++i)
        if (t.sizes[i] != 1) tn.emplace_back(t.sizes[i], t.strides[i]);
      if (bn.size() == tn.size()) {
        std::vector<int64_t> perm;
        std::vector<bool> used(bn.size(), false);
        for (const auto& p : tn)
          for (size_t j = 0; j < bn.size(); ++j)
            if (!used[j] && bn[j] == p) {
              used[j] = true;
              perm.push_back(static_cast<int64_t>(j));
              break;
            }
        if (perm.size() == tn.size()) {
          std::string cur = base;
          std::vector<int64_t> squeezed;
          for (const auto& p : bn) squeezed.push_back(p.first);
          if (squeezed != b.sizes) cur = reshape(cur, squeezed);
          bool ident = true;
          for (size_t i = 0; i < perm.size(); ++i) ident = ident && perm[i] == static_cast<int64_t>(i);
          if (!ident) {
            const std::string y = fresh("transpose");
            auto* n = emit("Transpose", {cur}, {y});
            set_ints(n, "perm", perm);
            cur = y;
          }
          std::vector<int64_t> tsq;
          for (const auto& p : tn) tsq.push_back(p.first);
          if (tsq != t.sizes) cur = reshape(cur, t.sizes);
          return cur;
        }
      }
      if (contiguous(b) && contiguous(t) && numel(b.sizes) == numel(t.sizes)) return reshape(base, t.sizes);
    }
    // A strided window of the base (narrow, slice with step, select via a size-1 dim).
    if (t.sizes.size() == b.sizes.size() && t.offset >= b.offset) {
      const size_t r = b.sizes.size();
      std::vector<size_t> order(r);
      for (size_t i = 0; i < r; ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return b.strides[x] > b.strides[y]; });
      int64_t rem = t.offset - b.offset;
      std::vector<int64_t> start(r, 0), step(r, 1);
      for (size_t k : order) {
        if (b.strides[k] <= 0) continue;
        start[k] = rem / b.strides[k];
        rem %= b.strides[k];
      }
      if (rem != 0) return std::nullopt;
      std::vector<int64_t> starts, ends, axes, steps;
      for (size_t i = 0; i < r; ++i) {
        if (t.sizes[i] > 1) {
          if (b.strides[i] == 0 || t.strides[i] % b.strides[i] != 0 || t.strides[i] / b.strides[i] < 1) return std::nullopt;
          step[i] = t.strides[i] / b.strides[i];
        }
        const int64_t last = start[i] + (t.sizes[i] - 1) * step[i];
        if (t.sizes[i] > 0 && last >= b.sizes[i]) return std::nullopt;
        if (start[i] == 0 && step[i] == 1 && t.sizes[i] == b.sizes[i]) continue;
        starts.push_back(start[i]);
        ends.push_back(t.sizes[i] == 0 ? start[i] : last + 1);
        axes.push_back(static_cast<int64_t>(i));
        steps.push_back(step[i]);
      }
      const std::string y = fresh("slice");
      emit("Slice", {base, const_i64(starts), const_i64(ends), const_i64(axes), const_i64(steps)}, {y});
      return y;
    }
    return std::nullopt;
  }

  pb::NodeProto* emit(const std::string& op, const std::vector<std::string>& ins, const std::vector<std::string>& outs) {
    auto* n = graph.add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(graph.node_size() - 1));
    for (const auto& i : ins) n->add_input(i);
    for (const auto& o : outs) n->add_output(o);
    return n;
  }
  static void set_int(pb::NodeProto* n, const std::string& k, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(k);
    a->set_type(pb::AttributeProto::INT);
    a->set_i(v);
  }
  static void set_float(pb::NodeProto* n, const std::string& k, double v) {
    auto* a = n->add_attribute();
    a->set_name(k);
    a->set_type(pb::AttributeProto::FLOAT);
    a->set_f(static_cast<float>(v));
  }
  static void set_ints(pb::NodeProto* n, const std::string& k, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(k);
    a->set_type(pb::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  std::string scalar_const(const Scalar& s, ScalarType dt) {
    const std::string name = fresh("scalar");
    add_initializer(name, scalar_tensor(s, TensorOptions(dt)));
    return name;
  }

  /// Maps one traced hearth op to ONNX nodes writing the op's outputs.
  void record(const std::string& op, const KernelArgs& a) {
    std::vector<std::string> outs;
    for (size_t i = 0; i < a.num_outputs; ++i) outs.push_back(a.outputs[i].defined() ? fresh(op) : "");
    const auto& in = pending_;
    const ScalarType odt = a.num_outputs ? a.outputs[0].dtype() : kFloat32;
    auto out0 = [&] { return outs[0]; };
    static const std::map<std::string, std::string> unary = {
        {"neg", "Neg"}, {"abs", "Abs"}, {"exp", "Exp"}, {"log", "Log"}, {"sqrt", "Sqrt"}, {"relu", "Relu"},
        {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"logical_not", "Not"}, {"sin", "Sin"}, {"cos", "Cos"},
        {"tan", "Tan"}, {"asin", "Asin"}, {"acos", "Acos"}, {"atan", "Atan"}, {"sinh", "Sinh"}, {"cosh", "Cosh"},
        {"asinh", "Asinh"}, {"acosh", "Acosh"}, {"atanh", "Atanh"}, {"erf", "Erf"}};
    static const std::map<std::string, std::string> binary = {
        {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"}, {"pow", "Pow"}, {"maximum", "Max"},
        {"minimum", "Min"}, {"eq", "Equal"}, {"lt", "Less"}, {"le", "LessOrEqual"}, {"gt", "Greater"},
        {"ge", "GreaterOrEqual"}, {"logical_and", "And"}, {"logical_or", "Or"}, {"logical_xor", "Xor"}, {"ne", "Equal"}};
    static const std::map<std::string, std::string> reduce = {
        {"sum", "ReduceSum"}, {"mean", "ReduceMean"}, {"prod", "ReduceProd"}, {"amax", "ReduceMax"}, {"amin", "ReduceMin"}};
    if (auto u = unary.find(op); u != unary.end()) {
      emit(u->second, {in[0]}, {out0()});
    } else if (auto b = binary.find(op); b != binary.end()) {
      const auto* at = static_cast<const attrs::Binary*>(a.attrs);
      std::string lhs = in[0];
      std::string rhs = at && at->rhs_is_scalar ? scalar_const(at->scalar, a.inputs[0].dtype()) : in.at(1);
      if (at && (op == "add" || op == "sub") && !at->alpha.equal(1)) {
        const std::string s = fresh("alpha");
        emit("Mul", {rhs, scalar_const(at->alpha, a.inputs[0].dtype())}, {s});
        rhs = s;
      }
      if (op == "div" && at && at->rounding_mode != 0) {
        unsupported["div with rounding_mode"]++;
        return;
      }
      if (op == "ne") {
        const std::string e = fresh("eq");
        emit("Equal", {lhs, rhs}, {e});
        emit("Not", {e}, {out0()});
      } else if (op == "pow" && a.inputs[0].dtype() != odt) {
        unsupported["pow with mixed dtypes"]++;
        return;
      } else {
        emit(b->second, {lhs, rhs}, {out0()});
      }
    } else if (op == "where") {
      emit("Where", {in[0], in[1], in[2]}, {out0()});
    } else if (op == "clamp") {
      const auto* at = static_cast<const attrs::Clamp*>(a.attrs);
      const ScalarType dt = a.inputs[0].dtype();
      emit("Clip", {in[0], at && at->min ? scalar_const(*at->min, dt) : "", at && at->max ? scalar_const(*at->max, dt) : ""},
           {out0()});
    } else if (op == "rsqrt") {
      const std::string s = fresh("sqrt");
      emit("Sqrt", {in[0]}, {s});
      emit("Reciprocal", {s}, {out0()});
    } else if (op == "gelu") {
      const auto* at = static_cast<const attrs::Unary*>(a.attrs);
      if (at && at->approximate != 0) {
        unsupported["gelu(approximate='tanh')"]++;
        return;
      }
      // 0.5 * x * (1 + erf(x / sqrt(2))): opset 17 has no Gelu.
      const ScalarType dt = a.inputs[0].dtype();
      const std::string d = fresh("gelu"), e = fresh("gelu"), p = fresh("gelu"), m = fresh("gelu");
      emit("Div", {in[0], scalar_const(std::sqrt(2.0), dt)}, {d});
      emit("Erf", {d}, {e});
      emit("Add", {e, scalar_const(1.0, dt)}, {p});
      emit("Mul", {in[0], p}, {m});
      emit("Mul", {m, scalar_const(0.5, dt)}, {out0()});
    } else if (op == "copy_") {
      // out = src cast to out's dtype, broadcast to out's shape.
      std::string cur = in[0];
      if (a.inputs[0].dtype() != odt) {
        const std::string c = fresh("cast");
        set_int(emit("Cast", {cur}, {c}), "to", onnx_from_dtype(odt));
        cur = c;
      }
      if (a.inputs[0].sizes() != a.outputs[0].sizes()) emit("Expand", {cur, const_i64(std::vector<int64_t>(a.outputs[0].sizes().begin(), a.outputs[0].sizes().end()))}, {out0()});
      else emit("Identity", {cur}, {out0()});
    } else if (reduce.count(op)) {
      const auto* at = static_cast<const attrs::Reduce*>(a.attrs);
      std::vector<int64_t> dims(at->dims.begin(), at->dims.end());
      if (op == "sum") {
        set_int(emit("ReduceSum", {in[0], const_i64(dims)}, {out0()}), "keepdims", 1);
      } else {
        auto* n = emit(reduce.at(op), {in[0]}, {out0()});
        set_ints(n, "axes", dims);
        set_int(n, "keepdims", 1);
      }
    } else if (op == "argmax" || op == "argmin") {
      const auto* at = static_cast<const attrs::Reduce*>(a.attrs);
      auto* n = emit(op == "argmax" ? "ArgMax" : "ArgMin", {in[0]}, {out0()});
      set_int(n, "axis", at->dims[0]);
      set_int(n, "keepdims", 1);
    } else if (op == "max_dim" || op == "min_dim") {
      const auto* at = static_cast<const attrs::Reduce*>(a.attrs);
      auto* n = emit(op == "max_dim" ? "ReduceMax" : "ReduceMin", {in[0]}, {outs[0]});
      set_ints(n, "axes", {at->dims[0]});
      set_int(n, "keepdims", 1);
      auto* m = emit(op == "max_dim" ? "ArgMax" : "ArgMin", {in[0]}, {outs[1]});
      set_int(m, "axis", at->dims[0]);
      set_int(m, "keepdims", 1);
    } else if (op == "gemm") {
      const auto* at = static_cast<const attrs::Gemm*>(a.attrs);
      const ScalarType dt = a.inputs[0].dtype();
      std::string prod = fresh("matmul");
      emit("MatMul", {in[0], in[1]}, {prod});
      if (at->alpha != 1.0) {
        const std::string s = fresh("alpha");
        emit("Mul", {prod, scalar_const(at->alpha, dt)}, {s});
        prod = s;
      }
      if (a.num_inputs > 2 && a.inputs[2].defined() && at->beta != 0.0) {
        std::string c = in[2];
        if (at->beta != 1.0) {
          const std::string s = fresh("beta");
          emit("Mul", {c, scalar_const(at->beta, dt)}, {s});
          c = s;
        }
        emit("Add", {prod, c}, {out0()});
      } else {
        emit("Identity", {prod}, {out0()});
      }
    } else if (op == "cat") {
      const auto* at = static_cast<const attrs::Cat*>(a.attrs);
      set_int(emit("Concat", in, {out0()}), "axis", at->dim);
    } else if (op == "index_select" || op == "gather") {
      const auto* at = static_cast<const attrs::DimIndex*>(a.attrs);
      set_int(emit(op == "gather" ? "GatherElements" : "Gather", {in[0], in[1]}, {out0()}), "axis", at->dim);
    } else if (op == "conv2d" || op == "conv2d_relu") {
      const auto* at = static_cast<const attrs::Conv*>(a.attrs);
      std::vector<std::string> ins{in[0], in[1]};
      if (a.num_inputs > 2 && a.inputs[2].defined()) ins.push_back(in[2]);
      const std::string y = op == "conv2d" ? out0() : fresh("conv");
      auto* n = emit("Conv", ins, {y});
      set_ints(n, "kernel_shape", {a.inputs[1].size(2), a.inputs[1].size(3)});
      set_ints(n, "strides", {at->stride[0], at->stride[1]});
      set_ints(n, "pads", {at->padding[0], at->padding[1], at->padding_r[0], at->padding_r[1]});
      set_ints(n, "dilations", {at->dilation[0], at->dilation[1]});
      set_int(n, "group", at->groups);
      if (op == "conv2d_relu") emit("Relu", {y}, {out0()});
    } else if (op == "max_pool2d" || op == "avg_pool2d") {
      const auto* at = static_cast<const attrs::Pool*>(a.attrs);
      if (op == "max_pool2d" && a.num_outputs > 1 && a.outputs[1].defined()) {
        unsupported["max_pool2d with indices"]++;
        return;
      }
      if (at->divisor_override != 0) {
        unsupported["avg_pool2d with divisor_override"]++;
        return;
      }
      auto* n = emit(op == "max_pool2d" ? "MaxPool" : "AveragePool", {in[0]}, {out0()});
      set_ints(n, "kernel_shape", {at->kernel[0], at->kernel[1]});
      set_ints(n, "strides", {at->stride[0], at->stride[1]});
      set_ints(n, "pads", {at->padding[0], at->padding[1], at->padding[0], at->padding[1]});
      if (at->ceil_mode) set_int(n, "ceil_mode", 1);
      if (op == "max_pool2d") set_ints(n, "dilations", {at->dilation[0], at->dilation[1]});
      else set_int(n, "count_include_pad", at->count_include_pad ? 1 : 0);
    } else if (op == "adaptive_avg_pool2d") {
      const Tensor& x = a.inputs[0];
      const Tensor& y = a.outputs[0];
      if (y.size(2) == 1 && y.size(3) == 1) {
        emit("GlobalAveragePool", {in[0]}, {out0()});
      } else if (x.size(2) % y.size(2) == 0 && x.size(3) % y.size(3) == 0) {
        const int64_t kh = x.size(2) / y.size(2), kw = x.size(3) / y.size(3);
        auto* n = emit("AveragePool", {in[0]}, {out0()});
        set_ints(n, "kernel_shape", {kh, kw});
        set_ints(n, "strides", {kh, kw});
      } else {
        unsupported["adaptive_avg_pool2d with non-divisible sizes"]++;
      }
    } else if (op == "softmax") {
      const auto* at = static_cast<const attrs::Softmax*>(a.attrs);
      set_int(emit(at->log ? "LogSoftmax" : "Softmax", {in[0]}, {out0()}), "axis", at->dim);
    } else if (op == "batch_norm") {
      const auto* at = static_cast<const attrs::BatchNorm*>(a.attrs);
      if (at->training) {
        unsupported["batch_norm in training mode (call eval() before exporting)"]++;
        return;
      }
      const Tensor& x = a.inputs[0];
      const int64_t C = x.size(1);
      std::string w = in[1], bias = in[2];
      if (w.empty()) w = resolve(ones({C}, x.options()));
      if (bias.empty()) bias = resolve(zeros({C}, x.options()));
      // hearth normalizes an (N, C, S) view of the input; ONNX takes (N, C, ...) as it is, so
      // read the un-reshaped value and give the output its shape.
      std::string xin = in[0];
      if (const pb::NodeProto* p = producer(xin); p && p->op_type() == "Reshape") {
        auto s0 = shape_of(p->input(0));
        if (s0 && s0->size() >= 2 && (*s0)[0] == x.size(0) && (*s0)[1] == C) {
          xin = p->input(0);
          onnx_shape_[out0()] = *s0;
        }
      }
      auto* n = emit("BatchNormalization", {xin, w, bias, in[3], in[4]}, {out0()});
      set_float(n, "epsilon", at->eps);
      set_float(n, "momentum", 1.0 - at->momentum);
    } else if (op == "layer_norm") {
      const auto* at = static_cast<const attrs::LayerNorm*>(a.attrs);
      const Tensor& x = a.inputs[0];  // (M, N): normalized over the last dim
      const int64_t N = x.size(-1);
      std::string w = in[1], bias = in[2];
      if (w.empty()) w = resolve(ones({N}, x.options()));
      auto* n = bias.empty() ? emit("LayerNormalization", {in[0], w}, {out0()})
                             : emit("LayerNormalization", {in[0], w, bias}, {out0()});
      set_int(n, "axis", -1);
      set_float(n, "epsilon", at->eps);
    } else if (op == "nll_loss") {
      const auto* at = static_cast<const attrs::NllLoss*>(a.attrs);
      std::vector<std::string> ins{in[0], in[1]};
      if (a.inputs[2].defined()) ins.push_back(in[2]);
      auto* n = emit("NegativeLogLikelihoodLoss", ins, {out0()});
      auto* r = n->add_attribute();
      r->set_name("reduction");
      r->set_type(pb::AttributeProto::STRING);
      r->set_s(at->reduction == 0 ? "none" : at->reduction == 1 ? "mean" : "sum");
      set_int(n, "ignore_index", at->ignore_index);
    } else if (op == "fill_" || op == "range_fill_") {
      return;  // data-independent: the filled tensor becomes a constant where it is used
    } else {
      unsupported[op]++;
      return;
    }
    for (size_t i = 0; i < a.num_outputs; ++i)
      if (a.outputs[i].defined() && !outs[i].empty()) register_value(outs[i], a.outputs[i]);
  }
};

pb::ModelProto trace(nn::Module& module, const Tensor& input, const ExportOptions& options) {
  HEARTH_CHECK(input.defined(), ValueError, "onnx export: the example input is undefined");
  Tracer tr(module);
  const std::string in_name = options.input_names.empty() ? "input" : options.input_names[0];
  const std::string out_name = options.output_names.empty() ? "output" : options.output_names[0];
  tr.add_input(in_name, input);
  std::vector<std::pair<nn::Module*, unsigned>> hooks;
  module.apply([&](nn::Module& m) {
    if (auto* l = dynamic_cast<nn::LinearImpl*>(&m))
      hooks.emplace_back(&m, m.register_forward_hook([&tr, l](nn::Module&, const Tensor& x, const Tensor& y) {
                           tr.fold_linear(*l, x, y);
                         }));
  });
  struct Cleanup {
    std::vector<std::pair<nn::Module*, unsigned>>& hooks;
    ~Cleanup() {
      set_trace_hook(nullptr);
      for (auto& [m, id] : hooks) m->remove_forward_hook(id);
    }
  } cleanup{hooks};
  Tensor out;
  {
    NoGradGuard ng;
    set_trace_hook(&tr);
    out = module(input);
    set_trace_hook(nullptr);
  }
  if (!tr.unsupported.empty()) {
    std::string names;
    for (const auto& [op, n] : tr.unsupported) names += (names.empty() ? "" : ", ") + op + " (x" + std::to_string(n) + ")";
    HEARTH_CHECK(false, NotImplementedError, "onnx export of ", module.type_name(),
                 ": these ops have no ONNX form in hearth's exporter: ", names);
  }
  tr.finish(out, out_name);
  pb::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name(options.producer);
  m.set_producer_version(HEARTH_VERSION_STRING);
  for (const auto& [k, v] : options.metadata) {
    auto* prop = m.add_metadata_props();
    prop->set_key(k);
    prop->set_value(v);
  }
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(kExportOpset);
  *m.mutable_graph() = std::move(tr.graph);
  m.mutable_graph()->set_name(module.type_name());
  return m;
}

}  // namespace

std::string export_module_to_bytes(nn::Module& module, const Tensor& input, const ExportOptions& options) {
  return trace(module, input, options).SerializeAsString();
}

void export_module(nn::Module& module, const Tensor& input, const std::string& path, const ExportOptions& options) {
  write_file_atomic(path, export_module_to_bytes(module, input, options));
}

}  // namespace hearth::onnx
