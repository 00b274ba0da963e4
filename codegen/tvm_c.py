"""TVM C codegen for the mcu target: integer layers that have no hand-written kernel.

A layer the Cortex-M kernels cannot run (grouped or odd convolutions, broadcasting QAdd,
ceil-mode / dilated MaxPool, softmax over a spatial axis, Transpose / Concat on s8) is
written here in TVM TE with the exact integer semantics of edgesdk.reference
(docs/integer-ops.md; requantization = edgesdk.quant.fixedpoint: int64 multiply, round
half up, arithmetic shift), on the tensors as the device holds them: 4-D activations
NHWC, the rest row-major. TVM 0.27 builds all of a model's TVM layers as one module with
target "c"; the C source (tvm-ffi packed calling convention) is printed into model.c
after runtime/tvm/ek_tvm_shim.h, which defines the few types and symbols the generated
code needs to run bare-metal (DLTensor, TVMFFIAny, workspace, error hook).

Reductions write an int32 accumulator stage that is computed at the innermost output
loop (compute_at), so it shrinks to a scalar on the stack: no workspace, no malloc.
Any workspace TVM still asks for is read off the source and planned as layer scratch.

Only codegen imports TVM (DEVELOPERS.md); lowering calls `lower_layers` lazily.
"""
import re
from dataclasses import dataclass, field

import numpy as np

from edgesdk.errors import EdgeError

FUNC_PREFIX = "ek_tvm_"
# Ops this module can compile (anything else is refused by lowering, by node name).
TVM_OPS = {"QConv", "QAdd", "MaxPool", "QSoftmax", "Transpose", "Concat"}


class TvmMcuError(EdgeError):
    """A layer neither a hand kernel nor the TVM path can run; the message names the node."""


@dataclass
class TvmLayer:
    """One node compiled by TVM: its function and the buffers its packed call takes."""
    node: str
    func: str                       # global symbol; the packed entry is __tvm_ffi_<func>
    acts: list                      # activation tensor names passed first (inputs), in order
    consts: dict                    # const name -> np.ndarray passed after the activations
    arg_specs: list = field(default_factory=list)   # [(shape, dtype)] of every argument, output last
    workspace_bytes: int = 0


@dataclass
class TvmModule:
    source: str                     # C text, tvm-ffi includes stripped (the shim replaces them)
    layers: dict                    # node name -> TvmLayer


# ------------------------------------------------------------ device layout helpers

def device_shape(shape):
    """The shape of the buffer the device holds: 4-D NCHW -> NHWC, other ranks unchanged."""
    shape = tuple(int(d) for d in shape)
    return (shape[0], shape[2], shape[3], shape[1]) if len(shape) == 4 else shape


def _to_logical(dev_idx):
    """Device indices of a tensor -> its IR (NCHW) indices."""
    return (dev_idx[0], dev_idx[3], dev_idx[1], dev_idx[2]) if len(dev_idx) == 4 else tuple(dev_idx)


def _requant(acc32, mult, shift):
    """fixedpoint.requantize: (acc * m + (1 << (total - 1))) >> total, total = 31 - shift, in int64."""
    from tvm import tirx
    total = tirx.const(31, "int64") - shift.astype("int64")
    one = tirx.const(1, "int64")
    v = acc32.astype("int64") * mult.astype("int64") + (one << (total - one))
    return v >> total


def _clamp(v, lo, hi):
    """clamp an int64 expression to [lo, hi]."""
    from tvm import tirx
    return tirx.max(tirx.min(v, tirx.const(int(hi), "int64")), tirx.const(int(lo), "int64"))


# ------------------------------------------------------------ one TE function per op

