// hearth-cpu's entry point: registers every CPU kernel of the built-in ops (no static initializers).
#include <cstdlib>

#include "common.h"
#include "isa.h"

namespace hearth::cpu {

void throw_dtype_unsupported(const char* op, ScalarType t) {
  HEARTH_CHECK(false, DTypeError, "dtype ", t, " is not supported by the cpu backend");
}

// plugins/cpu/src/onnx_math.cpp (sin ... erf, added for ONNX import).
void register_onnx_math(hearth::PluginRegistrar& r);

}  // namespace hearth::cpu

namespace {
std::string prop_isa() { return hearth::cpu::isa_name(); }
std::string prop_isa_cap() { return hearth::cpu::isa_cap(); }
std::string prop_isa_machine() { return hearth::cpu::isa_machine(); }

// hearth::set_num_threads / get_num_threads land here (hearth/threads.h).
void set_threads(int n) {
  hearth::cpu::g_num_threads.store(n, std::memory_order_relaxed);
  omp_set_num_threads(n);
}
int get_threads() { return hearth::cpu::max_threads(); }
const hearth::ThreadPoolControl kOpenMPPool{set_threads, get_threads};
std::string prop_threads() { return std::to_string(get_threads()); }
// How idle OpenMP threads wait, as libgomp read it at load time.
std::string prop_omp_wait() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  std::string out = policy ? std::string("OMP_WAIT_POLICY=") + policy : "";
  if (spin) out += (out.empty() ? "" : " ") + std::string("GOMP_SPINCOUNT=") + spin;
  return out.empty() ? "libgomp default" : out;
}

void register_cpu(hearth::PluginRegistrar& r) {
  using namespace hearth::cpu;
  // Before any kernel can run: oneDNN takes the cap only before its first dispatch. A bad
  // HEARTH_CPU_ISA throws here, and the plugin's record says why.
  apply_isa_cap();
  auto prop = [&](const char* name, hearth::PropertyFn f) {
    r.component(hearth::kPropertyComponent, name, reinterpret_cast<const void*>(f));
  };
  prop("cpu.isa", prop_isa);
  prop("cpu.isa.cap", prop_isa_cap);
  prop("cpu.isa.machine", prop_isa_machine);
  prop("cpu.threads", prop_threads);
  prop("cpu.omp_wait", prop_omp_wait);
  r.component(hearth::kThreadPoolComponent, "openmp", &kOpenMPPool);
  register_copy(r);
  register_fill_range_random(r);
  register_unary(r);
  register_binary(r);
  register_reduce(r);
  register_gemm(r);
  register_index(r);
  register_conv(r);
  register_pool(r);
  register_softmax(r);
  register_norm(r);
  register_loss(r);
  register_onnx_math(r);
}
}  // namespace

HEARTH_PLUGIN("hearth-cpu", "0.1.0", register_cpu)
