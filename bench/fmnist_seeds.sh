#!/usr/bin/env bash
# One-epoch test accuracy over several seeds, hearth and LibTorch (SPEC.md's Fashion-MNIST
# workloads): after one epoch at lr 0.05 and momentum 0.9 the accuracy of a single run swings by
# a couple of points with the seed, so one seed says little about whether two implementations learn
# alike; the spread over many does.
# Usage: bench/fmnist_seeds.sh [--model lenet|mlp] [--seeds "0 1 2"] [--threads N] [--build DIR] [--no-libtorch]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=lenet seeds="0 1 2 3 4 5 6 7 8 9" threads=2 build="$root/build" libtorch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --no-libtorch) libtorch=0; shift ;;
    *) echo "usage: $0 [--model lenet|mlp] [--seeds \"0 1 2\"] [--threads N] [--build DIR] [--no-libtorch]" >&2; exit 2 ;;
  esac
done
command -v jq >/dev/null || { echo "$0: needs jq (apt-get install jq)" >&2; exit 1; }
if [ "$libtorch" = 1 ] && [ ! -f /usr/include/torch/csrc/api/include/torch/torch.h ]; then
  echo "$0: needs libtorch-dev (apt-get install libtorch-dev), or --no-libtorch" >&2; exit 1
fi
[ -d "$build" ] || cmake --preset default -S "$root" >/dev/null
targets="hearth-cli hearth-cpu hearth-idx hearth-models hearth-optim"
[ "$libtorch" = 1 ] && targets="$targets bench_fmnist_libtorch"
# shellcheck disable=SC2086
cmake --build "$build" --target $targets >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# The ISA hearth-cpu runs at (HEARTH_CPU_ISA caps it), for the figures below.
echo "isa: $("$build/bin/hearth" plugins --json | jq -r '[.[] | .properties["cpu.isa"] // empty] | first // "unknown"')"
printf '%-6s %-10s %-10s\n' seed hearth "$([ "$libtorch" = 1 ] && echo LibTorch)"
h_all="" l_all=""
for s in $seeds; do
  "$build/bin/hearth" train --model "$model" --seed "$s" --threads "$threads" --metrics-json "$tmp/h.json" >/dev/null
  h=$(jq -r .test_accuracy "$tmp/h.json"); h_all="$h_all $h"; l=""
  if [ "$libtorch" = 1 ]; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" \
      "$build/bin/bench_fmnist_libtorch" --model "$model" --seed "$s" --threads "$threads" >"$tmp/l.json"
    l=$(jq -r .test_accuracy "$tmp/l.json"); l_all="$l_all $l"
  fi
  printf '%-6s %-10s %-10s\n' "$s" "$h" "$l"
done
stats() { echo "$@" | tr ' ' '\n' | awk 'NF {n++; s+=$1; q+=$1*$1; if (n==1||$1<lo) lo=$1; if (n==1||$1>hi) hi=$1}
  END {if (n) {m=s/n; sd=(n>1)?sqrt((q-n*m*m)/(n-1)):0; printf "mean %.4f  sd %.4f  min %.4f  max %.4f  (n=%d)", m, sd, lo, hi, n}}'; }
echo "hearth:   $(stats $h_all)"
[ "$libtorch" = 1 ] && echo "LibTorch: $(stats $l_all)"
exit 0
