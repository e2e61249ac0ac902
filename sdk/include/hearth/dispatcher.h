// The operator dispatcher: ops by name with a schema, kernels per (op, device type), resolved
// once into handles so that a call is an array lookup (DESIGN "Dispatcher").
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/device.h"
#include "hearth/error.h"

namespace hearth {

class Tensor;

/// What a kernel receives. Outputs are allocated by the op layer in the kernel (shape and dtype
/// rules live there) unless the schema says the kernel allocates them (data-dependent shapes).
struct KernelArgs {
  const Tensor* inputs = nullptr;
  size_t num_inputs = 0;
  Tensor* outputs = nullptr;
  size_t num_outputs = 0;
  /// Points to the op's attribute struct (see hearth/op_attrs.h); null for ops without any.
  const void* attrs = nullptr;
  Device device;
};
using KernelFn = void (*)(const KernelArgs&);

/// Declaration of an op. `signature` documents inputs, attributes and outputs.
struct OpSchema {
  std::string name;
  std::string signature;
  int num_inputs = 1;   ///< -1: variadic (at least one)
  int num_outputs = 1;  ///< outputs passed in by the op layer
  bool kernel_allocates_outputs = false;
};

namespace detail {
struct OpDef {
  OpSchema schema;
  std::atomic<KernelFn> kernels[kMaxDeviceTypes] = {};
  int priorities[kMaxDeviceTypes] = {};
  std::string origins[kMaxDeviceTypes];  // plugin file of each kernel, for messages
};
[[noreturn]] void throw_arity(const OpDef* def, size_t nin, size_t nout);
KernelFn resolve_kernel_slow(const OpDef* def, const KernelArgs& args);
}  // namespace detail

/// Sees every op dispatched on the thread that installed it (hearth-onnx's export traces a
/// module this way). Only outermost calls are reported: ops a kernel dispatches while running
/// are part of the op that called them. `before` runs before the kernel (inputs as passed),
/// `after` once it returned (outputs written); neither runs when the kernel throws.
class TraceHook {
 public:
  virtual ~TraceHook() = default;
  virtual void before(const OpSchema& op, const KernelArgs& args) = 0;
  virtual void after(const OpSchema& op, const KernelArgs& args) = 0;
};

/// Installs `hook` for the calling thread (null removes it). Throws ValueError when another
/// thread's hook is installed: one trace at a time per process.
void set_trace_hook(TraceHook* hook);

namespace detail {
/// Non-null while a TraceHook is installed.
extern std::atomic<TraceHook*> g_trace_hook;
/// Bit set of what watches the dispatcher: kHookTrace (a TraceHook), kHookProfile (the
/// profiler, hearth/profiler.h). The dispatcher's only cost when nothing watches is one relaxed
/// load and a never-taken branch on this word.
inline constexpr unsigned kHookTrace = 1u, kHookProfile = 2u;
extern std::atomic<unsigned> g_dispatch_hooks;
void call_hooked(const OpDef* def, KernelFn fn, const KernelArgs& args);
}  // namespace detail

/// A resolved op. Cheap to copy; valid for the process lifetime.
class OpHandle {
 public:
  OpHandle() = default;
  explicit OpHandle(detail::OpDef* def) : def_(def) {}
  const std::string& name() const { return def_->schema.name; }
  const OpSchema& schema() const { return def_->schema; }
  bool has_kernel(DeviceTypeId t) const { return def_->kernels[t].load(std::memory_order_acquire) != nullptr; }
  /// Device types with a kernel, by name (for messages and `hearth plugins`).
  std::vector<std::string> kernel_devices() const;

  /// Calls the kernel registered for args.device. Throws DeviceError/NotImplementedError naming
  /// the op and the devices that do have a kernel when there is none.
  void call(const KernelArgs& args) const {
    const int want_in = def_->schema.num_inputs;
    if ((want_in >= 0 && static_cast<size_t>(want_in) != args.num_inputs) ||
        (!def_->schema.kernel_allocates_outputs &&
         static_cast<size_t>(def_->schema.num_outputs) != args.num_outputs)) [[unlikely]]
      detail::throw_arity(def_, args.num_inputs, args.num_outputs);
    KernelFn fn = def_->kernels[args.device.type()].load(std::memory_order_acquire);
    if (!fn) [[unlikely]]
      fn = detail::resolve_kernel_slow(def_, args);
    if (detail::g_dispatch_hooks.load(std::memory_order_relaxed)) [[unlikely]]
      return detail::call_hooked(def_, fn, args);
    OpNameGuard guard(def_->schema.name.c_str());
    fn(args);
  }

  detail::OpDef* def() const { return def_; }

 private:
  detail::OpDef* def_ = nullptr;
};

/// Looks an op up by name (loads plugins on first use). Throws ValueError listing known ops.
OpHandle find_op(std::string_view name);
/// Like find_op but returns an empty handle instead of throwing.
bool has_op(std::string_view name);
/// All declared ops, sorted by name.
std::vector<std::string> op_names();

}  // namespace hearth
