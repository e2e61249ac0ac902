# Writes PyTorch's trajectory of 10 lenet SGD steps on Fashion-MNIST, starting from the weights of
# lenet_fixture.safetensors (run with Debian's /usr/bin/python3; output committed).
"""lenet_train_fixture.safetensors:
  order        [640] int64    the batch order over the first 640 training images (10 batches of 64)
  losses       [10] float32   cross-entropy of each step, before its update
  final.0.weight, final.0.bias, final.9.weight, final.9.bias   weights after the 10 steps
Data: the first 640 images of /usr/share/datasets/fashion-mnist, x / 255 then (x - 0.2860) / 0.3530
(SPEC.md); SGD lr 0.05, momentum 0.9; the model in training mode. Fixed seeds: reruns agree."""
import gzip
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import write_safetensors  # noqa: E402
from gen_lenet_fixture import lenet  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"


def read_safetensors(path):
    import json
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        assert v["dtype"] == "F32", k
        out[k] = torch.from_numpy(np.frombuffer(body[a:b], dtype=np.float32).reshape(v["shape"]).copy())
    return out


def idx(path):
    with gzip.open(path, "rb") as f:
        d = f.read()
    ndim = d[3]
    dims = struct.unpack(">" + "I" * ndim, d[4:4 + 4 * ndim])
    return np.frombuffer(d, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    torch.set_num_threads(1)
    model = lenet()
    init = read_safetensors(os.path.join(HERE, "lenet_fixture.safetensors"))
    model.load_state_dict({k[len("module."):]: v for k, v in init.items() if k.startswith("module.")})
    x = torch.from_numpy(idx(f"{DATA}/train-images-idx3-ubyte.gz")[:640].copy()).float().unsqueeze(1)
    x = (x / 255.0 - 0.2860) / 0.3530
    y = torch.from_numpy(idx(f"{DATA}/train-labels-idx1-ubyte.gz")[:640].astype(np.int64))
    g = torch.Generator().manual_seed(1)
    order = torch.randperm(640, generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    losses = []
    for s in range(10):
        b = order[s * 64:(s + 1) * 64]
        loss = torch.nn.functional.cross_entropy(model(x[b]), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    sd = model.state_dict()
    named = [("order", order), ("losses", torch.tensor(losses, dtype=torch.float32))]
    named += [("final." + k, sd[k]) for k in ("0.weight", "0.bias", "9.weight", "9.bias")]
    write_safetensors(os.path.join(HERE, "lenet_train_fixture.safetensors"), named,
                      {"source": "tests/golden/gen_lenet_train_fixture.py", "torch": torch.__version__})


if __name__ == "__main__":
    main()
