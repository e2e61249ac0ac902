// Plugin discovery and loading (Boost.DLL, local symbol scope). The ABI is checked before any
// plugin code beyond the entry symbol runs; registrations commit only if the plugin's register
// function returns normally; a bad file is recorded with its reason and never stops the rest.
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "dispatcher_internal.h"
#include "hearth/plugin.h"

namespace fs = std::filesystem;

namespace hearth {
namespace {

struct Component {
  const void* factory;
  std::string origin;
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
      HEARTH_CHECK(reg.find(k.op) || new_ops.count(k.op), PluginError, "kernel for undeclared op '", k.op,
                   "' (declare it with registrar.def() first)");
      HEARTH_CHECK(find_device_type(k.dev) >= 0 || new_devs.count(k.dev), PluginError, "kernel for op '", k.op,
                   "' on unknown device type '", k.dev, "'");
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

void load_file(LoaderState& st, const fs::path& path) {
  PluginRecord rec;
  rec.file = path.string();
  try {
    boost::dll::shared_library lib;
    try {
      lib.load(path.string(), boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
    } catch (const std::exception& e) {
      const char* why = dlerror();
      throw PluginError(std::string("cannot load: ") + (why ? why : e.what()));
    }
    if (!lib.has("hearth_plugin_entry"))
      throw PluginError("not a hearth plugin: no 'hearth_plugin_entry' symbol");
    auto entry = lib.get<const HearthPluginInfo*()>("hearth_plugin_entry");
    const HearthPluginInfo* info = entry();
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
    Registrar r(rec.file);
    st.busy = true;
    try {
      info->register_fn(&r);
    } catch (const std::exception& e) {
      st.busy = false;
      throw PluginError(std::string("register() threw: ") + e.what());
    } catch (...) {
      st.busy = false;
      throw PluginError("register() threw a non-standard exception");
    }
    st.busy = false;
    r.commit(st, rec);
    rec.status = "loaded";
    st.loaded_names[rec.name] = rec.file;
    st.libs.push_back(std::move(lib));
  } catch (const std::exception& e) {
    rec.status = "error";
    rec.error = e.what();
    rec.devices.clear();
    rec.ops.clear();
    rec.kernels.clear();
    rec.components.clear();
  }
  st.records.push_back(std::move(rec));
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
    st.defaults_done.store(true, std::memory_order_release);
  }
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
  // Say why, if a plugin meant to provide it failed.
  std::string why;
  for (const auto& r : plugin_records())
    if (r.status == "error" && r.file.find(type) != std::string::npos) why += "; " + r.file + ": " + r.error;
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

}  // namespace hearth
