// Plugin discovery and loading (Boost.DLL, local symbol scope). The ABI is checked before any
// plugin code beyond the entry symbol runs; registrations commit only if the plugin's register
// function returns normally; a bad file is recorded with its reason and never stops the rest.
#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <atomic>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "dispatcher_internal.h"
#include "hearth/plugin.h"
#include "threads_internal.h"

namespace fs = std::filesystem;

namespace hearth {
namespace {

struct Component {
  const void* factory;
  std::string origin;
};

class Registrar;

/// A plugin whose registrations name a device type or op that no plugin has registered yet. It
/// is retried once the current load_plugins() call has scanned everything, because discovery
/// order is precedence, not dependency order: a --plugin-dir plugin with kernels for a device of
/// a default-dir plugin (testdev, cuda) comes first.
struct Pending {
  PluginRecord rec;
  boost::dll::shared_library lib;
  std::shared_ptr<Registrar> reg;  // shared_ptr: Registrar is incomplete here
  std::string why;
};

/// Thrown by Registrar::commit when only a missing device type or op stops the plugin.
struct MissingDependency : PluginError {
  using PluginError::PluginError;
};

struct LoaderState {
  std::recursive_mutex mu;
  std::atomic<bool> defaults_done{false};
  bool busy = false;  // a plugin's register is running on this thread (no nested loading)
  std::set<std::string> scanned_dirs;
  std::vector<PluginRecord> records;
  std::map<std::string, std::string> loaded_names;  // plugin name -> file
  std::vector<boost::dll::shared_library> libs;    // never unloaded (process lifetime)
  std::map<std::string, std::map<std::string, Component>, std::less<>> components;
  std::map<std::string, std::string> device_origin;  // device type -> plugin file
  std::vector<Pending> pending;  // plugins waiting for a device type or op from a later file
};
LoaderState& state() {
  static auto* s = new LoaderState();  // leaked on purpose: plugins outlive static destruction
  return *s;
}

/// Collects what a plugin registers; commit() applies it all or nothing.
class Registrar final : public PluginRegistrar {
 public:
  explicit Registrar(std::string file) : file_(std::move(file)) {}
  void def(const OpSchema& schema) override { defs_.push_back(schema); }
  void kernel(std::string_view op, std::string_view dev, KernelFn fn, KernelOptions o) override {
    HEARTH_CHECK(fn != nullptr, PluginError, "null kernel for op '", op, "' on ", dev);
    kernels_.push_back({std::string(op), std::string(dev), fn, o});
  }
  void device_type(std::string_view name, DeviceInterface* iface) override {
    HEARTH_CHECK(iface != nullptr, PluginError, "device type '", name, "' registered without an interface");
    devices_.push_back({std::string(name), iface});
  }
  void component(std::string_view kind, std::string_view name, const void* factory) override {
    HEARTH_CHECK(factory != nullptr, PluginError, "null factory for ", kind, " '", name, "'");
    components_.push_back({std::string(kind), std::string(name), factory});
  }

