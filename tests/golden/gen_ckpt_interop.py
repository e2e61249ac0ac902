# PyTorch <-> hearth state-dict interop fixtures (issue #7), with Debian's /usr/bin/python3 (torch 1.13).
# safetensors is read and written with plain numpy + json (the safetensors package is not needed).
"""Model (the same architecture in hearth, tests/checkpoint_interop_test.cpp):
  Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2), Flatten(), Linear(64, 5))
  input [2, 1, 8, 8] float32; outputs in eval mode.

  gen_ckpt_interop.py            writes, from PyTorch:
      ckpt_torch_model.safetensors  the state dict with "module." keys (as DataParallel saves it)
      ckpt_torch_model.h5           the same through h5py (one dataset per key), if h5py is installed
      ckpt_torch_io.safetensors     input, output (PyTorch's, eval mode)
    and, for the hearth-written ckpt_hearth_model.safetensors + ckpt_hearth_io.safetensors (made by
    `HEARTH_CKPT_WRITE_FIXTURES=tests/golden build/bin/checkpoint_interop_test`):
      ckpt_hearth_torch_out.safetensors  PyTorch's output for hearth's weights and input
  gen_ckpt_interop.py --check DIR   loads DIR/model.safetensors (written by hearth) into PyTorch
      strictly, runs DIR/io.safetensors' input and compares with hearth's output; the same for
      DIR/model.h5 read through h5py when both exist: exit 0 if equal within 1e-5, 1 if not.
Fixed seeds: rerunning gives the same files."""
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
NP = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
      "BOOL": "?"}
ST = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("float16"): "F16", np.dtype("int64"): "I64",
      np.dtype("int32"): "I32", np.dtype("int16"): "I16", np.dtype("int8"): "I8", np.dtype("uint8"): "U8",
      np.dtype("bool"): "BOOL"}


def read_safetensors(path):
    """{name: numpy array} and the metadata, with numpy only."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None) or {}
    base = 8 + n
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        raw = data[base + b:base + end]
        if e["dtype"] == "BF16":  # widen to float32: bfloat16 is the top half of a float32
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, NP[e["dtype"]])
        out[name] = a.reshape(e["shape"]).copy()
    return out, meta


def write_safetensors(path, named, metadata=None):
    header = {"__metadata__": metadata} if metadata else {}
    blobs, off = [], 0
    for name, a in named:
        a = np.array(a, order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": ST[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def model():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 5))


def load_into_torch(named):
    m = model()
    m.load_state_dict({k: torch.from_numpy(v) for k, v in named.items()}, strict=True)
    m.eval()
    return m


def read_h5(path):
    """{name: numpy array} and the root's string attributes through h5py, as an h5py user reads it."""
    import h5py
    with h5py.File(path, "r") as f:
        named = {k: f[k][()] for k in f.keys()}
        for k in f.keys():  # the `dtype` attribute marks what HDF5 has no type for
            if f[k].attrs.get("dtype") == "bool":
                named[k] = named[k].astype(bool)
        meta = {k: v for k, v in f.attrs.items() if isinstance(v, str)}
    return {k: np.asarray(v) for k, v in named.items()}, meta


def check(d):
    sd, meta = read_safetensors(os.path.join(d, "model.safetensors"))
    io, _ = read_safetensors(os.path.join(d, "io.safetensors"))
    sources = [("safetensors", sd, meta)]
    if os.path.exists(os.path.join(d, "model.h5")):
        try:
            import h5py  # noqa: F401
            sources.append(("h5py", *read_h5(os.path.join(d, "model.h5"))))
        except ImportError:
            print("h5py not installed (Debian: python3-h5py): model.h5 not checked")
    worst = 0.0
    for what, named, md in sources:
        m = load_into_torch(named)
        with torch.no_grad():
            out = m(torch.from_numpy(io["input"])).numpy()
        diff = float(np.abs(out - io["output"]).max())
        worst = max(worst, diff)
        print(f"{what}: max |torch - hearth| = {diff:.3g} over {out.size} outputs; "
              f"devices recorded: {md.get('hearth.devices')}")
    return 0 if worst <= 1e-5 else 1


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    for _ in range(20):  # trained, so weights and BatchNorm statistics are not an initialization
        x = torch.randn(8, 1, 8, 8)
        y = torch.randint(0, 5, (8,))
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        y = m(x)
    named = [("module." + k, v.numpy()) for k, v in m.state_dict().items()]
    write_safetensors(os.path.join(HERE, "ckpt_torch_model.safetensors"), named,
                      {"source": "tests/golden/gen_ckpt_interop.py", "torch": torch.__version__})
    write_safetensors(os.path.join(HERE, "ckpt_torch_io.safetensors"), [("input", x.numpy()), ("output", y.numpy())])
    try:
        import h5py
        with h5py.File(os.path.join(HERE, "ckpt_torch_model.h5"), "w") as f:
            for k, v in named:
                f.create_dataset(k, data=v)
            f.attrs["source"] = "tests/golden/gen_ckpt_interop.py"
    except ImportError:
        print("h5py not installed: ckpt_torch_model.h5 not rewritten")
    hearth_model = os.path.join(HERE, "ckpt_hearth_model.safetensors")
    if os.path.exists(hearth_model):
        sd, _ = read_safetensors(hearth_model)
        io, _ = read_safetensors(os.path.join(HERE, "ckpt_hearth_io.safetensors"))
        hm = load_into_torch(sd)
        with torch.no_grad():
            out = hm(torch.from_numpy(io["input"])).numpy()
        write_safetensors(os.path.join(HERE, "ckpt_hearth_torch_out.safetensors"), [("output", out)],
                          {"source": "tests/golden/gen_ckpt_interop.py", "torch": torch.__version__})
    else:
        print("no ckpt_hearth_model.safetensors yet: run checkpoint_interop_test with HEARTH_CKPT_WRITE_FIXTURES first")


if __name__ == "__main__":
    main()
