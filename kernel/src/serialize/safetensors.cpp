// Tensor-level safetensors I/O over the validating format layer.
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "hearth/functions.h"
#include "hearth/serialize.h"
#include "serialize/safetensors_format.h"

namespace hearth {
namespace {

const char* st_dtype(ScalarType t) {
  switch (t) {
    case kFloat32: return "F32";
    case kFloat64: return "F64";
    case kFloat16: return "F16";
    case kBFloat16: return "BF16";
    case kInt64: return "I64";
    case kInt32: return "I32";
    case kInt16: return "I16";
    case kInt8: return "I8";
    case kUInt8: return "U8";
    case kBool: return "BOOL";
    default: return "?";
  }
}

ScalarType from_st_dtype(const std::string& s) {
  static const std::pair<const char*, ScalarType> table[] = {
      {"F32", kFloat32}, {"F64", kFloat64}, {"F16", kFloat16}, {"BF16", kBFloat16}, {"I64", kInt64},
      {"I32", kInt32},   {"I16", kInt16},   {"I8", kInt8},     {"U8", kUInt8},      {"BOOL", kBool}};
  for (const auto& [n, t] : table)
    if (s == n) return t;
  throw FormatError("unknown safetensors dtype '" + s + "'");
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void save_safetensors(const std::string& path, const TensorList& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> host;  // keeps host copies alive during the write
  std::vector<safetensors::WriteEntry> entries;
  nlohmann::json devices = nlohmann::json::object();
  host.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    HEARTH_CHECK(t.defined(), ValueError, "save_safetensors: tensor '", name, "' is undefined");
    devices[name] = t.device().str();
    host.push_back(t.to(Device(kCPUType)).contiguous());
    const Tensor& h = host.back();
    safetensors::WriteEntry e;
    e.name = name;
    e.dtype = st_dtype(h.dtype());
    e.shape = h.sizes().vec();
    e.data = h.numel() ? h.data_ptr() : nullptr;
    e.nbytes = h.nbytes();
    entries.push_back(std::move(e));
  }
  auto md = metadata;
  md[kDevicesMetadataKey] = devices.dump();
  safetensors::write_file(path, entries, md);
}

SafetensorsContents load_safetensors(const std::string& path, std::optional<Device> map_location) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  HEARTH_CHECK(f.fd >= 0, FormatError, "safetensors file '", path, "': cannot open: ", std::strerror(errno));
  const off_t size = ::lseek(f.fd, 0, SEEK_END);
  HEARTH_CHECK(size >= 0, FormatError, "safetensors file '", path, "': cannot determine its size");
  safetensors::Header h = safetensors::read_header(f.fd, static_cast<uint64_t>(size), path);
  SafetensorsContents out;
  out.metadata = h.metadata;
  if (auto it = h.metadata.find(kDevicesMetadataKey); it != h.metadata.end()) {
    auto j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    HEARTH_CHECK(j.is_object(), FormatError, "safetensors file '", path, "': field '__metadata__.",
                 kDevicesMetadataKey, "': expected a JSON object of name -> device");
    for (auto& [k, v] : j.items()) {
      HEARTH_CHECK(v.is_string(), FormatError, "safetensors file '", path, "': field '__metadata__.",
                   kDevicesMetadataKey, "': device of '", k, "' is not a string");
      out.saved_devices[k] = v.get<std::string>();
    }
  }
  for (const auto& e : h.entries) {
    const ScalarType dt = from_st_dtype(e.dtype);
    Tensor t = empty(e.shape, TensorOptions(dt));
    if (e.nbytes()) safetensors::read_entry_data(f.fd, h, e, t.data_ptr(), path);
    if (map_location && *map_location != t.device()) t = t.to(*map_location);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace hearth