  /// Validates everything against the current registries, then applies. Throws PluginError
  /// (nothing applied) on a conflict.
  void commit(LoaderState& st, PluginRecord& rec) {
    auto& reg = detail::op_registry();
    // Validate.
    std::set<std::string> new_devs;
    HEARTH_CHECK(device_type_names().size() + devices_.size() <= static_cast<size_t>(kMaxDeviceTypes), PluginError,
                 "too many device types (at most ", kMaxDeviceTypes, " in one process)");
    for (const auto& d : devices_) {
      HEARTH_CHECK(find_device_type(d.name) < 0 && !new_devs.count(d.name), PluginError, "device type '", d.name,
                   "' is already registered",
                   st.device_origin.count(d.name) ? " by " + st.device_origin[d.name] : std::string());
      new_devs.insert(d.name);
    }
    std::map<std::string, const OpSchema*> new_ops;
    for (const auto& s : defs_) {
      detail::OpDef* existing = reg.find(s.name);
      HEARTH_CHECK(!existing || (existing->schema.num_inputs == s.num_inputs &&
                                 existing->schema.num_outputs == s.num_outputs),
                   PluginError, "op '", s.name, "' is already declared with another schema ('",
                   existing ? existing->schema.signature : "", "')");
      new_ops[s.name] = &s;
    }
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& k : kernels_) {
      if (!reg.find(k.op) && !new_ops.count(k.op))
        throw MissingDependency(detail::format_error(__FILE__, __LINE__, detail::str(
            "kernel for undeclared op '", k.op, "' (no plugin declares it; declare it with registrar.def() first)")));
      if (find_device_type(k.dev) < 0 && !new_devs.count(k.dev))
        throw MissingDependency(detail::format_error(__FILE__, __LINE__, detail::str(
            "kernel for op '", k.op, "' on unknown device type '", k.dev, "' (no plugin registers it)")));
      HEARTH_CHECK(seen.insert({k.op, k.dev}).second, PluginError, "two kernels for op '", k.op, "' on ", k.dev,
                   " in the same plugin");
      if (detail::OpDef* d = reg.find(k.op)) {
        DeviceTypeId t = find_device_type(k.dev);
        if (t >= 0 && d->kernels[t].load()) {
          HEARTH_CHECK(k.opts.is_override, PluginError, "kernel for op '", k.op, "' on ", k.dev,
                       " is already registered by ", d->origins[t], "; this plugin (", file_,
                       ") registers it again without declaring an override");
        }
      }
    }
    for (const auto& c : components_) {
      auto it = st.components.find(c.kind);
      HEARTH_CHECK(it == st.components.end() || !it->second.count(c.name), PluginError, c.kind, " '", c.name,
                   "' is already registered by ", it != st.components.end() && it->second.count(c.name)
                                                      ? it->second.at(c.name).origin : "");
    }
    // Apply.
    for (const auto& d : devices_) {
      register_device_type(d.name, d.iface);
      st.device_origin[d.name] = file_;
      rec.devices.push_back(d.name);
    }
    for (const auto& s : defs_) {
      reg.declare(s);
      rec.ops.push_back(s.name);
    }
    for (const auto& k : kernels_) {
      detail::OpDef* d = reg.find(k.op);
      DeviceTypeId t = find_device_type(k.dev);
      KernelFn cur = d->kernels[t].load();
      if (cur && k.opts.priority <= d->priorities[t]) continue;  // an override that loses
      d->origins[t] = file_;
      d->priorities[t] = k.opts.priority;
      d->kernels[t].store(k.fn, std::memory_order_release);
      rec.kernels.push_back(k.op + "@" + k.dev);
    }
    for (const auto& c : components_) {
      st.components[c.kind][c.name] = {c.factory, file_};
      rec.components.push_back(c.kind + ":" + c.name);
    }
  }

 private:
  struct K { std::string op, dev; KernelFn fn; KernelOptions opts; };
  struct D { std::string name; DeviceInterface* iface; };
  struct C { std::string kind, name; const void* factory; };
  std::string file_;
  std::vector<OpSchema> defs_;
  std::vector<K> kernels_;
  std::vector<D> devices_;
  std::vector<C> components_;
};

/// glibc's dlopen maps a library's segments without checking them against the file size, and
/// the process dies of SIGBUS when it touches a segment past the end of a truncated file (a
/// half-copied plugin). Checks the program headers first; "" if dlopen may be tried. Files that
/// are not native ELF are left to dlopen, which rejects those with a clear message.
/// An open file, its size and its ELF header.
struct ElfFile {
  std::ifstream f;
  uint64_t size = 0;
  ElfW(Ehdr) eh{};
};

/// Opens `path` and reads its ELF header: false unless it is a native ELF file (the others are
/// left to dlopen, which rejects them with a clear message).
bool open_native_elf(const fs::path& path, ElfFile& e) {
  e.f.open(path, std::ios::binary);
  std::error_code ec;
  e.size = fs::file_size(path, ec);
  return e.f && !ec && e.f.read(reinterpret_cast<char*>(&e.eh), sizeof e.eh) &&
         std::memcmp(e.eh.e_ident, ELFMAG, SELFMAG) == 0 &&
         e.eh.e_ident[EI_CLASS] == (sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32);
}

std::string truncated_elf(const fs::path& path) {
  ElfFile e;
  if (!open_native_elf(path, e)) return "";
  auto& f = e.f;
  const auto& eh = e.eh;
  const uint64_t size = e.size;
  const auto end_of = [&](uint64_t off, uint64_t len) { return off + len < off ? UINT64_MAX : off + len; };
  if (eh.e_phentsize != sizeof(ElfW(Phdr)) || end_of(eh.e_phoff, uint64_t{eh.e_phnum} * eh.e_phentsize) > size)
    return "program header table past the end of the file";
  f.seekg(static_cast<std::streamoff>(eh.e_phoff));
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    ElfW(Phdr) ph{};
    if (!f.read(reinterpret_cast<char*>(&ph), sizeof ph)) return "cannot read its program headers";
    if ((ph.p_type == PT_LOAD || ph.p_type == PT_DYNAMIC) && end_of(ph.p_offset, ph.p_filesz) > size)
      return "segment " + std::to_string(i) + " ends at byte " + std::to_string(end_of(ph.p_offset, ph.p_filesz)) +
             " but the file has " + std::to_string(size) + " bytes";
  }
  return "";
}

