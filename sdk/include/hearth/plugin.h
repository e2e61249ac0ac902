// The plugin ABI: the one exported entry symbol, the registrar a plugin fills in, and the
// loader's public functions (DESIGN "Plugins").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hearth/device.h"
#include "hearth/dispatcher.h"
#include "hearth/version.h"

namespace hearth {

/// Options of a kernel registration.
struct KernelOptions {
  /// Replace an existing kernel for the same (op, device) if this priority is higher.
  bool is_override = false;
  int priority = 0;
};

/// Handed to a plugin's register function. Everything registered here takes effect only when
/// the function returns normally: a plugin that throws halfway leaves no trace.
class PluginRegistrar {
 public:
  virtual ~PluginRegistrar() = default;
  /// Declares a new op (custom ops, SEED F10). Kernels can then be registered against it.
  virtual void def(const OpSchema& schema) = 0;
  /// Registers a kernel for (op, device type name).
  virtual void kernel(std::string_view op, std::string_view device_type, KernelFn fn,
                      KernelOptions options = {}) = 0;
  /// Registers a new device type. The interface object must live for the process.
  virtual void device_type(std::string_view name, DeviceInterface* iface) = 0;
  /// Registers a named component of a kind ("optimizer", "dataset", "model", ...); the factory
  /// pointer's type is fixed by the SDK front end of that kind.
  virtual void component(std::string_view kind, std::string_view name, const void* factory) = 0;
};

}  // namespace hearth

extern "C" {
/// What `hearth_plugin_entry` returns. Plain C so the loader can read it before trusting the
/// plugin's C++ ABI.
struct HearthPluginInfo {
  uint32_t abi_version;  ///< must equal HEARTH_PLUGIN_ABI_VERSION
  const char* abi_tag;   ///< must equal HEARTH_ABI_TAG (compiler, C++ ABI, SDK major.minor)
  const char* name;
  const char* version;
  void (*register_fn)(hearth::PluginRegistrar* registrar);
};
typedef const HearthPluginInfo* (*HearthPluginEntryFn)(void);
}

/// Defines the entry symbol. Use once per plugin:
///   HEARTH_PLUGIN("hearth-cpu", "0.1.0", register_cpu)
/// with `void register_cpu(hearth::PluginRegistrar& r)`.
#define HEARTH_PLUGIN(NAME, VERSION, REGISTER_FN)                                               \
  static void hearth_plugin_register_thunk_(hearth::PluginRegistrar* r) { REGISTER_FN(*r); }    \
  extern "C" __attribute__((visibility("default"))) const HearthPluginInfo* hearth_plugin_entry() { \
    static const HearthPluginInfo info = {HEARTH_PLUGIN_ABI_VERSION, HEARTH_ABI_TAG, NAME, VERSION, \
                                          &hearth_plugin_register_thunk_};                      \
    return &info;                                                                               \
  }

namespace hearth {

/// One plugin file and what happened to it.
struct PluginRecord {
  std::string file;
  std::string status;  ///< "loaded", "error" or "skipped" (same name loaded from an earlier dir)
  std::string error;   ///< reason, for "error" and "skipped"
  std::string name, version, abi;
  std::vector<std::string> devices;     ///< device types it registered
  std::vector<std::string> ops;         ///< ops it declared
  std::vector<std::string> kernels;     ///< "op@device"
  std::vector<std::string> components;  ///< "kind:name"
};

/// Loads plugins from `dirs` (in order), then $HEARTH_PLUGIN_PATH, then the default directory.
/// Each directory is scanned once per process; calling again with new dirs adds them. Bad
/// files are recorded, never thrown. Thread-safe.
void load_plugins(const std::vector<std::string>& dirs = {});
/// Every plugin file seen so far.
std::vector<PluginRecord> plugin_records();
/// The default directory: <dir of libhearth>/hearth/plugins (build tree and install alike).
std::string default_plugin_dir();
/// Device types with at least one kernel, i.e. usable backends.
std::vector<std::string> available_backends();
/// Throws DeviceError if `name` is not a usable backend, with the reason recorded for it and
/// the list of available ones (DESIGN: --backend is strict, no fallback).
Device require_backend(std::string_view name);

/// Components registered by plugins of a kind, by name.
const void* find_component(std::string_view kind, std::string_view name);
std::vector<std::string> component_names(std::string_view kind);
/// find_component as the function pointer type the kind's front end fixes (nullptr if none).
template <typename Fn>
Fn find_component_as(std::string_view kind, std::string_view name) {
  return reinterpret_cast<Fn>(const_cast<void*>(find_component(kind, name)));
}

/// Facts a plugin reports about itself at run time, e.g. "cpu.isa" -> "avx2": a component of kind
/// kPropertyComponent whose factory is a PropertyFn, called each time the property is read.
inline constexpr const char* kPropertyComponent = "property";
using PropertyFn = std::string (*)();

/// The intra-op thread pool of a backend plugin (hearth-cpu's OpenMP team): a component of kind
/// kThreadPoolComponent whose factory points to a ThreadPoolControl living for the process.
/// hearth::set_num_threads / get_num_threads (hearth/threads.h) reach the pools through it.
inline constexpr const char* kThreadPoolComponent = "thread_pool";
struct ThreadPoolControl {
  void (*set_num_threads)(int n);
  int (*get_num_threads)();
};

/// Every registered property, by name (loads plugins first). A property whose function throws
/// reads as "error: <what>".
std::vector<std::pair<std::string, std::string>> plugin_properties();
/// One property's value; "" when no plugin registered it.
std::string plugin_property(std::string_view name);

}  // namespace hearth