class _Builder:
    def __init__(self, graph, node, func, root_of=None):
        from tvm import te, tirx
        self.te, self.tirx = te, tirx
        self.g, self.node, self.func = graph, node, func
        self.root_of = root_of or (lambda name: name)
        self.acts, self.consts, self.placeholders, self.const_ph = [], {}, [], []
        self.reduce_stages = []      # stages to compute_at the output's innermost loop
        self.row_axis = None         # softmax: the device axis reduced; its stages live per row

    def act(self, name):
        """An s8 activation input -> (reader by IR indices, IR shape).

        Shape-only ops alias their input's bytes (lowering), so what the device holds is the
        alias root's layout: NHWC for a 4-D root, IR (row-major) order otherwise. A 4-D root
        with a 1x1 map is the same bytes in both orders; any other reshaped 4-D map is refused.
        """
        t = self.g.tensors[name]
        if t.dtype != "s8":
            raise TvmMcuError(f"node {self.node.name}: input {name!r} is {t.dtype}; the mcu TVM path takes s8")
        shape = tuple(int(d) for d in t.shape)
        rs = tuple(int(d) for d in self.g.tensors[self.root_of(name)].shape)
        if len(shape) == 4 and rs == shape:
            nhwc = True
        elif len(rs) == 4 and rs[2] * rs[3] > 1:
            raise TvmMcuError(f"node {self.node.name}: input {name!r} is a reshaped spatial map {list(rs)} -> "
                              f"{list(shape)}; its NHWC bytes are not in IR order, no TVM path reads it")
        else:
            nhwc = False
        p = self.te.placeholder(device_shape(shape) if nhwc else shape, "int8", name=f"x{len(self.acts)}")
        self.acts.append(name)
        self.placeholders.append(p)

        def read(*idx):
            return p[idx[0], idx[2], idx[3], idx[1]] if nhwc else p[tuple(idx)]
        return read, shape

    def const(self, key, arr, dtype):
        arr = np.ascontiguousarray(np.asarray(arr).astype(dtype))
        p = self.te.placeholder(arr.shape, dtype, name=key)
        self.consts[key] = arr
        self.const_ph.append(p)
        return p

    def out_shape(self):
        return tuple(self.g.tensors[self.node.outputs[0]].shape)

    # -- ops ----------------------------------------------------------------------
    def QConv(self):
        te, tirx, a = self.te, self.tirx, self.node.attrs
        xr, xs = self.act(self.node.inputs[0])
        if len(xs) != 4:
            raise TvmMcuError(f"node {self.node.name}: only 2-D convolutions have an mcu TVM path (input {xs})")
        w = self.g.const(self.node.inputs[1])
        if w is None:
            raise TvmMcuError(f"node {self.node.name}: QConv weights must be constant")
        from edgesdk.ir.opdefs.conv import conv_geometry
        strides, pads, dil = conv_geometry(self.node, xs, w.shape)
        o, cg, kh, kw = w.shape
        group = int(a.get("group", 1))
        og = o // group
        bias = self.g.const(self.node.inputs[2]) if len(self.node.inputs) > 2 and self.node.inputs[2] else None
        m = np.broadcast_to(np.asarray(a["multiplier"], np.int64).reshape(-1), (o,))
        s = np.broadcast_to(np.asarray(a["shift"], np.int64).reshape(-1), (o,))
        W = self.const("w", w, "int8")
        B = self.const("bias", np.zeros(o) if bias is None else bias, "int32")
        M = self.const("mult", m, "int32")
        S = self.const("shift", s, "int32")
        n_, _, ih, iw = xs
        _, _, oh, ow = self.out_shape()
        x_zp = int(a["x_zp"])
        rc = te.reduce_axis((0, cg), "rc")
        ry = te.reduce_axis((0, kh), "ry")
        rx = te.reduce_axis((0, kw), "rx")

        def acc_fn(n, y, x, oc):
            iy = y * strides[0] - pads[0] + ry * dil[0]
            ix = x * strides[1] - pads[1] + rx * dil[1]
            inside = tirx.all(iy >= 0, iy < ih, ix >= 0, ix < iw)
            ci = (oc // og) * cg + rc
            # The input is padded with x_zp, i.e. 0 once centred.
            xv = tirx.if_then_else(inside, xr(n, ci, tirx.max(tirx.min(iy, ih - 1), 0),
                                              tirx.max(tirx.min(ix, iw - 1), 0)).astype("int32") - x_zp, 0)
            # Channels innermost: contiguous in NHWC, and the padding test is invariant there.
            return te.sum(xv * W[oc, rc, ry, rx].astype("int32"), axis=[ry, rx, rc])

        acc = te.compute((n_, oh, ow, o), acc_fn, name="acc")
        self.reduce_stages.append("acc")

        def out_fn(n, y, x, oc):
            v = _requant(acc[n, y, x, oc] + B[oc], M[oc], S[oc]) + self.tirx.const(int(a["y_zp"]), "int64")
            return _clamp(v, a.get("act_min", -128), a.get("act_max", 127)).astype("int8")

        return te.compute((n_, oh, ow, o), out_fn, name="out")

    def MaxPool(self):
        te, tirx = self.te, self.tirx
        xr, xs = self.act(self.node.inputs[0])
        if len(xs) != 4:
            raise TvmMcuError(f"node {self.node.name}: only 2-D pooling has an mcu TVM path (input {xs})")
        from edgesdk.ir.opdefs.pool import pool_geometry
        k, strides, pads, dil, _ = pool_geometry(self.node, xs[2:])
        n_, c, ih, iw = xs
        _, _, oh, ow = self.out_shape()
        ry = te.reduce_axis((0, k[0]), "ry")
        rx = te.reduce_axis((0, k[1]), "rx")

        def fn(n, y, x, ch):
            iy = y * strides[0] - pads[0] + ry * dil[0]
            ix = x * strides[1] - pads[1] + rx * dil[1]
            inside = tirx.all(iy >= 0, iy < ih, ix >= 0, ix < iw)
            # Padding (and the ceil_mode overhang) is the int8 minimum: it never wins.
            v = tirx.if_then_else(inside, xr(n, ch, tirx.max(tirx.min(iy, ih - 1), 0),
                                             tirx.max(tirx.min(ix, iw - 1), 0)), tirx.const(-128, "int8"))
            return te.max(v, axis=[ry, rx])

        return te.compute((n_, oh, ow, c), fn, name="out")

    def QAdd(self):
        te, a = self.te, self.node.attrs
        (ra, ash), (rb, bsh) = self.act(self.node.inputs[0]), self.act(self.node.inputs[1])
        ys = self.out_shape()

        def bcast(shape, idx):
            # numpy broadcasting: right-aligned, size-1 axes read index 0.
            idx = idx[len(idx) - len(shape):]
            return [0 if d == 1 else i for d, i in zip(shape, idx)]

        def side(v, zp, m, s):
            c = (v.astype("int64") - int(zp)) << 20
            return _requant(c, self.tirx.const(int(m), "int64"), self.tirx.const(int(s), "int64"))

        def fn(*dev):
            idx = _to_logical(dev) if len(ys) == 4 else dev
            va = side(ra(*bcast(ash, idx)), a["a_zp"], a["a_multiplier"], a["a_shift"])
            vb = side(rb(*bcast(bsh, idx)), a["b_zp"], a["b_multiplier"], a["b_shift"])
            m = int(np.asarray(a["multiplier"]).reshape(-1)[0])
            s = int(np.asarray(a["shift"]).reshape(-1)[0])
            v = _requant(va + vb, self.tirx.const(m, "int64"), self.tirx.const(s, "int64")) \
                + self.tirx.const(int(a["y_zp"]), "int64")
            return _clamp(v, a.get("act_min", -128), a.get("act_max", 127)).astype("int8")

        return te.compute(device_shape(ys), fn, name="out")

    def Transpose(self):
        rd, xs = self.act(self.node.inputs[0])
        ys = self.out_shape()
        perm = list(self.node.attrs.get("perm") or reversed(range(len(xs))))

        def fn(*dev):
            idx = _to_logical(dev) if len(ys) == 4 else dev
            src = [None] * len(xs)
            for i, p in enumerate(perm):
                src[p] = idx[i]
            return rd(*src)

        return self.te.compute(device_shape(ys), fn, name="out")

    def Concat(self):
        tirx = self.tirx
        ins = [self.act(i) for i in self.node.inputs if i]
        ys = self.out_shape()
        axis = int(self.node.attrs.get("axis", 0)) % len(ys)
        readers = ins

        def fn(*dev):
            idx = list(_to_logical(dev) if len(ys) == 4 else dev)
            starts, off = [], 0
            for _, s in readers:
                starts.append(off)
                off += s[axis]
            # Select the input by position along the axis; indices are clamped so that the
            # branches not taken still read inside their buffers.
            v = None
            for (rd, s), st in zip(readers, starts):   # a later input wins from its start on
                j = list(idx)
                j[axis] = tirx.max(tirx.min(idx[axis] - st, s[axis] - 1), 0)
                val = rd(*j)
                v = val if v is None else tirx.if_then_else(idx[axis] >= st, val, v)
            return v

        return self.te.compute(device_shape(ys), fn, name="out")

    def QSoftmax(self):
        te, tirx = self.te, self.tirx
        rd, xs = self.act(self.node.inputs[0])
        T = self.const("table", np.asarray(self.node.attrs["table"], np.uint32).reshape(-1), "uint32")
        L = xs[-1]
        r1 = te.reduce_axis((0, L), "r1")
        r2 = te.reduce_axis((0, L), "r2")
        ys = device_shape(xs)

        def with_last(dev, v):
            idx = list(_to_logical(dev) if len(xs) == 4 else dev)
            idx[-1] = v
            return rd(*idx)

        # Row max and row sum have the output's shape with the reduced axis of extent 1; the
        # schedule moves that axis innermost in the output and computes both once per row,
        # just outside it, as scalars.
        ax = 2 if len(xs) == 4 else len(xs) - 1      # the IR's last axis, on the device
        rows = list(ys)
        rows[ax] = 1

        def row(d):
            d = list(d)
            d[ax] = 0
            return tuple(d)

        mx = te.compute(rows, lambda *d: te.max(with_last(d, r1).astype("int32"), axis=r1), name="rowmax")
        sm = te.compute(rows, lambda *d: te.sum(T[mx[d] - with_last(d, r2).astype("int32")].astype("uint64"),
                                                axis=r2), name="rowsum")
        self.row_axis = ax

        def fn(*d):
            e = T[mx[row(d)] - rd(*(_to_logical(d) if len(xs) == 4 else d)).astype("int32")].astype("uint64")
            s = sm[row(d)]
            q = ((e * tirx.const(256, "uint64") + s // tirx.const(2, "uint64")) // s).astype("int64") \
                - tirx.const(128, "int64")
            return _clamp(q, -128, 127).astype("int8")

        return te.compute(ys, fn, name="out")


def _build_prim_func(graph, node, func, root_of=None):
    from tvm import te
    b = _Builder(graph, node, func, root_of)
    fn = getattr(b, node.op, None)
    if fn is None:
        raise TvmMcuError(f"node {node.name}: op {node.op} has no mcu kernel and no TVM lowering")
    out = fn()
    const_ph = b.const_ph
    prim = te.create_prim_func([*b.placeholders, *const_ph, out]).with_attr("global_symbol", func)
    args = [(tuple(p.shape), str(p.dtype)) for p in [*b.placeholders, *const_ph, out]]
    return b, prim, args


def _schedule(prim, reduce_stages):
    """compute_at every reduction stage under the output's innermost loop (scalar accumulators)."""
    import tvm
    from tvm import s_tir
    sch = s_tir.Schedule(tvm.IRModule({"main": prim}))
    for stage in reduce_stages:
        out_loops = sch.get_loops(sch.get_sblock("out"))
        block = sch.get_sblock(stage)
        sch.compute_at(block, out_loops[-1])
        # Initialise the accumulator once, before its reduction loops, not by a test in them.
        loops = sch.get_loops(block)
        sch.decompose_reduction(block, loops[len(out_loops)])
        if stage == "acc":
            # Only the sum: TVM 0.27's C printer caches a load of the accumulator in a temp
            # for max/min and reuses it across unrolled updates (wrong code for rowmax).
            _unroll_small(sch, sch.get_loops(block)[len(out_loops):])
    return sch.mod["main"]


def _schedule_rows(prim, axis):
    """Softmax: the reduced axis innermost in the output; row max and row sum computed once per
    row just outside it (O(L) per row, not O(L^2)), their accumulators scalars."""
    import tvm
    from tvm import s_tir
    sch = s_tir.Schedule(tvm.IRModule({"main": prim}))
    loops = sch.get_loops(sch.get_sblock("out"))
    if len(loops) < 2:
        return prim      # a single row: the stages are computed once anyway
    sch.reorder(*[lp for i, lp in enumerate(loops) if i != axis], loops[axis])
    at = sch.get_loops(sch.get_sblock("out"))[-2]
    for stage in ("rowsum", "rowmax"):         # the consumer first, then its producer
        block = sch.get_sblock(stage)
        sch.compute_at(block, at)
    for stage in ("rowsum", "rowmax"):
        block = sch.get_sblock(stage)
        sch.decompose_reduction(block, sch.get_loops(block)[len(loops) - 1])
    return sch.mod["main"]


UNROLL_BODIES = 64    # largest unrolled reduction (taps x channels) worth its flash


def _unroll_small(sch, red_loops):
    """Unroll the outer reduction loops (the window taps) while the copies stay few: TVM then
    folds each tap's constant offsets and padding test, which dominate small inner loops."""
    from tvm import tirx
    extents = [int(sch.get(lp).extent) if isinstance(sch.get(lp).extent, tirx.IntImm) else 0 for lp in red_loops]
    total = 1
    for lp, ext in zip(red_loops, extents):
        if ext == 0 or total * ext > UNROLL_BODIES:
            break
        total *= ext
        sch.unroll(lp)


_INCLUDE_RE = re.compile(r'^#include "tvm/[^"]*"\n', re.M)
_WS_RE = re.compile(r"TVMBackendAllocWorkspace\(\s*\d+\s*,\s*[^,]+,\s*\(uint64_t\)\s*(\d+)")


def lower_layers(graph, nodes, prefix="", root_of=None):
    """Compile `nodes` (IR nodes of `graph`) with TVM target "c"; returns a TvmModule.

    root_of(tensor) -> the tensor whose bytes it aliases on the device (lowering's alias map).

    Function names are FUNC_PREFIX + prefix + a per-node index + the op, so that they are
    valid C and stable across builds.
    """
    if not nodes:
        return TvmModule("", {})
    import tvm
    from edgesdk.codegen.mcu.emit import c_ident
    funcs, layers = {}, {}
    for i, node in enumerate(nodes):
        func = f"{FUNC_PREFIX}{prefix}{i}_{c_ident(node.op).lower()}"
        b, prim, args = _build_prim_func(graph, node, func, root_of)
        prim = _schedule_rows(prim, b.row_axis) if b.row_axis is not None else _schedule(prim, b.reduce_stages)
        funcs[func] = prim.with_attr("global_symbol", func)
        layers[node.name] = TvmLayer(node.name, func, list(b.acts), dict(b.consts), args)
    try:
        lib = tvm.tirx.build(tvm.IRModule(funcs), target={"kind": "c"})
    except Exception as e:  # a TVM internal error: name the layers, keep TVM's first line
        raise TvmMcuError(f"TVM could not compile layers {', '.join(n.name for n in nodes)}: "
                          f"{str(e).strip().splitlines()[-1]}") from e
    src = _INCLUDE_RE.sub("", lib.inspect_source())
    # The shim provides these per build; TVM defines them once per module.
    src = src.replace("void* __tvm_ffi__library_ctx = NULL;", "")
    for L in layers.values():
        # The shim's bump allocator restarts at each call: a layer needs the sum of its
        # function's requests (each 16-byte aligned), planned as that layer's scratch.
        L.workspace_bytes = sum(_align(int(n)) for n in _WS_RE.findall(_function_body(src, L.func)))
    return TvmModule(src, layers)


def _function_body(src, func):
    """The C text of the definition of __tvm_ffi_<func> (up to the next top-level function)."""
    m = re.search(r"^TVM_DLL int32_t __tvm_ffi_%s\(.*\) \{$" % re.escape(func), src, re.M)
    if m is None:
        return ""
    end = src.find("\n}\n", m.end())
    return src[m.start():end if end >= 0 else len(src)]


def _align(n, a=16):
    return (n + a - 1) // a * a
