// HEARTH_CPU_ISA: one switch that caps oneDNN's JIT dispatch and hearth-cpu's own SIMD kernels.
#include "isa.h"

#include <cpuid.h>
#include <oneapi/dnnl/dnnl.h>

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string_view>

#include "hearth/error.h"

namespace hearth::cpu {
namespace {

struct IsaName {
  const char* name;
  dnnl_cpu_isa_t isa;
};
// oneDNN's names (ONEDNN_MAX_CPU_ISA takes the same ones, in capitals); "native" = no cap.
constexpr IsaName kIsas[] = {
    {"sse41", dnnl_cpu_isa_sse41},
    {"avx", dnnl_cpu_isa_avx},
    {"avx2", dnnl_cpu_isa_avx2},
    {"avx2_vnni", dnnl_cpu_isa_avx2_vnni},
    {"avx512_core", dnnl_cpu_isa_avx512_core},
    {"avx512_core_vnni", dnnl_cpu_isa_avx512_core_vnni},
    {"avx512_core_bf16", dnnl_cpu_isa_avx512_core_bf16},
    {"avx512_core_amx", dnnl_cpu_isa_avx512_core_amx},
    {"native", dnnl_cpu_isa_all},
    {"all", dnnl_cpu_isa_all},
};

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string known_names() {
  std::string r;
  for (const IsaName& n : kIsas) r += (r.empty() ? "" : ", ") + std::string(n.name);
  return r;
}

struct CapState {
  std::once_flag once;
  std::string cap = "none";
};
CapState& cap_state() {
  static auto* s = new CapState;  // leaked: read by kernels until the process ends
  return *s;
}

void apply_once(CapState& st) {
  const char* env = std::getenv("HEARTH_CPU_ISA");
  if (env && *env) {
    const std::string want = lower(env);
    const IsaName* found = nullptr;
    for (const IsaName& n : kIsas)
      if (want == n.name) found = &n;
    HEARTH_CHECK(found != nullptr, PluginError, "HEARTH_CPU_ISA='", env, "' is not an instruction set hearth-cpu ",
                 "knows; use one of: ", known_names());
    // oneDNN accepts the cap only before its first dispatch decision; the plugin applies it at
    // registration, so a refusal means something used oneDNN before hearth-cpu loaded.
    HEARTH_CHECK(dnnl_set_max_cpu_isa(found->isa) == dnnl_success, PluginError, "HEARTH_CPU_ISA='", env,
                 "' could not be applied: oneDNN has already dispatched kernels in this process");
    st.cap = std::string("HEARTH_CPU_ISA=") + env;
    return;
  }
  // Without HEARTH_CPU_ISA, oneDNN honours its own variable; hearth's loops follow what it chose.
  const char* dnnl_env = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!dnnl_env || !*dnnl_env) dnnl_env = std::getenv("DNNL_MAX_CPU_ISA");
  if (dnnl_env && *dnnl_env) st.cap = std::string("ONEDNN_MAX_CPU_ISA=") + dnnl_env;
}

bool has_avx512_core() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

}  // namespace

void apply_isa_cap() {
  CapState& st = cap_state();
  std::call_once(st.once, [&] { apply_once(st); });  // a throw leaves it unset: retried, throws again
}

Simd simd_level() {
  static const Simd level = [] {
    apply_isa_cap();
    const unsigned isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
    // Bit sets, not an order: avx2_vnni (0x407) is numerically above avx512_core (0x27).
    if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core && has_avx512_core()) return Simd::kAvx512;
    __builtin_cpu_init();
    if ((isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2 && __builtin_cpu_supports("avx2")) return Simd::kAvx2;
    return Simd::kBaseline;
  }();
  return level;
}

std::string isa_name() {
  apply_isa_cap();
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  for (const IsaName& n : kIsas)
    if (n.isa == isa && isa != dnnl_cpu_isa_all) return n.name;
  return "baseline";  // below sse41: oneDNN runs its reference kernels only
}

std::string isa_cap() {
  apply_isa_cap();
  return cap_state().cap;
}

// CPUID leaf 7 bits that clang-14's __builtin_cpu_supports does not know: AMX-BF16 (subleaf 0,
// EDX bit 22) and AVX-VNNI (subleaf 1, EAX bit 4).
bool cpuid7_bit(unsigned subleaf, int reg, int bit) {
  unsigned r[4] = {0, 0, 0, 0};
  if (!__get_cpuid_count(7, subleaf, &r[0], &r[1], &r[2], &r[3])) return false;
  return (r[reg] >> bit) & 1u;
}

std::string isa_machine() {
  __builtin_cpu_init();
  if (has_avx512_core()) {
    if (cpuid7_bit(0, 3, 22)) return "avx512_core_amx";
    if (__builtin_cpu_supports("avx512bf16")) return "avx512_core_bf16";
    if (__builtin_cpu_supports("avx512vnni")) return "avx512_core_vnni";
    return "avx512_core";
  }
  if (__builtin_cpu_supports("avx2")) return cpuid7_bit(1, 0, 4) ? "avx2_vnni" : "avx2";
  if (__builtin_cpu_supports("avx")) return "avx";
  if (__builtin_cpu_supports("sse4.1")) return "sse41";
  return "baseline";
}

}  // namespace hearth::cpu
