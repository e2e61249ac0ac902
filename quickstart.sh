#!/usr/bin/env bash
# The README's Quick start: installs what is missing from Debian 12, builds hearth, then
#   ./quickstart.sh run   runs the main job
#   ./quickstart.sh test  runs the whole test suite (ctest)
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-run}
case "$mode" in run|test) ;; *) echo "usage: $0 run|test" >&2; exit 2 ;; esac

# Everything the build, the tests and the LibTorch side of the benchmarks need.
pkgs=(build-essential cmake ninja-build ccache pkg-config
      libdnnl-dev libboost1.74-dev libboost-program-options-dev nlohmann-json3-dev zlib1g-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      libtorch-dev libopenblas0-openmp
      libhdf5-dev graphviz
      libonnx-dev libonnx-testdata python3-onnx python3-h5py
      dataset-fashion-mnist)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "quickstart: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake --preset default >/dev/null
cmake --build --preset default

if [ "$mode" = test ]; then
  exec ctest --preset default -j "$(nproc)"
fi

# The main job: train the default model (lenet) on Fashion-MNIST with the CPU plugin, one epoch,
# then evaluate it on the 10k test images (docs/cli.md, `hearth train`).
exec ./build/bin/hearth train