/// The libraries an ELF file names as DT_NEEDED, read from its section headers (a file without
/// them gives none: dlopen then decides). Bounded reads only; a malformed table gives none.
std::vector<std::string> needed_libraries(const fs::path& path) {
  std::vector<std::string> out;
  ElfFile e;
  if (!open_native_elf(path, e)) return out;
  auto& f = e.f;
  const auto& eh = e.eh;
  const uint64_t size = e.size;
  if (eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shoff == 0 || eh.e_shnum == 0 ||
      eh.e_shoff + uint64_t{eh.e_shnum} * sizeof(ElfW(Shdr)) > size)
    return out;
  std::vector<ElfW(Shdr)> sh(eh.e_shnum);
  f.seekg(static_cast<std::streamoff>(eh.e_shoff));
  if (!f.read(reinterpret_cast<char*>(sh.data()), static_cast<std::streamsize>(sh.size() * sizeof(ElfW(Shdr)))))
    return out;
  constexpr uint64_t kMaxTable = uint64_t{1} << 24;  // a real .dynamic / .dynstr is far smaller
  for (const auto& d : sh) {
    if (d.sh_type != SHT_DYNAMIC || d.sh_link >= sh.size()) continue;
    const auto& str = sh[d.sh_link];
    if (d.sh_size > kMaxTable || str.sh_size > kMaxTable || d.sh_offset + d.sh_size > size ||
        str.sh_offset + str.sh_size > size)
      return out;
    std::vector<ElfW(Dyn)> dyn(d.sh_size / sizeof(ElfW(Dyn)));
    std::string strtab(str.sh_size, '\0');
    f.seekg(static_cast<std::streamoff>(d.sh_offset));
    if (!f.read(reinterpret_cast<char*>(dyn.data()), static_cast<std::streamsize>(dyn.size() * sizeof(ElfW(Dyn)))))
      return out;
    f.seekg(static_cast<std::streamoff>(str.sh_offset));
    if (!f.read(strtab.data(), static_cast<std::streamsize>(strtab.size()))) return out;
    for (const auto& e : dyn) {
      if (e.d_tag == DT_NULL) break;
      if (e.d_tag != DT_NEEDED || e.d_un.d_val >= strtab.size()) continue;
      out.emplace_back(strtab.c_str() + e.d_un.d_val);
    }
    break;
  }
  return out;
}

/// A plugin linked against another version of libhearth would drag a second copy of the kernel
/// into the process when dlopen'ed (its own registries, allocator and globals), before the ABI tag
/// could refuse it: refuse it from its DT_NEEDED entries instead. "" if it may be loaded.
std::string foreign_libhearth(const fs::path& path) {
  static const std::string ours =
      "libhearth.so." HEARTH_STR_(HEARTH_VERSION_MAJOR) "." HEARTH_STR_(HEARTH_VERSION_MINOR);
  for (const auto& lib : needed_libraries(path))
    if (lib.rfind("libhearth.so", 0) == 0 && lib != ours)
      return "built against another hearth SDK (it needs " + lib + ", this hearth is " + ours +
             " " HEARTH_VERSION_STRING "): rebuild it against the installed SDK";
  return "";
}

void fail(PluginRecord& rec, const std::string& why) {
  rec.status = "error";
  rec.error = why;
  rec.devices.clear();
  rec.ops.clear();
  rec.kernels.clear();
  rec.components.clear();
}

