# Generates golden values for tests/nn_norm_loss_test.cpp from PyTorch 1.13 (run with /usr/bin/python3).
"""Writes, next to this script (committed, small, fixed seeds so reruns give the same files):

  nn.json          the cases
  nn.safetensors   their tensors

nn.json: {"torch": version, "aliases": {name: stored name}, "cases": [case, ...]}. Identical
tensors are stored once: a name missing from nn.safetensors is looked up in "aliases". A case is
  {"id": str, "fn": str, "args": {...}, "inputs": n, "grads": [k, ...], "dtype": "float32"|"float64"}
  - Input k is "<id>/in<k>" (undefined inputs are named in args, e.g. "weight": k or null).
  - The forward output is "<id>/out". For the gradient test the runner computes
    (out * "<id>/gout").sum() and backpropagates; "<id>/grad<k>" is the gradient of input k, for
    every k listed in "grads".
  - fn "batchnorm_steps": a BatchNorm module (args: kind "1d"/"2d", C, momentum (null = cumulative
    average), affine) is run in train() on inputs 0 .. steps-1, then in eval() on input `steps`.
    Stored: "<id>/running_mean", "<id>/running_var", "<id>/num_batches_tracked" after training,
    "<id>/train_out" (last training step's output), "<id>/out" (the eval output), and the
    gradients of the last training step's (train_out * gout).sum() with respect to its input
    ("<id>/grad_x"), weight and bias ("<id>/grad_w", "<id>/grad_b", affine only).
  - "gen": {"in<k>" | "gout": {"shape", "mul", "mod", "scale", "offset"}} marks a tensor that is not
    stored: element i (row-major) = ((i * mul) % mod) * scale + offset in float64, cast to the
    case's dtype. Used for the float32 cases large enough (>= 4096 elements) for the oneDNN paths.
"""
import json
import os
import sys
import warnings

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_golden import write_safetensors  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

CASES = []
TENSORS = []
DT = {"float32": torch.float32, "float64": torch.float64}


ALIASES = {}   # name -> name of an identical stored tensor
_STORED = {}   # (dtype, shape, bytes) -> name


def add_tensor(name, t):
    t = t.detach().contiguous().clone()
    key = (str(t.dtype), tuple(t.shape), t.numpy().tobytes())
    if key in _STORED:
        ALIASES[name] = _STORED[key]
        return
    _STORED[key] = name
    TENSORS.append((name, t))


def generated(shape, dtype, mul, mod, scale, offset):
    """Element i (row-major) = ((i * mul) % mod) * scale + offset in float64, cast to dtype: the test
    rebuilds it exactly, so large inputs need not be stored."""
    n = 1
    for s in shape:
        n *= s
    i = torch.arange(n, dtype=torch.int64)
    v = ((i * mul) % mod).to(torch.float64) * scale + offset
    spec = {"shape": list(shape), "mul": mul, "mod": mod, "scale": scale, "offset": offset}
    return v.reshape(shape).to(dtype), spec


def case(cid, fn, args, inputs, grads, forward, dtype="float32", gen=None):
    """Absent optional inputs are left out; args say which input index holds what.
    forward(*inputs) -> output tensor. gen: {"in<k>" or "gout": spec} for generated tensors
    (inputs[k] must then be the generated tensor itself)."""
    assert all(c["id"] != cid for c in CASES), cid
    gen = gen or {}
    ins = [t.detach().clone() for t in inputs]
    for k in grads:
        ins[k].requires_grad_(True)
    out = forward(*ins)
    for k, t in enumerate(ins):
        if f"in{k}" not in gen:
            add_tensor(f"{cid}/in{k}", t)
    add_tensor(f"{cid}/out", out)
    if grads:
        if "gout" in gen:
            g = generated(out.shape, out.dtype, **{k: v for k, v in gen["gout"].items() if k != "shape"})[0]
            gen["gout"] = dict(gen["gout"], shape=list(out.shape))
        else:
            g = torch.randn(out.shape, dtype=out.dtype)
            add_tensor(f"{cid}/gout", g)
        (out * g).sum().backward()
        for k in grads:
            add_tensor(f"{cid}/grad{k}", ins[k].grad)
    c = {"id": cid, "fn": fn, "args": args, "inputs": len(ins), "grads": grads, "dtype": dtype}
    if gen:
        c["gen"] = gen
    CASES.append(c)


