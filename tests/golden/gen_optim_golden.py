# Generates the optimizer, scheduler, clipping and SWA golden values from PyTorch 1.13 (run with Debian's /usr/bin/python3).
"""Writes, next to this script (small, committed):

  optim.json          {"torch": version, "optimizers": [...], "schedulers": [...], "clip": [...], "swa": {...}}
  optim.safetensors   the tensors the cases name

Model for the optimizer trajectories: y = fc2(tanh(fc1(x))), fc1 = Linear(5, 4), fc2 = Linear(4, 3),
loss = mean((y - t)^2) over a fixed batch x (16, 5), t (16, 3). Initial weights "model/<name>" and the
batch "data/x", "data/t" are float32 (the float64 runs start from the same values). Each step:
zero_grad(), loss.backward(), step(). Case "<id>" stores "opt/<id>/<dtype>" of shape (20, 39): after
each of 20 steps, fc1.weight, fc1.bias, fc2.weight, fc2.bias flattened and concatenated.
  optimizer case: {"id", "optimizer" (sgd|adam|adamw|rmsprop|adagrad), "options": {...} (hearth's
  option names: betas are beta1/beta2), "groups": null | [{"params": [indices into the four tensors],
  "options": {...}}]}

Schedulers: an SGD (or Adam, "optimizer": "adam") optimizer with two groups, lr 0.1 and 0.05
(momentum 0.9 for SGD), over a dummy parameter each. "lrs" is a list of 51 [lr of group 0, lr of
group 1]: after construction, then after each of 50 steps (optimizer.step() first, then every
scheduler's step()). "momentum" (OneCycleLR) likewise: SGD's momentum or Adam's beta1.
  scheduler case: {"id", "optimizer", "schedulers": [{"name", args...}], "chained": bool, "lrs", "momentum"?}

clip: gradients "clip/<id>/g<k>" (float32), clip_grad_norm_ or clip_grad_value_, the returned
norm, and the clipped gradients "clip/<id>/out<k>".

swa: AveragedModel over the same model: before each of 6 updates the model's parameters are set to
"swa/snap<k>/<name>"; after update k the averaged parameters are "swa/<variant>/avg<k>/<name>"
(variants: "mean" = default running mean, "ema" = avg_fn 0.9 * avg + 0.1 * current).

update_bn: models "bn1d" = Sequential(Linear(5, 6), BatchNorm1d(6), Tanh(), Linear(6, 4),
BatchNorm1d(4, momentum=0.3)) over x (42, 5) in batches of 8 (the last has 2), and "bn2d" =
Sequential(Conv2d(2, 3, 3, padding=1), BatchNorm2d(3)) over x (10, 2, 4, 4) in batches of 4. Every
state-dict entry of the model before is "bn/<model>/before/<key>" (running statistics deliberately
not the defaults, num_batches_tracked 7, the model in eval mode), the data "bn/<model>/x", the
targets "bn/<model>/y" (unused), and the state after update_bn "bn/<model>/after/<key>". "bn_swa":
AveragedModel of bn1d updated with 3 snapshots "bn/swa/snap<k>/<name>", then update_bn on the
AveragedModel; its module's state after is "bn/swa/after/<key>".
"""
import json
import math
import os
import sys
import warnings

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_golden import write_safetensors  # noqa: E402

warnings.filterwarnings("ignore")
STEPS = 20
SCHED_STEPS = 50


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 4)
        self.fc2 = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def make_init():
    g = torch.Generator().manual_seed(1234)
    init = {
        "fc1.weight": torch.rand(4, 5, generator=g) - 0.5,
        "fc1.bias": torch.rand(4, generator=g) - 0.5,
        "fc2.weight": torch.rand(3, 4, generator=g) - 0.5,
        "fc2.bias": torch.rand(3, generator=g) - 0.5,
    }
    x = torch.randn(16, 5, generator=g)
    t = torch.randn(16, 3, generator=g)
    return init, x, t


def build(init, dtype):
    net = Net()
    with torch.no_grad():
        for n, p in net.named_parameters():
            p.copy_(init[n])
    return net.to(dtype)


def torch_options(name, o):
    o = dict(o)
    if "beta1" in o or "beta2" in o:
        o["betas"] = (o.pop("beta1", 0.9), o.pop("beta2", 0.999))
    return o


OPT_CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
               "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}