void load_file(LoaderState& st, const fs::path& path) {
  PluginRecord rec;
  rec.file = path.string();
  boost::dll::shared_library lib;  // kept loaded even on failure: plugins are never unloaded
  try {
    if (std::string why = truncated_elf(path); !why.empty())
      throw PluginError("cannot load: truncated or corrupt ELF file: " + why);
    if (std::string why = foreign_libhearth(path); !why.empty()) throw PluginError("cannot load: " + why);
    boost::dll::fs::error_code load_ec;
    // The error_code overload leaves dlerror() to us (the throwing one consumes it for a
    // longer, less readable message).
    lib.load(path.string(), boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now, load_ec);
    if (load_ec || !lib.is_loaded()) {
      const char* why = dlerror();
      throw PluginError(std::string("cannot load: ") + (why ? why : load_ec.message()));
    }
    if (!lib.has("hearth_plugin_entry"))
      throw PluginError("not a hearth plugin: no 'hearth_plugin_entry' symbol");
    auto entry = lib.get<const HearthPluginInfo*()>("hearth_plugin_entry");
    const HearthPluginInfo* info = nullptr;
    try {
      info = entry();
    } catch (const std::exception& e) {
      throw PluginError(std::string("hearth_plugin_entry threw: ") + e.what());
    } catch (...) {  // not derived from std::exception: must not escape load_plugins()
      throw PluginError("hearth_plugin_entry threw a non-standard exception");
    }
    if (!info) throw PluginError("hearth_plugin_entry returned null");
    if (info->abi_version != HEARTH_PLUGIN_ABI_VERSION)
      throw PluginError("incompatible plugin ABI version (plugin: " + std::to_string(info->abi_version) +
                        ", hearth: " + std::to_string(HEARTH_PLUGIN_ABI_VERSION) + ")");
    rec.abi = info->abi_tag ? info->abi_tag : "";
    if (rec.abi != HEARTH_ABI_TAG)
      throw PluginError("incompatible ABI tag (plugin: '" + rec.abi + "', hearth: '" HEARTH_ABI_TAG "')");
    rec.name = info->name ? info->name : "";
    rec.version = info->version ? info->version : "";
    if (rec.name.empty() || !info->register_fn) throw PluginError("plugin info lacks a name or register function");
    if (auto it = st.loaded_names.find(rec.name); it != st.loaded_names.end()) {
      rec.status = "skipped";
      rec.error = "plugin '" + rec.name + "' is already loaded from " + it->second;
      st.records.push_back(std::move(rec));
      st.libs.push_back(std::move(lib));
      return;
    }
    auto r = std::make_shared<Registrar>(rec.file);
    st.busy = true;
    try {
      info->register_fn(r.get());
    } catch (const std::exception& e) {
      st.busy = false;
      throw PluginError(std::string("register() threw: ") + e.what());
    } catch (...) {
      st.busy = false;
      throw PluginError("register() threw a non-standard exception");
    }
    st.busy = false;
    try {
      r->commit(st, rec);
    } catch (const MissingDependency& e) {
      st.loaded_names[rec.name] = rec.file;  // the name is taken, as for a loaded plugin
      st.pending.push_back({std::move(rec), std::move(lib), std::move(r), e.what()});
      return;
    }
    rec.status = "loaded";
    st.loaded_names[rec.name] = rec.file;
    st.libs.push_back(std::move(lib));
  } catch (const std::exception& e) {
    fail(rec, e.what());
    if (lib.is_loaded()) st.libs.push_back(std::move(lib));
  }
  st.records.push_back(std::move(rec));
}

/// Commits pending plugins until none makes progress; what is left records its reason.
void retry_pending(LoaderState& st) {
  for (bool progress = true; progress && !st.pending.empty();) {
    progress = false;
    for (auto it = st.pending.begin(); it != st.pending.end();) {
      Pending& p = *it;
      try {
        p.reg->commit(st, p.rec);
        p.rec.status = "loaded";
        st.libs.push_back(std::move(p.lib));
      } catch (const MissingDependency& e) {
        p.why = e.what();
        ++it;
        continue;
      } catch (const std::exception& e) {
        fail(p.rec, e.what());
        st.loaded_names.erase(p.rec.name);
      }
      st.records.push_back(std::move(p.rec));
      it = st.pending.erase(it);
      progress = true;
    }
  }
  for (Pending& p : st.pending) {
    fail(p.rec, p.why);
    st.loaded_names.erase(p.rec.name);
    st.records.push_back(std::move(p.rec));
  }
  st.pending.clear();  // closes the libraries of the plugins that failed
}

void scan_dir(LoaderState& st, const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::path(dir), ec);
  std::string key = ec ? dir : p.string();
  if (!st.scanned_dirs.insert(key).second) return;
  if (!fs::is_directory(p, ec)) {
    PluginRecord rec;
    rec.file = dir;
    rec.status = "error";
    rec.error = "plugin directory does not exist or is not a directory";
    st.records.push_back(std::move(rec));
    return;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(p, ec)) {
    const std::string name = e.path().filename().string();
    bool is_so = name.size() > 3 && (name.ends_with(".so") || name.find(".so.") != std::string::npos);
    if (is_so && (e.is_regular_file(ec) || e.is_symlink(ec))) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load_file(st, f);
}

}  // namespace

namespace detail {
bool plugins_loaded() { return state().defaults_done.load(std::memory_order_acquire); }
}  // namespace detail