GOUT = {"shape": None, "mul": 37, "mod": 101, "scale": 0.02, "offset": -1.0}


# ---- losses: every loss x every reduction ----
def gen_losses():
    torch.manual_seed(1)
    reds = ["none", "mean", "sum"]
    for dt in ["float32", "float64"]:
        d = DT[dt]
        x, t = torch.randn(4, 5, dtype=d), torch.randn(4, 5, dtype=d)
        for r in reds:
            case(f"mse_{r}_{dt}", "mse_loss", {"reduction": r}, [x, t], [0, 1],
                 lambda a, b, r=r: F.mse_loss(a, b, reduction=r), dt)
            case(f"l1_{r}_{dt}", "l1_loss", {"reduction": r}, [x, t], [0, 1],
                 lambda a, b, r=r: F.l1_loss(a, b, reduction=r), dt)
            for beta in [1.0, 0.5, 0.0]:
                case(f"smoothl1_b{beta}_{r}_{dt}", "smooth_l1_loss", {"reduction": r, "beta": beta}, [x * 2, t], [0, 1],
                     lambda a, b, r=r, beta=beta: F.smooth_l1_loss(a, b, reduction=r, beta=beta), dt)

    # nll / cross_entropy with class indices: 2-D and K-D inputs, weights, ignore_index, smoothing.
    for dt in ["float32", "float64"]:
        d = DT[dt]
        x2 = torch.randn(6, 4, dtype=d)
        t2 = torch.tensor([0, 3, 1, -100, 2, 3])
        t2i = torch.tensor([0, 3, 1, 2, 2, 1])  # ignore_index 2 (a real class)
        x4 = torch.randn(2, 3, 2, 3, dtype=d)
        t4 = torch.randint(0, 3, (2, 2, 3))
        t4[0, 1, 2] = -100
        w = torch.rand(4, dtype=d) + 0.5
        w3 = torch.rand(3, dtype=d) + 0.5
        x1 = torch.randn(5, dtype=d)
        t1 = torch.tensor(3)
        for r in reds:
            lp = x2.log_softmax(1)
            case(f"nll_{r}_{dt}", "nll_loss", {"reduction": r}, [lp, t2], [0],
                 lambda a, b, r=r: F.nll_loss(a, b, reduction=r), dt)
            case(f"nll_w_{r}_{dt}", "nll_loss", {"reduction": r, "weight": 2}, [lp, t2, w], [0],
                 lambda a, b, c, r=r: F.nll_loss(a, b, weight=c, reduction=r), dt)
            case(f"nll_ign2_{r}_{dt}", "nll_loss", {"reduction": r, "ignore_index": 2, "weight": 2}, [lp, t2i, w], [0],
                 lambda a, b, c, r=r: F.nll_loss(a, b, weight=c, ignore_index=2, reduction=r), dt)
            case(f"nll_kd_{r}_{dt}", "nll_loss", {"reduction": r, "weight": 2}, [x4.log_softmax(1), t4, w3], [0],
                 lambda a, b, c, r=r: F.nll_loss(a, b, weight=c, reduction=r), dt)
            case(f"ce_{r}_{dt}", "cross_entropy", {"reduction": r}, [x2, t2], [0],
                 lambda a, b, r=r: F.cross_entropy(a, b, reduction=r), dt)
            case(f"ce_w_{r}_{dt}", "cross_entropy", {"reduction": r, "weight": 2}, [x2, t2, w], [0],
                 lambda a, b, c, r=r: F.cross_entropy(a, b, weight=c, reduction=r), dt)
            case(f"ce_ign2_{r}_{dt}", "cross_entropy", {"reduction": r, "ignore_index": 2}, [x2, t2i], [0],
                 lambda a, b, r=r: F.cross_entropy(a, b, ignore_index=2, reduction=r), dt)
            case(f"ce_ls_{r}_{dt}", "cross_entropy", {"reduction": r, "label_smoothing": 0.2}, [x2, t2], [0],
                 lambda a, b, r=r: F.cross_entropy(a, b, reduction=r, label_smoothing=0.2), dt)
            case(f"ce_ls_w_{r}_{dt}", "cross_entropy", {"reduction": r, "label_smoothing": 0.1, "weight": 2},
                 [x2, t2, w], [0], lambda a, b, c, r=r: F.cross_entropy(a, b, weight=c, reduction=r,
                                                                       label_smoothing=0.1), dt)
            case(f"ce_kd_ls_w_{r}_{dt}", "cross_entropy", {"reduction": r, "label_smoothing": 0.3, "weight": 2},
                 [x4, t4, w3], [0], lambda a, b, c, r=r: F.cross_entropy(a, b, weight=c, reduction=r,
                                                                        label_smoothing=0.3), dt)
            case(f"ce_1d_{r}_{dt}", "cross_entropy", {"reduction": r}, [x1, t1], [0],
                 lambda a, b, r=r: F.cross_entropy(a, b, reduction=r), dt)
            probs = torch.rand(6, 4, dtype=d).softmax(1)
            case(f"ce_prob_{r}_{dt}", "cross_entropy", {"reduction": r}, [x2, probs], [0, 1],
                 lambda a, b, r=r: F.cross_entropy(a, b, reduction=r), dt)
            case(f"ce_prob_ls_w_{r}_{dt}", "cross_entropy", {"reduction": r, "label_smoothing": 0.25, "weight": 2},
                 [x2, probs, w], [0, 1], lambda a, b, c, r=r: F.cross_entropy(a, b, weight=c, reduction=r,
                                                                             label_smoothing=0.25), dt)
            probs4 = torch.rand(2, 3, 2, 3, dtype=d).softmax(1)
            case(f"ce_prob_kd_{r}_{dt}", "cross_entropy", {"reduction": r}, [x4, probs4], [0],
                 lambda a, b, r=r: F.cross_entropy(a, b, reduction=r), dt)

    # binary cross entropy (weights, probabilities at the extremes) and with logits (pos_weight,
    # large logits).
    for dt in ["float32", "float64"]:
        d = DT[dt]
        p = torch.rand(3, 5, dtype=d) * 0.98 + 0.01
        y = torch.rand(3, 5, dtype=d)
        w = torch.rand(3, 5, dtype=d) + 0.5
        wrow = torch.rand(5, dtype=d) + 0.5
        pe = torch.tensor([0.0, 1.0, 0.3, 1e-30, 0.999], dtype=d)
        ye = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.5], dtype=d)
        logits = torch.randn(3, 5, dtype=d) * 3
        logits[0, 0], logits[0, 1], logits[1, 0], logits[1, 1] = 80.0, -80.0, 30.0, -30.0
        posw = torch.rand(5, dtype=d) * 2 + 0.1
        for r in reds:
            case(f"bce_{r}_{dt}", "binary_cross_entropy", {"reduction": r}, [p, y], [0, 1],
                 lambda a, b, r=r: F.binary_cross_entropy(a, b, reduction=r), dt)
            case(f"bce_w_{r}_{dt}", "binary_cross_entropy", {"reduction": r, "weight": 2}, [p, y, w], [0, 1],
                 lambda a, b, c, r=r: F.binary_cross_entropy(a, b, weight=c, reduction=r), dt)
            case(f"bce_wrow_{r}_{dt}", "binary_cross_entropy", {"reduction": r, "weight": 2}, [p, y, wrow], [0],
                 lambda a, b, c, r=r: F.binary_cross_entropy(a, b, weight=c, reduction=r), dt)
            case(f"bce_edges_{r}_{dt}", "binary_cross_entropy", {"reduction": r}, [pe, ye], [0],
                 lambda a, b, r=r: F.binary_cross_entropy(a, b, reduction=r), dt)
            case(f"bcel_{r}_{dt}", "binary_cross_entropy_with_logits", {"reduction": r}, [logits, y], [0, 1],
                 lambda a, b, r=r: F.binary_cross_entropy_with_logits(a, b, reduction=r), dt)
            case(f"bcel_w_pw_{r}_{dt}", "binary_cross_entropy_with_logits",
                 {"reduction": r, "weight": 2, "pos_weight": 3}, [logits, y, w, posw], [0, 1],
                 lambda a, b, c, e, r=r: F.binary_cross_entropy_with_logits(a, b, weight=c, pos_weight=e,
                                                                            reduction=r), dt)
            case(f"bcel_pw_{r}_{dt}", "binary_cross_entropy_with_logits", {"reduction": r, "pos_weight": 2},
                 [logits, y, posw], [0], lambda a, b, e, r=r: F.binary_cross_entropy_with_logits(
                     a, b, pos_weight=e, reduction=r), dt)