OPT_CASES = [
    {"id": "sgd", "optimizer": "sgd", "options": {"lr": 0.1}},
    {"id": "sgd_momentum", "optimizer": "sgd", "options": {"lr": 0.05, "momentum": 0.9}},
    {"id": "sgd_momentum_dampening_wd", "optimizer": "sgd",
     "options": {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}},
    {"id": "sgd_nesterov_wd", "optimizer": "sgd",
     "options": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}},
    {"id": "sgd_maximize", "optimizer": "sgd", "options": {"lr": 0.02, "momentum": 0.5, "maximize": True}},
    {"id": "sgd_groups", "optimizer": "sgd", "options": {"lr": 0.05, "momentum": 0.9},
     "groups": [{"params": [0, 2], "options": {"weight_decay": 0.01}},
                {"params": [1, 3], "options": {"lr": 0.1, "weight_decay": 0.0}}]},
    {"id": "adam", "optimizer": "adam", "options": {"lr": 0.01}},
    {"id": "adam_wd", "optimizer": "adam", "options": {"lr": 0.01, "weight_decay": 0.1}},
    {"id": "adam_amsgrad", "optimizer": "adam", "options": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "amsgrad": True}},
    {"id": "adamw", "optimizer": "adamw", "options": {"lr": 0.01, "weight_decay": 0.1}},
    {"id": "adamw_amsgrad", "optimizer": "adamw", "options": {"lr": 0.01, "weight_decay": 0.05, "amsgrad": True}},
    {"id": "rmsprop", "optimizer": "rmsprop", "options": {"lr": 0.01}},
    {"id": "rmsprop_centered", "optimizer": "rmsprop", "options": {"lr": 0.005, "centered": True}},
    {"id": "rmsprop_centered_momentum_wd", "optimizer": "rmsprop",
     "options": {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01}},
    {"id": "adagrad", "optimizer": "adagrad", "options": {"lr": 0.1}},
    {"id": "adagrad_decay_wd", "optimizer": "adagrad",
     "options": {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.01, "initial_accumulator_value": 0.1}},
]


def run_opt_case(case, init, x, t, dtype):
    net = build(init, dtype)
    params = [dict(net.named_parameters())[n] for n in NAMES]
    cls = OPT_CLASSES[case["optimizer"]]
    opts = torch_options(case["optimizer"], case["options"])
    if case.get("groups"):
        groups = [dict(params=[params[i] for i in g["params"]], **torch_options(case["optimizer"], g["options"]))
                  for g in case["groups"]]
        opt = cls(groups, **opts)
    else:
        opt = cls(params, **opts)
    xs, ts = x.to(dtype), t.to(dtype)
    rows = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((net(xs) - ts) ** 2).mean()
        loss.backward()
        opt.step()
        rows.append(torch.cat([p.detach().reshape(-1) for p in params]))
    return torch.stack(rows)


# ---- schedulers ----
S = torch.optim.lr_scheduler
SCHED_CASES = [
    {"id": "steplr", "schedulers": [{"name": "steplr", "step_size": 7, "gamma": 0.5}]},
    {"id": "multisteplr", "schedulers": [{"name": "multisteplr", "milestones": [5, 12, 12, 30], "gamma": 0.3}]},
    {"id": "exponentiallr", "schedulers": [{"name": "exponentiallr", "gamma": 0.93}]},
    {"id": "cosineannealinglr", "schedulers": [{"name": "cosineannealinglr", "T_max": 12, "eta_min": 0.001}]},
    {"id": "linearlr", "schedulers": [{"name": "linearlr", "start_factor": 0.25, "end_factor": 1.0, "total_iters": 8}]},
    {"id": "linearlr_decay", "schedulers": [{"name": "linearlr", "start_factor": 1.0, "end_factor": 0.1,
                                             "total_iters": 20}]},
    {"id": "onecyclelr", "schedulers": [{"name": "onecyclelr", "max_lr": [0.2, 0.1], "total_steps": 60}],
     "momentum": True},
    {"id": "onecyclelr_linear_three_phase_adam", "optimizer": "adam",
     "schedulers": [{"name": "onecyclelr", "max_lr": [0.3], "epochs": 5, "steps_per_epoch": 12,
                     "anneal_strategy": "linear", "three_phase": True, "pct_start": 0.25}], "momentum": True},
    {"id": "warmup_then_cosine", "schedulers": [{"name": "linearlr", "start_factor": 0.1, "end_factor": 1.0,
                                                 "total_iters": 5},
                                                {"name": "cosineannealinglr", "T_max": 50, "eta_min": 0.0}]},
    {"id": "chainedscheduler", "chained": True,
     "schedulers": [{"name": "exponentiallr", "gamma": 0.95}, {"name": "steplr", "step_size": 10, "gamma": 0.5}]},
    {"id": "swalr_cos", "schedulers": [{"name": "swalr", "swa_lr": [0.02], "anneal_epochs": 5,
                                        "anneal_strategy": "cos"}]},
    {"id": "swalr_linear", "schedulers": [{"name": "swalr", "swa_lr": [0.03, 0.01], "anneal_epochs": 10,
                                           "anneal_strategy": "linear"}]},
    {"id": "swalr_no_anneal", "schedulers": [{"name": "swalr", "swa_lr": [0.05], "anneal_epochs": 0,
                                              "anneal_strategy": "cos"}]},
]


