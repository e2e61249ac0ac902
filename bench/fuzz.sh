#!/usr/bin/env bash
# Long fuzzing runs of every reader (issue 16): builds the `fuzz` preset (clang-14 libFuzzer with
# ASan + UBSan; Debian: clang-14 libclang-rt-14-dev libomp-14-dev), then runs each target for
# SECONDS (default 600) from its committed seed corpus, two at a time on a 2-core machine, and
# writes a log with the commit, date and machine to bench/logs/fuzz-<date>.log.
# A crash's reproducer is left in build-fuzz/findings/<target>/: commit it under
# tests/fuzz/regressions/<target>/ with the fix, and the normal suite replays it.
# Usage: bench/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=${*:-"safetensors checkpoint idx hdf5_state_dict hdf5_dataset onnx_model onnx_tensor"}
missing=()
for p in clang-14 libclang-rt-14-dev libomp-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
cmake --preset fuzz >/dev/null
# shellcheck disable=SC2046
cmake --build build-fuzz --target $(for t in $targets; do echo "fuzz_$t"; done)
log="bench/logs/fuzz-$(date -u +%Y%m%d-%H%M).log"
{
  echo "# bench/fuzz.sh $secs s per target"
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  lscpu | grep -E '^(Model name|CPU\(s\)|Flags)' | sed 's/^Flags:.*avx512f.*/Flags: ... avx512f .../; s/^Flags:.*avx2.*/Flags: ... avx2 .../'
} > "$log"
run_one() {
  local t=$1
  local dir="build-fuzz/findings/$t" work="build-fuzz/corpus-work/$t"
  mkdir -p "$dir" "$work"
  # Each run starts from the committed seeds (and grows its own working corpus); -rss_limit_mb
  # bounds the hearth process, and the HDF5 reader child has its own cap (isolate.h).
  (cd "$dir" && HEARTH_PLUGIN_PATH= HEARTH_HDF5_TIMEOUT=20 ASAN_OPTIONS=detect_leaks=0 \
     "../../bin/fuzz_$t" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
     "../../corpus-work/$t" "../../../tests/fuzz/corpus/$t" > "../$t.out" 2>&1) || true
  local execs crash
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/findings/$t.out" | grep -o '[0-9]*$' || echo "?")
  # Findings of the fuzzed process are the units libFuzzer names in its output. Other crash-*
  # files come from hearth-hdf5's reader child (it inherits libFuzzer's signal handler): libhdf5
  # crashes that hearth contained and reported as errors.
  crash=$(grep -o 'Test unit written to [^ ]*' "build-fuzz/findings/$t.out" | sed 's/.*\///' | tr '\n' ' ' || true)
  local child
  child=$(ls "$dir" | grep -cE '^crash-' || true)
  echo "$t: ${execs} executions in $secs s; findings: ${crash:-none}; reader-child crashes contained: $child"
}
set -- $targets
while [ $# -gt 0 ]; do
  a=$1; shift
  if [ $# -gt 0 ]; then
    b=$1; shift
    run_one "$a" >> "$log" & run_one "$b" >> "$log"; wait
  else
    run_one "$a" >> "$log"
  fi
done
cat "$log"