# ---- interpolate: every mode x align_corners x size / scale_factor, up and down ----
def gen_interpolate():
    torch.manual_seed(2)
    for dt in ["float32", "float64"]:
        d = DT[dt]
        x4 = torch.randn(1, 2, 5, 7, dtype=d)
        x3 = torch.randn(2, 3, 6, dtype=d)
        x5 = torch.randn(1, 2, 3, 4, 5, dtype=d)
        specs = [  # (name, kwargs) — up, down, mixed, non-integer factors, recompute
            ("size_up", {"size": (9, 12)}),
            ("size_down", {"size": (3, 4)}),
            ("size_mixed", {"size": (10, 3)}),
            ("size_same", {"size": (5, 7)}),
            ("sf2", {"scale_factor": 2.0}),
            ("sf_half", {"scale_factor": 0.5}),
            ("sf_mixed", {"scale_factor": (1.7, 0.6)}),
            ("sf_recompute", {"scale_factor": (1.7, 0.6), "recompute_scale_factor": True}),
            ("sf1", {"scale_factor": 1.0}),
        ]
        for mode in ["nearest", "nearest-exact", "bilinear", "bicubic"]:
            aligns = [None] if mode.startswith("nearest") else [False, True]
            for ac in aligns:
                for name, kw in specs:
                    if dt == "float64" and name not in ("size_up", "sf_half", "sf_mixed"):
                        continue  # float64 (double coordinates): a subset; float32 runs them all
                    args = {"mode": mode, **{k: (list(v) if isinstance(v, tuple) else [v]) for k, v in kw.items()
                                             if k in ("size", "scale_factor")}}
                    if "recompute_scale_factor" in kw:
                        args["recompute_scale_factor"] = True
                    if ac is not None:
                        args["align_corners"] = ac
                    cid = f"interp_{mode}_{'ac' if ac else 'hp' if ac is not None else 'n'}_{name}_{dt}"
                    case(cid, "interpolate", args, [x4], [0],
                         lambda a, kw=kw, ac=ac, mode=mode: F.interpolate(a, mode=mode, align_corners=ac, **kw), dt)
        for mode, x in [("linear", x3), ("nearest", x3), ("trilinear", x5), ("nearest", x5)]:
            for ac in ([None] if mode == "nearest" else [False, True]):
                for name, kw in [("size", {"size": [4] * (x.dim() - 2)}), ("sf", {"scale_factor": 1.5})]:
                    args = {"mode": mode, **{k: (v if isinstance(v, list) else [v]) for k, v in kw.items()}}
                    if ac is not None:
                        args["align_corners"] = ac
                    cid = f"interp{x.dim()}d_{mode}_{'ac' if ac else 'hp' if ac is not None else 'n'}_{name}_{dt}"
                    case(cid, "interpolate", args, [x], [0],
                         lambda a, kw=kw, ac=ac, mode=mode: F.interpolate(a, mode=mode, align_corners=ac, **kw), dt)


