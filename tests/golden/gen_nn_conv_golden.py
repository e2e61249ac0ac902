# Generates golden values for convolution and pooling from PyTorch 1.13 (run with /usr/bin/python3).
"""Writes, next to this script (outputs committed, small, from fixed seeds):

  nn_conv.json         the cases read by tests/nn_conv_test.cpp
  nn_conv.safetensors  their tensors, named "<id>/<name>"

nn_conv.json: {"torch": version, "cases": [case, ...]}, one case per line:
  {"id": str, "op": "conv2d" | "conv_transpose2d" | "max_pool2d" | "avg_pool2d" | "adaptive_avg_pool2d",
   "args": {...keyword arguments as PyTorch took them...}, "bias": bool, "out_shape": [...]}
Tensors of a case:
  x, w, b      inputs (float32; w and b for the convolutions, b only when "bias")
  gy           the gradient fed to backward (float32, the output's shape)
  y            PyTorch's output, computed in float64 on the same (float32) inputs
  gx, gw, gb   d(sum(y * gy)) / d(x, w, b), float64
  ind          max_pool2d's indices (int64)
Inputs are float32 so the tests can run hearth in float32 (oneDNN) and float64 (reference loop)
against the same float64 values.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

cases = []
tensors = []


def rnd(*shape):
    return (torch.rand(*shape, dtype=torch.float32) * 4 - 2)


def add(cid, op, args, x, w=None, b=None):
    """Runs op in float64 on the given float32 inputs and records everything."""
    xd = x.double().requires_grad_(True)
    wd = w.double().requires_grad_(True) if w is not None else None
    bd = b.double().requires_grad_(True) if b is not None else None
    ind = None
    if op == "conv2d":
        y = F.conv2d(xd, wd, bd, **args)
    elif op == "conv_transpose2d":
        y = F.conv_transpose2d(xd, wd, bd, **args)
    elif op == "max_pool2d":
        y, ind = F.max_pool2d(xd, return_indices=True, **args)
    elif op == "avg_pool2d":
        y = F.avg_pool2d(xd, **args)
    elif op == "adaptive_avg_pool2d":
        y = F.adaptive_avg_pool2d(xd, **args)
    else:
        raise ValueError(op)
    gy = rnd(*y.shape)
    ins = [t for t in (xd, wd, bd) if t is not None]
    grads = torch.autograd.grad(y, ins, gy.double())
    names = [("x", x), ("gy", gy), ("y", y.detach())]
    if w is not None:
        names.append(("w", w))
    if b is not None:
        names.append(("b", b))
    for n, g in zip(["gx", "gw", "gb"], grads):
        names.append((n, g))
    if ind is not None:
        names.append(("ind", ind))
    for n, t in names:
        tensors.append((f"{cid}/{n}", t.detach().contiguous()))
    cases.append({"id": cid, "op": op, "args": args, "bias": b is not None, "out_shape": list(y.shape)})


def gen_conv():
    def conv(cid, xs, ws, bias=True, **args):
        x, w = rnd(*xs), rnd(*ws) * 0.5
        b = rnd(ws[0]) if bias else None
        add(cid, "conv2d", args, x, w, b)

    conv("conv_basic", (2, 3, 7, 6), (4, 3, 3, 3))
    conv("conv_stride_pad", (2, 3, 9, 8), (5, 3, 3, 2), stride=(2, 3), padding=(1, 2))
    conv("conv_dilation", (1, 2, 10, 9), (3, 2, 3, 3), dilation=(2, 1), padding=2)
    conv("conv_rect_all", (2, 2, 8, 11), (3, 2, 2, 3), stride=(1, 2), padding=(0, 1), dilation=(1, 2))
    conv("conv_groups2", (2, 4, 6, 6), (6, 2, 3, 3), padding=1, groups=2)
    conv("conv_depthwise", (2, 4, 7, 7), (4, 1, 3, 3), stride=2, padding=1, groups=4)
    conv("conv_depthwise_mult2", (1, 3, 6, 5), (6, 1, 3, 3), padding=1, groups=3)
    conv("conv_1x1_nobias", (2, 5, 4, 4), (3, 5, 1, 1), bias=False)
    conv("conv_stride_gt_kernel", (1, 2, 9, 9), (2, 2, 2, 2), stride=3)
    # SEED A4: a 3x3 conv with stride 2, padding 6, dilation 6 takes 38 to 19.
    conv("conv_seed_a4_38_to_19", (1, 1, 38, 38), (2, 1, 3, 3), stride=2, padding=6, dilation=6)
    conv("conv_same_even", (1, 2, 7, 8), (3, 2, 4, 4), padding="same")
    conv("conv_same_dilated", (1, 2, 7, 8), (3, 2, 3, 2), padding="same", dilation=(2, 3))
    conv("conv_valid", (1, 2, 7, 8), (3, 2, 3, 3), padding="valid")
    # lenet's shapes, smaller: conv1 (one input channel: oneDNN keeps src plain) and conv2.
    conv("conv_lenet1", (2, 1, 12, 12), (8, 1, 3, 3), padding=1)
    conv("conv_lenet2", (2, 16, 6, 6), (16, 16, 3, 3), padding=1)
    x, w, b = rnd(3, 6, 6), rnd(2, 3, 3, 3), rnd(2)
    add("conv_unbatched", "conv2d", {"padding": 1}, x, w, b)


def gen_conv_transpose():
    def convt(cid, xs, ws, groups=1, bias=True, **args):
        x, w = rnd(*xs), rnd(*ws) * 0.5
        b = rnd(ws[1] * groups) if bias else None
        if groups != 1:
            args["groups"] = groups
        add(cid, "conv_transpose2d", args, x, w, b)

    convt("convt_basic", (2, 4, 5, 5), (4, 3, 3, 3))
    convt("convt_stride_outpad", (2, 3, 4, 5), (3, 2, 3, 3), stride=2, padding=1, output_padding=1)
    convt("convt_groups_dilation", (1, 4, 4, 4), (4, 3, 3, 3), groups=2, stride=2, dilation=2,
          output_padding=(1, 0))
    # output_padding >= stride is allowed when it is < dilation (oneDNN declines: reference loop).
    convt("convt_outpad_via_dilation", (1, 2, 4, 4), (2, 3, 3, 3), stride=1, dilation=2, output_padding=1)
    convt("convt_rect_nobias", (2, 3, 3, 4), (3, 2, 2, 3), bias=False, stride=(2, 1), padding=(0, 1))
    x, w = rnd(2, 4, 4), rnd(2, 3, 3, 3)
    add("convt_unbatched", "conv_transpose2d", {"stride": 2}, x, w, None)


def gen_pool():
    add("max_2x2", "max_pool2d", {"kernel_size": 2}, rnd(2, 3, 8, 8))
    # SEED A4: a 2x2 stride-2 max pool takes 75 to 37, or 38 with ceil_mode; with padding 1 and
    # ceil_mode it takes 5 to 3 (the last window must start inside the input or left padding).
    add("max_seed_a4_75_floor", "max_pool2d", {"kernel_size": 2, "stride": 2}, rnd(1, 1, 75, 75))
    add("max_seed_a4_75_ceil", "max_pool2d", {"kernel_size": 2, "stride": 2, "ceil_mode": True}, rnd(1, 1, 75, 75))
    add("max_seed_a4_5_pad_ceil", "max_pool2d", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
        rnd(1, 1, 5, 5))
    add("max_3x3_s2_p1", "max_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, rnd(2, 3, 9, 10))
    add("max_dilation", "max_pool2d", {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2}, rnd(1, 2, 9, 9))
    add("max_rect_ceil", "max_pool2d", {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "ceil_mode": True},
        rnd(2, 2, 8, 7))
    # Ties (small integers): the first maximum in the window wins, as in PyTorch.
    add("max_ties", "max_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1},
        torch.randint(0, 3, (1, 2, 7, 7)).float())
    add("max_unbatched", "max_pool2d", {"kernel_size": 2, "stride": 1}, rnd(2, 5, 4))

    add("avg_2x2", "avg_pool2d", {"kernel_size": 2}, rnd(2, 3, 8, 8))
    for ceil in (False, True):
        for inc in (True, False):
            add(f"avg_3x3_s2_p1_ceil{int(ceil)}_incpad{int(inc)}", "avg_pool2d",
                {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": ceil, "count_include_pad": inc},
                rnd(1, 2, 7, 8))
    # ceil_mode windows that run past the padded input: the divisor is clipped to it.
    for inc in (True, False):
        add(f"avg_ceil_past_pad_incpad{int(inc)}", "avg_pool2d",
            {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": inc},
            rnd(1, 1, 6, 6))
    add("avg_divisor_override", "avg_pool2d", {"kernel_size": (2, 3), "padding": (1, 1), "divisor_override": 4},
        rnd(2, 2, 5, 7))
    add("avg_ceil_13_to_7", "avg_pool2d", {"kernel_size": 2, "stride": 2, "ceil_mode": True}, rnd(1, 2, 13, 13))
    add("avg_unbatched", "avg_pool2d", {"kernel_size": 2, "stride": 1}, rnd(2, 5, 4))

    add("adaptive_nondivisible", "adaptive_avg_pool2d", {"output_size": (3, 4)}, rnd(2, 3, 7, 9))
    add("adaptive_divisible", "adaptive_avg_pool2d", {"output_size": (4, 4)}, rnd(1, 2, 8, 8))
    add("adaptive_global", "adaptive_avg_pool2d", {"output_size": 1}, rnd(2, 3, 5, 6))
    add("adaptive_upsample", "adaptive_avg_pool2d", {"output_size": (7, 6)}, rnd(1, 2, 5, 5))
    add("adaptive_unbatched", "adaptive_avg_pool2d", {"output_size": (2, 3)}, rnd(3, 5, 7))


def jsonable(v):
    if isinstance(v, tuple):
        return list(v)
    return v


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen_conv()
    gen_conv_transpose()
    gen_pool()
    for c in cases:
        c["args"] = {k: jsonable(v) for k, v in c["args"].items()}
    with open(os.path.join(HERE, "nn_conv.json"), "w") as f:
        f.write('{"torch": ' + json.dumps(torch.__version__) + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")
    write_safetensors(os.path.join(HERE, "nn_conv.safetensors"), tensors,
                      {"source": "tests/golden/gen_nn_conv_golden.py", "torch": torch.__version__})


if __name__ == "__main__":
    main()
