// hearth-cpu's instruction-set choice: one cap (HEARTH_CPU_ISA) for oneDNN and hearth's own SIMD.
#pragma once

#include <string>

namespace hearth::cpu {

/// The widest vector code hearth's own kernels may run. Never above what oneDNN may run, so that
/// the layouts oneDNN picks (nChw16c with AVX-512, nChw8c with AVX2) and hearth's loops over them
/// always come from the same decision.
enum class Simd { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

/// Reads HEARTH_CPU_ISA (or, without it, oneDNN's own ONEDNN_MAX_CPU_ISA) and caps oneDNN's
/// dispatch with it. Called once at plugin registration, before any primitive exists; throws
/// PluginError for a value it does not know or when oneDNN has already dispatched. Idempotent.
void apply_isa_cap();

/// hearth's SIMD level under the cap (baseline x86-64 when the cap is below AVX2).
Simd simd_level();

/// oneDNN's effective ISA under the cap, in oneDNN's names ("avx2", "avx512_core_amx", ...).
std::string isa_name();
/// Where the cap came from: "HEARTH_CPU_ISA=avx2", "ONEDNN_MAX_CPU_ISA=AVX2" or "none".
std::string isa_cap();
/// The widest ISA this CPU has, whatever the cap ("avx512_core", "avx2", "sse41", "baseline").
std::string isa_machine();

}  // namespace hearth::cpu