# ---- normalization and softmax ----
def gen_norm_softmax():
    torch.manual_seed(3)
    for dt in ["float32", "float64"]:
        d = DT[dt]
        # layer_norm over the last 1 and 2 dims, with and without affine; a large float32 case runs
        # oneDNN (>= 4096 elements).
        x = torch.randn(3, 4, 5, dtype=d)
        w1, b1 = torch.randn(5, dtype=d), torch.randn(5, dtype=d)
        w2, b2 = torch.randn(4, 5, dtype=d), torch.randn(4, 5, dtype=d)
        case(f"ln_last1_{dt}", "layer_norm", {"shape": [5], "weight": 1, "bias": 2}, [x, w1, b1], [0, 1, 2],
             lambda a, w, b: F.layer_norm(a, [5], w, b), dt)
        case(f"ln_last2_{dt}", "layer_norm", {"shape": [4, 5], "weight": 1, "bias": 2, "eps": 1e-3},
             [x, w2, b2], [0, 1, 2], lambda a, w, b: F.layer_norm(a, [4, 5], w, b, eps=1e-3), dt)
        case(f"ln_noaffine_{dt}", "layer_norm", {"shape": [4, 5]}, [x * 3 + 1], [0],
             lambda a: F.layer_norm(a, [4, 5]), dt)
        case(f"ln_weightonly_{dt}", "layer_norm", {"shape": [5], "weight": 1}, [x, w1], [0, 1],
             lambda a, w: F.layer_norm(a, [5], w, None), dt)
        if dt == "float32":  # >= 4096 elements: the oneDNN path (float64 always runs the loop)
            xl, sp = generated((52, 80), d, 7, 89, 0.045, -1.5)
            case(f"ln_big_{dt}", "layer_norm", {"shape": [80], "weight": 1, "bias": 2},
                 [xl, torch.randn(80, dtype=d), torch.randn(80, dtype=d)], [0, 1, 2],
                 lambda a, w, b: F.layer_norm(a, [80], w, b), dt, gen={"in0": sp, "gout": dict(GOUT)})
        # functional batch_norm: training (batch stats) and eval (running stats), gradients.
        xb = torch.randn(4, 3, 2, 2, dtype=d)
        rm, rv = torch.randn(3, dtype=d), torch.rand(3, dtype=d) + 0.5
        wb, bb = torch.randn(3, dtype=d), torch.randn(3, dtype=d)
        case(f"bn_train_{dt}", "batch_norm", {"training": True, "weight": 1, "bias": 2}, [xb, wb, bb], [0, 1, 2],
             lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True), dt)
        case(f"bn_eval_{dt}", "batch_norm", {"training": False, "weight": 1, "bias": 2, "running_mean": 3,
                                             "running_var": 4}, [xb, wb, bb, rm, rv], [0, 1, 2],
             lambda a, w, b, m, v: F.batch_norm(a, m, v, w, b, training=False), dt)
        case(f"bn_train_2d_noaffine_{dt}", "batch_norm", {"training": True, "eps": 1e-3}, [torch.randn(5, 4, dtype=d)],
             [0], lambda a: F.batch_norm(a, None, None, training=True, eps=1e-3), dt)
        if dt == "float32":  # 4608 elements: oneDNN
            xbb, sp = generated((4, 16, 8, 9), d, 11, 97, 0.04, -1.7)
            case(f"bn_train_big_{dt}", "batch_norm", {"training": True, "weight": 1, "bias": 2},
                 [xbb, torch.randn(16, dtype=d), torch.randn(16, dtype=d)], [0, 1, 2],
                 lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True), dt,
                 gen={"in0": sp, "gout": dict(GOUT)})
            case(f"bn_eval_big_{dt}", "batch_norm", {"training": False, "weight": 1, "bias": 2, "running_mean": 3,
                                                     "running_var": 4},
                 [xbb, torch.randn(16, dtype=d), torch.randn(16, dtype=d), torch.randn(16, dtype=d),
                  torch.rand(16, dtype=d) + 0.5], [0, 1, 2],
                 lambda a, w, b, m, v: F.batch_norm(a, m, v, w, b, training=False), dt,
                 gen={"in0": sp, "gout": dict(GOUT)})
        # softmax / log_softmax over several dims, large values (stability), and a big float32 case.
        xs = torch.randn(3, 4, 5, dtype=d)
        for fn in ["softmax", "log_softmax"]:
            f = getattr(F, fn)
            for dim in [0, 1, 2, -1]:
                case(f"{fn}_d{dim}_{dt}", fn, {"dim": dim}, [xs], [0], lambda a, f=f, dim=dim: f(a, dim=dim), dt)
            big = xs * 1000 + 1e4  # exp overflows without the max shift; log_softmax stays finite
            big[0, 0, 0] = -1e4
            case(f"{fn}_large_{dt}", fn, {"dim": 1}, [big], [0], lambda a, f=f: f(a, dim=1), dt)
            if dt == "float32":  # >= 4096 elements: oneDNN, softmax over the last dim and an inner one
                xb, sp = generated((41, 100), d, 13, 103, 0.08, -4.0)
                case(f"{fn}_big_{dt}", fn, {"dim": 1}, [xb], [0], lambda a, f=f: f(a, dim=1), dt,
                     gen={"in0": sp, "gout": dict(GOUT)})
                xb, sp = generated((4, 10, 103), d, 17, 89, 0.09, -4.0)
                case(f"{fn}_big_inner_{dt}", fn, {"dim": 1}, [xb], [0], lambda a, f=f: f(a, dim=1), dt,
                     gen={"in0": sp, "gout": dict(GOUT)})


