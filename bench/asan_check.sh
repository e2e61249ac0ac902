#!/usr/bin/env bash
# ASan + UBSan over the kernels and readers changed by issues 14-16 (the `asan` preset), at the
# machine's ISA and under HEARTH_CPU_ISA=avx2, plus the fuzz replays; writes
# bench/logs/asan-<date>.log with the commit, date and machine. The whole suite under ASan:
# `cmake --preset asan && cmake --build --preset asan && ctest --preset asan` (long on 2 cores).
# Usage: bench/asan_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tests="gemm_test nn_conv_test nn_blocked_layout_test cpu_isa_test safetensors_format_test hdf5_test hostile_files_test autograd_views_test"
fuzz="safetensors hdf5_state_dict hdf5_dataset idx"
cmake --preset asan >/dev/null
# shellcheck disable=SC2046
cmake --build build-asan --target hearth-cpu hearth-hdf5 hearth-idx hearth-cli hearth-models hearth-optim $tests \
  $(for f in $fuzz; do echo "fuzz_$f"; done) >/dev/null
export LSAN_OPTIONS="use_tls=0:suppressions=$PWD/tests/lsan.supp"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" HEARTH_PLUGIN_PATH= HEARTH_HDF5_TIMEOUT=5
mkdir -p bench/logs
log="bench/logs/asan-$(date -u +%Y%m%d-%H%M).log"
{
  echo "# bench/asan_check.sh"
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  lscpu | sed -n 's/^Model name: */cpu: /p'
  echo "isa: $(grep -qw avx512f /proc/cpuinfo && echo avx512 || echo avx2)"
} > "$log"
status=0
reports() { grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$1" || true; }
for t in $tests; do
  for isa in native avx2; do
    out=$(mktemp)
    if [ $isa = native ]; then env -u HEARTH_CPU_ISA "build-asan/bin/$t" >"$out" 2>&1 || status=1
    else HEARTH_CPU_ISA=avx2 "build-asan/bin/$t" >"$out" 2>&1 || status=1; fi
    echo "$t [$isa]: $(grep -E '^\[  (PASSED|FAILED)' "$out" | tr '\n' ' ') sanitizer reports: $(reports "$out")" >> "$log"
    rm -f "$out"
  done
done
for f in $fuzz; do
  out=$(mktemp)
  "build-asan/bin/fuzz_$f" "tests/fuzz/corpus/$f" "tests/fuzz/regressions/$f" >"$out" 2>&1 || status=1
  echo "fuzz_$f replay: $(grep -E 'passed, [0-9]+ failed' "$out") sanitizer reports: $(reports "$out")" >> "$log"
  rm -f "$out"
done
cat "$log"
exit $status
