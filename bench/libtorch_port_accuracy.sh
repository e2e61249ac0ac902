#!/usr/bin/env bash
# Issue #15's acceptance: examples/libtorch_mnist/libtorch_mnist.cpp, one LibTorch-style source,
# built twice — against hearth (`namespace torch = hearth;`) and against Debian's LibTorch
# (-DHEARTH_PORT_USE_LIBTORCH) — trains Fashion-MNIST for one epoch per seed with each; prints
# each run's test accuracy and the two means (hearth's mean must be within 0.01 of LibTorch's).
# It also builds tests/libtorch_idioms_test.cpp against LibTorch and runs it, so that the second
# idiom program is proved to compile and pass on both frameworks.
# Usage: bench/libtorch_port_accuracy.sh [--seeds "0 1 2"] [--epochs N] [--limit N] [--build DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seeds="0 1 2" epochs=1 limit=0 build="$root/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "usage: $0 [--seeds \"0 1 2\"] [--epochs N] [--limit N] [--build DIR]" >&2; exit 2 ;;
  esac
done
torch_inc=/usr/include/torch/csrc/api/include
[ -f "$torch_inc/torch/torch.h" ] || { echo "$0: needs libtorch-dev (apt-get install libtorch-dev)" >&2; exit 1; }
[ -d "$build" ] || cmake --preset default -S "$root" >/dev/null
cmake --build "$build" --target libtorch_mnist libtorch_idioms_test hearth-cpu hearth-idx hearth-optim >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# The LibTorch builds: g++ directly (Debian's libtorch-dev has no usable TorchConfig.cmake), as
# bench/CMakeLists.txt links its LibTorch benchmarks.
torch_flags=(-std=c++17 -O2 -DHEARTH_PORT_USE_LIBTORCH -isystem "$torch_inc")
torch_libs=(-ltorch -ltorch_cpu -lc10 -lpthread -ldl)
g++ "${torch_flags[@]}" "$root/examples/libtorch_mnist/libtorch_mnist.cpp" -o "$tmp/libtorch_mnist_torch" \
  "${torch_libs[@]}" -lz
g++ "${torch_flags[@]}" "$root/tests/libtorch_idioms_test.cpp" -o "$tmp/libtorch_idioms_test_torch" \
  "${torch_libs[@]}" -lgtest -lgtest_main
echo "== tests/libtorch_idioms_test.cpp against LibTorch"
"$tmp/libtorch_idioms_test_torch" --gtest_brief=1
echo "== tests/libtorch_idioms_test.cpp against hearth"
"$build/bin/libtorch_idioms_test" --gtest_brief=1

run() {  # run NAME BINARY SEED -> prints the test accuracy
  "$2" --seed "$3" --epochs "$epochs" --limit "$limit" --out "$tmp/$1_$3.pt" >"$tmp/$1_$3.log" 2>&1 ||
    { cat "$tmp/$1_$3.log" >&2; return 1; }
  sed -n 's/.*test_acc=\([0-9.]*\) reloaded_acc=\([0-9.]*\).*/\1 \2/p' "$tmp/$1_$3.log"
}
printf "%-5s %-16s %-16s\n" seed "hearth acc" "libtorch acc"
h_all="" t_all=""
for s in $seeds; do
  read -r h h2 < <(run hearth "$build/bin/libtorch_mnist" "$s")
  read -r t t2 < <(run torch "$tmp/libtorch_mnist_torch" "$s")
  [ "$h" = "$h2" ] || { echo "$0: hearth's reloaded model scored $h2, not $h" >&2; exit 1; }
  [ "$t" = "$t2" ] || { echo "$0: LibTorch's reloaded model scored $t2, not $t" >&2; exit 1; }
  printf "%-5s %-16s %-16s\n" "$s" "$h" "$t"
  h_all="$h_all $h" t_all="$t_all $t"
done
awk -v h="$h_all" -v t="$t_all" 'BEGIN {
  nh = split(h, a, " "); nt = split(t, b, " "); sh = 0; st = 0
  for (i = 1; i <= nh; i++) sh += a[i]; for (i = 1; i <= nt; i++) st += b[i]
  mh = sh / nh; mt = st / nt; d = mh - mt
  printf "mean  hearth %.4f  libtorch %.4f  difference %+.4f  (%s)\n", mh, mt, d, (d <= 0.01 && d >= -0.01) ? "within 0.01" : "NOT within 0.01"
}'