def gen_batchnorm_steps():
    """BatchNorm running statistics after several training steps, then the eval output."""
    torch.manual_seed(4)
    specs = [("bn2d_m01", "2d", 3, 0.1, True, (4, 3, 3, 3)), ("bn2d_cum", "2d", 3, None, True, (2, 3, 2, 4)),
             ("bn1d_m03", "1d", 5, 0.3, True, (6, 5)), ("bn1d_3d_noaffine", "1d", 4, 0.1, False, (3, 4, 7)),
             ("bn2d_big", "2d", 8, 0.2, True, (4, 8, 12, 12))]
    for cid, kind, C, mom, affine, shape in specs:
        big = cid.endswith("big")  # float32 only (oneDNN), generated inputs
        for dt in ["float32"] if big else ["float32", "float64"]:
            d = DT[dt]
            m = (torch.nn.BatchNorm2d if kind == "2d" else torch.nn.BatchNorm1d)(C, momentum=mom, affine=affine).to(d)
            if affine:
                with torch.no_grad():
                    m.weight.copy_(torch.randn(C, dtype=d))
                    m.bias.copy_(torch.randn(C, dtype=d))
            steps = 3
            gen = {}
            if big:
                xs = []
                for i in range(steps + 1):
                    x, sp = generated(shape, d, 7 + 4 * i, 97 - 2 * i, 0.03 * (i + 1), -1.4 * (i + 1) + i)
                    xs.append(x)
                    gen[f"in{i}"] = sp
            else:
                xs = [torch.randn(*shape, dtype=d) * (i + 1) + i for i in range(steps + 1)]
            name = f"{cid}_{dt}"
            m.train()
            for i in range(steps):
                xi = xs[i].clone().requires_grad_(True)
                out = m(xi)
            if big:
                g, gen["gout"] = generated(out.shape, d, 37, 101, 0.02, -1.0)
            else:
                g = torch.randn(out.shape, dtype=d)
                add_tensor(f"{name}/gout", g)
            (out * g).sum().backward()
            for k, x in enumerate(xs):
                if f"in{k}" not in gen:
                    add_tensor(f"{name}/in{k}", x)
            add_tensor(f"{name}/train_out", out)
            add_tensor(f"{name}/grad_x", xi.grad)
            if affine:
                add_tensor(f"{name}/weight", m.weight)  # set above; no optimizer step changes them
                add_tensor(f"{name}/bias", m.bias)
                # Only the last step's output was backpropagated: .grad is that step's gradient.
                add_tensor(f"{name}/grad_w", m.weight.grad)
                add_tensor(f"{name}/grad_b", m.bias.grad)
            add_tensor(f"{name}/running_mean", m.running_mean)
            add_tensor(f"{name}/running_var", m.running_var)
            add_tensor(f"{name}/num_batches_tracked", m.num_batches_tracked)
            m.eval()
            with torch.no_grad():
                add_tensor(f"{name}/out", m(xs[steps]))
            c = {"id": name, "fn": "batchnorm_steps", "inputs": steps + 1, "grads": [], "dtype": dt,
                 "args": {"kind": kind, "C": C, "momentum": mom, "affine": affine, "steps": steps}}
            if gen:
                c["gen"] = gen
            CASES.append(c)


