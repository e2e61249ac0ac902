// hearth::onnx::Model: a validated ModelProto run node by node through the support table, and
// TensorProto files.
#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <sstream>

#include "onnx_internal.h"

namespace hearth::onnx {

using namespace onnx_impl;

struct Model::Impl {
  std::string name;
  pb::ModelProto proto;
  int64_t opset = 1;
  std::map<std::string, Tensor> initializers;  // host tensors
  std::vector<ValueInfo> inputs, outputs;
};

namespace {

ValueInfo value_info(const pb::ValueInfoProto& v) {
  ValueInfo vi;
  vi.name = v.name();
  if (v.has_type() && v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    vi.dtype = dtype_from_onnx(tt.elem_type());
    vi.onnx_type = onnx_type_name(tt.elem_type());
    if (tt.has_shape()) {
      vi.has_shape = true;
      for (const auto& d : tt.shape().dim()) vi.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    }
  } else {
    const auto& ty = v.type();
    vi.onnx_type = ty.has_sequence_type() ? "sequence" : ty.has_optional_type() ? "optional"
                 : ty.has_map_type() ? "map" : ty.has_sparse_tensor_type() ? "sparse tensor" : "<no type>";
  }
  return vi;
}

std::string describe_dims(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + (d[i] < 0 ? std::string("?") : std::to_string(d[i]));
  return s + "]";
}

/// Rethrows `e` as the same hearth error type with `prefix` in front of the message.
[[noreturn]] void rethrow_with(const std::string& prefix) {
  try {
    throw;
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(prefix + e.what());
  } catch (const IndexError& e) {
    throw IndexError(prefix + e.what());
  } catch (const ShapeError& e) {
    throw ShapeError(prefix + e.what());
  } catch (const DTypeError& e) {
    throw DTypeError(prefix + e.what());
  } catch (const DeviceError& e) {
    throw DeviceError(prefix + e.what());
  } catch (const FormatError& e) {
    throw FormatError(prefix + e.what());
  } catch (const ValueError& e) {
    throw ValueError(prefix + e.what());
  } catch (const NotImplementedError& e) {
    throw NotImplementedError(prefix + e.what());
  } catch (const Error& e) {
    throw ValueError(prefix + e.what());
  }
}

}  // namespace

Model::Model() : impl_(std::make_unique<Impl>()) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

Model Model::load(const std::string& path) { return parse(read_file(path, kMaxModelBytes), path); }

Model Model::parse(const std::string& bytes, const std::string& name) {
  Model m;
  m.impl_->name = name;
  m.impl_->proto = parse_model(bytes, name);
  const auto& p = m.impl_->proto;
  for (const auto& op : p.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") m.impl_->opset = op.version();
  for (const auto& t : p.graph().initializer())
    m.impl_->initializers[t.name()] = tensor_from_proto(t, "'" + name + "' initializer");
  for (const auto& v : p.graph().input())
    if (!m.impl_->initializers.count(v.name())) m.impl_->inputs.push_back(value_info(v));
  for (const auto& v : p.graph().output()) m.impl_->outputs.push_back(value_info(v));
  return m;
}

const std::vector<ValueInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<ValueInfo>& Model::outputs() const { return impl_->outputs; }
int64_t Model::opset() const { return impl_->opset; }

std::vector<std::string> Model::unsupported() const {
  const auto& g = impl_->proto.graph();
  std::vector<std::string> out;
  std::string missing;
  for (const auto& n : g.node()) {
    const bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!std_domain || !op_table().count(n.op_type())) {
      std::string what = (std_domain ? "" : n.domain() + ".") + n.op_type();
      if (missing.find("'" + what + "'") == std::string::npos) missing += (missing.empty() ? "'" : ", '") + what + "'";
    }
  }
  if (!missing.empty()) out.push_back("op(s) " + missing + " (docs/onnx.md lists the supported ones)");
  auto check_values = [&](const std::vector<ValueInfo>& vs, const char* kind) {
    for (const auto& v : vs)
      if (v.dtype == ScalarType::Undefined && v.onnx_type != "<no type>")  // untyped: checked when used
        out.push_back(std::string("graph ") + kind + " '" + v.name + "' of type " + v.onnx_type +
                      " (only tensors of hearth's dtypes)");
  };
  check_values(impl_->inputs, "input");
  check_values(impl_->outputs, "output");
  return out;
}

std::map<std::string, Tensor> Model::run(const std::map<std::string, Tensor>& feeds, Device device) const {
  const auto& g = impl_->proto.graph();
  const std::string& file = impl_->name;
  // Everything the support table rules out statically is refused before anything runs.
  const auto unsup = unsupported();
  if (!unsup.empty()) {
    std::string msg;
    for (const auto& u : unsup) msg += (msg.empty() ? "" : "; ") + u;
    throw UnsupportedError("onnx: '" + file + "' uses what hearth does not support: " + msg);
  }

  std::map<std::string, Tensor> values;
  for (const auto& [k, v] : impl_->initializers) values[k] = v.to(device);
  for (const auto& [k, v] : feeds) {
    // A named copy: C++20 lambdas cannot capture a structured binding (clang refuses; GCC allows).
    const std::string& key = k;
    const auto it =
        std::find_if(impl_->inputs.begin(), impl_->inputs.end(), [&](const ValueInfo& vi) { return vi.name == key; });
    if (it == impl_->inputs.end()) {
      std::string names;
      for (const auto& vi : impl_->inputs) names += (names.empty() ? "" : ", ") + vi.name;
      HEARTH_CHECK(false, ValueError, "onnx: '", file, "' has no input '", k, "' (inputs: ", names, ")");
    }
    HEARTH_CHECK(v.defined(), ValueError, "onnx: input '", k, "' is undefined");
    HEARTH_CHECK(it->dtype == ScalarType::Undefined || v.dtype() == it->dtype, DTypeError, "onnx: input '", k, "' of '",
                 file, "' must be ", it->onnx_type, " (", it->dtype, "), got ", v.dtype());
    if (it->has_shape) {
      bool ok = static_cast<int64_t>(it->dims.size()) == v.dim();
      for (size_t i = 0; ok && i < it->dims.size(); ++i) ok = it->dims[i] < 0 || it->dims[i] == v.size(static_cast<int64_t>(i));
      HEARTH_CHECK(ok, ShapeError, "onnx: input '", k, "' of '", file, "' must have shape ", describe_dims(it->dims),
                   ", got ", v.sizes());
    }
    values[k] = v.to(device);
  }
  for (const auto& vi : impl_->inputs)
    HEARTH_CHECK(values.count(vi.name), ValueError, "onnx: '", file, "' needs input '", vi.name, "' (", vi.onnx_type,
                 " ", describe_dims(vi.dims), "), which was not given");

  NoGradGuard ng;
  for (int n = 0; n < g.node_size(); ++n) {
    const auto& node = g.node(n);
    NodeCtx ctx;
    ctx.node = &node;
    ctx.opset = impl_->opset;
    ctx.device = device;
    for (const auto& in : node.input()) ctx.in.push_back(in.empty() ? Tensor() : values.at(in));
    ctx.n_in = ctx.in.size();
    if (ctx.in.size() < NodeCtx::kMinInputs) ctx.in.resize(NodeCtx::kMinInputs);
    const OpEntry& e = op_table().at(node.op_type());
    const std::string prefix = "onnx: '" + file + "' node " + std::to_string(n) + " '" + node.name() + "' (" +
                               node.op_type() + "): ";
    std::vector<Tensor> out;
    try {
      HEARTH_CHECK(ctx.n_in > 0 || e.op == "Constant", FormatError, "node has no inputs");
      const std::string reason = check_support(e, ctx);
      if (!reason.empty()) throw UnsupportedError("unsupported: " + reason);
      out = e.run(ctx);
    } catch (const Error&) {
      rethrow_with(prefix);
    }
    for (int k = 0; k < node.output_size(); ++k) {
      if (node.output(k).empty()) continue;
      HEARTH_CHECK(k < static_cast<int>(out.size()) && out[k].defined(), NotImplementedError, prefix, "output ", k,
                   " ('", node.output(k), "') is not produced by hearth's ", node.op_type());
      values[node.output(k)] = out[k];
    }
  }
  std::map<std::string, Tensor> result;
  for (const auto& o : g.output()) result[o.name()] = values.at(o.name());
  return result;
}

Tensor load_tensor_pb(const std::string& path) {
  const std::string bytes = read_file(path, kMaxModelBytes);
  pb::TensorProto t;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  HEARTH_CHECK(t.ParseFromCodedStream(&in) && in.ConsumedEntireMessage(), FormatError, "onnx: '", path,
               "' is not an ONNX TensorProto (protobuf parsing failed)");
  HEARTH_CHECK(t.has_data_type(), FormatError, "onnx: '", path, "' has no data_type (field TensorProto.data_type)");
  return tensor_from_proto(t, "'" + path + "'");
}

void save_tensor_pb(const std::string& path, const Tensor& x, const std::string& name) {
  pb::TensorProto t;
  tensor_to_proto(x, &t);
  if (!name.empty()) t.set_name(name);
  write_file_atomic(path, t.SerializeAsString());
}

}  // namespace hearth::onnx