def make_sched(opt, s):
    a = dict(s)
    name = a.pop("name")
    if name == "steplr":
        return S.StepLR(opt, **a)
    if name == "multisteplr":
        return S.MultiStepLR(opt, **a)
    if name == "exponentiallr":
        return S.ExponentialLR(opt, **a)
    if name == "cosineannealinglr":
        return S.CosineAnnealingLR(opt, **a)
    if name == "linearlr":
        return S.LinearLR(opt, **a)
    if name == "onecyclelr":
        ml = a.pop("max_lr")
        return S.OneCycleLR(opt, max_lr=ml if len(ml) > 1 else ml[0], **a)
    if name == "swalr":
        sl = a.pop("swa_lr")
        return torch.optim.swa_utils.SWALR(opt, swa_lr=sl if len(sl) > 1 else sl[0], **a)
    raise ValueError(name)


def run_sched_case(case):
    p0 = torch.zeros(2, requires_grad=True)
    p1 = torch.zeros(2, requires_grad=True)
    if case.get("optimizer") == "adam":
        opt = torch.optim.Adam([{"params": [p0], "lr": 0.1}, {"params": [p1], "lr": 0.05}])
    else:
        opt = torch.optim.SGD([{"params": [p0], "lr": 0.1}, {"params": [p1], "lr": 0.05}], lr=0.1, momentum=0.9)
    scheds = [make_sched(opt, s) for s in case["schedulers"]]
    if case.get("chained"):
        scheds = [S.ChainedScheduler(scheds)]

    def mom():
        return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]

    lrs = [[g["lr"] for g in opt.param_groups]]
    moms = [mom()]
    for _ in range(SCHED_STEPS):
        opt.step()
        for s in scheds:
            s.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append(mom())
    out = dict(case)
    out["lrs"] = lrs
    if case.get("momentum"):
        out["momentum"] = moms
    return out


# ---- clipping ----
CLIP_CASES = [
    {"id": "norm2", "fn": "norm", "max_norm": 1.0, "norm_type": 2.0},
    {"id": "norm2_no_clip", "fn": "norm", "max_norm": 100.0, "norm_type": 2.0},
    {"id": "norm1", "fn": "norm", "max_norm": 0.5, "norm_type": 1.0},
    {"id": "norm3", "fn": "norm", "max_norm": 0.7, "norm_type": 3.0},
    {"id": "norm_inf", "fn": "norm", "max_norm": 0.25, "norm_type": "inf"},
    {"id": "value", "fn": "value", "clip_value": 0.3},
]


def run_clip(case, g, tensors):
    shapes = [(4, 5), (4,), (3, 4), (3,)]
    grads = [torch.randn(*s, generator=g) for s in shapes]
    params = [torch.zeros(*s, requires_grad=True) for s in shapes]
    for k, (p, gr) in enumerate(zip(params, grads)):
        p.grad = gr.clone()
        tensors.append((f"clip/{case['id']}/g{k}", gr))
    out = dict(case)
    if case["fn"] == "norm":
        nt = math.inf if case["norm_type"] == "inf" else case["norm_type"]
        out["total_norm"] = float(torch.nn.utils.clip_grad_norm_(params, case["max_norm"], nt))
    else:
        torch.nn.utils.clip_grad_value_(params, case["clip_value"])
    out["n"] = len(params)
    for k, p in enumerate(params):
        tensors.append((f"clip/{case['id']}/out{k}", p.grad.clone()))
    return out


