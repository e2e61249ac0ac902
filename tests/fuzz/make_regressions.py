#!/usr/bin/env python3
"""Writes the hand-made reproducers of issue 16 into tests/fuzz/regressions/<target>/ (the files
found by fuzzing are committed as they were found). Needs numpy, h5py and onnx."""
import json, os, struct, tempfile
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
def out(target, name, data):
    d = os.path.join(here, "regressions", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def st(header_text, data=b""):
    h = header_text.encode()
    return struct.pack("<Q", len(h)) + h + data

# safetensors: nesting far past the format's depth; a rank no tensor has; an entry that is an array.
out("safetensors", "deep_nesting.safetensors", st('{"a":{"shape":' + "[" * 1000 + "]" * 1000 + "}}"))
out("safetensors", "rank_100.safetensors", st('{"t":{"dtype":"F32","shape":[' + ",".join(["1"] * 100) +
                                              '],"data_offsets":[0,4]}}', b"\0" * 4))
out("safetensors", "entry_is_array.safetensors", st('{"t":[' + ",".join(["[1]"] * 100) + ']}'))
out("safetensors", "zero_dim_overflow.safetensors",
    st('{"t":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}'))

# IDX: a zero dim made the overflow check skip the others (byte 0: images, raw).
out("idx", "zero_dim_huge_others", b"\x00" + bytes([0, 0, 8, 4, 0, 0, 0, 0]) + b"\xff\xff\xff\xff" * 3)

# ONNX: pools whose kernel_shape has one value for two spatial dims (read out of bounds before).
import onnx
from onnx import helper, TensorProto
for op in ("MaxPool", "AveragePool"):
    g = helper.make_graph([helper.make_node(op, ["x"], ["y"], kernel_shape=[2])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    out("onnx_model", op.lower() + "_kernel_arity.onnx",
        helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())

# HDF5: datasets declaring data that was never written (2^31 float32: 8.6 GB from a 1.4 KB file;
# 2^40 samples for training).
import h5py
with tempfile.TemporaryDirectory() as t:
    p = os.path.join(t, "a.h5")
    with h5py.File(p, "w") as f:
        f.create_dataset("w", shape=(2 ** 31,), dtype=np.float32)
    out("hdf5_state_dict", "unwritten_2e31_floats.h5", open(p, "rb").read())
    p = os.path.join(t, "b.h5")
    with h5py.File(p, "w") as f:
        f.create_dataset("train/images", shape=(2 ** 40, 28, 28), dtype=np.uint8)
        f.create_dataset("train/labels", shape=(2 ** 40,), dtype=np.int64)
    out("hdf5_dataset", "unwritten_2e40_samples.h5", open(p, "rb").read())
