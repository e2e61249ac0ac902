#!/usr/bin/env bash
# The README's Quick start: installs what is missing from Debian 12, builds hearth, then
#   ./quickstart.sh run   runs the main job
#   ./quickstart.sh test  runs the whole test suite (ctest), then the CPU kernel tests under an AVX2 cap
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
      libonnx-dev libonnx-testdata python3-onnx python3-h5py python3-torch python3-venv
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
  # onnxruntime (for the ONNX export cross-check) is not in Debian: a venv in the build tree, from PyPI.
  if ! build/py-ort/bin/python3 -c 'import onnxruntime, numpy' 2>/dev/null; then
    echo "quickstart: installing onnxruntime and numpy from PyPI into build/py-ort"
    rm -rf build/py-ort
    /usr/bin/python3 -m venv build/py-ort
    build/py-ort/bin/pip install -q onnxruntime numpy
  fi
  ctest --preset default -j "$(nproc)"
  # The CPU kernel and op tests again with hearth-cpu capped at AVX2 (issue 14): an AVX-512 machine
  # checks the paths an AVX2-only machine runs. On an AVX2-only machine the run above was that.
  if grep -qw avx512f /proc/cpuinfo; then
    echo "quickstart: CPU kernel and op tests again under HEARTH_CPU_ISA=avx2 (this machine has AVX-512)"
    HEARTH_CPU_ISA=avx2 ctest --preset default -L cpu-kernels -j "$(nproc)"
  else
    echo "quickstart: this machine has no AVX-512: the suite above ran the AVX2 paths; the AVX-512 paths cannot run here"
  fi
  exit 0
fi

# The main job: train the default model (lenet) on Fashion-MNIST with the CPU plugin, one epoch,
# then evaluate it on the 10k test images (docs/cli.md, `hearth train`).
exec ./build/bin/hearth train
