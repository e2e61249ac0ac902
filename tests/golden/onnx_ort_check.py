# Runs an ONNX model in onnxruntime on a raw float32 input and compares with hearth's output
# (tests/onnx_test.cpp): onnx_ort_check.py MODEL INPUT.bin SHAPE EXPECTED.bin TOL. Exit 0 if equal.
import sys

import numpy as np
import onnxruntime as ort

model, xin, shape, yin, tol = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
x = np.fromfile(xin, dtype=np.float32).reshape([int(d) for d in shape.split(",")])
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
want = np.fromfile(yin, dtype=np.float32).reshape(y.shape)
err = float(np.max(np.abs(y - want)))
print(f"onnxruntime {ort.__version__}: max abs error {err:.3g} (tolerance {tol})")
sys.exit(0 if err <= tol else 1)
