#!/bin/sh
# sdk_install_test: installs the build tree into a temporary prefix, builds examples/custom_op
# against that prefix alone, and runs its checker on the installed libhearth and plugins.
# usage: sdk_install_test.sh CMAKE BUILD_DIR SOURCE_DIR PLUGIN_INSTALL_DIR CXX [CXX_FLAGS] [LAUNCHER]
set -eu
cmake=$1 build_dir=$2 source_dir=$3 plugin_dir_rel=$4 cxx=$5 cxx_flags=${6:-} launcher=${7:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-sdk-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
# Only the install counts: nothing from the build tree may leak in through the environment.
unset LD_LIBRARY_PATH CMAKE_PREFIX_PATH
export HEARTH_PLUGIN_PATH=

step() { echo "== $*"; }
fail() { echo "sdk_install_test: FAILED: $*" >&2; exit 1; }

step "cmake --install $build_dir --prefix $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "install"; }

plugins=$prefix/$plugin_dir_rel
for f in hearth-cpu.so hearth-testdev.so; do
  [ -f "$plugins/$f" ] || fail "$plugins/$f was not installed"
done
# Test-only plugins stay out of the install.
for f in "$plugins"/*.so; do
  case $(basename "$f") in hearth-*) ;; *) fail "unexpected file installed: $f" ;; esac
done
[ -f "$prefix/${plugin_dir_rel%/hearth/plugins}/cmake/Hearth/HearthConfig.cmake" ] || fail "HearthConfig.cmake not installed"
[ -f "$prefix/include/hearth/plugin.h" ] || fail "SDK headers not installed"

step "configure examples/custom_op against $prefix"
"$cmake" -S "$source_dir/examples/custom_op" -B "$tmp/ex-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$cxx_flags" \
  ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"} >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "configure"; }
grep -q "Hearth_DIR:PATH=$prefix/" "$tmp/ex-build/CMakeCache.txt" || fail "find_package(Hearth) did not use $prefix"

step "build"
"$cmake" --build "$tmp/ex-build" || fail "build"

step "run check_square"
"$tmp/ex-build/check_square" "$tmp/ex-build/plugins" "$plugins" || fail "check_square"

step "installed hearth finds the example plugin"
out=$("$prefix/bin/hearth" plugins --plugin-dir "$tmp/ex-build/plugins") || fail "hearth plugins: $out"
echo "$out" | grep -q "hearth-example-square 1.0.0" || fail "hearth plugins does not list the example: $out"
echo "$out" | grep -q "example_square@cpu" || fail "hearth plugins does not list the kernel: $out"
echo "$out" | grep -q "^$plugins/hearth-testdev.so" || fail "installed hearth did not use $plugins: $out"
step "configure and build examples/train_lenet against $prefix"
"$cmake" -S "$source_dir/examples/train_lenet" -B "$tmp/tl-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$cxx_flags" \
  ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"} >"$tmp/tl-configure.log" 2>&1 ||
  { cat "$tmp/tl-configure.log"; fail "configure train_lenet"; }
"$cmake" --build "$tmp/tl-build" || fail "build train_lenet"

step "run train_lenet on 2048 images, then evaluate its file with the installed hearth"
out=$("$tmp/tl-build/train_lenet" --limit 2048 --out "$tmp/lenet.safetensors") || fail "train_lenet: $out"
echo "$out"
echo "$out" | grep -q "^epoch 1 .*test_acc 0\.[4-9]" || fail "train_lenet did not learn: $out"
out=$("$prefix/bin/hearth" eval --weights "$tmp/lenet.safetensors" --test-limit 2000) || fail "hearth eval: $out"
echo "$out" | grep -q "test_acc 0\.[4-9]" || fail "hearth eval of train_lenet's file: $out"

echo "sdk_install_test: OK"
