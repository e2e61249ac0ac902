// hearth-cpu's entry point: registers every CPU kernel of the built-in ops (no static initializers).
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
