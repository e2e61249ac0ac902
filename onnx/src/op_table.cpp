// The ONNX support table: node attribute access, the declared support check, and the table
// assembled from the op families (ops_*.cpp). docs/onnx.md's table is generated from it.
#include <algorithm>
#include <sstream>

#include "onnx_internal.h"

namespace hearth::onnx_impl {

void register_elementwise_ops(std::map<std::string, OpEntry>& t);
void register_nn_ops(std::map<std::string, OpEntry>& t);
void register_shape_ops(std::map<std::string, OpEntry>& t);

const pb::AttributeProto* NodeCtx::attr(const std::string& name) const {
  for (const auto& a : node->attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::string NodeCtx::where() const {
  return "node '" + node->name() + "' (" + node->op_type() + ")";
}

namespace {
const pb::AttributeProto* typed(const NodeCtx& c, const std::string& name, pb::AttributeProto::AttributeType t) {
  const pb::AttributeProto* a = c.attr(name);
  if (!a) return nullptr;
  HEARTH_CHECK(a->type() == t || a->type() == pb::AttributeProto::UNDEFINED, FormatError, "onnx: ", c.where(),
               " attribute '", name, "' has type ", pb::AttributeProto::AttributeType_Name(a->type()), ", expected ",
               pb::AttributeProto::AttributeType_Name(t));
  return a;
}
}  // namespace

int64_t NodeCtx::i(const std::string& name, int64_t def) const {
  const auto* a = typed(*this, name, pb::AttributeProto::INT);
  return a ? a->i() : def;
}
double NodeCtx::f(const std::string& name, double def) const {
  const auto* a = typed(*this, name, pb::AttributeProto::FLOAT);
  return a ? a->f() : def;
}
std::string NodeCtx::s(const std::string& name, const std::string& def) const {
  const auto* a = typed(*this, name, pb::AttributeProto::STRING);
  return a ? a->s() : def;
}
std::vector<int64_t> NodeCtx::ints(const std::string& name, std::vector<int64_t> def) const {
  const auto* a = typed(*this, name, pb::AttributeProto::INTS);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : def;
}
std::vector<double> NodeCtx::floats(const std::string& name) const {
  const auto* a = typed(*this, name, pb::AttributeProto::FLOATS);
  return a ? std::vector<double>(a->floats().begin(), a->floats().end()) : std::vector<double>{};
}
Tensor NodeCtx::t(const std::string& name) const {
  const auto* a = typed(*this, name, pb::AttributeProto::TENSOR);
  HEARTH_CHECK(a, FormatError, "onnx: ", where(), " has no tensor attribute '", name, "'");
  return tensor_from_proto(a->t(), where() + " attribute '" + name + "'");
}

std::vector<int64_t> to_ints(const Tensor& t, const std::string& what) {
  HEARTH_CHECK(t.dim() <= 1 && !is_floating_point(t.dtype()) && t.dtype() != kBool, ValueError, "onnx: ", what,
               " must be a 0-D or 1-D integer tensor, got ", t.dtype(), " of shape ", t.sizes());
  Tensor c = t.cpu().to(kInt64).contiguous();
  const int64_t* p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

double to_double(const Tensor& t) {
  HEARTH_CHECK(t.numel() == 1, ShapeError, "onnx: expected a single value, got shape ", t.sizes());
  return t.cpu().to(kFloat64).reshape({1}).data_ptr<double>()[0];
}

int64_t norm_axis(int64_t axis, int64_t rank, const std::string& where) {
  HEARTH_CHECK(axis >= -rank && axis < std::max<int64_t>(rank, 1), IndexError, "onnx: ", where, " axis ", axis,
               " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

void check_alloc(const std::vector<int64_t>& shape, const std::string& where) {
  int64_t n = 1;
  for (int64_t d : shape) {
    HEARTH_CHECK(d >= 0, ShapeError, "onnx: ", where, " asks for a negative size ", d);
    HEARTH_CHECK(!__builtin_mul_overflow(n, d, &n) && n <= kMaxOpElements, ValueError, "onnx: ", where,
                 " asks for a tensor of shape ", IntArrayRef(shape), ", more than ", kMaxOpElements, " elements");
  }
}

const std::map<std::string, OpEntry>& op_table() {
  static const std::map<std::string, OpEntry> table = [] {
    std::map<std::string, OpEntry> t;
    register_elementwise_ops(t);
    register_nn_ops(t);
    register_shape_ops(t);
    return t;
  }();
  return table;
}

std::string check_support(const OpEntry& e, const NodeCtx& ctx) {
  if (ctx.n_in > 0 && ctx.in[0].defined()) {
    const Tensor& x = ctx.in[0];
    if (!e.dtypes.empty() && std::find(e.dtypes.begin(), e.dtypes.end(), x.dtype()) == e.dtypes.end())
      return e.op + " on " + dtype_name(x.dtype()) + " inputs (supported: " + support_table_dtypes(e.dtypes) + ")";
    if (x.dim() < e.min_rank || x.dim() > e.max_rank)
      return e.op + " on a rank-" + std::to_string(x.dim()) + " input (supported ranks: " +
             std::to_string(e.min_rank) + (e.max_rank == e.min_rank ? "" : "-" + (e.max_rank >= 64 ? std::string("any") : std::to_string(e.max_rank))) + ")";
  }
  if (e.check) return e.check(ctx);
  return "";
}

std::string support_table_dtypes(const std::vector<ScalarType>& d) {
  if (d.empty()) return "any";
  std::string s;
  for (auto t : d) s += (s.empty() ? "" : ", ") + std::string(dtype_name(t));
  return s;
}

}  // namespace hearth::onnx_impl

namespace hearth::onnx {

std::vector<OpSupportInfo> support_table() {
  std::vector<OpSupportInfo> out;
  for (const auto& [name, e] : onnx_impl::op_table()) {
    std::string ranks = e.max_rank >= 64 ? (e.min_rank == 0 ? "any" : ">= " + std::to_string(e.min_rank))
                        : e.min_rank == e.max_rank ? std::to_string(e.min_rank)
                                                   : std::to_string(e.min_rank) + "-" + std::to_string(e.max_rank);
    out.push_back({name, onnx_impl::support_table_dtypes(e.dtypes), ranks, e.notes});
  }
  return out;
}

std::string support_table_markdown() {
  std::ostringstream os;
  os << "| op | dtypes (first input) | ranks | supported attributes and modes |\n";
  os << "|----|----------------------|-------|--------------------------------|\n";
  for (const auto& r : support_table()) os << "| " << r.op << " | " << r.dtypes << " | " << r.ranks << " | " << r.notes << " |\n";
  return os.str();
}

}  // namespace hearth::onnx