def gen_embedding_pad():
    torch.manual_seed(5)
    for dt in ["float32", "float64"]:
        d = DT[dt]
        w = torch.randn(7, 3, dtype=d)
        idx = torch.tensor([[0, 2, 6, 2], [1, 0, 0, 5]])
        case(f"emb_{dt}", "embedding", {}, [idx, w], [1], lambda i, ww: F.embedding(i, ww), dt)
        case(f"emb_pad0_{dt}", "embedding", {"padding_idx": 0}, [idx, w], [1],
             lambda i, ww: F.embedding(i, ww, padding_idx=0), dt)
        case(f"emb_padneg_{dt}", "embedding", {"padding_idx": -1}, [torch.tensor([6, 1, 6, 3]), w], [1],
             lambda i, ww: F.embedding(i, ww, padding_idx=-1), dt)
        x = torch.randn(2, 3, 4, 5, dtype=d)
        pads = [("c1", [1, 2], "constant", 0.0), ("c2", [1, 0, 2, 1], "constant", 1.5),
                ("c3", [0, 1, 1, 0, 1, 1], "constant", -2.0), ("cneg", [-1, 2, 1, -2], "constant", 0.0),
                ("reflect2", [1, 3, 2, 1], "reflect", 0.0), ("replicate2", [2, 1, 3, 0], "replicate", 0.0),
                ("circular2", [1, 2, 2, 1], "circular", 0.0)]
        for name, p, mode, v in pads:
            case(f"pad_{name}_{dt}", "pad", {"pad": p, "mode": mode, "value": v}, [x], [0],
                 lambda a, p=p, mode=mode, v=v: F.pad(a, p, mode=mode, value=v) if mode == "constant"
                 else F.pad(a, p, mode=mode), dt)
        x3 = torch.randn(2, 3, 6, dtype=d)  # one padded dim: (N, C, W)
        for name, p, mode in [("reflect1", [3, 5], "reflect"), ("replicate1", [4, 2], "replicate"),
                              ("circular1", [2, 6], "circular")]:
            case(f"pad_{name}_{dt}", "pad", {"pad": p, "mode": mode, "value": 0.0}, [x3], [0],
                 lambda a, p=p, mode=mode: F.pad(a, p, mode=mode), dt)


def main():
    gen_losses()
    gen_interpolate()
    gen_norm_softmax()
    gen_batchnorm_steps()
    gen_embedding_pad()
    meta = {"generator": "tests/golden/gen_nn_golden.py", "torch": torch.__version__}
    write_safetensors(os.path.join(HERE, "nn.safetensors"), TENSORS, meta)
    with open(os.path.join(HERE, "nn.json"), "w") as f:
        f.write('{"torch": ' + json.dumps(torch.__version__) + ',\n"aliases": ' + json.dumps(ALIASES) +
                ',\n"cases": [\n')
        for i, c in enumerate(CASES):
            f.write(json.dumps(c, separators=(",", ":")) + (",\n" if i + 1 < len(CASES) else "\n"))
        f.write("]}\n")
    print(f"{len(CASES)} cases, {len(TENSORS)} tensors, "
          f"{os.path.getsize(os.path.join(HERE, 'nn.safetensors'))} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
