#!/usr/bin/env bash
# Fashion-MNIST, hearth beside LibTorch in the same run (SPEC.md's mlp and lenet workloads):
# builds what is missing, runs `hearth train` and bench_fmnist_libtorch one after the other for
# each model, and prints samples/s, evaluation time, accuracy, wall time, peak RSS and ratios.
# --pairs N runs N alternating pairs per model and adds the medians: on a shared 2-vCPU machine a
# 0.5 s mlp epoch swings 2x from run to run, for both.
# Usage: bench/fmnist_compare.sh [--epochs N] [--threads N] [--models "mlp lenet"] [--pairs N] [--build DIR] [--json FILE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
epochs=1 threads=2 models="mlp lenet" build="$root/build" json_out="" pairs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) epochs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --json) json_out=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    *) echo "usage: $0 [--epochs N] [--threads N] [--models \"mlp lenet\"] [--pairs N] [--build DIR] [--json FILE]" >&2; exit 2 ;;
  esac
done
for tool in jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$0: needs $tool (apt-get install jq time)" >&2; exit 1; }
done
[ -f /usr/include/torch/csrc/api/include/torch/torch.h ] || { echo "$0: needs libtorch-dev (apt-get install libtorch-dev)" >&2; exit 1; }
[ -d "$build" ] || cmake --preset default -S "$root" >/dev/null
cmake --build "$build" --target hearth-cli hearth-cpu hearth-idx hearth-models hearth-optim bench_fmnist_libtorch >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Runs a command under /usr/bin/time -v; prints "wall_s rss_mb".
timed() {
  local log=$1; shift
  /usr/bin/time -v -o "$log.time" "$@" >"$log.out" 2>"$log.err" || { cat "$log.err" >&2; return 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log.time")
  echo "$wall $rss"
}

# SPEC.md's LibTorch figures on this machine (samples/s; eval seconds); a run outside 20% of
# them means the comparison is broken (wrong BLAS, a busy machine) and is flagged.
declare -A spec_sps=([mlp]=69500 [lenet]=4100) spec_eval=([mlp]=0 [lenet]=10.8)
results="[]"
# The ISA hearth-cpu runs at (HEARTH_CPU_ISA caps it), for the figures below.
echo "isa: $("$build/bin/hearth" plugins --json | jq -r '[.[] | .properties["cpu.isa"] // empty] | first // "unknown"')"
printf '%-6s %-9s %12s %9s %9s %8s %8s\n' model impl samples/s eval_s acc wall_s rss_mb
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
for m in $models; do
  lt_all="" h_all="" lte_all="" he_all="" valid=0
  for _pair in $(seq "$pairs"); do
    read -r lt_wall lt_rss < <(timed "$tmp/lt_$m" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" \
      "$build/bin/bench_fmnist_libtorch" --model "$m" --epochs "$epochs" --threads "$threads")
    lt=$(cat "$tmp/lt_$m.out")
    read -r h_wall h_rss < <(timed "$tmp/h_$m" env OMP_NUM_THREADS="$threads" "$build/bin/hearth" train --model "$m" \
      --epochs "$epochs" --threads "$threads" --progress none --metrics-json "$tmp/h_$m.json")
    h=$(cat "$tmp/h_$m.json")
    for impl in libtorch hearth; do
      if [ $impl = libtorch ]; then j=$lt w=$lt_wall r=$lt_rss; else j=$h w=$h_wall r=$h_rss; fi
      printf '%-6s %-9s %12.0f %9.3f %9.4f %8.2f %8s\n' "$m" "$impl" "$(jq .samples_per_second <<<"$j")" \
        "$(jq .eval_seconds <<<"$j")" "$(jq .test_accuracy <<<"$j")" "$w" "$r"
    done
    sps_ratio=$(jq -n "$(jq .samples_per_second <<<"$h") / $(jq .samples_per_second <<<"$lt")")
    eval_ratio=$(jq -n "$(jq .eval_seconds <<<"$lt") / $(jq .eval_seconds <<<"$h")")
    printf '%-6s ratio     train samples/s %.2fx, eval %.1fx faster, wall %.2fx\n' "$m" "$sps_ratio" "$eval_ratio" \
      "$(jq -n "$lt_wall / $h_wall")"
    lt_sps=$(jq .samples_per_second <<<"$lt")
    if ! jq -e -n "($lt_sps / ${spec_sps[$m]}) | (. > 0.8 and . < 1.2)" >/dev/null; then
      echo "$m: WARNING: LibTorch ran at $lt_sps samples/s, more than 20% from SPEC.md's ${spec_sps[$m]}: the comparison is not valid" >&2
    else
      valid=$((valid + 1))
    fi
    lt_all="$lt_all $lt_sps" h_all="$h_all $(jq .samples_per_second <<<"$h")"
    lte_all="$lte_all $(jq .eval_seconds <<<"$lt")" he_all="$he_all $(jq .eval_seconds <<<"$h")"
    results=$(jq -c --argjson lt "$lt" --argjson h "$h" --arg m "$m" --argjson lw "$lt_wall" --argjson lr "$lt_rss" \
      --argjson hw "$h_wall" --argjson hr "$h_rss" \
      '. + [{model: $m, libtorch: ($lt + {wall_seconds: $lw, peak_rss_mb: $lr}), hearth: ($h + {wall_seconds: $hw, process_peak_rss_mb: $hr}),
             train_ratio: ($h.samples_per_second / $lt.samples_per_second), eval_ratio: ($lt.eval_seconds / $h.eval_seconds)}]' <<<"$results")
  done
  if [ "$pairs" -gt 1 ]; then
    lt_med=$(median <<<"$lt_all") h_med=$(median <<<"$h_all") lte_med=$(median <<<"$lte_all") he_med=$(median <<<"$he_all")
    printf '%-6s medians of %d pairs: samples/s LibTorch %.0f, hearth %.0f (%.2fx); eval s LibTorch %.3f, hearth %.3f (%.1fx); %d pairs with LibTorch within 20%% of SPEC\n' \
      "$m" "$pairs" "$lt_med" "$h_med" "$(jq -n "$h_med / $lt_med")" "$lte_med" "$he_med" "$(jq -n "$lte_med / $he_med")" "$valid"
  fi
done
[ -z "$json_out" ] || echo "$results" | jq . >"$json_out"
