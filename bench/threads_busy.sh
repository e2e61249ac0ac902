#!/bin/sh
# Default thread settings vs --threads N, idle and next to a spinning process (issue 15):
# mlp training samples/s, medians of PAIRS rounds that alternate the configurations.
# Usage: bench/threads_busy.sh [HEARTH_BINARY] [PAIRS] [TRAIN_LIMIT]
#   e.g. bench/threads_busy.sh build/bin/hearth 5 8192
# Configurations: default (hearth's), libgomp (GOMP_SPINCOUNT=300000: libgomp's own default
# spinning, i.e. hearth before issue 15), passive (OMP_WAIT_POLICY=passive), --threads 1, --threads 2.
# Scenarios: idle; busy (one `yes >/dev/null`, unpinned); busy-pinned (`yes` pinned to CPU 0).
set -eu
BIN=${1:-build/bin/hearth}
PAIRS=${2:-5}
LIMIT=${3:-8192}
ARGS="train --model mlp --train-limit $LIMIT --test-limit 100 --progress none --epochs 1"
CONFIGS="default libgomp passive threads1 threads2"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"; [ -n "${YES:-}" ] && kill "$YES" 2>/dev/null; true' EXIT
trap 'exit 130' INT TERM

run_one() {  # config -> prints samples/s
  case $1 in
    default) env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u OMP_NUM_THREADS "$BIN" $ARGS ;;
    libgomp) env -u OMP_WAIT_POLICY -u OMP_NUM_THREADS GOMP_SPINCOUNT=300000 "$BIN" $ARGS ;;
    passive) env -u GOMP_SPINCOUNT -u OMP_NUM_THREADS OMP_WAIT_POLICY=passive "$BIN" $ARGS ;;
    threads1) env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u OMP_NUM_THREADS "$BIN" $ARGS --threads 1 ;;
    threads2) env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u OMP_NUM_THREADS "$BIN" $ARGS --threads 2 ;;
  esac | sed -n 's/.*samples\/s \([0-9]*\).*/\1/p'
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs available; isa: $("$BIN" plugins 2>/dev/null | sed -n 's/^ *cpu.isa: //p' | head -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for scenario in idle busy busy-pinned; do
  YES=""
  case $scenario in
    busy) yes >/dev/null & YES=$! ;;
    busy-pinned) taskset -c 0 yes >/dev/null & YES=$! ;;
  esac
  sleep 0.5
  for i in $(seq "$PAIRS"); do
    # Alternate the order each round so that drifting load does not favour one configuration.
    if [ $((i % 2)) -eq 1 ]; then order=$CONFIGS; else order=$(echo $CONFIGS | tr ' ' '\n' | tac | tr '\n' ' '); fi
    for c in $order; do run_one "$c" >>"$OUT/$scenario.$c"; done
  done
  [ -n "$YES" ] && kill "$YES" && wait "$YES" 2>/dev/null || true
  YES=""
  line="$scenario:"
  for c in $CONFIGS; do line="$line  $c $(median <"$OUT/$scenario.$c")"; done
  echo "$line"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
