// State-dict files of any format: the format registry (safetensors built in, others from plugins
// such as hearth-hdf5), save_state_dict, save_safetensors / load_safetensors, load_tensors with
// map_location, and loading straight into a module's parameters through host staging buffers
// (SEED E4, E6; docs/checkpoints.md).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>

#include "hearth/autograd.h"
#include "hearth/checkpoint.h"
#include "hearth/functions.h"
#include "hearth/nn/module.h"
#include "hearth/plugin.h"
#include "serialize/safetensors_format.h"

namespace hearth {
namespace {

constexpr size_t kSniffBytes = 2048;

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

ScalarType from_st_dtype(const std::string& s, const std::string& path, const std::string& name) {
  static const std::pair<const char*, ScalarType> table[] = {
      {"F32", kFloat32}, {"F64", kFloat64}, {"F16", kFloat16}, {"BF16", kBFloat16}, {"I64", kInt64},
      {"I32", kInt32},   {"I16", kInt16},   {"I8", kInt8},     {"U8", kUInt8},      {"BOOL", kBool}};
  for (const auto& [n, t] : table)
    if (s == n) return t;
  throw FormatError("safetensors file '" + path + "': tensor '" + name + "' field 'dtype': unknown dtype '" + s + "'");
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

class SafetensorsReader final : public TensorFileReader {
 public:
  explicit SafetensorsReader(const std::string& path) : path_(path) {
    f_.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    HEARTH_CHECK(f_.fd >= 0, FormatError, "safetensors file '", path, "': cannot open: ", std::strerror(errno));
    const off_t size = ::lseek(f_.fd, 0, SEEK_END);
    HEARTH_CHECK(size >= 0, FormatError, "safetensors file '", path, "': cannot determine its size");
    header_ = safetensors::read_header(f_.fd, static_cast<uint64_t>(size), path);
    for (const auto& e : header_.entries) {
      TensorFileEntry t;
      t.name = e.name;
      t.dtype = from_st_dtype(e.dtype, path, e.name);
      t.shape = DimVector(e.shape.begin(), e.shape.end());
      t.nbytes = static_cast<size_t>(e.nbytes());
      entries_.push_back(std::move(t));
    }
  }
  const std::vector<TensorFileEntry>& entries() const override { return entries_; }
  const std::map<std::string, std::string>& metadata() const override { return header_.metadata; }
  void read(size_t index, void* host_dst) override {
    HEARTH_CHECK(index < entries_.size(), IndexError, "safetensors file '", path_, "': no tensor ", index);
    const auto& e = header_.entries[index];
    if (e.nbytes()) safetensors::read_entry_data(f_.fd, header_, e, host_dst, path_);
  }

 private:
  std::string path_;
  Fd f_;
  safetensors::Header header_;
  std::vector<TensorFileEntry> entries_;
};

class SafetensorsFormat final : public TensorFileFormat {
 public:
  std::string name() const override { return "safetensors"; }
  std::vector<std::string> extensions() const override { return {".safetensors", ".st"}; }
  bool sniff(const unsigned char* head, size_t n) const override {
    if (n < 10) return false;
    uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | head[i];
    return len >= 2 && len <= safetensors::kMaxHeaderSize && head[8] == '{';
  }
  void save(const std::string& path, const TensorList& host_tensors,
            const std::map<std::string, std::string>& metadata) const override {
    std::vector<safetensors::WriteEntry> entries;
    entries.reserve(host_tensors.size());
    for (const auto& [name, h] : host_tensors) {
      HEARTH_INTERNAL_ASSERT(h.device().is_cpu() && h.is_contiguous(), "safetensors save: '", name,
                             "' is not a contiguous host tensor");
      safetensors::WriteEntry e;
      e.name = name;
      e.dtype = st_dtype(h.dtype());
      e.shape = h.sizes().vec();
      e.data = h.numel() ? h.data_ptr() : nullptr;
      e.nbytes = h.nbytes();
      entries.push_back(std::move(e));
    }
    safetensors::write_file(path, entries, metadata);
  }
  std::unique_ptr<TensorFileReader> open(const std::string& path) const override {
    return std::make_unique<SafetensorsReader>(path);
  }
};

const SafetensorsFormat& builtin_safetensors() {
  static const SafetensorsFormat f;
  return f;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Formats plugins registered (loading plugins first).
std::vector<const TensorFileFormat*> plugin_formats() {
  std::vector<const TensorFileFormat*> out;
  for (const auto& n : component_names(kTensorFileFormatComponent)) {
    auto f = find_component_as<TensorFileFormatFactory>(kTensorFileFormatComponent, n);
    if (f) out.push_back(f());
  }
  return out;
}

// HDF5's signature, so a missing hearth-hdf5 is reported as such rather than as a bad safetensors file.
bool looks_like_hdf5(const unsigned char* head, size_t n) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (size_t off : {size_t{0}, size_t{512}, size_t{1024}})
    if (n >= off + 8 && std::memcmp(head + off, sig, 8) == 0) return true;
  return false;
}

/// Reads one protobuf varint at head[*i]; false if it runs past n or is longer than 10 bytes.
bool read_varint(const unsigned char* head, size_t n, size_t* i, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *i < n; shift += 7) {
    const unsigned char b = head[(*i)++];
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

/// Whether the bytes begin like an ONNX ModelProto: ir_version (field 1, a small varint) first,
/// then another ModelProto field (producer_name, ..., graph, opset_import) of the right wire type.
bool looks_like_onnx(const unsigned char* head, size_t n) {
  size_t i = 0;
  uint64_t v = 0;
  if (n < 4 || head[0] != 0x08) return false;
  ++i;
  if (!read_varint(head, n, &i, &v) || v == 0 || v > 64) return false;
  if (i >= n) return false;
  const unsigned char tag = head[i];
  // 2 producer_name, 3 producer_version, 4 domain, 6 doc_string, 7 graph, 8 opset_import,
  // 14 metadata_props (length-delimited); 5 model_version (varint).
  for (unsigned char t : {0x12, 0x1a, 0x22, 0x32, 0x3a, 0x42, 0x72, 0x28})
    if (tag == t) return true;
  return false;
}

/// What a file that no state-dict format claims looks like, from its first bytes, or "".
std::string foreign_format(const unsigned char* head, size_t n, const std::string& lower_path) {
  auto starts = [&](const char* magic, size_t len) { return n >= len && std::memcmp(head, magic, len) == 0; };
  if (starts("\x93NUMPY", 6)) return "a NumPy .npy array";
  if (starts("PK\x03\x04", 4) || starts("PK\x05\x06", 4)) {
    // torch.save's zip archives hold "<name>/data.pkl"; np.savez's hold NAME.npy files.
    const std::string_view text(reinterpret_cast<const char*>(head), n);
    if (text.find("data.pkl") != std::string_view::npos || ends_with(lower_path, ".pt") ||
        ends_with(lower_path, ".pth"))
      return "a PyTorch torch.save archive (.pt/.pth; save a state dict with safetensors instead)";
    if (text.find(".npy") != std::string_view::npos) return "a NumPy .npz archive";
    return "a zip archive";
  }
  if (n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5)
    return "a Python pickle (legacy torch.save; save a state dict with safetensors instead)";
  if (starts("\x1f\x8b", 2)) return "a gzip file";
  if (looks_like_onnx(head, n) || ends_with(lower_path, ".onnx")) return "ONNX (run it with `hearth onnx run`)";
  if (starts("\x7f" "ELF", 4)) return "an ELF executable or library";
  if (n > 0 && (head[0] == '{' || head[0] == '[')) return "JSON or other text";
  return "";
}

/// The hdf5 extensions are known to the kernel only to name the plugin that handles them.
const char* well_known_format(const std::string& lower_path) {
  if (ends_with(lower_path, ".h5") || ends_with(lower_path, ".hdf5")) return "hdf5";
  return nullptr;
}

}  // namespace

const TensorFileFormat& tensor_file_format(const std::string& name) {
  if (name == "safetensors") return builtin_safetensors();
  if (auto f = find_component_as<TensorFileFormatFactory>(kTensorFileFormatComponent, name)) return *f();
  std::string avail = "safetensors";
  for (const auto& n : component_names(kTensorFileFormatComponent)) avail += ", " + n;
  std::string why;
  for (const auto& r : plugin_records())
    if (r.status != "loaded" && r.file.find(name) != std::string::npos)
      why += "; plugin file '" + r.file + "' " + r.status + ": " + r.error;
  if (why.empty()) why = "; no plugin registers it (it comes with hearth-" + name + "; check `hearth plugins`)";
  throw FormatError("no state-dict file format '" + name + "' (component " + kTensorFileFormatComponent + ":" +
                    name + ")" + why + "; available formats: " + avail);
}

const TensorFileFormat& tensor_file_format_for_writing(const std::string& path) {
  const std::string lp = lower(path);
  for (const auto& ext : builtin_safetensors().extensions())
    if (ends_with(lp, ext)) return builtin_safetensors();
  if (const char* known = well_known_format(lp)) return tensor_file_format(known);
  for (const TensorFileFormat* f : plugin_formats())
    for (const auto& ext : f->extensions())
      if (ends_with(lp, ext)) return *f;
  return builtin_safetensors();
}

const TensorFileFormat& tensor_file_format_for_reading(const std::string& path) {
  unsigned char head[kSniffBytes];
  size_t n = 0;
  {
    Fd f;
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    HEARTH_CHECK(f.fd >= 0, FormatError, "file '", path, "': cannot open: ", std::strerror(errno));
    while (n < kSniffBytes) {
      const ssize_t r = ::pread(f.fd, head + n, kSniffBytes - n, static_cast<off_t>(n));
      if (r < 0 && errno == EINTR) continue;
      HEARTH_CHECK(r >= 0, FormatError, "file '", path, "': cannot read: ", std::strerror(errno));
      if (r == 0) break;
      n += static_cast<size_t>(r);
    }
  }
  if (builtin_safetensors().sniff(head, n)) return builtin_safetensors();
  for (const TensorFileFormat* f : plugin_formats())
    if (f->sniff(head, n)) return *f;
  if (looks_like_hdf5(head, n)) return tensor_file_format("hdf5");
  // A file of another kind altogether: say what it looks like rather than let a reader complain
  // about a field (safetensors' "header_length exceeds the limit").
  const std::string foreign = foreign_format(head, n, lower(path));
  HEARTH_CHECK(foreign.empty(), FormatError, "file '", path, "': not a safetensors or HDF5 file (looks like ",
               foreign, ")");
  // Nothing claims the bytes (a truncated or foreign file): let the format its name says report
  // exactly what is wrong; safetensors' reader otherwise.
  return tensor_file_format_for_writing(path);
}

std::unique_ptr<TensorFileReader> open_tensor_file(const std::string& path) {
  return tensor_file_format_for_reading(path).open(path);
}

namespace {

/// The devices recorded in a file's metadata (name -> device string); empty if none.
std::map<std::string, std::string> saved_devices(const std::string& path, const std::map<std::string, std::string>& md) {
  std::map<std::string, std::string> out;
  auto it = md.find(kDevicesMetadataKey);
  if (it == md.end()) return out;
  auto j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  HEARTH_CHECK(j.is_object(), FormatError, "file '", path, "': field '", kDevicesMetadataKey,
               "': expected a JSON object of name -> device");
  for (auto& [k, v] : j.items()) {
    HEARTH_CHECK(v.is_string(), FormatError, "file '", path, "': field '", kDevicesMetadataKey, "': device of '", k,
                 "' is not a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

/// A host, contiguous image of `t` for writing. Tensors on other devices come through a staging
/// buffer by the device's own copy function.
Tensor host_image(const Tensor& t) {
  NoGradGuard ng;
  if (t.device().is_cpu()) return t.contiguous();
  Tensor src = t.contiguous();
  Tensor h = host_staging_empty(src.sizes(), src.dtype());
  if (src.nbytes())
    device_interface(src.device().type()).copy_to_host(h.data_ptr(), src.data_ptr(), src.nbytes(), src.device().index());
  return h;
}

/// Copies a host tensor (already of dst's dtype and shape) into dst on its own device: straight
/// through the device's copy_from_host when dst is contiguous, so nothing is allocated (E6).
void write_into(Tensor& dst, const Tensor& host) {
  NoGradGuard ng;
  if (dst.is_contiguous() && host.is_contiguous()) {
    if (dst.nbytes())
      device_interface(dst.device().type()).copy_from_host(dst.data_ptr(), host.data_ptr(), dst.nbytes(), dst.device().index());
    dst.impl()->bump_version();
  } else {
    dst.copy_(host);
  }
}

std::string shape_str(IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

std::string join(const std::vector<std::string>& v, size_t limit = 20) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < limit; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > limit) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

/// Whether a tensor of dtype `from` may fill a target of dtype `to`: within floating types (a
/// float16 file into a float32 model converts, as PyTorch's copy_ does) and within integer types;
/// bool only into bool.
bool dtype_fills(ScalarType from, ScalarType to) {
  if (from == to) return true;
  if (is_floating_point(to)) return is_floating_point(from);
  if (to == kBool || from == kBool) return false;
  return is_integral(from, false) && is_integral(to, false);
}

}  // namespace

namespace detail {

/// Loads entries of `reader` whose names start with `prefix` (prefix removed) into `module`.
/// Shared by load_state_dict and training checkpoints ("model." entries).
nn::LoadStateDictResult load_module_from(TensorFileReader& reader, const std::string& path, const std::string& prefix,
                                         nn::Module& module, bool strict) {
  nn::LoadStateDictResult r;
  const auto& entries = reader.entries();
  // Targets: parameters and persistent buffers, in state_dict order (they share the module's memory).
  TensorList own = module.state_dict();
  std::map<std::string, Tensor*> targets;
  for (auto& [n, t] : own) targets.emplace(n, &t);
  // The file's keys in scope, in file order.
  std::vector<size_t> idx;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].name.compare(0, prefix.size(), prefix) == 0) idx.push_back(i);
  // SEED E4: data-parallel wrappers save "module."-prefixed keys; the rule of Module::load_state_dict.
  bool all_prefixed = !idx.empty();
  for (size_t i : idx) all_prefixed = all_prefixed && entries[i].name.compare(prefix.size(), 7, "module.") == 0;
  bool own_prefixed = false;
  for (const auto& [n, t] : own) own_prefixed = own_prefixed || n.rfind("module.", 0) == 0;
  if (all_prefixed && !own_prefixed) r.stripped_prefix = "module.";
  std::map<std::string, size_t> incoming;
  for (size_t i : idx) {
    const std::string key = entries[i].name.substr(prefix.size() + r.stripped_prefix.size());
    HEARTH_CHECK(incoming.emplace(key, i).second, FormatError, "file '", path, "': field '", entries[i].name,
                 "': key '", key, "' appears twice (after removing the prefix '", r.stripped_prefix, "')");
  }
  for (const auto& [n, t] : own) {
    auto it = incoming.find(n);
    if (it == incoming.end()) {
      r.missing_keys.push_back(n);
    } else if (IntArrayRef(entries[it->second].shape) != t.sizes()) {
      r.shape_mismatches.push_back({n, DimVector(t.sizes().begin(), t.sizes().end()), entries[it->second].shape});
    }
  }
  for (const auto& [k, i] : incoming)
    if (!targets.count(k)) r.unexpected_keys.push_back(prefix + r.stripped_prefix + k);
  if (strict && !r.ok()) {
    std::ostringstream os;
    os << "file '" << path << "': state dict does not fit " << module.type_name() << " (nothing was loaded):";
    if (!r.missing_keys.empty()) {
      std::vector<std::string> full;
      for (const auto& k : r.missing_keys) full.push_back(prefix + r.stripped_prefix + k);
      os << "\n  missing key(s): " << join(full);
    }
    if (!r.unexpected_keys.empty()) os << "\n  unexpected key(s): " << join(r.unexpected_keys);
    for (const auto& m : r.shape_mismatches)
      os << "\n  field '" << prefix << r.stripped_prefix << m.key << "': wrong shape " << shape_str(m.got)
         << " in the file, the model's is " << shape_str(m.expected);
    os << "\n  (load non-strict to copy the keys that match)";
    throw FormatError(os.str());
  }
  // dtypes of everything that will be copied, before copying anything.
  for (const auto& [n, t] : own) {
    auto it = incoming.find(n);
    if (it == incoming.end()) continue;
    const TensorFileEntry& e = entries[it->second];
    if (IntArrayRef(e.shape) != t.sizes()) continue;
    HEARTH_CHECK(dtype_fills(e.dtype, t.dtype()), FormatError, "file '", path, "': field '", e.name, "': wrong dtype ",
                 dtype_name(e.dtype), " for '", n, "', which is ", dtype_name(t.dtype()),
                 " (nothing was loaded)");
  }
  // SEED E6: each tensor is read into a host staging buffer and copied straight to its target's device.
  for (auto& [n, t] : own) {
    auto it = incoming.find(n);
    if (it == incoming.end()) continue;
    const TensorFileEntry& e = entries[it->second];
    if (IntArrayRef(e.shape) != t.sizes()) continue;
    Tensor staged = host_staging_empty(e.shape, e.dtype);
    reader.read(it->second, staged.numel() ? staged.data_ptr() : nullptr);
    if (e.dtype != t.dtype()) {
      Tensor converted = host_staging_empty(e.shape, t.dtype());
      NoGradGuard ng;
      converted.copy_(staged);
      staged = converted;
    }
    write_into(t, staged);
  }
  return r;
}

/// Reads entry `i` to the host (an ordinary host tensor: it is the caller's result).
Tensor read_host(TensorFileReader& reader, size_t i) {
  const TensorFileEntry& e = reader.entries()[i];
  Tensor t = empty(e.shape, TensorOptions(e.dtype));
  reader.read(i, t.numel() ? t.data_ptr() : nullptr);
  return t;
}

/// Reads entry `i` onto `dev`: through a staging buffer and the device's copy function.
Tensor read_to(TensorFileReader& reader, size_t i, Device dev) {
  if (dev.is_cpu()) return read_host(reader, i);
  const TensorFileEntry& e = reader.entries()[i];
  Tensor staged = host_staging_empty(e.shape, e.dtype);
  reader.read(i, staged.numel() ? staged.data_ptr() : nullptr);
  Tensor t = empty(e.shape, TensorOptions(e.dtype).device(dev));
  write_into(t, staged);
  return t;
}

/// Saves named tensors (any devices) with metadata in `fmt`, recording devices (shared with
/// checkpoints and save_safetensors).
void save_tensors(const TensorFileFormat& fmt, const std::string& path, const TensorList& state,
                  std::map<std::string, std::string> metadata) {
  nlohmann::json devices = nlohmann::json::object();
  TensorList host;
  host.reserve(state.size());
  std::set<std::string> names;
  for (const auto& [name, t] : state) {
    HEARTH_CHECK(t.defined(), ValueError, "saving '", path, "': tensor '", name, "' is undefined");
    HEARTH_CHECK(names.insert(name).second, FormatError, "saving '", path, "': duplicate key '", name, "'");
    devices[name] = t.device().str();
    host.emplace_back(name, host_image(t));
  }
  metadata[kDevicesMetadataKey] = devices.dump();
  fmt.save(path, host, metadata);
}

std::map<std::string, std::string> saved_devices_of(const std::string& path, const TensorFileReader& reader) {
  return saved_devices(path, reader.metadata());
}

}  // namespace detail

namespace {

/// Every tensor of an open file onto the device `map_location` picks for it.
SafetensorsContents read_all(TensorFileReader& reader, const std::string& path, const MapLocation& map_location) {
  SafetensorsContents out;
  out.metadata = reader.metadata();
  out.saved_devices = saved_devices(path, out.metadata);
  const auto& entries = reader.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    auto it = out.saved_devices.find(entries[i].name);
    // A recorded device that does not exist here (cuda on this machine) is only information.
    const Device dev = map_location.resolve(entries[i].name, it == out.saved_devices.end() ? "" : it->second);
    out.tensors.emplace_back(entries[i].name, detail::read_to(reader, i, dev));
  }
  return out;
}

}  // namespace

void save_state_dict(const std::string& path, const TensorList& state, const std::map<std::string, std::string>& metadata) {
  detail::save_tensors(tensor_file_format_for_writing(path), path, state, metadata);
}

void save_state_dict(const std::string& path, const nn::Module& module, const std::map<std::string, std::string>& metadata) {
  save_state_dict(path, module.state_dict(), metadata);
}

void save_safetensors(const std::string& path, const TensorList& tensors,
                      const std::map<std::string, std::string>& metadata) {
  detail::save_tensors(builtin_safetensors(), path, tensors, metadata);
}

SafetensorsContents load_safetensors(const std::string& path, std::optional<Device> map_location) {
  return read_all(*builtin_safetensors().open(path), path, map_location ? MapLocation(*map_location) : MapLocation());
}

SafetensorsContents load_tensors(const std::string& path, const MapLocation& map_location) {
  return read_all(*open_tensor_file(path), path, map_location);
}

nn::LoadStateDictResult load_state_dict(const std::string& path, nn::Module& module, bool strict) {
  auto reader = open_tensor_file(path);
  (void)saved_devices(path, reader->metadata());  // validated, never used: targets decide (E6)
  return detail::load_module_from(*reader, path, "", module, strict);
}

}  // namespace hearth
