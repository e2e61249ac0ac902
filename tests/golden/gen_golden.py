# Generates hearth's golden op values from PyTorch 1.13 (run with Debian's /usr/bin/python3).
"""Writes, next to this script (all outputs are committed and small):

  promotion.json   torch.promote_types / torch.result_type / torch.can_cast for the ten dtypes
  ops.json         the op cases read by tests/ops_golden_test.cpp
  ops.safetensors  their tensors, named "<id>/in<k>" and "<id>/out<k>"

ops.json: {"torch": version, "cases": [case, ...]}, one case per line. A case is
  {"id": str, "op": str, "attrs": {...} (omitted when empty), "inputs": n_in, "outputs": n_out, "views": [view|null, ...],
   "alias": {"in1": "<other id>/out0", ...}}
  - Input k is the tensor "<id>/in<k>" and output k "<id>/out<k>", unless "alias" names another
    entry of the file holding the same bytes (each distinct tensor is stored once, to keep the file
    small). Stored tensors are contiguous. If views[k] is not null the runner turns the stored tensor
    into the (non-contiguous) input the op sees:
      {"kind": "t"}                       stored.t()
      {"kind": "permute", "dims": [...]}  stored.permute(dims)
      {"kind": "step", "dim": d, "step": s}  stored.slice(d, 0, end, s)  (the rows between are junk)
      {"kind": "expand", "shape": [...]}  stored.expand(shape)           (stride-0 dims)
    "strides" in a view is PyTorch's strides of the result; the runner checks its own view has the
    same strides in every dim of size > 1, so the op really sees the intended layout.
  - "gen": {"in<k>": {"shape", "dtype", "mul", "mod", "scale", "offset"}} replaces a stored input by
    one computed on the host: element i (row-major) = ((i * mul) % mod) * scale + offset in float64,
    cast to dtype (exact by construction). Used for inputs large enough for the kernels' chunked and
    parallel paths (more than 16384 / 32768 elements).
  - Scalars in attrs are JSON ints, floats or bools (the kind matters for type promotion: it is the
    kind of the Python number PyTorch was given); the strings "inf", "-inf", "nan" are floats.
  - Dtypes in attrs are PyTorch names ("float32", ...).
  - "oracle": "float32-upcast" marks a float16/bfloat16 case that PyTorch 1.13 has no CPU kernel
    for, or whose 1.13 result is further than the dtype's tolerance from the float32 result (1.13
    computes e.g. bfloat16 mm and gelu-tanh in bfloat16): the expected values are PyTorch's float32
    result on the upcast inputs, rounded to the low dtype (what PyTorch 2.x does on CPU).
  - "exact": true asks for bit-exact values (copies, selections, comparisons, conversions).
  - Index lists (ops "index", "index_put") are lists of {"tensor": k} (input k), {"int": i},
    {"slice": [start, stop, step]} (nulls for open ends), {"none": true}, {"ellipsis": true},
    {"bool": b}.
Everything is generated from fixed seeds, so rerunning gives the same files.
"""
import json
import math
import os
import struct
import sys
import warnings

import torch

assert sys.byteorder == "little"
HERE = os.path.dirname(os.path.abspath(__file__))
warnings.filterwarnings("ignore")

# ---- dtypes ----
NAMES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]
DT = {n: getattr(torch, n) for n in NAMES}
NAME = {v: k for k, v in DT.items()}
ST = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
      "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}
SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16", "int64": "i64",
         "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "bool"}
F32, F64, F16, BF16 = torch.float32, torch.float64, torch.float16, torch.bfloat16
I64, I32, I16, I8, U8, BOOL = torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool
FLOATS = [F32, F64, F16, BF16]
INTS = [I64, I32, I16, I8, U8]


def sh(dt):
    return SHORT[NAME[dt]]


