// Reading and writing ONNX protobuf: model parsing with size limits, validation of every tensor,
// attribute and graph reference before anything is allocated, TensorProto <-> Tensor.
#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "onnx_internal.h"

namespace hearth::onnx_impl {

namespace {

struct TypeRow {
  int32_t onnx;
  const char* name;
  ScalarType dtype;
};
const TypeRow kTypes[] = {
    {0, "UNDEFINED", ScalarType::Undefined}, {1, "FLOAT", kFloat32},     {2, "UINT8", kUInt8},
    {3, "INT8", kInt8},                      {4, "UINT16", ScalarType::Undefined},
    {5, "INT16", kInt16},                    {6, "INT32", kInt32},       {7, "INT64", kInt64},
    {8, "STRING", ScalarType::Undefined},    {9, "BOOL", kBool},         {10, "FLOAT16", kFloat16},
    {11, "DOUBLE", kFloat64},                {12, "UINT32", ScalarType::Undefined},
    {13, "UINT64", ScalarType::Undefined},   {14, "COMPLEX64", ScalarType::Undefined},
    {15, "COMPLEX128", ScalarType::Undefined}, {16, "BFLOAT16", kBFloat16},
};

bool checked_mul(int64_t a, int64_t b, int64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

template <typename T>
void copy_typed(const T* src, int64_t n, Tensor& dst) {
  std::memcpy(dst.data_ptr(), src, static_cast<size_t>(n) * sizeof(T));
}

}  // namespace

ScalarType dtype_from_onnx(int64_t t) {
  if (t < 0 || t > 16) return ScalarType::Undefined;
  return kTypes[t].dtype;
}

int32_t onnx_from_dtype(ScalarType t) {
  for (const auto& r : kTypes)
    if (r.dtype == t && r.onnx != 0) return r.onnx;
  HEARTH_CHECK(false, DTypeError, "onnx: dtype ", t, " has no ONNX data type");
}

std::string onnx_type_name(int64_t t) {
  if (t < 0 || t > 16) return "<invalid " + std::to_string(t) + ">";
  return kTypes[t].name;
}

std::string read_file(const std::string& path, int64_t max_bytes) {
  std::error_code ec;
  HEARTH_CHECK(std::filesystem::is_regular_file(path, ec), FormatError, "onnx: '", path,
               "' does not exist or is not a regular file");
  const auto size = std::filesystem::file_size(path, ec);
  HEARTH_CHECK(!ec, FormatError, "onnx: cannot read the size of '", path, "': ", ec.message());
  HEARTH_CHECK(static_cast<int64_t>(size) <= max_bytes, FormatError, "onnx: '", path, "' has ", size,
               " bytes, more than the limit of ", max_bytes);
  std::ifstream f(path, std::ios::binary);
  HEARTH_CHECK(f.good(), FormatError, "onnx: cannot open '", path, "'");
  std::string bytes(size, '\0');
  f.read(bytes.data(), static_cast<std::streamsize>(size));
  HEARTH_CHECK(f.gcount() == static_cast<std::streamsize>(size), FormatError, "onnx: short read of '", path, "'");
  return bytes;
}

pb::ModelProto parse_model(const std::string& bytes, const std::string& name) {
  HEARTH_CHECK(static_cast<int64_t>(bytes.size()) <= kMaxModelBytes, FormatError, "onnx: '", name,
               "' is larger than protobuf's 2 GiB limit");
  pb::ModelProto m;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  in.SetTotalBytesLimit(static_cast<int>(kMaxModelBytes));
  in.SetRecursionLimit(64);  // nested subgraphs
  const bool ok = m.ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
  HEARTH_CHECK(ok, FormatError, "onnx: '", name,
               "' is not an ONNX model (protobuf ModelProto parsing failed: not protobuf, or truncated)");
  // Random bytes can parse as a protobuf message of unknown fields: require a model's fields.
  HEARTH_CHECK(m.has_graph(), FormatError, "onnx: '", name, "' has no graph (field ModelProto.graph): not an ONNX model");
  HEARTH_CHECK(m.ir_version() > 0, FormatError, "onnx: '", name, "' has no ir_version (field ModelProto.ir_version)");
  for (const auto& op : m.opset_import())
    HEARTH_CHECK(op.version() > 0 && op.version() < 1000, FormatError, "onnx: '", name,
                 "': opset_import for domain '", op.domain(), "' has version ", op.version());
  validate_graph(m.graph(), "'" + name + "' graph");
  return m;
}

namespace {

struct Header {
  ScalarType dtype;
  std::vector<int64_t> dims;
  int64_t numel = 1, nbytes = 0;
};
Header check_header(const pb::TensorProto& t, const std::string& where);

void validate_tensor(const pb::TensorProto& t, const std::string& where) { (void)check_header(t, where); }

void validate_attribute(const pb::AttributeProto& a, const std::string& where,
                        const std::vector<std::string>& names) {
  HEARTH_CHECK(!a.name().empty(), FormatError, "onnx: ", where, " has an attribute without a name");
  HEARTH_CHECK(a.type() >= 0 && a.type() <= 14, FormatError, "onnx: ", where, " attribute '", a.name(),
               "' has an invalid type ", static_cast<int>(a.type()));
  if (a.has_t()) validate_tensor(a.t(), where + " attribute '" + a.name() + "'");
  if (a.has_g()) validate_graph(a.g(), where + " attribute '" + a.name() + "'", names);
  for (const auto& g : a.graphs()) validate_graph(g, where + " attribute '" + a.name() + "'", names);
}

}  // namespace

void validate_graph(const pb::GraphProto& g, const std::string& where, std::vector<std::string> outer_names) {
  std::set<std::string> defined(outer_names.begin(), outer_names.end());
  for (const auto& t : g.initializer()) {
    HEARTH_CHECK(!t.name().empty(), FormatError, "onnx: ", where, " has an initializer without a name");
    validate_tensor(t, where + " initializer");
    defined.insert(t.name());
  }
  for (const auto& v : g.input()) defined.insert(v.name());
  for (int n = 0; n < g.node_size(); ++n) {
    const auto& node = g.node(n);
    const std::string nw = where + " node " + std::to_string(n) + " '" + node.name() + "' (" + node.op_type() + ")";
    HEARTH_CHECK(!node.op_type().empty(), FormatError, "onnx: ", nw, " has no op_type");
    for (const auto& in : node.input()) {
      if (in.empty()) continue;  // an omitted optional input
      HEARTH_CHECK(defined.count(in), FormatError, "onnx: ", nw, " reads '", in,
                   "', which no graph input, initializer or earlier node output defines (missing initializer?)");
    }
    std::vector<std::string> visible(defined.begin(), defined.end());
    for (const auto& a : node.attribute()) validate_attribute(a, nw, visible);
    for (const auto& out : node.output())
      if (!out.empty()) defined.insert(out);
  }
  for (const auto& o : g.output())
    HEARTH_CHECK(defined.count(o.name()), FormatError, "onnx: ", where, " output '", o.name(),
                 "' is not produced by any node, input or initializer");
}

namespace {
Header check_header(const pb::TensorProto& t, const std::string& where_in) {
  const std::string where = where_in + (t.name().empty() ? "" : " tensor '" + t.name() + "'");
  HEARTH_CHECK(t.data_location() != pb::TensorProto::EXTERNAL && t.external_data_size() == 0, FormatError, "onnx: ",
               where, " uses external data (field TensorProto.external_data), which hearth does not read");
  HEARTH_CHECK(!t.has_segment(), FormatError, "onnx: ", where, " is segmented (field TensorProto.segment)");
  const ScalarType dt = dtype_from_onnx(t.data_type());
  if (dt == ScalarType::Undefined) {
    HEARTH_CHECK(t.data_type() >= 1 && t.data_type() <= 16, FormatError, "onnx: ", where,
                 " has an invalid data_type ", t.data_type());
    throw onnx::UnsupportedError("onnx: " + where + " has data type " + onnx_type_name(t.data_type()) +
                                 ", which hearth has no dtype for");
  }
  HEARTH_CHECK(t.dims_size() <= kMaxRank, FormatError, "onnx: ", where, " has ", t.dims_size(), " dims (limit ",
               kMaxRank, ")");
  std::vector<int64_t> dims;
  int64_t numel = 1;
  for (int i = 0; i < t.dims_size(); ++i) {
    HEARTH_CHECK(t.dims(i) >= 0, FormatError, "onnx: ", where, " has a negative dim ", t.dims(i), " (field dims[", i, "])");
    HEARTH_CHECK(checked_mul(numel, t.dims(i), numel), FormatError, "onnx: ", where, " dims overflow int64");
    dims.push_back(t.dims(i));
  }
  const int64_t esize = static_cast<int64_t>(element_size(dt));
  int64_t nbytes = 0;
  HEARTH_CHECK(checked_mul(numel, esize, nbytes) && nbytes <= kMaxTensorBytes, FormatError, "onnx: ", where,
               " would take more than ", kMaxTensorBytes, " bytes");
  // Check the data length against the dims before allocating.
  if (t.has_raw_data()) {
    HEARTH_CHECK(static_cast<int64_t>(t.raw_data().size()) == nbytes, FormatError, "onnx: ", where, " has ",
                 t.raw_data().size(), " bytes of raw_data, but dims ", IntArrayRef(dims), " of ",
                 onnx_type_name(t.data_type()), " need ", nbytes);
  } else {
    int64_t have = 0;
    const char* field = "";
    switch (dt) {
      case kFloat32: have = t.float_data_size(); field = "float_data"; break;
      case kFloat64: have = t.double_data_size(); field = "double_data"; break;
      case kInt64: have = t.int64_data_size(); field = "int64_data"; break;
      default: have = t.int32_data_size(); field = "int32_data"; break;
    }
    HEARTH_CHECK(have == numel, FormatError, "onnx: ", where, " has ", have, " values in ", field, ", but dims ",
                 IntArrayRef(dims), " hold ", numel);
  }
  return Header{dt, dims, numel, nbytes};
}
}  // namespace

Tensor tensor_from_proto(const pb::TensorProto& t, const std::string& where) {
  const Header h = check_header(t, where);
  const ScalarType dt = h.dtype;
  const int64_t numel = h.numel, nbytes = h.nbytes, esize = static_cast<int64_t>(element_size(dt));
  Tensor out = empty(h.dims, TensorOptions(dt));
  if (numel == 0) return out;
  if (t.has_raw_data()) {
    std::memcpy(out.data_ptr(), t.raw_data().data(), static_cast<size_t>(nbytes));  // little-endian host
    return out;
  }
  switch (dt) {
    case kFloat32: copy_typed(t.float_data().data(), numel, out); break;
    case kFloat64: copy_typed(t.double_data().data(), numel, out); break;
    case kInt64: copy_typed(t.int64_data().data(), numel, out); break;
    case kInt32: copy_typed(t.int32_data().data(), numel, out); break;
    default: {
      // int16/int8/uint8/bool/float16/bfloat16: one int32 per element holding the bits.
      auto* dst = static_cast<uint8_t*>(out.data_ptr());
      for (int64_t k = 0; k < numel; ++k) {
        const uint32_t v = static_cast<uint32_t>(t.int32_data(static_cast<int>(k)));
        if (esize == 1) {
          dst[k] = static_cast<uint8_t>(v);
        } else {
          const uint16_t h = static_cast<uint16_t>(v);
          std::memcpy(dst + 2 * k, &h, 2);
        }
      }
    }
  }
  return out;
}

void tensor_to_proto(const Tensor& x, pb::TensorProto* t) {
  Tensor c = x.cpu().contiguous();
  t->set_data_type(onnx_from_dtype(c.dtype()));
  for (int64_t d : c.sizes()) t->add_dims(d);
  t->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path tmp = p.parent_path() / ("." + p.filename().string() + ".tmp." + std::to_string(::getpid()));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  HEARTH_CHECK(fd >= 0, FormatError, "onnx: cannot create '", tmp.string(), "': ", std::strerror(errno));
  size_t done = 0;
  bool ok = true;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      ok = false;
      break;
    }
    done += static_cast<size_t>(w);
  }
  ok = ok && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), p.c_str()) != 0) {
    const int e = ok ? errno : err;
    ::unlink(tmp.c_str());
    HEARTH_CHECK(false, FormatError, "onnx: cannot write '", path, "': ", std::strerror(e));
  }
}

}  // namespace hearth::onnx_impl
