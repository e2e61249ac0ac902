// Internals of hearth-onnx shared by the reader, the op table, the runner and the exporter.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "hearth/onnx_math.h"
#include "hearth/onnx.h"

namespace hearth::onnx_impl {

namespace pb = ::onnx;

/// hearth dtype of an ONNX TensorProto.DataType; Undefined for types hearth lacks (uint16/32/64,
/// string, complex) and for values outside the enum.
ScalarType dtype_from_onnx(int64_t t);
int32_t onnx_from_dtype(ScalarType t);
/// "FLOAT", "UINT16", ... or "<invalid N>".
std::string onnx_type_name(int64_t t);

/// Limits on what a model file may ask for, checked before allocating.
constexpr int64_t kMaxModelBytes = int64_t(2) * 1024 * 1024 * 1024 - 1;  // protobuf's own limit
constexpr int64_t kMaxTensorBytes = int64_t(16) * 1024 * 1024 * 1024;
constexpr int kMaxRank = 32;

/// Reads a whole file (FormatError naming it when it is missing or too large).
std::string read_file(const std::string& path, int64_t max_bytes);
/// Parses and validates a ModelProto (FormatError naming `name` and the field).
pb::ModelProto parse_model(const std::string& bytes, const std::string& name);
/// Validates the graph: tensors, attributes and that each node input is defined before use.
void validate_graph(const pb::GraphProto& g, const std::string& where, std::vector<std::string> outer_names = {});

/// Validates a TensorProto (data type, dims, data length) and copies it into a host tensor.
Tensor tensor_from_proto(const pb::TensorProto& t, const std::string& where);
/// Writes a tensor (any device) into `t` as raw little-endian data.
void tensor_to_proto(const Tensor& x, pb::TensorProto* t);

/// Writes bytes atomically: temporary file next to `path`, fsync, rename.
void write_file_atomic(const std::string& path, const std::string& bytes);

/// What an op implementation sees: the node, its inputs (undefined for omitted optional ones),
/// the model's opset and the device.
struct NodeCtx {
  const pb::NodeProto* node = nullptr;
  int64_t opset = 13;
  Device device{"cpu"};
  /// Padded with undefined tensors to at least kMinInputs entries, so an op reading an input a
  /// hostile node omitted gets an undefined tensor (an Error when used), never out-of-range memory.
  std::vector<Tensor> in;
  size_t n_in = 0;  ///< the node's real number of inputs (variadic ops)
  static constexpr size_t kMinInputs = 8;

  const pb::AttributeProto* attr(const std::string& name) const;
  bool has(const std::string& name) const { return attr(name) != nullptr; }
  int64_t i(const std::string& name, int64_t def) const;
  double f(const std::string& name, double def) const;
  std::string s(const std::string& name, const std::string& def) const;
  std::vector<int64_t> ints(const std::string& name, std::vector<int64_t> def = {}) const;
  std::vector<double> floats(const std::string& name) const;
  Tensor t(const std::string& name) const;
  /// Input k if present and defined.
  bool has_in(size_t k) const { return k < in.size() && in[k].defined(); }
  int num_outputs() const { return node->output_size(); }
  std::string where() const;  ///< "node 3 'conv1' (Conv)" for messages
};

using OpRun = std::function<std::vector<Tensor>(NodeCtx&)>;
/// Returns "" when the node is supported, else the reason (checked before the node runs).
using OpCheck = std::function<std::string(const NodeCtx&)>;

struct OpEntry {
  std::string op;
  std::vector<ScalarType> dtypes;  ///< allowed dtypes of input 0 (empty: any)
  int min_rank = 0, max_rank = 64;  ///< allowed ranks of input 0
  std::string notes;               ///< supported attributes/modes, for docs/onnx.md
  OpCheck check;                   ///< attribute checks (may be empty)
  OpRun run;
};

/// The support table (ops_*.cpp register into it).
const std::map<std::string, OpEntry>& op_table();
/// "" if `ctx` is within the entry's declared support, else the reason.
std::string check_support(const OpEntry& e, const NodeCtx& ctx);
std::string support_table_dtypes(const std::vector<ScalarType>& d);

/// Host int64 values of a 0-/1-D integer tensor (shape, axes, pads inputs).
std::vector<int64_t> to_ints(const Tensor& t, const std::string& what);
double to_double(const Tensor& t);
int64_t norm_axis(int64_t axis, int64_t rank, const std::string& where);
/// Refuses shapes a model's data asks for that would allocate more than kMaxOpElements elements
/// (ValueError naming the node), so a hostile shape tensor cannot exhaust memory.
constexpr int64_t kMaxOpElements = int64_t(1) << 30;
void check_alloc(const std::vector<int64_t>& shape, const std::string& where);

}  // namespace hearth::onnx_impl