# ---- safetensors writer ----
def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == BF16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, named, metadata):
    header = {"__metadata__": metadata} if metadata else {}
    blobs, off = [], 0
    for name, t in named:
        b = tensor_bytes(t)
        assert len(b) == t.numel() * t.element_size()
        header[name] = {"dtype": ST[NAME[t.dtype]], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
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


# ---- promotion table ----
def gen_promotion():
    def one(n):
        return torch.ones(2, dtype=DT[n])

    def zero(n):
        return torch.ones((), dtype=DT[n])

    out = {"torch": torch.__version__, "dtypes": NAMES}
    out["promote_types"] = {a: {b: NAME[torch.promote_types(DT[a], DT[b])] for b in NAMES} for a in NAMES}
    out["tensor_tensor"] = {a: {b: NAME[torch.result_type(one(a), one(b))] for b in NAMES} for a in NAMES}
    out["tensor_zerodim"] = {a: {b: NAME[torch.result_type(one(a), zero(b))] for b in NAMES} for a in NAMES}
    out["zerodim_tensor"] = {a: {b: NAME[torch.result_type(zero(a), one(b))] for b in NAMES} for a in NAMES}
    out["zerodim_zerodim"] = {a: {b: NAME[torch.result_type(zero(a), zero(b))] for b in NAMES} for a in NAMES}
    scalars = {"int": 2, "float": 2.5, "bool": True}
    out["tensor_scalar"] = {a: {k: NAME[torch.result_type(one(a), v)] for k, v in scalars.items()} for a in NAMES}
    out["zerodim_scalar"] = {a: {k: NAME[torch.result_type(zero(a), v)] for k, v in scalars.items()} for a in NAMES}
    out["can_cast"] = {a: {b: bool(torch.can_cast(DT[a], DT[b])) for b in NAMES} for a in NAMES}
    with open(os.path.join(HERE, "promotion.json"), "w") as f:
        f.write("{\n")
        items = list(out.items())
        for i, (k, v) in enumerate(items):
            if isinstance(v, dict):
                f.write(json.dumps(k) + ": {\n")
                rows = list(v.items())
                for j, (rk, rv) in enumerate(rows):
                    f.write("  " + json.dumps(rk) + ": " + json.dumps(rv) + (",\n" if j + 1 < len(rows) else "\n"))
                f.write("}" + (",\n" if i + 1 < len(items) else "\n"))
            else:
                f.write(json.dumps(k) + ": " + json.dumps(v) + (",\n" if i + 1 < len(items) else "\n"))
        f.write("}\n")


# ---- random inputs (fixed seed) ----
GEN = torch.Generator().manual_seed(20240607)


# Inputs come from a pool: the k-th request with the same arguments within one case gets the same
# tensor in every case, so that cases share inputs (each distinct tensor is stored once).
_POOL = {}
_SLOT = {}


def pooled(fn):
    def wrapper(*args, **kw):
        key = (fn.__name__, repr(args), repr(sorted(kw.items())))
        slot = _SLOT.get(key, 0)
        _SLOT[key] = slot + 1
        if (key, slot) not in _POOL:
            _POOL[(key, slot)] = fn(*args, **kw)
        return _POOL[(key, slot)]
    return wrapper


def new_case_slots():
    _SLOT.clear()


@pooled
def rf(shape, dt=F32, lo=-2.0, hi=2.0):
    return (torch.rand(shape, generator=GEN, dtype=F64) * (hi - lo) + lo).to(dt)


@pooled
def ri(shape, dt=I64, lo=-5, hi=6):
    if dt == U8:
        lo = max(lo, 0)
    return torch.randint(lo, hi, shape, generator=GEN, dtype=I64).to(dt)


@pooled
def rb(shape, p=0.5):
    return torch.rand(shape, generator=GEN) < p


@pooled
def rq(shape, dt, lo=-4, hi=5):
    """Values on a coarse grid (halves for floats) so equal pairs occur."""
    if dt == BOOL:
        return torch.rand(shape, generator=GEN) < 0.5
    if dt.is_floating_point:
        return (torch.randint(2 * lo, 2 * hi, shape, generator=GEN, dtype=I64).to(F64) / 2).to(dt)
    lo = max(lo, 0) if dt == U8 else lo
    return torch.randint(lo, hi, shape, generator=GEN, dtype=I64).to(dt)


def rnd(shape, dt, lo=-2.0, hi=2.0):
    if dt == BOOL:
        return rb(shape)
    if dt.is_floating_point:
        return rf(shape, dt, lo, hi)
    return ri(shape, dt, int(math.floor(lo)) * 3, int(math.ceil(hi)) * 3 + 1)


@pooled
def distinct(shape, dt, scale=0.25):
    """A random permutation of distinct grid values (no ties for max/argmax)."""
    n = 1
    for s in shape:
        n *= s
    p = torch.randperm(n, generator=GEN).to(F64) - n // 2
    if dt.is_floating_point:
        p = p * scale
    return p.to(dt).reshape(shape)


# ---- views ----
def apply_view(s, v):
    k = v["kind"]
    if k == "t":
        return s.t()
    if k == "permute":
        return s.permute(v["dims"])
    if k == "step":
        return s[(slice(None),) * v["dim"] + (slice(None, None, v["step"]),)]
    if k == "expand":
        return s.expand(v["shape"])
    raise ValueError(k)


def stored_for(x, v):
    """The contiguous tensor that apply_view turns into x (for expand, x is the small source)."""
    k = v["kind"]
    if k == "t":
        return x.t().contiguous()
    if k == "permute":
        p = v["dims"]
        inv = sorted(range(len(p)), key=lambda i: p[i])
        return x.permute(inv).contiguous()
    if k == "step":
        shape = list(x.shape)
        shape[v["dim"]] *= v["step"]
        junk = True if x.dtype == BOOL else 99
        s = torch.full(shape, junk, dtype=x.dtype)
        s[(slice(None),) * v["dim"] + (slice(None, None, v["step"]),)] = x
        return s
    if k == "expand":
        return x.contiguous()
    raise ValueError(k)


class G:
    """A large input computed by formula instead of stored (the runner computes it on the host):
    element i (row-major) = ((i * mul) % mod) * scale + offset, in float64, then cast to dtype.
    Only for float32/float64/integer dtypes, with a power-of-two scale so every step is exact."""

    def __init__(self, shape, dt, mul=7919, mod=1024, scale=2.0 ** -8, offset=0.0):
        assert dt in (F32, F64) or (dt in INTS and float(scale).is_integer() and float(offset).is_integer())
        n = math.prod(shape)
        v = ((torch.arange(n, dtype=I64) * mul) % mod).to(F64) * scale + offset
        self.tensor = v.to(dt).reshape(shape)
        self.spec = {"shape": list(shape), "dtype": NAME[dt], "mul": mul, "mod": mod, "scale": scale, "offset": offset}


class V:
    """An input with a view: V(x, "t"), V(x, "permute", dims=[...]), V(x, "step", dim=0, step=2),
    V(src, "expand", shape=[...])."""

    def __init__(self, x, kind, **kw):
        self.spec = dict(kind=kind, **kw)
        self.stored = stored_for(x, self.spec)
        self.logical = apply_view(self.stored, self.spec)
        # The runner checks that its view has these strides (dims of size > 1 only).
        self.spec["strides"] = list(self.logical.stride())
        if kind != "expand" and self.logical.numel() > 1:
            assert not self.logical.is_contiguous() or kind == "permute", (kind, x.shape)
        if kind != "expand":
            assert torch.equal(self.logical, x) or (x.is_floating_point() and torch.allclose(self.logical, x, equal_nan=True))


# ---- the oracle: one PyTorch call per op name, mirroring the C++ runner ----
def scal(v):
    return float(v) if isinstance(v, str) else v


def all_dims(x):
    return list(range(x.dim()))


def index_tuple(items, xs):
    out = []
    for it in items:
        if "tensor" in it:
            out.append(xs[it["tensor"]])
        elif "int" in it:
            out.append(it["int"])
        elif "slice" in it:
            out.append(slice(*it["slice"]))
        elif "none" in it:
            out.append(None)
        elif "ellipsis" in it:
            out.append(Ellipsis)
        elif "bool" in it:
            out.append(it["bool"])
        else:
            raise ValueError(it)
    return tuple(out)


BINARY = {"add", "sub", "mul", "div", "pow", "eq", "ne", "lt", "le", "gt", "ge"}
UNARY = {"neg", "abs", "exp", "log", "sqrt", "rsqrt", "relu", "sigmoid", "tanh", "logical_not"}


def oracle(op, x, a):
    if op in BINARY:
        other = x[1] if len(x) > 1 else scal(a["other"])
        kw = {}
        if "alpha" in a:
            kw["alpha"] = a["alpha"]
        if op == "div":
            kw["rounding_mode"] = a.get("rounding_mode")
        return getattr(torch, op)(x[0], other, **kw)
    if op in ("maximum", "minimum", "logical_and", "logical_or", "logical_xor"):
        return getattr(torch, op)(x[0], x[1])
    if op in UNARY:
        return getattr(torch, op)(x[0])
    if op == "gelu":
        return torch.nn.functional.gelu(x[0], approximate=a.get("approximate", "none"))
    if op == "clamp":
        return torch.clamp(x[0], min=scal(a.get("min")), max=scal(a.get("max")))
    if op == "where":
        return torch.where(x[0], x[1], x[2])
    if op in ("sum", "mean"):
        dims, kd = a.get("dims", []), a.get("keepdim", False)
        dt = DT[a["dtype"]] if "dtype" in a else None
        if not dims and not kd:
            return getattr(torch, op)(x[0], dtype=dt)
        return getattr(torch, op)(x[0], dim=dims or all_dims(x[0]), keepdim=kd, dtype=dt)
    if op == "prod":
        dt = DT[a["dtype"]] if "dtype" in a else None
        if "dim" in a:
            return torch.prod(x[0], a["dim"], keepdim=a.get("keepdim", False), dtype=dt)
        return torch.prod(x[0], dtype=dt)
    if op in ("amax", "amin"):
        dims, kd = a.get("dims", []), a.get("keepdim", False)
        return getattr(torch, op)(x[0], dim=dims or all_dims(x[0]), keepdim=kd)
    if op in ("max", "min"):
        return getattr(torch, op)(x[0])
    if op in ("max_dim", "min_dim"):
        r = getattr(torch, op[:3])(x[0], a["dim"], keepdim=a.get("keepdim", False))
        return (r.values, r.indices)
    if op in ("argmax", "argmin"):
        return getattr(torch, op)(x[0], dim=a.get("dim"), keepdim=a.get("keepdim", False))
    if op in ("var", "std"):
        dims, kd, c = a.get("dims", []), a.get("keepdim", False), a.get("correction", 1)
        assert c in (0, 1)
        if not dims and not kd:
            return getattr(torch, op)(x[0], unbiased=bool(c))
        return getattr(torch, op)(x[0], dim=dims or all_dims(x[0]), unbiased=bool(c), keepdim=kd)
    if op == "norm":
        dims, kd = a.get("dims", []), a.get("keepdim", False)
        d = dims or (all_dims(x[0]) if kd and x[0].dim() else None)
        return torch.linalg.vector_norm(x[0], ord=scal(a["p"]), dim=d, keepdim=kd)
    if op in ("matmul", "mm", "bmm"):
        return getattr(torch, op)(x[0], x[1])
    if op == "addmm":
        return torch.addmm(x[0], x[1], x[2], beta=a.get("beta", 1), alpha=a.get("alpha", 1))
    if op in ("cat", "stack"):
        return getattr(torch, op)(list(x), dim=a.get("dim", 0))
    if op in ("index_select", "gather"):
        return getattr(torch, op)(x[0], a["dim"], x[1])
    if op in ("scatter", "scatter_add"):
        return getattr(torch, op)(x[0], a["dim"], x[1], x[2])
    if op == "masked_select":
        return torch.masked_select(x[0], x[1])
    if op == "nonzero":
        return torch.nonzero(x[0])
    if op == "index":
        return x[0][index_tuple(a["indices"], x)]
    if op == "index_put":
        y = x[0].clone()
        y[index_tuple(a["indices"], x)] = x[a["value_input"]] if "value_input" in a else scal(a["value"])
        return y
    if op == "to":
        return x[0].to(DT[a["dtype"]])
    if op == "contiguous":
        return x[0].contiguous()
    if op == "arange":
        dt = DT[a["dtype"]] if "dtype" in a else None
        if "start" not in a:
            return torch.arange(a["end"], dtype=dt)
        return torch.arange(a["start"], a["end"], a.get("step", 1), dtype=dt)
    if op == "linspace":
        dt = DT[a["dtype"]] if "dtype" in a else None
        return torch.linspace(a["start"], a["end"], a["steps"], dtype=dt)
    if op == "eye":
        dt = DT[a["dtype"]] if "dtype" in a else None
        if "m" in a:
            return torch.eye(a["n"], a["m"], dtype=dt)
        return torch.eye(a["n"], dtype=dt)
    raise ValueError("unknown op " + op)


# Ops whose expected values are exact (no arithmetic rounding involved).
EXACT = {"neg", "abs", "relu", "clamp", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
         "logical_not", "logical_and", "logical_or", "logical_xor", "where", "amax", "amin", "max", "min",
         "max_dim", "min_dim", "argmax", "argmin", "cat", "stack", "index_select", "gather", "scatter",
         "masked_select", "nonzero", "index", "index_put", "to", "contiguous", "eye"}
# Ops that may fall back to computing float16/bfloat16 in float32.
UPCASTABLE = UNARY | BINARY | {"matmul", "mm", "bmm", "addmm", "gelu", "clamp", "maximum", "minimum", "sum", "mean", "prod", "amax", "amin",
                               "var", "std", "norm", "max", "min", "max_dim", "min_dim", "argmax", "argmin"}

CASES = []
TENSORS = []
IDS = set()
STORED = {}  # (dtype, shape, bytes) -> name of the stored tensor
SKIPPED = []
NOTES = []
COUNT = {}


def case(cid, op, ins=(), attrs=None, exact=None):
    """Adds a case; ins are tensors or V(...) views. Cases PyTorch rejects are skipped (listed)."""
    new_case_slots()
    attrs = dict(attrs or {})
    cid = cid.replace(".", "p").replace("-", "m")
    base, n = cid, 2
    while cid in IDS:
        cid = f"{base}_{n}"
        n += 1
    stored, logical, views = [], [], []
    gen = {}
    for k, t in enumerate(ins):
        if isinstance(t, G):
            stored.append(None)
            logical.append(t.tensor)
            views.append(None)
            gen[f"in{k}"] = t.spec
        elif isinstance(t, V):
            stored.append(t.stored)
            logical.append(t.logical)
            views.append(t.spec)
        else:
            stored.append(t)
            logical.append(t)
            views.append(None)
    low = [t.dtype for t in logical if t.dtype in (F16, BF16)]
    upcastable = op in UPCASTABLE and low and len(set(low)) == 1 and \
        all(t.dtype in (F16, BF16) or not t.is_floating_point() for t in logical)

    def upcast():
        up = [t.float() if t.dtype == low[0] else t for t in logical]
        r = oracle(op, up, attrs)
        return tuple(o.to(low[0]) if o.dtype == F32 else o for o in r) if isinstance(r, tuple) \
            else (r.to(low[0]) if r.dtype == F32 else r)

    try:
        out = oracle(op, logical, attrs)
        if upcastable:
            # PyTorch 1.13 computes some float16/bfloat16 ops in the low precision itself (e.g.
            # bfloat16 gelu-tanh, bfloat16 mm): where that is further from the float32 result than
            # the dtype's tolerance, the float32 result is the reference (PyTorch 2.x computes these
            # in float32 on CPU too).
            rtol = 1e-3 if low[0] == F16 else 1.6e-2
            up = upcast()
            for a, b in zip(out if isinstance(out, tuple) else [out], up if isinstance(up, tuple) else [up]):
                if a.shape != b.shape or not torch.allclose(a.double(), b.double(), rtol=rtol, atol=1e-5, equal_nan=True):
                    NOTES.append(f"{cid}: PyTorch 1.13's {NAME[low[0]]} result is off; using the float32 result")
                    out = up
                    attrs["oracle"] = "float32-upcast"
                    break
    except (RuntimeError, TypeError, IndexError) as e:
        if upcastable:
            out = upcast()
            attrs["oracle"] = "float32-upcast"
        else:
            SKIPPED.append(f"{cid}: {str(e).splitlines()[0]}")
            return
    outs = list(out) if isinstance(out, tuple) else [out]
    IDS.add(cid)
    c = {"id": cid, "op": op}
    if attrs:
        c["attrs"] = attrs
    c.update({"inputs": len(stored), "outputs": len(outs)})
    if any(v is not None for v in views):
        c["views"] = views
    if gen:
        c["gen"] = gen
    if exact if exact is not None else op in EXACT:
        c["exact"] = True
    CASES.append(c)
    COUNT[op] = COUNT.get(op, 0) + 1
    alias = {}
    for role, ts in (("in", stored), ("out", outs)):
        for k, t in enumerate(ts):
            if t is None:  # a generated input
                continue
            name = f"{cid}/{role}{k}"
            t = t.detach().contiguous()
            key = (NAME[t.dtype], tuple(t.shape), tensor_bytes(t))
            if key in STORED:  # the same tensor is already in the file: refer to it
                alias[f"{role}{k}"] = STORED[key]
            else:
                STORED[key] = name
                TENSORS.append((name, t))
    if alias:
        c["alias"] = alias


SPECIAL = torch.tensor([float("-inf"), -3.0, -1.0, -0.0, 0.0, 1e-30, 0.5, 2.0, 50.0, float("inf"), float("nan")],
                       dtype=F64)


# ---- elementwise ----
def gen_elementwise():
    # add / sub / mul: every dtype, broadcasting, views, 0-dim, empty, promotion, scalars, alpha.
    for op in ("add", "sub", "mul"):
        for dt in FLOATS + INTS:
            lo, hi = (-10, 10) if dt in (I8, U8) else (-3, 3)
            case(f"{op}_{sh(dt)}", op, [rnd((5, 7), dt, lo / 3, hi / 3), rnd((5, 7), dt, lo / 3, hi / 3)])
        for dt in (F32, I64):
            case(f"{op}_{sh(dt)}_bcast", op, [rnd((3, 1), dt), rnd((1, 4), dt)])
        case(f"{op}_f64_bcast_rank", op, [rnd((2, 3, 4), F64), rnd((4,), F64)])
        for dt in (F32, I32):
            case(f"{op}_{sh(dt)}_noncontig", op, [V(rnd((3, 4), dt), "t"), V(rnd((3, 4), dt), "step", dim=0, step=2)])
        case(f"{op}_f32_0dim", op, [rnd((), F32), rnd((5,), F32)])
        case(f"{op}_f32_empty", op, [rnd((0, 3), F32), rnd((1, 3), F32)])
        case(f"{op}_i32_f32_promote", op, [rnd((5,), I32), rnd((5,), F32)])
        case(f"{op}_i64_f64_0dim_promote", op, [rnd((5,), I64), rnd((), F64)])
        case(f"{op}_f32_scalar_float", op, [rnd((2, 3), F32)], {"other": 2.5})
        case(f"{op}_i64_scalar_int", op, [rnd((2, 3), I64)], {"other": 3})
        case(f"{op}_i32_scalar_float", op, [rnd((2, 3), I32)], {"other": 0.5})
        if op == "add":
            case(f"{op}_f32_expand", op, [V(rnd((1, 4), F32), "expand", shape=[3, 4]), V(rnd((3, 4), F32), "permute", dims=[1, 0])])
            case(f"{op}_i64_0dim_0dim", op, [rnd((), I64), rnd((), I64)])
            case(f"{op}_u8_i8_promote", op, [ri((5,), U8, 0, 10), ri((5,), I8, -10, 10)])
            case(f"{op}_f16_bf16_promote", op, [rnd((5,), F16), rnd((5,), BF16)])
            case(f"{op}_f32_f64_0dim_nopromote", op, [rnd((5,), F32), rnd((), F64)])
            case(f"{op}_bool_i64_promote", op, [rb((5,)), rnd((5,), I64)])
            case(f"{op}_u8_scalar_bool", op, [ri((2, 3), U8, 0, 10)], {"other": True})
            case(f"{op}_f16_scalar_float", op, [rnd((2, 3), F16)], {"other": 1.25})
        if op != "sub":
            case(f"{op}_bool", op, [rb((6,)), rb((6,))])
    case("add_f32_alpha", "add", [rnd((3, 4), F32), rnd((3, 4), F32)], {"alpha": 0.5})
    case("add_f64_alpha_bcast", "add", [rnd((3, 4), F64), rnd((4,), F64)], {"alpha": -2.5})
    case("add_i64_alpha", "add", [rnd((3, 4), I64), rnd((3, 4), I64)], {"alpha": 3})
    case("add_f32_scalar_alpha", "add", [rnd((3,), F32)], {"other": 2, "alpha": 3})
    case("sub_f32_alpha", "sub", [rnd((3, 4), F32), rnd((3, 4), F32)], {"alpha": 2})
    case("sub_i32_alpha", "sub", [rnd((3, 4), I32), rnd((3, 4), I32)], {"alpha": -2})
    case("add_u8_wrap", "add", [torch.tensor([200, 250, 255, 0], dtype=U8), torch.tensor([100, 10, 1, 0], dtype=U8)])
    case("sub_u8_wrap", "sub", [torch.tensor([0, 5, 255, 3], dtype=U8), torch.tensor([1, 10, 0, 3], dtype=U8)])
    case("mul_i8_wrap", "mul", [torch.tensor([100, -100, 16, 127], dtype=I8), torch.tensor([2, 3, 16, 127], dtype=I8)])
    case("add_f32_special", "add", [SPECIAL.float(), SPECIAL.flip(0).float()])
    case("mul_f64_special", "mul", [SPECIAL, SPECIAL.flip(0)])

    # div: true division (ints give float32), trunc and floor (ints stay ints).
    def nz(shape, dt, lo=-4.0, hi=4.0):
        x = rnd(shape, dt, lo, hi)
        if dt.is_floating_point:
            return torch.where(x.abs() < 0.25, torch.full_like(x, 0.75), x)
        return torch.where(x == 0, torch.full_like(x, 3), x)

    for mode in (None, "trunc", "floor"):
        tag = mode or "true"
        at = {"rounding_mode": mode} if mode else {}
        for dt in (FLOATS + INTS if not mode else (F32, F64, BF16, I64, I32, I8, U8)):
            case(f"div_{tag}_{sh(dt)}", "div", [rnd((5, 7), dt, -4, 4), nz((5, 7), dt)], at)
        case(f"div_{tag}_f32_bcast", "div", [rnd((3, 1), F32, -4, 4), nz((4,), F32)], at)
        case(f"div_{tag}_i64_bcast", "div", [rnd((2, 3, 4), I64, -9, 9), nz((3, 1), I64)], at)
        case(f"div_{tag}_f64_noncontig", "div", [V(rnd((3, 4), F64, -4, 4), "t"), V(nz((3, 4), F64), "step", dim=1, step=3)], at)
        case(f"div_{tag}_i32_f32_promote", "div", [rnd((6,), I32, -9, 9), nz((6,), F32)], at)
        if not mode:
            case(f"div_{tag}_f32_0dim", "div", [rnd((4,), F32, -4, 4), nz((), F32)], at)
            case(f"div_{tag}_f32_empty", "div", [rnd((0,), F32), nz((1,), F32)], at)
        case(f"div_{tag}_i64_neg", "div", [torch.tensor([7, -7, 7, -7, 6, -6, 0], dtype=I64),
                                           torch.tensor([2, 2, -2, -2, 3, -4, -5], dtype=I64)], at)
        case(f"div_{tag}_f32_neg", "div", [torch.tensor([7.5, -7.5, 7.5, -7.5, 6.0, -6.0, 0.0, -0.0]),
                                           torch.tensor([2.0, 2.0, -2.0, -2.0, 3.0, -4.0, -5.0, 5.0])], at)
        case(f"div_{tag}_f32_by_zero", "div", [torch.tensor([1.0, -1.0, 0.0, 2.5]), torch.tensor([0.0, 0.0, 0.0, -0.0])], at)
    case("div_true_f32_scalar", "div", [rnd((2, 3), F32)], {"other": 4})
    case("div_true_i64_scalar", "div", [rnd((2, 3), I64)], {"other": 4})
    case("div_floor_f64_python_edge", "div", [torch.tensor([1.0, -1.0, 5.0, 0.3], dtype=F64),
                                              torch.tensor([0.1, 0.1, 0.5, 0.1], dtype=F64)], {"rounding_mode": "floor"})

    # pow: tensor exponent, scalar exponent, ints, special values.
    for dt in FLOATS:
        case(f"pow_{sh(dt)}", "pow", [rnd((5, 7), dt, 0.5, 2.0), rnd((5, 7), dt, -2.0, 2.0)])
    for dt in INTS:
        case(f"pow_{sh(dt)}", "pow", [ri((3, 4), dt, -3, 4), ri((3, 4), dt, 0, 4)])
    case("pow_f32_bcast", "pow", [rnd((3, 1), F32, 0.5, 2.0), rnd((4,), F32, -2, 2)])
    case("pow_f64_noncontig", "pow", [V(rnd((3, 4), F64, 0.5, 2), "t"), V(rnd((4,), F64, -2, 2), "expand", shape=[3, 4])])
    case("pow_i64_f32_promote", "pow", [ri((5,), I64, 1, 5), rnd((5,), F32, -1, 2)])
    case("pow_f32_0dim_exp", "pow", [rnd((5,), F32, 0.5, 2), rnd((), F32, 1, 3)])
    case("pow_f64_special", "pow", [torch.tensor([0.0, 0.0, -8.0, -2.0, 1.0, float("inf"), float("nan"), 2.0], dtype=F64),
                                     torch.tensor([0.0, -1.0, 1 / 3, 3.0, float("nan"), -1.0, 0.0, float("inf")], dtype=F64)])
    for e in (2, 3, 0.5, -1, -2, 2.5, -0.5, 0):
        for dt in (F32, F64) if e in (2, 0.5, -1) else (F32,):
            case(f"pow_{sh(dt)}_scalar_{e}", "pow", [rnd((2, 5), dt, 0.25, 3.0)], {"other": e})
    case("pow_i64_scalar_2", "pow", [ri((6,), I64, -9, 10)], {"other": 2})
    case("pow_i32_scalar_3", "pow", [ri((6,), I32, -9, 10)], {"other": 3})
    case("pow_i32_scalar_float", "pow", [ri((6,), I32, 0, 10)], {"other": 0.5})
    case("pow_f16_scalar_2", "pow", [rnd((6,), F16, -3, 3)], {"other": 2})
    case("pow_bf16_scalar_half", "pow", [rnd((6,), BF16, 0, 3)], {"other": 0.5})

    # maximum / minimum: every dtype, broadcast, NaN propagation, promotion.
    for op in ("maximum", "minimum"):
        for dt in FLOATS + INTS + [BOOL]:
            case(f"{op}_{sh(dt)}", op, [rq((5, 7), dt), rq((5, 7), dt)])
        case(f"{op}_f32_bcast", op, [rnd((3, 1), F32), rnd((1, 4), F32)])
        case(f"{op}_f64_noncontig", op, [V(rnd((3, 4), F64), "t"), V(rnd((3, 4), F64), "permute", dims=[1, 0])])
        case(f"{op}_f32_nan", op, [torch.tensor([float("nan"), 1.0, float("nan"), -0.5, float("inf")]),
                                   torch.tensor([1.0, float("nan"), float("nan"), -0.25, float("-inf")])])
        case(f"{op}_i32_f32_promote", op, [rnd((5,), I32), rnd((5,), F32)])
        case(f"{op}_f32_0dim", op, [rnd((5,), F32), rnd((), F32)])
        case(f"{op}_f32_empty", op, [rnd((0, 2), F32), rnd((2,), F32)])

    # unary
    ranges = {"neg": (-3, 3), "abs": (-3, 3), "exp": (-5, 5), "log": (0.01, 10), "sqrt": (0, 10), "rsqrt": (0.1, 10),
              "relu": (-3, 3), "sigmoid": (-6, 6), "tanh": (-4, 4), "logical_not": (-2, 2)}
    for op in ("neg", "abs", "exp", "log", "sqrt", "rsqrt", "relu", "sigmoid", "tanh", "logical_not"):
        lo, hi = ranges[op]
        for dt in FLOATS:
            case(f"{op}_{sh(dt)}", op, [rnd((5, 7), dt, lo, hi)])
        case(f"{op}_f32_noncontig", op, [V(rnd((4, 3), F32, lo, hi), "t")])
        case(f"{op}_f32_special", op, [SPECIAL.float()])
        case(f"{op}_f64_special", op, [SPECIAL])
        if op in ("neg", "exp", "sigmoid", "logical_not"):
            case(f"{op}_f64_step", op, [V(rnd((3, 4), F64, lo, hi), "step", dim=1, step=2)])
            case(f"{op}_f32_0dim", op, [rnd((), F32, lo, hi)])
            case(f"{op}_f32_empty", op, [rnd((2, 0), F32)])
        if op in ("neg", "abs", "relu", "logical_not"):
            for dt in (I64, I32, I8, U8):
                case(f"{op}_{sh(dt)}", op, [ri((3, 4), dt, -9, 10)])
        else:
            case(f"{op}_i64_to_float", op, [ri((6,), I64, 1, 6)])
        if op in ("exp", "sqrt"):
            case(f"{op}_u8_to_float", op, [ri((6,), U8, 1, 6)])
            case(f"{op}_bool_to_float", op, [torch.tensor([True, False, True])])
    case("neg_i8_min", "neg", [torch.tensor([-128, 127, 0, -1], dtype=I8)])
    case("abs_i8_min", "abs", [torch.tensor([-128, 127, 0, -1], dtype=I8)])
    case("abs_i64_min", "abs", [torch.tensor([-2 ** 63, 2 ** 63 - 1, -5], dtype=I64)])
    case("neg_u8_wrap", "neg", [torch.tensor([0, 1, 200, 255], dtype=U8)])
    case("logical_not_bool", "logical_not", [rb((3, 4))])
    case("logical_not_bool_noncontig", "logical_not", [V(rb((3, 4)), "t")])
    for approx in ("none", "tanh"):
        for dt in FLOATS:
            case(f"gelu_{approx}_{sh(dt)}", "gelu", [rnd((5, 7), dt, -5, 5)], {"approximate": approx})
        case(f"gelu_{approx}_f32_noncontig", "gelu", [V(rnd((5, 3), F32, -5, 5), "t")], {"approximate": approx})
        case(f"gelu_{approx}_f64_wide", "gelu", [torch.tensor([-30.0, -10.0, -3.0, -1e-8, 0.0, 1e-8, 3.0, 10.0, 30.0], dtype=F64)],
             {"approximate": approx})
        case(f"gelu_{approx}_f32_wide", "gelu", [torch.tensor([-30.0, -10.0, -3.0, -1e-8, 0.0, 1e-8, 3.0, 10.0, 30.0])],
             {"approximate": approx})
    case("gelu_none_f32_0dim", "gelu", [rnd((), F32)], {"approximate": "none"})
    case("gelu_tanh_f32_empty", "gelu", [rnd((0,), F32)], {"approximate": "tanh"})

    # clamp
    for dt in FLOATS:
        x = rnd((3, 5), dt, -3, 3)
        if dt in (F32, F64):
            case(f"clamp_{sh(dt)}_min", "clamp", [x], {"min": -0.5})
            case(f"clamp_{sh(dt)}_max", "clamp", [x], {"max": 1.25})
        case(f"clamp_{sh(dt)}_both", "clamp", [x], {"min": -1.5, "max": 0.75})
    for dt in INTS:
        x = ri((3, 5), dt, -9, 10)
        if dt == I64:
            case(f"clamp_{sh(dt)}_min", "clamp", [x], {"min": 2})
            case(f"clamp_{sh(dt)}_max", "clamp", [x], {"max": 4})
        case(f"clamp_{sh(dt)}_both", "clamp", [x], {"min": 1, "max": 6})
    case("clamp_f32_min_gt_max", "clamp", [rnd((6,), F32)], {"min": 1.0, "max": -1.0})
    case("clamp_f32_int_bounds", "clamp", [rnd((6,), F32, -5, 5)], {"min": -2, "max": 3})
    case("clamp_i64_float_bounds", "clamp", [ri((6,), I64, -5, 6)], {"min": -1.5, "max": 2.5})
    case("clamp_f32_nan", "clamp", [torch.tensor([float("nan"), -5.0, 5.0, float("inf"), float("-inf")])], {"min": -1.0, "max": 1.0})
    case("clamp_f64_noncontig", "clamp", [V(rnd((4, 3), F64), "t")], {"min": -0.5, "max": 0.5})
    case("clamp_f32_0dim", "clamp", [rnd((), F32)], {"min": 0.0})
    case("clamp_f32_empty", "clamp", [rnd((0, 3), F32)], {"max": 0.0})
    case("clamp_f32_inf_bound", "clamp", [rnd((6,), F32, -1, 3)], {"min": "-inf", "max": 0.5})

    # comparisons: tensor/tensor (all dtypes), broadcast, scalars, promotion, NaN
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        full = op in ("eq", "lt")
        for dt in (FLOATS + INTS + [BOOL] if full else (F32, F16, I64, U8, BOOL)):
            case(f"{op}_{sh(dt)}", op, [rq((5, 7), dt, -1, 2), rq((5, 7), dt, -1, 2)])
        case(f"{op}_f32_bcast", op, [rq((3, 1), F32, -1, 2), rq((1, 4), F32, -1, 2)])
        case(f"{op}_f32_scalar_float", op, [rq((3, 4), F32)], {"other": 0.5})
        case(f"{op}_i32_scalar_float", op, [rq((3, 4), I32)], {"other": 1.5})
        case(f"{op}_f32_nan", op, [torch.tensor([float("nan"), 1.0, float("nan"), float("inf")]),
                                   torch.tensor([1.0, float("nan"), float("nan"), float("inf")])])
        if full:
            case(f"{op}_i64_noncontig", op, [V(rq((3, 4), I64), "t"), V(rq((3, 4), I64), "step", dim=0, step=2)])
            case(f"{op}_i64_scalar_int", op, [rq((3, 4), I64)], {"other": 1})
            case(f"{op}_bool_scalar_bool", op, [rb((5,))], {"other": True})
            case(f"{op}_i32_f64_promote", op, [rq((6,), I32), rq((6,), F64)])
            case(f"{op}_u8_i8_promote", op, [ri((6,), U8, 0, 4), ri((6,), I8, -3, 4)])
            case(f"{op}_f32_0dim", op, [rq((5,), F32), rq((), F32)])
            case(f"{op}_f32_empty", op, [rq((0, 3), F32), rq((3,), F32)])

    # logical binary
    for op in ("logical_and", "logical_or", "logical_xor"):
        case(f"{op}_bool", op, [rb((3, 4)), rb((3, 4))])
        case(f"{op}_bool_bcast", op, [rb((3, 1)), rb((1, 4))])
        case(f"{op}_bool_noncontig", op, [V(rb((3, 4)), "t"), V(rb((3, 4)), "step", dim=1, step=2)])
        for dt in (F32, I64, U8):
            case(f"{op}_{sh(dt)}", op, [ri((3, 4), I64, -1, 2).to(dt), ri((3, 4), I64, -1, 2).to(dt)])
        case(f"{op}_f32_bool_mixed", op, [ri((5,), I64, -1, 2).float(), rb((5,))])
        if op == "logical_and":
            case(f"{op}_i8_f64_mixed", op, [ri((5,), I8, -1, 2), ri((5,), I64, -1, 2).double()])
            case(f"{op}_f16", op, [ri((3, 4), I64, -1, 2).to(F16), ri((3, 4), I64, -1, 2).to(F16)])
        case(f"{op}_f32_nan", op, [torch.tensor([float("nan"), 0.0, float("nan")]), torch.tensor([0.0, float("nan"), 1.0])])
        case(f"{op}_bool_0dim", op, [rb((4,)), torch.tensor(True)])
        case(f"{op}_bool_empty", op, [rb((0,)), rb((1,))])

    # where
    for dt in FLOATS + INTS + [BOOL]:
        case(f"where_{sh(dt)}", "where", [rb((3, 4)), rq((3, 4), dt), rq((3, 4), dt)])
    case("where_f32_bcast", "where", [rb((3, 1)), rnd((1, 4), F32), rnd((4,), F32)])
    case("where_f64_noncontig", "where", [V(rb((3, 4)), "t"), V(rnd((3, 4), F64), "step", dim=0, step=2),
                                          V(rnd((4,), F64), "expand", shape=[3, 4])])
    case("where_f32_0dim_other", "where", [rb((5,)), rnd((5,), F32), rnd((), F32)])
    case("where_f32_f64_promote", "where", [rb((5,)), rnd((5,), F32), rnd((5,), F64)])
    case("where_i64_f32_promote", "where", [rb((5,)), rnd((5,), I64), rnd((5,), F32)])
    case("where_f32_empty", "where", [rb((0, 3)), rnd((0, 3), F32), rnd((3,), F32)])
    case("where_0dim_all", "where", [torch.tensor(False), rnd((), F32), rnd((), F32)])


# ---- reductions ----
def gen_reductions():
    dimsets = [([], False), ([], True), ([0], False), ([1], True), ([-1], False), ([0, 2], False), ([2, 0], True)]
    for op in ("sum", "mean"):
        for dt in FLOATS:
            x = rnd((2, 3, 4), dt, -1, 1)
            for dims, kd in (dimsets if dt == F32 else dimsets[::3]):
                tag = "all" if not dims else "d" + "_".join(str(d) for d in dims)
                case(f"{op}_{sh(dt)}_{tag}{'_keep' if kd else ''}", op, [x], {"dims": dims, "keepdim": kd})
        case(f"{op}_f32_noncontig", op, [V(rnd((2, 3, 4), F32), "permute", dims=[2, 0, 1])], {"dims": [1]})
        case(f"{op}_f64_noncontig_all", op, [V(rnd((5, 6), F64), "t")], {"dims": []})
        if op == "sum":
            case(f"{op}_f32_step", op, [V(rnd((4, 6), F32), "step", dim=1, step=2)], {"dims": [1]})
            case(f"{op}_f32_expand", op, [V(rnd((1, 6), F32), "expand", shape=[4, 6])], {"dims": [0]})
        case(f"{op}_f32_0dim", op, [rnd((), F32)], {"dims": []})
        case(f"{op}_f32_0dim_dim0", op, [rnd((), F32)], {"dims": [0], "keepdim": True})
        case(f"{op}_f32_empty_all", op, [rnd((0, 3), F32)], {"dims": []})
        case(f"{op}_f32_empty_d0", op, [rnd((0, 3), F32)], {"dims": [0]})
        case(f"{op}_f32_empty_d1", op, [rnd((0, 3), F32)], {"dims": [1]})
        case(f"{op}_f32_long", op, [rnd((256,), F32, 0, 1)], {"dims": []})
        case(f"{op}_f64_long", op, [rnd((200,), F64, -1, 1)], {"dims": []})
        case(f"{op}_f32_rows", op, [rnd((2, 100), F32, 0, 1)], {"dims": [1]})
        case(f"{op}_f16_long", op, [rnd((128,), F16, 0, 1)], {"dims": []})
        case(f"{op}_bf16_long", op, [rnd((128,), BF16, 0, 1)], {"dims": []})
    for dt in INTS + [BOOL]:
        x = rnd((2, 3, 4), dt)
        case(f"sum_{sh(dt)}_all", "sum", [x], {"dims": []})
        case(f"sum_{sh(dt)}_d1", "sum", [x], {"dims": [1]})
        if dt in (I64, BOOL):
            case(f"sum_{sh(dt)}_d02_keep", "sum", [x], {"dims": [0, 2], "keepdim": True})
    case("sum_i32_dtype_f64", "sum", [rnd((3, 4), I32)], {"dims": [1], "dtype": "float64"})
    case("sum_f32_dtype_f64", "sum", [rnd((3, 4), F32)], {"dims": [], "dtype": "float64"})
    case("sum_i8_dtype_i8", "sum", [ri((3, 40), I8, 0, 10)], {"dims": [1], "dtype": "int8"})
    case("sum_u8_overflow_to_i64", "sum", [torch.full((300,), 255, dtype=U8)], {"dims": []})
    case("mean_i64_dtype_f64", "mean", [rnd((3, 4), I64)], {"dims": [0], "dtype": "float64"})
    case("mean_i32_dtype_f32", "mean", [rnd((3, 4), I32)], {"dims": [], "dtype": "float32"})
    case("mean_f32_nan", "mean", [torch.tensor([[1.0, float("nan")], [2.0, 3.0]])], {"dims": [1]})
    case("sum_f32_inf", "sum", [torch.tensor([[1.0, float("inf")], [float("inf"), float("-inf")]])], {"dims": [1]})

    # large inputs: chunked / parallel / column-blocked reduction paths
    big = 40000
    case("sum_f32_gen_all", "sum", [G((big,), F32)], {"dims": []})
    case("sum_f64_gen_all", "sum", [G((big,), F64, offset=-2.0)], {"dims": []})
    case("sum_f32_gen_rows", "sum", [G((3, 20000), F32)], {"dims": [1]})
    case("sum_f32_gen_cols", "sum", [G((20000, 3), F32)], {"dims": [0]})
    case("sum_f64_gen_cols_wide", "sum", [G((300, 300), F64, offset=-2.0)], {"dims": [0]})
    case("sum_f64_gen_mid", "sum", [G((4, 5000, 3), F64, offset=-2.0)], {"dims": [1], "keepdim": True})
    case("sum_i64_gen_all", "sum", [G((big,), I64, mul=7919, mod=100003, scale=1.0, offset=-50000.0)], {"dims": []})
    case("sum_u8_gen_all", "sum", [G((big,), U8, scale=1.0, mod=256)], {"dims": []})
    case("mean_f32_gen_all", "mean", [G((big,), F32)], {"dims": []})
    case("mean_f64_gen_cols", "mean", [G((20000, 3), F64, offset=-2.0)], {"dims": [0]})
    case("var_f32_gen_all", "var", [G((big,), F32)], {"dims": [], "correction": 1})
    case("var_f64_gen_rows", "var", [G((2, 20000), F64, offset=1000.0)], {"dims": [1], "correction": 0})
    case("std_f32_gen_cols", "std", [G((20000, 3), F32)], {"dims": [0], "correction": 1})
    case("norm_p2_f32_gen_all", "norm", [G((big,), F32)], {"p": 2, "dims": []})
    case("norm_p1_f64_gen_rows", "norm", [G((2, 20000), F64, offset=-2.0)], {"p": 1, "dims": [1]})
    case("norm_pinf_f32_gen_all", "norm", [G((big,), F32, offset=-2.0)], {"p": "inf", "dims": []})
    case("amax_f32_gen_all", "amax", [G((big,), F32)], {"dims": []})
    case("amin_i64_gen_cols", "amin", [G((20000, 3), I64, scale=1.0)], {"dims": [0]})
    # Each value repeats every `mod` elements: the first maximum / minimum must win across chunks.
    case("argmax_f32_gen_ties", "argmax", [G((big,), F32, mod=1000)])
    case("argmin_f64_gen_ties_rows", "argmin", [G((2, 20000), F64, mod=1000)], {"dim": 1})
    case("argmax_i64_gen_ties_cols", "argmax", [G((20000, 3), I64, mod=1000, scale=1.0)], {"dim": 0})
    case("max_dim_f32_gen_ties_rows", "max_dim", [G((3, 20000), F32, mod=1000)], {"dim": 1})
    case("min_dim_i64_gen_ties_cols", "min_dim", [G((20000, 3), I64, mod=1000, scale=1.0)], {"dim": 0})
    case("max_f64_gen_all", "max", [G((big,), F64)])
    # large elementwise (parallel split above 32768 elements), bool output to keep the file small
    case("gt_f32_gen_large_scalar", "gt", [G((33000,), F32)], {"other": 2.0})

    # prod
    for dt in FLOATS:
        x = rnd((3, 4), dt, 0.5, 1.5)
        case(f"prod_{sh(dt)}_all", "prod", [x])
        case(f"prod_{sh(dt)}_d0", "prod", [x], {"dim": 0})
        case(f"prod_{sh(dt)}_d1_keep", "prod", [x], {"dim": 1, "keepdim": True})
    for dt in INTS + [BOOL]:
        x = rnd((3, 4), dt, -1, 1) if dt != BOOL else rb((3, 4), 0.8)
        case(f"prod_{sh(dt)}_dm1", "prod", [x], {"dim": -1})
        if dt == I64:
            case(f"prod_{sh(dt)}_all", "prod", [x])
    case("prod_f32_noncontig", "prod", [V(rnd((4, 3), F32, 0.5, 1.5), "t")], {"dim": 1})
    case("prod_f64_with_zero", "prod", [torch.tensor([[2.0, 0.0, 3.0], [1.5, -2.0, 4.0]], dtype=F64)], {"dim": 1})
    case("prod_f32_0dim", "prod", [rnd((), F32)])
    case("prod_f32_empty_all", "prod", [rnd((0, 3), F32)])
    case("prod_f32_empty_d0", "prod", [rnd((0, 3), F32)], {"dim": 0})
    case("prod_i32_dtype_f64", "prod", [ri((2, 3), I32, 1, 5)], {"dim": 1, "dtype": "float64"})
    case("prod_i64_big", "prod", [torch.tensor([2 ** 20, 2 ** 20, 2 ** 20], dtype=I64)])

    # amax / amin / max / min (all)
    for op in ("amax", "amin"):
        for dt in FLOATS + INTS:
            x = rnd((2, 3, 4), dt, -3, 3)
            case(f"{op}_{sh(dt)}_d1", op, [x], {"dims": [1]})
            if dt in (F32, F64, I64):
                case(f"{op}_{sh(dt)}_all", op, [x], {"dims": []})
                case(f"{op}_{sh(dt)}_d02_keep", op, [x], {"dims": [0, 2], "keepdim": True})
        case(f"{op}_f32_noncontig", op, [V(rnd((2, 3, 4), F32), "permute", dims=[1, 2, 0])], {"dims": [0]})
        case(f"{op}_f32_nan", op, [torch.tensor([[1.0, float("nan"), 3.0], [-1.0, -2.0, float("-inf")]])], {"dims": [1]})
        case(f"{op}_f32_0dim", op, [rnd((), F32)], {"dims": []})
        case(f"{op}_f32_empty_nonreduced", op, [rnd((0, 3), F32)], {"dims": [1]})
        case(f"{op}_bool", op, [rb((3, 4))], {"dims": [1]})
    for op in ("max", "min"):
        for dt in (F32, F64, F16, I64, U8):
            case(f"{op}_{sh(dt)}", op, [rnd((4, 5), dt, -3, 3)])
        case(f"{op}_f32_noncontig", op, [V(rnd((4, 5), F32), "t")])
        case(f"{op}_f32_0dim", op, [rnd((), F32)])
        case(f"{op}_f32_nan", op, [torch.tensor([1.0, float("nan"), -1.0])])
    # max / min with dim (values and indices), argmax / argmin
    for op in ("max_dim", "min_dim"):
        for dt in (F32, F64, F16, BF16, I64, I32, I16, I8, U8):
            x = distinct((2, 3, 4), dt, 0.25 if dt.is_floating_point else 1) if dt != U8 else \
                (torch.randperm(24, generator=GEN) + 10).to(U8).reshape(2, 3, 4)
            case(f"{op}_{sh(dt)}_d1", op, [x], {"dim": 1})
            if dt in (F32, F64, I64):
                case(f"{op}_{sh(dt)}_dm1_keep", op, [x], {"dim": -1, "keepdim": True})
        case(f"{op}_f32_d0", op, [distinct((3, 4), F32)], {"dim": 0})
        case(f"{op}_f32_noncontig", op, [V(distinct((4, 3), F32), "t")], {"dim": 1})
        case(f"{op}_i64_ties_first", op, [torch.tensor([[1, 3, 3, 0], [2, 2, 2, 2], [5, 0, 5, 0]])], {"dim": 1})
        case(f"{op}_f32_0dim", op, [rnd((), F32)], {"dim": 0})
        case(f"{op}_f32_empty_other", op, [rnd((0, 3), F32)], {"dim": 1})
        case(f"{op}_bool", op, [rb((3, 4))], {"dim": 1})
    for op in ("argmax", "argmin"):
        for dt in (F32, F64, F16, BF16, I64, I32, I8):
            x = distinct((2, 3, 4), dt, 0.25 if dt.is_floating_point else 1)
            case(f"{op}_{sh(dt)}_d1", op, [x], {"dim": 1})
            if dt in (F32, I64):
                case(f"{op}_{sh(dt)}_all", op, [x])
                case(f"{op}_{sh(dt)}_d2_keep", op, [x], {"dim": 2, "keepdim": True})
        case(f"{op}_f32_noncontig_all", op, [V(distinct((4, 3), F32), "t")])
        case(f"{op}_f32_noncontig_d0", op, [V(distinct((4, 3), F32), "t")], {"dim": 0})
        case(f"{op}_i64_ties_first", op, [torch.tensor([[1, 3, 3, 0], [2, 2, 2, 2], [5, 0, 5, 0]])], {"dim": 1})
        case(f"{op}_i64_ties_first_all", op, [torch.tensor([[1, 3, 3, 0], [2, 5, 2, 5], [5, 0, 5, 0]])])
        case(f"{op}_f32_0dim", op, [rnd((), F32)])
        case(f"{op}_f32_0dim_dim0", op, [rnd((), F32)], {"dim": 0})
        case(f"{op}_u8", op, [(torch.randperm(12, generator=GEN) + 100).to(U8).reshape(3, 4)], {"dim": 0})

    # var / std
    for op in ("var", "std"):
        for dt in FLOATS:
            x = rnd((2, 3, 4), dt, -2, 2)
            for c in ((0, 1) if dt in (F32, F64) else (1,)):
                case(f"{op}_{sh(dt)}_all_c{c}", op, [x], {"dims": [], "correction": c})
                case(f"{op}_{sh(dt)}_d1_c{c}", op, [x], {"dims": [1], "correction": c})
                case(f"{op}_{sh(dt)}_d02_c{c}_keep", op, [x], {"dims": [0, 2], "correction": c, "keepdim": True})
        case(f"{op}_f32_noncontig", op, [V(rnd((5, 4), F32), "t")], {"dims": [1], "correction": 1})
        case(f"{op}_f64_offset", op, [rnd((3, 6), F64, 1000.0, 1001.0)], {"dims": [1], "correction": 1})
        case(f"{op}_f32_single_c1", op, [rnd((3, 1), F32)], {"dims": [1], "correction": 1})
        case(f"{op}_f32_single_c0", op, [rnd((3, 1), F32)], {"dims": [1], "correction": 0})
        case(f"{op}_f32_0dim", op, [rnd((), F32)], {"dims": [], "correction": 0})
        case(f"{op}_f32_long", op, [rnd((200,), F32)], {"dims": [], "correction": 1})
        case(f"{op}_f32_empty", op, [rnd((0, 3), F32)], {"dims": [0], "correction": 1})

    # norm (vector norms)
    for p in (1, 2, "inf", 3, 2.5, "-inf", 0):
        for dt in ((F32, F64) if p in (1, 2, "inf", 3) else (F32,)):
            x = rnd((2, 3, 4), dt, -2, 2)
            ptag = str(p).replace("-", "m")
            case(f"norm_p{ptag}_{sh(dt)}_d1", "norm", [x], {"p": p, "dims": [1]})
            if dt == F32:
                case(f"norm_p{ptag}_{sh(dt)}_all", "norm", [x], {"p": p, "dims": []})
                case(f"norm_p{ptag}_{sh(dt)}_d02_keep", "norm", [x], {"p": p, "dims": [0, 2], "keepdim": True})
    for dt in (F16, BF16):
        case(f"norm_p2_{sh(dt)}_d1", "norm", [rnd((3, 8), dt)], {"p": 2, "dims": [1]})
        case(f"norm_p1_{sh(dt)}_all", "norm", [rnd((3, 8), dt)], {"p": 1, "dims": []})
    case("norm_p2_f32_noncontig", "norm", [V(rnd((5, 4), F32), "t")], {"p": 2, "dims": [0]})
    case("norm_p2_f32_all_keep", "norm", [rnd((3, 4), F32)], {"p": 2, "dims": [], "keepdim": True})
    case("norm_p2_f32_0dim", "norm", [rnd((), F32)], {"p": 2, "dims": []})
    case("norm_p2_f32_empty", "norm", [rnd((0, 3), F32)], {"p": 2, "dims": [0]})
    case("norm_p2_f32_large", "norm", [torch.tensor([3e20, 4e20], dtype=F32)], {"p": 2, "dims": []})
    case("norm_p2_f64_zeros", "norm", [torch.zeros(4, dtype=F64)], {"p": 2, "dims": []})


# ---- linear algebra ----
def gen_linalg():
    for dt in (F32, F64, BF16, F16, I64, I32):
        def m(*shape):
            return rnd(shape, dt, -2, 2) if dt.is_floating_point else ri(shape, dt, -4, 5)
        s = sh(dt)
        full = dt in (F32, F64, BF16)
        if full or dt == I64:
            case(f"matmul_{s}_1d_1d", "matmul", [m(5), m(5)])
            case(f"matmul_{s}_2d_2d", "matmul", [m(3, 4), m(4, 5)])
            case(f"matmul_{s}_batched_bcast", "matmul", [m(2, 1, 3, 4), m(5, 4, 2)])
        if full:
            case(f"matmul_{s}_1d_2d", "matmul", [m(4), m(4, 5)])
            case(f"matmul_{s}_2d_1d", "matmul", [m(3, 4), m(4)])
            case(f"matmul_{s}_1d_3d", "matmul", [m(4), m(2, 4, 3)])
            case(f"matmul_{s}_3d_1d", "matmul", [m(2, 3, 4), m(4)])
            case(f"matmul_{s}_3d_2d", "matmul", [m(2, 3, 4), m(4, 6)])
        case(f"mm_{s}", "mm", [m(3, 4), m(4, 5)])
        case(f"bmm_{s}", "bmm", [m(2, 3, 4), m(2, 4, 5)])
        case(f"addmm_{s}", "addmm", [m(3, 5), m(3, 4), m(4, 5)])
    case("matmul_f32_noncontig", "matmul", [V(rnd((3, 4), F32), "t"), V(rnd((4, 5), F32), "t")])
    case("matmul_f64_batched_noncontig", "matmul", [V(rnd((2, 3, 4), F64), "permute", dims=[0, 2, 1]),
                                                    V(rnd((2, 4, 5), F64), "step", dim=2, step=2)])
    case("matmul_f32_expand_batch", "matmul", [V(rnd((1, 3, 4), F32), "expand", shape=[3, 3, 4]), rnd((3, 4, 2), F32)])
    case("matmul_f32_k0", "matmul", [rnd((3, 0), F32), rnd((0, 4), F32)])
    case("matmul_f32_m0", "matmul", [rnd((0, 4), F32), rnd((4, 5), F32)])
    case("matmul_f32_batch0", "matmul", [rnd((0, 3, 4), F32), rnd((4, 2), F32)])
    case("matmul_f32_larger", "matmul", [rnd((9, 17), F32, -1, 1), rnd((17, 7), F32, -1, 1)])
    case("matmul_f64_larger", "matmul", [rnd((9, 17), F64, -1, 1), rnd((17, 7), F64, -1, 1)])
    case("mm_f32_noncontig_a", "mm", [V(rnd((3, 4), F32), "t"), rnd((4, 5), F32)])
    case("mm_f32_noncontig_b", "mm", [rnd((3, 4), F32), V(rnd((4, 5), F32), "t")])
    case("mm_f64_step", "mm", [V(rnd((3, 4), F64), "step", dim=0, step=2), V(rnd((4, 5), F64), "step", dim=1, step=3)])
    case("mm_f32_expand", "mm", [V(rnd((1, 4), F32), "expand", shape=[3, 4]), rnd((4, 2), F32)])
    case("mm_f32_vector_shapes", "mm", [rnd((1, 6), F32), rnd((6, 1), F32)])
    case("bmm_f32_noncontig", "bmm", [V(rnd((2, 3, 4), F32), "permute", dims=[0, 2, 1]), V(rnd((2, 4, 5), F32), "permute", dims=[1, 0, 2])])
    case("bmm_f32_empty_batch", "bmm", [rnd((0, 3, 4), F32), rnd((0, 4, 5), F32)])
    case("addmm_f32_beta_alpha", "addmm", [rnd((3, 5), F32), rnd((3, 4), F32), rnd((4, 5), F32)], {"beta": 0.5, "alpha": 2.0})
    case("addmm_f64_beta_alpha", "addmm", [rnd((3, 5), F64), rnd((3, 4), F64), rnd((4, 5), F64)], {"beta": -1.5, "alpha": 0.25})
    case("addmm_f32_bias_row", "addmm", [rnd((5,), F32), rnd((3, 4), F32), rnd((4, 5), F32)])
    case("addmm_f32_bias_col", "addmm", [rnd((3, 1), F32), rnd((3, 4), F32), rnd((4, 5), F32)], {"beta": 2})
    case("addmm_f32_bias_0dim", "addmm", [rnd((), F32), rnd((3, 4), F32), rnd((4, 5), F32)])
    case("addmm_f32_beta0_nan", "addmm", [torch.full((3, 5), float("nan")), rnd((3, 4), F32), rnd((4, 5), F32)], {"beta": 0})
    case("addmm_f32_alpha0", "addmm", [rnd((3, 5), F32), rnd((3, 4), F32), rnd((4, 5), F32)], {"alpha": 0})
    case("addmm_f32_noncontig", "addmm", [V(rnd((3, 5), F32), "t"), V(rnd((3, 4), F32), "t"), rnd((4, 5), F32)], {"beta": 0.5})
    case("addmm_i64_beta_alpha", "addmm", [ri((3, 5), I64), ri((3, 4), I64), ri((4, 5), I64)], {"beta": 2, "alpha": 3})
    case("addmm_f32_k0", "addmm", [rnd((3, 5), F32), rnd((3, 0), F32), rnd((0, 5), F32)], {"beta": 2})


# ---- joining and indexing ----
def gen_index():
    for dt in FLOATS + INTS + [BOOL]:
        s = sh(dt)
        case(f"cat_{s}_d0", "cat", [rq((2, 3), dt), rq((1, 3), dt), rq((3, 3), dt)], {"dim": 0})
        case(f"stack_{s}_d0", "stack", [rq((2, 3), dt), rq((2, 3), dt)], {"dim": 0})
        case(f"index_select_{s}_d0", "index_select", [rq((5, 3), dt), torch.tensor([4, 0, 2, 2])], {"dim": 0})
        case(f"gather_{s}_d1", "gather", [rq((3, 4), dt), ri((3, 2), I64, 0, 4)], {"dim": 1})
        case(f"scatter_{s}_d0", "scatter", [rq((3, 4), dt), torch.stack([torch.randperm(3, generator=GEN) for _ in range(4)], 1)[:2],
                                             rq((2, 4), dt)], {"dim": 0})
        case(f"masked_select_{s}", "masked_select", [rq((3, 4), dt), rb((3, 4))])
        case(f"nonzero_{s}", "nonzero", [ri((3, 4), I64, -1, 2).to(dt)])
        case(f"index_{s}_tensor", "index", [rq((5, 3), dt), torch.tensor([3, -1, 0, 3])], {"indices": [{"tensor": 1}]})
        case(f"index_{s}_mask", "index", [rq((3, 4), dt), rb((3, 4))], {"indices": [{"tensor": 1}]})
        case(f"index_put_{s}_tensor", "index_put", [rq((5, 3), dt), torch.tensor([4, 1]), rq((2, 3), dt)],
             {"indices": [{"tensor": 1}], "value_input": 2})
    # cat / stack
    case("cat_f32_d1", "cat", [rnd((2, 3), F32), rnd((2, 1), F32)], {"dim": 1})
    case("cat_f32_dm1_3d", "cat", [rnd((2, 3, 1), F32), rnd((2, 3, 2), F32)], {"dim": -1})
    case("cat_f64_noncontig", "cat", [V(rnd((2, 3), F64), "t"), V(rnd((2, 3), F64), "step", dim=0, step=2)], {"dim": 0})
    case("cat_f32_expand", "cat", [V(rnd((1, 3), F32), "expand", shape=[2, 3]), rnd((1, 3), F32)], {"dim": 0})
    case("cat_f32_empty_piece", "cat", [rnd((2, 3), F32), rnd((2, 0), F32), rnd((2, 2), F32)], {"dim": 1})
    case("cat_f32_all_empty", "cat", [rnd((0, 3), F32), rnd((0, 3), F32)], {"dim": 0})
    case("cat_single", "cat", [rnd((2, 3), F32)], {"dim": 1})
    case("cat_i32_f32_promote", "cat", [rnd((2, 3), I32), rnd((1, 3), F32)], {"dim": 0})
    case("cat_u8_i8_promote", "cat", [ri((2,), U8, 0, 9), ri((3,), I8, -9, 9)], {"dim": 0})
    case("cat_bool_i64_promote", "cat", [rb((2,)), rnd((3,), I64)], {"dim": 0})
    case("cat_many", "cat", [rnd((1, 2), F32) for _ in range(7)], {"dim": 0})
    case("stack_f32_d1", "stack", [rnd((2, 3), F32), rnd((2, 3), F32), rnd((2, 3), F32)], {"dim": 1})
    case("stack_f32_dm1", "stack", [rnd((2, 3), F32), rnd((2, 3), F32)], {"dim": -1})
    case("stack_f32_d2", "stack", [rnd((2, 3), F32), rnd((2, 3), F32)], {"dim": 2})
    case("stack_f64_noncontig", "stack", [V(rnd((2, 3), F64), "t"), rnd((2, 3), F64)], {"dim": 0})
    case("stack_f32_0dim", "stack", [rnd((), F32), rnd((), F32), rnd((), F32)], {"dim": 0})
    case("stack_f32_empty", "stack", [rnd((0, 2), F32), rnd((0, 2), F32)], {"dim": 1})
    case("stack_single", "stack", [rnd((2, 3), I64)], {"dim": 0})
    # index_select
    case("index_select_f32_d1", "index_select", [rnd((3, 5), F32), torch.tensor([4, 4, 0])], {"dim": 1})
    case("index_select_f32_dm1_3d", "index_select", [rnd((2, 3, 4), F32), torch.tensor([3, 1])], {"dim": -1})
    case("index_select_f64_noncontig", "index_select", [V(rnd((5, 3), F64), "t"), torch.tensor([0, 2])], {"dim": 1})
    case("index_select_f32_i32_index", "index_select", [rnd((5, 3), F32), torch.tensor([1, 3], dtype=I32)], {"dim": 0})
    case("index_select_f32_empty_index", "index_select", [rnd((5, 3), F32), torch.tensor([], dtype=I64)], {"dim": 0})
    case("index_select_f32_0dim_index", "index_select", [rnd((5, 3), F32), torch.tensor([2])], {"dim": 0})
    case("index_select_f32_index_noncontig", "index_select", [rnd((6, 2), F32), V(torch.tensor([5, 0, 3, 1, 2, 4]), "step", dim=0, step=2)],
         {"dim": 0})
    case("index_select_0dim_input", "index_select", [rnd((), F32), torch.tensor([0])], {"dim": 0})
    # gather
    case("gather_f32_d0", "gather", [rnd((3, 4), F32), ri((2, 4), I64, 0, 3)], {"dim": 0})
    case("gather_f64_dm1_3d", "gather", [rnd((2, 3, 4), F64), ri((2, 3, 6), I64, 0, 4)], {"dim": -1})
    case("gather_f32_small_index", "gather", [rnd((4, 5), F32), ri((2, 3), I64, 0, 4)], {"dim": 0})
    case("gather_f32_noncontig", "gather", [V(rnd((4, 3), F32), "t"), V(ri((3, 2), I64, 0, 3), "t")], {"dim": 1})
    case("gather_f32_empty_index", "gather", [rnd((3, 4), F32), torch.zeros((3, 0), dtype=I64)], {"dim": 1})
    case("gather_f32_0dim", "gather", [rnd((), F32), torch.tensor(0)], {"dim": 0})
    # scatter / scatter_add
    case("scatter_f32_d1", "scatter", [rnd((3, 5), F32), torch.stack([torch.randperm(5, generator=GEN)[:3] for _ in range(3)]),
                                        rnd((3, 3), F32)], {"dim": 1})
    case("scatter_f32_src_larger", "scatter", [rnd((3, 5), F32), torch.stack([torch.randperm(5, generator=GEN)[:2] for _ in range(2)]),
                                                rnd((4, 4), F32)], {"dim": 1})
    case("scatter_f64_noncontig", "scatter", [V(rnd((3, 5), F64), "t"), torch.stack([torch.randperm(5, generator=GEN)[:2] for _ in range(3)]),
                                               V(rnd((3, 2), F64), "t")], {"dim": 1})
    case("scatter_f32_empty_index", "scatter", [rnd((3, 4), F32), torch.zeros((0, 4), dtype=I64), rnd((2, 4), F32)], {"dim": 0})
    for dt in (F32, F64, I64, I32, F16, BF16, U8):
        s = sh(dt)
        case(f"scatter_add_{s}_d0", "scatter_add", [rq((3, 4), dt, 0, 5), ri((5, 4), I64, 0, 3), rq((5, 4), dt, 0, 5)], {"dim": 0})
    case("scatter_add_f32_d1_dups", "scatter_add", [rnd((2, 4), F32), torch.tensor([[0, 0, 0, 3, 3], [1, 2, 1, 2, 1]]), rnd((2, 5), F32)],
         {"dim": 1})
    case("scatter_add_f64_3d", "scatter_add", [rnd((2, 3, 4), F64), ri((2, 3, 2), I64, 0, 4), rnd((2, 3, 2), F64)], {"dim": -1})
    case("scatter_add_f32_noncontig", "scatter_add", [V(rnd((3, 4), F32), "t"), ri((3, 4), I64, 0, 4), V(rnd((3, 4), F32), "t")],
         {"dim": 1})
    # masked_select
    case("masked_select_f32_bcast_mask", "masked_select", [rnd((3, 4), F32), rb((1, 4))])
    case("masked_select_f32_bcast_input", "masked_select", [rnd((4,), F32), rb((3, 4))])
    case("masked_select_f64_noncontig", "masked_select", [V(rnd((4, 3), F64), "t"), V(rb((4, 3)), "t")])
    case("masked_select_f32_none", "masked_select", [rnd((3, 4), F32), torch.zeros((3, 4), dtype=BOOL)])
    case("masked_select_f32_all", "masked_select", [rnd((3, 4), F32), torch.ones((3, 4), dtype=BOOL)])
    case("masked_select_f32_0dim", "masked_select", [rnd((), F32), torch.tensor(True)])
    case("masked_select_f32_empty", "masked_select", [rnd((0, 4), F32), rb((4,))])
    # nonzero
    case("nonzero_bool_3d", "nonzero", [rb((2, 3, 4), 0.3)])
    case("nonzero_f32_1d", "nonzero", [torch.tensor([0.0, 1.5, -0.0, float("nan"), 0.0, -2.0])])
    case("nonzero_f64_noncontig", "nonzero", [V(ri((4, 3), I64, -1, 2).double(), "t")])
    case("nonzero_0dim_true", "nonzero", [torch.tensor(3.0)])
    case("nonzero_0dim_false", "nonzero", [torch.tensor(0)])
    case("nonzero_empty", "nonzero", [rnd((0, 3), F32)])
    case("nonzero_all_zero", "nonzero", [torch.zeros((2, 3))])
    case("nonzero_long", "nonzero", [rb((100,), 0.5)])
    # indexing with tensors and masks
    T = lambda k: {"tensor": k}  # noqa: E731
    S = lambda *a: {"slice": list(a) + [None] * (3 - len(a))}  # noqa: E731
    x54 = rnd((5, 4), F32)
    case("index_f32_2d_index", "index", [x54, torch.tensor([[0, 4, 1], [2, 2, -5]])], {"indices": [T(1)]})
    case("index_f32_slice_then_tensor", "index", [rnd((3, 5), F32), torch.tensor([4, 0, 1])], {"indices": [S(None), T(1)]})
    case("index_f32_row_mask", "index", [x54, torch.tensor([True, False, True, True, False])], {"indices": [T(1)]})
    case("index_f32_col_mask", "index", [x54, torch.tensor([False, True, True, False])], {"indices": [S(None), T(1)]})
    case("index_f32_two_tensors_bcast", "index", [x54, torch.tensor([[0], [3]]), torch.tensor([1, 3, 2])],
         {"indices": [T(1), T(2)]})
    case("index_f32_nonadjacent", "index", [rnd((4, 3, 5), F32), torch.tensor([0, 3, 1]), torch.tensor([4, 0, 2])],
         {"indices": [T(1), S(None), T(2)]})
    case("index_f32_adjacent_inner", "index", [rnd((2, 4, 5), F32), torch.tensor([0, 3, 1]), torch.tensor([4, 0, 2])],
         {"indices": [S(None), T(1), T(2)]})
    case("index_f32_ellipsis_tensor", "index", [rnd((2, 3, 4), F32), torch.tensor([3, 0])], {"indices": [{"ellipsis": True}, T(1)]})
    case("index_f32_none_tensor", "index", [x54, torch.tensor([1, 2])], {"indices": [{"none": True}, T(1)]})
    case("index_f32_int_tensor", "index", [rnd((3, 4, 5), F32), torch.tensor([4, 1])], {"indices": [{"int": 1}, S(None), T(1)]})
    case("index_f32_step_slice_tensor", "index", [rnd((6, 4), F32), torch.tensor([3, 0])], {"indices": [S(None, None, 2), T(1)]})
    case("index_f32_empty_index", "index", [x54, torch.tensor([], dtype=I64)], {"indices": [T(1)]})
    case("index_f32_0dim_index", "index", [x54, torch.tensor(2)], {"indices": [T(1)]})
    case("index_f32_0dim_bool", "index", [x54, torch.tensor(True)], {"indices": [T(1)]})
    case("index_f32_mask_3d_partial", "index", [rnd((2, 3, 4), F32), rb((2, 3))], {"indices": [T(1)]})
    case("index_f32_noncontig_src", "index", [V(rnd((5, 4), F32), "t"), torch.tensor([0, 4, 2])], {"indices": [T(1)]})
    case("index_f32_all_false_mask", "index", [x54, torch.zeros(5, dtype=BOOL)], {"indices": [T(1)]})
    # index_put_
    case("index_put_f32_mask_scalar", "index_put", [rnd((3, 4), F32), rb((3, 4))], {"indices": [T(1)], "value": 0.0})
    case("index_put_i64_mask_scalar", "index_put", [rnd((3, 4), I64), rb((3, 4))], {"indices": [T(1)], "value": -7})
    m = rb((3, 4))
    case("index_put_f32_mask_values", "index_put", [rnd((3, 4), F32), m, rnd((int(m.sum()),), F32)],
         {"indices": [T(1)], "value_input": 2})
    case("index_put_f32_cols_bcast", "index_put", [rnd((3, 5), F32), torch.tensor([4, 0]), rnd((3, 1), F32)],
         {"indices": [S(None), T(1)], "value_input": 2})
    case("index_put_f32_two_tensors", "index_put", [rnd((4, 5), F32), torch.tensor([0, 3, 1]), torch.tensor([4, 0, 2]), rnd((3,), F32)],
         {"indices": [T(1), T(2)], "value_input": 3})
    case("index_put_f64_0dim_value", "index_put", [rnd((5, 2), F64), torch.tensor([1, 3]), rnd((), F64)],
         {"indices": [T(1)], "value_input": 2})
    case("index_put_f32_noncontig_dest", "index_put", [V(rnd((3, 4), F32), "t"), torch.tensor([2, 0]), rnd((2, 4), F32)],
         {"indices": [T(1)], "value_input": 2})
    case("index_put_f32_neg_index", "index_put", [rnd((5,), F32), torch.tensor([-1, -5])], {"indices": [T(1)], "value": 9.5})
    case("index_put_f32_row_mask", "index_put", [rnd((4, 3), F32), torch.tensor([True, False, False, True])],
         {"indices": [T(1)], "value": 1.0})
    case("index_put_bool_mask_scalar", "index_put", [rb((3, 4)), rb((3, 4))], {"indices": [T(1)], "value": True})
    case("index_put_f32_empty_index", "index_put", [rnd((3, 2), F32), torch.tensor([], dtype=I64)], {"indices": [T(1)], "value": 5.0})


# ---- conversions and factories ----
TO_VALUES = {
    F32: [-1e10, -300.75, -128.5, -3.7, -1.0, -0.5, -0.0, 0.0, 1 / 3, 0.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -11,
          2.5, 127.9, 255.5, 2049.0, 3e4, 7e4, 1e-6, 3e9, 1e10, 3e38, float("inf"), float("-inf"), float("nan")],
    F64: [-1e10, -300.75, -3.7, -0.5, 0.0, 0.1, 1 / 3, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 2.5, 255.5, 2049.0, 7e4, 1e-6,
          3e9, 2 ** 40 + 0.5, 1e18, 1e300, 1e-300, float("inf"), float("nan")],
    F16: [-1000.0, -3.5, -0.25, 0.0, 1 / 3, 1.0, 2.5, 100.7, 255.0, 2048.0, 65504.0, 6e-8, float("inf"), float("nan")],
    BF16: [-1e10, -300.0, -3.5, -0.25, 0.0, 1 / 3, 2.5, 255.0, 256.0, 7e4, 3e38, float("-inf"), float("nan")],
    I64: [-2 ** 63, -2 ** 40, -70000, -128, -3, 0, 1, 7, 100, 255, 256, 2049, 70000, 2 ** 24 + 1, 2 ** 31 + 5, 2 ** 53 + 1,
          2 ** 60 + 2 ** 36 + 1, 2 ** 63 - 1],
    I32: [-2 ** 31, -70000, -300, -3, 0, 1, 2049, 70000, 2 ** 24 + 1, 2 ** 31 - 1],
    I16: [-32768, -300, -3, 0, 1, 255, 256, 2049, 32767],
    I8: [-128, -3, 0, 1, 7, 100, 127],
    U8: [0, 1, 7, 100, 127, 128, 200, 255],
    BOOL: [True, False, True, False],
}


def int_range(dt):
    if dt == BOOL:
        return None
    info = torch.iinfo(dt)
    return info.min, info.max


def gen_to():
    for src in FLOATS + INTS + [BOOL]:
        for dst in FLOATS + INTS + [BOOL]:
            vals = TO_VALUES[src]
            x = torch.tensor(vals, dtype=F64 if src.is_floating_point else (BOOL if src == BOOL else I64)).to(src) \
                if src != I64 else torch.tensor(vals, dtype=I64)
            if src.is_floating_point and not dst.is_floating_point and dst != BOOL:
                lo, hi = int_range(dst)
                # Out-of-range float->int conversion is undefined (C++ and PyTorch): keep in-range values.
                keep = [i for i, v in enumerate(x.double().tolist())
                        if math.isfinite(v) and lo <= math.trunc(v) <= hi]
                x = x[torch.tensor(keep, dtype=I64)]
            case(f"to_{sh(src)}_{sh(dst)}", "to", [x], {"dtype": NAME[dst]})
    case("to_f32_i32_noncontig", "to", [V(rnd((3, 4), F32, -100, 100), "t")], {"dtype": "int32"})
    case("to_i64_f64_noncontig", "to", [V(ri((3, 4), I64, -100, 100), "step", dim=1, step=2)], {"dtype": "float64"})
    case("to_bool_f32_noncontig", "to", [V(rb((3, 4)), "t")], {"dtype": "float32"})
    case("to_f64_bf16_noncontig", "to", [V(rnd((2, 3, 4), F64), "permute", dims=[2, 0, 1])], {"dtype": "bfloat16"})
    case("to_f32_f16_expand", "to", [V(rnd((1, 4), F32), "expand", shape=[3, 4])], {"dtype": "float16"})
    case("to_f32_f64_0dim", "to", [rnd((), F32)], {"dtype": "float64"})
    case("to_f32_i64_empty", "to", [rnd((0, 3), F32)], {"dtype": "int64"})
    # contiguous() of views
    for dt in (F32, F64, F16, BF16, I64, I32, I8, U8, BOOL):
        case(f"contiguous_{sh(dt)}_permute", "contiguous", [V(rq((2, 3, 4), dt), "permute", dims=[2, 0, 1])])
    case("contiguous_f32_t", "contiguous", [V(rnd((3, 5), F32), "t")])
    case("contiguous_f32_step", "contiguous", [V(rnd((3, 5), F32), "step", dim=1, step=3)])
    case("contiguous_f32_expand", "contiguous", [V(rnd((3, 1), F32), "expand", shape=[2, 3, 4])])
    case("contiguous_f64_permute_4d", "contiguous", [V(rnd((2, 3, 2, 4), F64), "permute", dims=[3, 1, 0, 2])])
    case("contiguous_f32_empty", "contiguous", [V(rnd((0, 3), F32), "t")])
    case("contiguous_f32_already", "contiguous", [rnd((3, 4), F32)])
    # factories
    case("arange_end_int", "arange", [], {"end": 5})
    case("arange_end_float", "arange", [], {"end": 2.5})
    case("arange_int_step", "arange", [], {"start": 1, "end": 10, "step": 3})
    case("arange_float_step", "arange", [], {"start": 0, "end": 1, "step": 0.1})
    case("arange_neg_step", "arange", [], {"start": 10, "end": 0, "step": -3})
    case("arange_f64", "arange", [], {"start": -2.5, "end": 2.5, "step": 0.5, "dtype": "float64"})
    case("arange_i32", "arange", [], {"start": -3, "end": 4, "dtype": "int32"})
    case("arange_f32_dtype_int_args", "arange", [], {"start": 0, "end": 5, "step": 2, "dtype": "float32"})
    case("arange_empty", "arange", [], {"start": 3, "end": 3})
    case("arange_u8", "arange", [], {"start": 250, "end": 256, "dtype": "uint8"})
    case("arange_bf16", "arange", [], {"start": 0, "end": 4, "step": 0.5, "dtype": "bfloat16"})
    case("arange_f16", "arange", [], {"start": 0, "end": 4, "step": 0.25, "dtype": "float16"})
    case("linspace_f32", "linspace", [], {"start": 0.0, "end": 1.0, "steps": 5})
    case("linspace_f32_neg", "linspace", [], {"start": 1.5, "end": -2.0, "steps": 8})
    case("linspace_f64", "linspace", [], {"start": -1.0, "end": 1.0, "steps": 7, "dtype": "float64"})
    case("linspace_f64_long", "linspace", [], {"start": 0.0, "end": 10.0, "steps": 101, "dtype": "float64"})
    case("linspace_i64", "linspace", [], {"start": 0.0, "end": 10.0, "steps": 6, "dtype": "int64"})
    case("linspace_one", "linspace", [], {"start": 3.0, "end": 7.0, "steps": 1})
    case("linspace_zero", "linspace", [], {"start": 3.0, "end": 7.0, "steps": 0})
    case("linspace_f16", "linspace", [], {"start": 0.0, "end": 2.0, "steps": 9, "dtype": "float16"})
    case("eye_f32", "eye", [], {"n": 3})
    case("eye_f64_rect", "eye", [], {"n": 2, "m": 4, "dtype": "float64"})
    case("eye_i64_tall", "eye", [], {"n": 4, "m": 2, "dtype": "int64"})
    case("eye_bool", "eye", [], {"n": 3, "dtype": "bool"})
    case("eye_empty", "eye", [], {"n": 0})


def main():
    gen_promotion()
    gen_elementwise()
    gen_reductions()
    gen_linalg()
    gen_index()
    gen_to()
    meta = {"generator": "tests/golden/gen_golden.py", "torch": torch.__version__}
    write_safetensors(os.path.join(HERE, "ops.safetensors"), TENSORS, meta)
    with open(os.path.join(HERE, "ops.json"), "w") as f:
        f.write('{"torch": ' + json.dumps(torch.__version__) + ',\n"cases": [\n')
        for i, c in enumerate(CASES):
            f.write(json.dumps(c, separators=(",", ":")) + (",\n" if i + 1 < len(CASES) else "\n"))
        f.write("]}\n")
    print(f"{len(CASES)} cases, {len(TENSORS)} tensors, "
          f"{os.path.getsize(os.path.join(HERE, 'ops.safetensors'))} bytes", file=sys.stderr)
    for op in sorted(COUNT):
        print(f"  {op}: {COUNT[op]}", file=sys.stderr)
    for n in NOTES:
        print("note: " + n, file=sys.stderr)
    if SKIPPED:
        print(f"skipped {len(SKIPPED)} cases PyTorch rejects:", file=sys.stderr)
        for s in SKIPPED:
            print("  " + s, file=sys.stderr)


if __name__ == "__main__":
    main()
