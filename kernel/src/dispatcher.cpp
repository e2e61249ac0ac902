// Op lookup, arity checks and the slow path of kernel resolution (with its error messages).
#include <algorithm>
#include <thread>

#include "dispatcher_internal.h"
#include "profiler_internal.h"
#include "hearth/plugin.h"

namespace hearth {
namespace detail {

OpRegistry& op_registry() {
  static OpRegistry* reg = [] {
    auto* r = new OpRegistry();  // never destroyed: plugins may hold handles until exit
    declare_builtin_ops(*r);
    return r;
  }();
  return *reg;
}

OpDef* OpRegistry::find(std::string_view name) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

OpDef* OpRegistry::declare(const OpSchema& schema) {
  std::lock_guard<std::mutex> g(mu_);
  HEARTH_CHECK(!schema.name.empty(), PluginError, "an op needs a name");
  auto it = by_name_.find(schema.name);
  if (it != by_name_.end()) {
    const OpSchema& s = it->second->schema;
    HEARTH_CHECK(s.num_inputs == schema.num_inputs && s.num_outputs == schema.num_outputs, PluginError,
                 "op '", schema.name, "' is already declared as '", s.signature, "', not '", schema.signature, "'");
    return it->second;
  }
  OpDef& d = defs_.emplace_back();
  d.schema = schema;
  by_name_[schema.name] = &d;
  return &d;
}

std::vector<std::string> OpRegistry::names() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [n, d] : by_name_) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

void throw_arity(const OpDef* def, size_t nin, size_t nout) {
  HEARTH_CHECK(false, ValueError, "op '", def->schema.name, "' (", def->schema.signature, ") called with ", nin,
               " input(s) and ", nout, " output(s)");
}

KernelFn resolve_kernel_slow(const OpDef* def, const KernelArgs& args) {
  if (!plugins_loaded()) load_plugins();
  KernelFn fn = def->kernels[args.device.type()].load(std::memory_order_acquire);
  if (fn) return fn;
  OpHandle h(const_cast<OpDef*>(def));
  std::string have;
  for (const auto& d : h.kernel_devices()) have += (have.empty() ? "" : ", ") + d;
  std::string hint;
  if (args.device.is_cpu())
    hint = "; CPU kernels come from the hearth-cpu plugin: run `hearth plugins` to see whether it loaded";
  HEARTH_CHECK(false, DeviceError, "op '", def->schema.name, "' has no kernel for device ", args.device.str(),
               " (kernels exist for: ", have.empty() ? "none" : have, ")", hint);
}

std::atomic<TraceHook*> g_trace_hook{nullptr};
std::atomic<unsigned> g_dispatch_hooks{0};

namespace {
std::mutex g_trace_mu;
std::thread::id g_trace_thread;        // the thread whose ops the hook sees
thread_local int t_trace_depth = 0;    // >0 while a traced kernel runs (nested calls are not reported)
}  // namespace

namespace {
void call_traced(const OpDef* def, KernelFn fn, const KernelArgs& args) {
  TraceHook* hook = g_trace_hook.load(std::memory_order_acquire);
  OpNameGuard guard(def->schema.name.c_str());
  if (!hook || t_trace_depth > 0 || std::this_thread::get_id() != g_trace_thread) {
    fn(args);
    return;
  }
  // Ops the kernel or the hook itself dispatch (a tracer copying a constant) are not reported.
  struct Depth {
    Depth() { ++t_trace_depth; }
    ~Depth() { --t_trace_depth; }
  } depth;
  hook->before(def->schema, args);
  fn(args);
  hook->after(def->schema, args);
}
}  // namespace

void call_hooked(const OpDef* def, KernelFn fn, const KernelArgs& args) {
  if (g_dispatch_hooks.load(std::memory_order_relaxed) & kHookProfile) {
    // Records the op's wall time when the kernel returns or throws.
    profiler::detail::OpScope scope(def->schema.name.c_str(), args);
    call_traced(def, fn, args);
    return;
  }
  call_traced(def, fn, args);
}

}  // namespace detail

void set_trace_hook(TraceHook* hook) {
  std::lock_guard<std::mutex> g(detail::g_trace_mu);
  TraceHook* cur = detail::g_trace_hook.load(std::memory_order_acquire);
  if (hook) {
    HEARTH_CHECK(!cur || detail::g_trace_thread == std::this_thread::get_id(), ValueError,
                 "set_trace_hook: another thread is already tracing (one trace at a time)");
    detail::g_trace_thread = std::this_thread::get_id();
  }
  detail::g_trace_hook.store(hook, std::memory_order_release);
  if (hook)
    detail::g_dispatch_hooks.fetch_or(detail::kHookTrace, std::memory_order_release);
  else
    detail::g_dispatch_hooks.fetch_and(~detail::kHookTrace, std::memory_order_release);
}

std::vector<std::string> OpHandle::kernel_devices() const {
  std::vector<std::string> out;
  auto names = device_type_names();
  for (size_t t = 0; t < names.size(); ++t)
    if (def_->kernels[t].load(std::memory_order_acquire)) out.push_back(names[t]);
  return out;
}

OpHandle find_op(std::string_view name) {
  auto& reg = detail::op_registry();
  detail::OpDef* d = reg.find(name);
  if (!d && !detail::plugins_loaded()) {
    load_plugins();
    d = reg.find(name);
  }
  if (!d) {
    // List the names that share the longest prefix, then all if none do.
    auto all = reg.names();
    std::string close;
    for (const auto& n : all)
      if (!name.empty() && n[0] == name[0]) close += (close.empty() ? "" : ", ") + n;
    std::string known;
    if (close.empty())
      for (const auto& n : all) known += (known.empty() ? "" : ", ") + n;
    HEARTH_CHECK(false, ValueError, "unknown op '", name, "'",
                 close.empty() ? " (known ops: " + known + ")" : " (ops starting with the same letter: " + close + ")",
                 "; `hearth plugins` lists every op");
  }
  return OpHandle(d);
}

bool has_op(std::string_view name) { return detail::op_registry().find(name) != nullptr; }

std::vector<std::string> op_names() { return detail::op_registry().names(); }

}  // namespace hearth
