#!/bin/sh
# ctest onnx_conformance: `hearth onnx test` over ONNX's node tests (Debian libonnx-testdata) must
# report failed=0 and passed >= 400. Skips (exit 77) without the data, except under CI=true.
hearth="$1"
data="${2:-/usr/share/libonnx-testdata/data/node}"
if [ ! -d "$data" ]; then
  if [ "$CI" = "true" ]; then echo "onnx_conformance: $data missing under CI=true (install libonnx-testdata)"; exit 1; fi
  echo "onnx_conformance: $data missing (apt-get install libonnx-testdata); skipped"
  exit 77
fi
out=$("$hearth" onnx test "$data")
rc=$?
echo "$out" | grep -v ": pass" | tail -n 40
last=$(echo "$out" | tail -n 1)
echo "$last"
passed=$(echo "$last" | sed -n 's/^passed=\([0-9]*\) failed=\([0-9]*\) unsupported=\([0-9]*\)$/\1/p')
failed=$(echo "$last" | sed -n 's/^passed=\([0-9]*\) failed=\([0-9]*\) unsupported=\([0-9]*\)$/\2/p')
if [ -z "$passed" ] || [ -z "$failed" ]; then echo "onnx_conformance: no summary line (exit $rc)"; exit 1; fi
if [ "$failed" -ne 0 ] || [ "$rc" -ne 0 ]; then echo "onnx_conformance: $failed failed (exit $rc)"; exit 1; fi
if [ "$passed" -lt 400 ]; then echo "onnx_conformance: only $passed passed (need >= 400)"; exit 1; fi
echo "onnx_conformance: ok"