std::string default_plugin_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&default_plugin_dir), &info) && info.dli_fname) {
    std::error_code ec;
    fs::path lib = fs::canonical(fs::path(info.dli_fname), ec);
    if (!ec) return (lib.parent_path() / "hearth" / "plugins").string();
  }
  return {};
}

void load_plugins(const std::vector<std::string>& dirs) {
  LoaderState& st = state();
  std::lock_guard<std::recursive_mutex> g(st.mu);
  if (st.busy) return;  // called from inside a plugin's register(): registries are mid-update
  detail::prepare_openmp_env();  // before the first plugin brings libgomp in
  for (const auto& d : dirs) scan_dir(st, d);
  if (!st.defaults_done.load()) {
    if (const char* env = std::getenv("HEARTH_PLUGIN_PATH")) {
      std::string s(env);
      size_t start = 0;
      while (start <= s.size()) {
        size_t end = s.find(':', start);
        if (end == std::string::npos) end = s.size();
        if (end > start) scan_dir(st, s.substr(start, end - start));
        start = end + 1;
      }
    }
    std::string def = default_plugin_dir();
    std::error_code ec;
    if (!def.empty() && fs::is_directory(def, ec)) scan_dir(st, def);
    retry_pending(st);
    st.defaults_done.store(true, std::memory_order_release);
  }
  retry_pending(st);
}

std::vector<PluginRecord> plugin_records() {
  LoaderState& st = state();
  std::lock_guard<std::recursive_mutex> g(st.mu);
  return st.records;
}

std::vector<std::string> available_backends() {
  load_plugins();
  std::vector<std::string> out;
  auto names = device_type_names();
  auto& reg = detail::op_registry();
  for (size_t t = 0; t < names.size(); ++t) {
    bool any = false;
    for (const auto& op : reg.names()) {
      if (reg.find(op)->kernels[t].load()) { any = true; break; }
    }
    if (any) out.push_back(names[t]);
  }
  return out;
}

Device require_backend(std::string_view name) {
  auto avail = available_backends();
  std::string type(name.substr(0, name.find(':')));
  if (std::find(avail.begin(), avail.end(), type) != avail.end()) return Device(name);
  std::string list;
  for (const auto& a : avail) list += (list.empty() ? "" : ", ") + a;
  // Say why: the reason recorded for the plugin meant to provide it (it failed to load, or it
  // loaded without registering the device), else that no plugin provides it at all.
  std::string why;
  const auto records = plugin_records();
  for (const auto& r : records) {
    const bool registers = std::find(r.devices.begin(), r.devices.end(), type) != r.devices.end();
    const std::string base = fs::path(r.file).filename().string();
    if (r.status == "error" && base.find(type) != std::string::npos)
      why += "; plugin '" + r.file + "' failed to load: " + r.error;
    else if (r.status == "loaded" && registers)
      why += "; plugin '" + r.file + "' registers device '" + type + "' but no kernels for it";
  }
  if (why.empty()) {
    const auto types = device_type_names();
    const bool known = std::find(types.begin(), types.end(), type) != types.end();
    why = known ? "; device type '" + type + "' is registered but no plugin provides kernels for it"
                : "; no plugin provides device type '" + type + "' (`hearth plugins` lists what was found)";
  }
  HEARTH_CHECK(false, DeviceError, "backend '", name, "' is not available (available backends: ",
               list.empty() ? "none" : list, ")", why);
}

const void* find_component(std::string_view kind, std::string_view name) {
  load_plugins();
  LoaderState& st = state();
  std::lock_guard<std::recursive_mutex> g(st.mu);
  auto it = st.components.find(kind);
  if (it == st.components.end()) return nullptr;
  auto jt = it->second.find(std::string(name));
  return jt == it->second.end() ? nullptr : jt->second.factory;
}

std::vector<std::string> component_names(std::string_view kind) {
  load_plugins();
  LoaderState& st = state();
  std::lock_guard<std::recursive_mutex> g(st.mu);
  std::vector<std::string> out;
  auto it = st.components.find(kind);
  if (it != st.components.end())
    for (const auto& [n, c] : it->second) out.push_back(n);
  return out;
}

std::string plugin_property(std::string_view name) {
  auto fn = find_component_as<PropertyFn>(kPropertyComponent, name);
  if (!fn) return "";
  try {
    return fn();
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  }
}

std::vector<std::pair<std::string, std::string>> plugin_properties() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& n : component_names(kPropertyComponent)) out.emplace_back(n, plugin_property(n));
  return out;
}

}  // namespace hearth
