#!/usr/bin/env bash
# Stress version of checkpoint_kill_test (issue #7): 100 rounds (or $1) of a child saving training
# checkpoints killed with SIGKILL at random moments, in safetensors and HDF5; after every kill the
# previous checkpoint must load intact through `latest`. Usage: bench/ckpt_kill_stress.sh [ROUNDS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-100}
build=${2:-build}
bin="$build/bin/checkpoint_kill_test"
if [ ! -x "$bin" ]; then
  echo "ckpt_kill_stress: $bin not built (cmake --build $build --target checkpoint_kill_test)" >&2
  exit 2
fi
echo "ckpt_kill_stress: $rounds SIGKILL rounds per format"
HEARTH_PLUGIN_PATH= HEARTH_CKPT_KILL_ROUNDS="$rounds" exec "$bin"
