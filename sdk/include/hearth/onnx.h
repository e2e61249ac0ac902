// ONNX for C++ users (library hearth-onnx): export a module by tracing, load and run ONNX models
// through hearth's ops, read/write TensorProto files, and run ONNX node-test directories.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hearth/nn/module.h"
#include "hearth/tensor.h"

namespace hearth::onnx {

/// The opset hearth writes (ONNX 1.12 reads opsets up to 17; 17 has LayerNormalization).
constexpr int64_t kExportOpset = 17;

struct ExportOptions {
  /// Names of the graph input and output ("input", "output" when empty).
  std::vector<std::string> input_names;
  std::vector<std::string> output_names;
  std::string producer = "hearth";
  /// The model's metadata_props (what a runtime shows next to the graph: hearth writes the input
  /// normalization a model was trained with here).
  std::map<std::string, std::string> metadata;
};

/// Runs `module(input)` (no grad, in the module's current train/eval mode: call eval() first
/// for BatchNorm and Dropout) while recording every dispatched op, and writes the ONNX model to
/// `path` atomically. Shapes are those of the example (static). Parameters and buffers become
/// initializers named by their state-dict keys; other constants get generated names; views
/// become Reshape/Transpose/Expand/Slice; nn::Linear on 2-D inputs is written as one Gemm.
/// Throws NotImplementedError naming the op(s) that have no ONNX form.
void export_module(nn::Module& module, const Tensor& input, const std::string& path, const ExportOptions& options = {});
/// The same, returning the serialized ModelProto.
std::string export_module_to_bytes(nn::Module& module, const Tensor& input, const ExportOptions& options = {});

/// A graph input or output as the model declares it (dims < 0: symbolic or unknown).
struct ValueInfo {
  std::string name;
  ScalarType dtype = ScalarType::Undefined;  ///< Undefined: a type hearth has no dtype for
  std::string onnx_type;                      ///< "FLOAT", "INT64", ... as written in the model
  std::vector<int64_t> dims;
  bool has_shape = false;
};

/// A loaded, validated ONNX model. Loading checks sizes, data types, dims against data lengths
/// and that every node input is defined before use, before anything is allocated (FormatError
/// naming the file and the field); ops are checked against the support table when run.
class Model {
 public:
  static Model load(const std::string& path);
  static Model parse(const std::string& bytes, const std::string& name = "<memory>");
  Model();
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  /// Graph inputs that are not initializers, and graph outputs.
  const std::vector<ValueInfo>& inputs() const;
  const std::vector<ValueInfo>& outputs() const;
  int64_t opset() const;
  /// What the support table rules out before anything runs: ops hearth lacks (or of another
  /// domain), and graph inputs/outputs that are not tensors of a hearth dtype (sequences,
  /// optionals, uint16/32/64, strings). Empty when the model may run; run() throws
  /// UnsupportedError listing these.
  std::vector<std::string> unsupported() const;
  /// Runs every node through hearth's ops on `device`. Inputs are checked against the declared
  /// dtypes and fixed dims (ValueError / DTypeError / ShapeError naming the input); a node whose
  /// op, attributes, dtypes or ranks are outside the support table raises UnsupportedError.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs, Device device = Device("cpu")) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Raised only from the declared support table: the model needs something hearth does not do.
struct UnsupportedError : NotImplementedError {
  using NotImplementedError::NotImplementedError;
};

/// Reads an ONNX TensorProto file (`input_0.pb`) into a host tensor; FormatError on bad data.
Tensor load_tensor_pb(const std::string& path);
/// Writes a tensor as a TensorProto (raw_data, little-endian).
void save_tensor_pb(const std::string& path, const Tensor& t, const std::string& name = "");

/// One row of the support table: ONNX op, the dtypes of its main input, its ranks, and which
/// attributes / modes are supported (docs/onnx.md is generated from these rows).
struct OpSupportInfo {
  std::string op;
  std::string dtypes;
  std::string ranks;
  std::string notes;
};
std::vector<OpSupportInfo> support_table();
/// The support table as the Markdown block of docs/onnx.md.
std::string support_table_markdown();

/// Result of one ONNX node-test directory (model.onnx + test_data_set_*/).
struct TestResult {
  enum class Status { Pass, Fail, Unsupported };
  std::string name;
  Status status = Status::Fail;
  double max_abs_error = 0.0;
  std::string reason;  ///< why it failed or is unsupported
  std::string line() const;  ///< "test_abs: pass" style
};
/// ONNX's backend-test tolerances: |out - ref| <= atol + rtol * |ref|.
constexpr double kTestRtol = 1e-3;
constexpr double kTestAtol = 1e-7;
TestResult run_node_test(const std::string& dir, Device device = Device("cpu"));

}  // namespace hearth::onnx
