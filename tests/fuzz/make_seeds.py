#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/): small valid files of each
format, so that fuzzing starts from inputs that get past the first checks. Needs numpy, h5py and
onnx (Debian: python3-numpy python3-h5py python3-onnx)."""
import json, os, struct, tempfile
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
def out(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def safetensors(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dt, arr) in tensors.items():
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)

# safetensors
out("safetensors", "two_tensors.safetensors", safetensors(
    {"w": ("F32", np.arange(6, dtype=np.float32).reshape(2, 3)), "i": ("I64", np.array([1, 2], dtype=np.int64))},
    {"format": "pt"}))
out("safetensors", "all_dtypes.safetensors", safetensors({
    "a": ("F64", np.ones(2)), "b": ("F16", np.ones(2, dtype=np.float16)), "c": ("BF16", np.ones(2, dtype=np.uint16)),
    "d": ("I32", np.ones(2, dtype=np.int32)), "e": ("I16", np.ones(2, dtype=np.int16)), "f": ("I8", np.ones(2, dtype=np.int8)),
    "g": ("U8", np.ones(2, dtype=np.uint8)), "h": ("BOOL", np.ones(2, dtype=np.uint8)), "z": ("F32", np.zeros((0, 3), dtype=np.float32))}))

# IDX: byte 0 = (labels ? 1 : 0) | (gzip ? 2 : 0), then the file
img = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(range(8))
lab = bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 7])
img_f32 = bytes([0, 0, 0x0D, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1]) + struct.pack(">ff", 0.5, -1.0)
out("idx", "images_raw", b"\x00" + img)
out("idx", "labels_raw", b"\x01" + lab)
out("idx", "images_gz", b"\x02" + img)
out("idx", "labels_gz", b"\x03" + lab)
out("idx", "images_f32_raw", b"\x00" + img_f32)

# HDF5 state dict and dataset
import h5py
with tempfile.TemporaryDirectory() as t:
    p = os.path.join(t, "sd.h5")
    with h5py.File(p, "w") as f:
        f.attrs["format"] = "hearth"
        f.create_dataset("0.weight", data=np.arange(12, dtype=np.float32).reshape(3, 4))
        f.create_dataset("0.bias", data=np.ones(3, dtype=np.float32))
        f.create_dataset("1.weight", data=np.ones((2, 3), dtype=np.float16), chunks=(1, 3), compression="gzip")
        g = f.create_group("bn")
        g.create_dataset("num_batches_tracked", data=np.int64(3))
    out("hdf5_state_dict", "small.h5", open(p, "rb").read())
    p = os.path.join(t, "ds.h5")
    with h5py.File(p, "w") as f:
        f.create_dataset("train/images", data=np.arange(16, dtype=np.uint8).reshape(4, 2, 2))
        f.create_dataset("train/labels", data=np.array([0, 1, 2, 3], dtype=np.int64))
    out("hdf5_dataset", "uint8.h5", open(p, "rb").read())
    p = os.path.join(t, "dsc.h5")
    with h5py.File(p, "w") as f:
        f.create_dataset("train/images", data=np.ones((4, 1, 2, 2), dtype=np.float32), chunks=(2, 1, 2, 2),
                         compression="gzip")
        f.create_dataset("train/labels", data=np.array([0, 1, 0, 1], dtype=np.int32))
    out("hdf5_dataset", "float32_chunked_gzip.h5", open(p, "rb").read())

# ONNX model and tensor
import onnx
from onnx import helper, numpy_helper, TensorProto
w = numpy_helper.from_array(np.ones((2, 1, 3, 3), dtype=np.float32), "w")
g = helper.make_graph(
    [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
     helper.make_node("Relu", ["c"], ["r"]),
     helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
     helper.make_node("AveragePool", ["p"], ["a"], kernel_shape=[2, 2]),
     helper.make_node("Flatten", ["a"], ["y"])],
    "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
out("onnx_model", "conv_pool.onnx", helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
g2 = helper.make_graph(
    [helper.make_node("Gemm", ["x", "b"], ["y"], transB=1)], "g2",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), "b")])
out("onnx_model", "gemm.onnx", helper.make_model(g2, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
out("onnx_tensor", "f32.pb", numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "x").SerializeToString())
out("onnx_tensor", "i64.pb", numpy_helper.from_array(np.array([1, -2], dtype=np.int64), "i").SerializeToString())

# A training checkpoint of Sequential(Linear(4, 3)) and SGD with momentum, as hearth writes one
# (the keys and metadata of `hearth train --checkpoint-dir`), for the checkpoint target's model.
opt_group = {"extras": {}, "options": {"dampening": 0.0, "fused": True, "lr": 0.05, "maximize": False, "momentum": 0.9,
                                       "nesterov": False, "weight_decay": 0.0}, "params": [0, 1]}
meta = {
    "hearth.extra": json.dumps({"trainer.batch_size": "64", "trainer.epoch_loss_sum": "0", "trainer.interval_losses": "",
                                "trainer.train_samples": "64"}),
    "hearth.lr_schedulers": "[]",
    "hearth.optimizer": json.dumps({"format": "hearth.optimizer/1", "optimizer": "sgd", "param_groups": [opt_group],
                                    "state": {"0": {"scalars": {}, "tensors": ["momentum_buffer"]},
                                              "1": {"scalars": {}, "tensors": ["momentum_buffer"]}}}),
    "hearth.rng": json.dumps({"cpu": {"offset": 470316, "seed": 0}}),
    "hearth.training": json.dumps({"batch_in_epoch": 0, "epoch": 1, "format_version": 1, "global_step": 1,
                                   "shuffle_seed": 0}),
}
w, b = np.arange(12, dtype=np.float32).reshape(3, 4) / 10, np.ones(3, dtype=np.float32)
out("checkpoint", "linear_sgd.safetensors", safetensors(
    {"model.0.weight": ("F32", w), "model.0.bias": ("F32", b), "optimizer.state.0.momentum_buffer": ("F32", w / 2),
     "optimizer.state.1.momentum_buffer": ("F32", b / 2)}, meta))
