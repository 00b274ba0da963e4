"""QAdd and the int8 pools (MaxPool on s8, QAvgPool, QGlobalAvgPool) on hand OpenCL kernels.

Before these, the layers ran on TVM's generated kernels; the hand ones
(kernels/opencl/ek_qadd_s8_ocl.cl, ek_pool_s8_ocl.cl) compute the same
edgesdk.reference.quantized formulas bit for bit, with the constants (per-channel
multiplier/shift, broadcast strides) prepared here. A layer these do not cover (5-D
tensors, broadcasting QAdds, dilated average pools, MaxPool with Indices) returns None
and stays on TVM.
"""
import numpy as np

from ..ir.opdefs.pool import pool_geometry

QADD, MAXPOOL, AVGPOOL = "ek_qadd_s8_ocl", "ek_maxpool_s8_ocl", "ek_avgpool_s8_ocl"
KERNELS = (QADD, MAXPOOL, AVGPOOL)
# MaxPool: the hand kernel is exact but measured 0.7x TVM's speed on PoCL
# (bench/gpu_hand_ops.py, TVM's window loops have compile-time bounds), so builds keep
# TVM for it; the bench sets this to measure the hand one again.
HAND_MAXPOOL = False


def _i(v):
    return {"i32": int(v)}


def kernel_for(graph, node, maxpool=None):
    """The hand kernel for `node` (None: TVM runs it); maxpool overrides HAND_MAXPOOL."""
    ins = [graph.tensors[i] for i in node.inputs if i]
    if any(t.dtype != "s8" for t in ins):
        return None
    y = graph.tensors[node.outputs[0]]
    if node.op == "QAdd":
        # same-shape operands only: the flat kernel; a broadcasting add stays on TVM
        return QADD if all(tuple(t.shape) == tuple(y.shape) for t in ins) else None
    if node.op == "MaxPool":
        if not (HAND_MAXPOOL if maxpool is None else maxpool):
            return None
        one_output = len(node.outputs) == 1 or not node.outputs[1]
        return MAXPOOL if one_output and len(ins[0].shape) == 4 else None
    if node.op == "QAvgPool":
        dil = node.attrs.get("dilations") or [1, 1]
        return AVGPOOL if len(ins[0].shape) == 4 and list(dil) == [1, 1] else None
    if node.op == "QGlobalAvgPool":
        return AVGPOOL if len(ins[0].shape) >= 3 else None
    return None


def _per_channel(v, c):
    return np.broadcast_to(np.asarray(v, np.int32).reshape(-1), (c,)).copy()


def _qadd(graph, node):
    a, b = node.inputs[0], node.inputs[1]
    y = node.outputs[0]
    n = int(np.prod(graph.tensors[y].shape, dtype=np.int64))
    consts = {t: np.asarray(graph.tensors[t].data, np.int8) for t in (a, b) if graph.tensors[t].is_const}
    at = node.attrs
    args = [a, b, y, _i(n),
            *[_i(at[k]) for k in ("a_zp", "b_zp", "y_zp", "a_multiplier", "a_shift", "b_multiplier", "b_shift",
                                  "multiplier", "shift")],
            _i(at.get("act_min", -128)), _i(at.get("act_max", 127))]
    launch = {"program": "ek_qadd_s8_ocl.cl", "kernel": QADD, "args": args, "global": [n], "local": None}
    buffers = {t: {"shape": list(v.shape), "dtype": "int8"} for t, v in consts.items()}
    return {"launches": [launch], "consts": consts, "buffers": buffers}


def _maxpool(graph, node):
    x, y = node.inputs[0], node.outputs[0]
    n, c, h, w = (int(v) for v in graph.tensors[x].shape)
    k, strides, pads, dil, out = pool_geometry(node, (h, w))
    oh, ow = (int(v) for v in graph.tensors[y].shape[2:])
    launch = {"program": "ek_pool_s8_ocl.cl", "kernel": MAXPOOL,
              "args": [x, y, *[_i(v) for v in (h, w, k[0], k[1], strides[0], strides[1], pads[0], pads[1],
                                               dil[0], dil[1], oh, ow)]],
              "global": [ow, oh, n * c], "local": None}
    return {"launches": [launch], "consts": {}, "buffers": {}}


def _avgpool(graph, node):
    x, y = node.inputs[0], node.outputs[0]
    shape = [int(v) for v in graph.tensors[x].shape]
    n, c = shape[:2]
    a = node.attrs
    if node.op == "QGlobalAvgPool":   # the whole map is one window (spatial axes flattened if not 2)
        h, w = (shape[2], shape[3]) if len(shape) == 4 else (1, int(np.prod(shape[2:])))
        k, strides, pads, (oh, ow) = (h, w), (1, 1), (0, 0), (1, 1)
    else:
        h, w = shape[2:]
        k = list(a["kernel_shape"])
        strides = list(a.get("strides") or [1, 1])
        pads = list(a.get("pads") or [0, 0, 0, 0])
        oh, ow = (int(v) for v in graph.tensors[y].shape[2:])
    consts = {f"{node.name}/mult": _per_channel(a["multiplier"], c), f"{node.name}/shift": _per_channel(a["shift"], c)}
    launch = {"program": "ek_pool_s8_ocl.cl", "kernel": AVGPOOL,
              "args": [x, f"{node.name}/mult", f"{node.name}/shift", y,
                       *[_i(v) for v in (c, h, w, k[0], k[1], strides[0], strides[1], pads[0], pads[1], oh, ow,
                                         a["x_zp"], a["y_zp"], a.get("act_min", -128), a.get("act_max", 127))]],
              "global": [ow, oh, n * c], "local": None}
    return {"launches": [launch], "consts": consts, "buffers": {}}


def lower(graph, node, kernel):
    """-> {"launches", "consts", "buffers"} (the edgesdk.gpu.hand_lower contract)."""
    if kernel == QADD:
        return _qadd(graph, node)
    if kernel == MAXPOOL:
        return _maxpool(graph, node)
    return _avgpool(graph, node)
