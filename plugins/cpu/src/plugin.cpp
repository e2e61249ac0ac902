// hearth-cpu's entry point: registers every CPU kernel of the built-in ops (no static initializers).
#include "common.h"

namespace hearth::cpu {

void throw_dtype_unsupported(const char* op, ScalarType t) {
  HEARTH_CHECK(false, DTypeError, "dtype ", t, " is not supported by the cpu backend");
}

// plugins/cpu/src/onnx_math.cpp (sin ... erf, added for ONNX import).
void register_onnx_math(hearth::PluginRegistrar& r);

}  // namespace hearth::cpu

namespace {
void register_cpu(hearth::PluginRegistrar& r) {
  using namespace hearth::cpu;
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