# ---- SWA: AveragedModel ----
def run_swa(init, tensors):
    g = torch.Generator().manual_seed(99)
    model = build(init, torch.float32)
    snaps = []
    for k in range(6):
        snap = {n: torch.randn(*p.shape, generator=g) for n, p in model.named_parameters()}
        snaps.append(snap)
        for n, v in snap.items():
            tensors.append((f"swa/snap{k}/{n}", v))
    variants = {"mean": None, "ema": lambda a, m, n: 0.9 * a + 0.1 * m}
    for vname, fn in variants.items():
        avg = torch.optim.swa_utils.AveragedModel(model, avg_fn=fn)
        for k, snap in enumerate(snaps):
            with torch.no_grad():
                for n, p in model.named_parameters():
                    p.copy_(snap[n])
            avg.update_parameters(model)
            for n, p in avg.module.named_parameters():
                tensors.append((f"swa/{vname}/avg{k}/{n}", p.detach().clone()))
    return {"updates": len(snaps), "variants": list(variants), "names": NAMES}


# ---- SWA: update_bn ----
def bn_models():
    return {
        "bn1d": (nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 4),
                               nn.BatchNorm1d(4, momentum=0.3)), (42, 5), 8),
        "bn2d": (nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3)), (10, 2, 4, 4), 4),
    }


def randomize(model, g):
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if k.endswith("num_batches_tracked"):
                v.fill_(7)
            elif k.endswith("running_var"):
                v.copy_(torch.rand(v.shape, generator=g) + 0.5)
            else:
                v.copy_(torch.randn(v.shape, generator=g) * 0.5)


def run_update_bn(tensors):
    g = torch.Generator().manual_seed(31)
    out = {}
    for name, (model, xshape, batch) in bn_models().items():
        randomize(model, g)
        model.eval()
        x = torch.randn(*xshape, generator=g)
        y = torch.zeros(xshape[0], dtype=torch.int64)
        tensors.append((f"bn/{name}/x", x))
        tensors.append((f"bn/{name}/y", y))
        for k, v in model.state_dict().items():
            tensors.append((f"bn/{name}/before/{k}", v.clone()))
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch)
        torch.optim.swa_utils.update_bn(loader, model)
        assert not model.training
        for k, v in model.state_dict().items():
            tensors.append((f"bn/{name}/after/{k}", v.clone()))
        out[name] = {"batch_size": batch, "keys": list(model.state_dict().keys())}
        if name == "bn1d":
            # The SWA workflow: average a few weight snapshots, then recompute the statistics.
            avg = torch.optim.swa_utils.AveragedModel(model)
            for k in range(3):
                with torch.no_grad():
                    for n, p in model.named_parameters():
                        v = torch.randn(p.shape, generator=g) * 0.5
                        tensors.append((f"bn/swa/snap{k}/{n}", v))
                        p.copy_(v)
                avg.update_parameters(model)
            torch.optim.swa_utils.update_bn(loader, avg)
            for k, v in avg.module.state_dict().items():
                tensors.append((f"bn/swa/after/{k}", v.clone()))
            out["swa"] = {"snapshots": 3}
    return out


def main():
    torch.manual_seed(0)
    init, x, t = make_init()
    tensors = [(f"model/{n}", init[n]) for n in NAMES] + [("data/x", x), ("data/t", t)]
    opt_cases = []
    for case in OPT_CASES:
        for dt, name in [(torch.float32, "float32"), (torch.float64, "float64")]:
            tensors.append((f"opt/{case['id']}/{name}", run_opt_case(case, init, x, t, dt)))
        opt_cases.append(case)
    sched_cases = [run_sched_case(c) for c in SCHED_CASES]
    g = torch.Generator().manual_seed(7)
    clip_cases = [run_clip(c, g, tensors) for c in CLIP_CASES]
    swa = run_swa(init, tensors)
    swa["update_bn"] = run_update_bn(tensors)
    doc = {"torch": torch.__version__, "steps": STEPS, "sched_steps": SCHED_STEPS, "names": NAMES,
           "optimizers": opt_cases, "schedulers": sched_cases, "clip": clip_cases, "swa": swa}
    with open(os.path.join(HERE, "optim.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    write_safetensors(os.path.join(HERE, "optim.safetensors"), tensors, {"generator": "gen_optim_golden.py"})


if __name__ == "__main__":
    main()
