"""Binarized layers on OpenCL: Binarize, BConv, BGemm and the int32->float Cast after them.

The graphs come from edgesdk.binary.export_graph: Binarize -> BConv/BGemm (b1 weights,
s32 dot) -> Cast f32 -> Mul alpha -> Add bias (the last two run on TVM). b1 tensors
travel between layers one bit per byte, as the IR holds them; the GEMM layers pack them
into uint32 words first (ek_bpack_b1_ocl.cl) and run the XNOR-popcount GEMM
ek_bgemm_b1_ocl. The weights are packed here, once, in the same (c, ky, kx) order as
the device-side im2col, so dot = K - 2 * popcount(x XOR w) is the reference's exactly.

A BConv runs as y[O, P] = bgemm(x = weights [O, KW], w = columns [P, KW]): the GEMM's
row-major [N, M] output is then already NCHW, with no transpose. The GEMM kernel has no
output offsets, so batch 1 and group 1 only; other BConvs are left to the caller's
"no GPU path" error, which names them.
"""
import numpy as np

from ..ir.opdefs.conv import conv_geometry
from ..reference.binary import pack_bits

PROGRAM = "ek_bpack_b1_ocl.cl"
BGEMM = "ek_bgemm_b1_ocl"
KERNELS = (BGEMM, BGEMM + "_ref", "ek_binarize_f32_ocl", "ek_binarize_s8_ocl", "ek_cast_s32_f32_ocl")
_TILE, _WG = 32, 8          # EK_TM/EK_TN and EK_WG of ek_bgemm_b1_ocl
_FLAT_WG = 64               # work-group size of the elementwise kernels' 1-D launches


def _i(v):
    return {"i32": int(v)}


def _words(k):
    return -(-int(k) // 32)


def kernel_for(graph, node):
    """The kernel that runs `node` (None: not a binary layer this lowering handles)."""
    if node.op == "Binarize":
        dt = graph.tensors[node.inputs[0]].dtype
        return {"f32": "ek_binarize_f32_ocl", "s8": "ek_binarize_s8_ocl"}.get(dt)
    if node.op == "BGemm":
        return BGEMM if graph.tensors[node.inputs[1]].is_const else None
    if node.op == "BConv":
        x, w = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
        if not w.is_const or len(x.shape) != 4 or x.shape[0] != 1 or int(node.attrs.get("group", 1)) != 1:
            return None
        return BGEMM
    if node.op == "Cast" and graph.tensors[node.inputs[0]].dtype == "s32" and node.attrs.get("to") == "f32":
        return "ek_cast_s32_f32_ocl"
    return None


def _flat(n):
    return [-(-int(n) // _FLAT_WG) * _FLAT_WG]


def _bgemm_launch(x, w, y, n, m, kw, k, device_type):
    args = [x, w, y, _i(n), _i(m), _i(kw), _i(k)]
    if device_type == "cpu":
        # On a CPU OpenCL device (PoCL) the one-output-per-work-item kernel, the _ref
        # twin, is the fast one: PoCL vectorizes across work-items, while the tiled
        # kernel's local memory and barriers cost it 5-60x (measured, bench/gpu_hand_ops.py).
        return {"program": "ek_bgemm_b1_ocl.cl", "kernel": BGEMM + "_ref", "args": args, "global": [m, n],
                "local": None}
    return {"program": "ek_bgemm_b1_ocl.cl", "kernel": BGEMM, "args": args,
            "global": [-(-m // _TILE) * _WG, -(-n // _TILE) * _WG], "local": [_WG, _WG]}


def _thresholds(node, x, c):
    thr = node.attrs.get("threshold", 0)
    if x.dtype == "s8":   # the reference's integer threshold, as it converts it
        t = np.asarray(thr, dtype=np.int64).reshape(-1)
        return np.broadcast_to(np.clip(t, -(1 << 31), (1 << 31) - 1), (c,)).astype(np.int32)
    t64 = np.broadcast_to(np.asarray(thr, np.float64).reshape(-1), (c,))
    t32 = t64.astype(np.float32)
    # x (float) >= t64  <=>  x >= the smallest float >= t64
    up = t32.astype(np.float64) < t64
    t32[up] = np.nextafter(t32[up], np.float32(np.inf))
    return t32


def lower(graph, node, kernel, device_type="gpu"):
    """-> {"launches", "consts", "buffers"} (the edgesdk.gpu.hand_lower contract); device_type
    "cpu" picks the GEMM variant that is fast on a CPU OpenCL device."""
    name, x, y = node.name, node.inputs[0], node.outputs[0]
    xt = graph.tensors[x]
    consts, buffers = {}, {}
    if kernel.startswith("ek_binarize"):
        c = int(xt.shape[1]) if len(xt.shape) > 1 else 1
        inner = int(np.prod(xt.shape[2:], dtype=np.int64))
        n = int(np.prod(xt.shape, dtype=np.int64))
        consts[f"{name}/thr"] = _thresholds(node, xt, c)
        launch = {"program": PROGRAM, "kernel": kernel, "args": [x, f"{name}/thr", y, _i(n), _i(c), _i(inner)],
                  "global": [inner, n // inner], "local": None}
        return {"launches": [launch], "consts": consts, "buffers": buffers}
    if kernel == "ek_cast_s32_f32_ocl":
        n = int(np.prod(xt.shape, dtype=np.int64))
        launch = {"program": PROGRAM, "kernel": kernel, "args": [x, y, _i(n)], "global": _flat(n),
                  "local": [_FLAT_WG]}   # (the tail test stays: n need not be a multiple of 64)
        return {"launches": [launch], "consts": consts, "buffers": buffers}
    w = np.asarray(graph.tensors[node.inputs[1]].data, np.uint8)
    m = int(w.shape[0])
    k = int(np.prod(w.shape[1:], dtype=np.int64))
    kw = _words(k)
    consts[f"{name}/w"] = pack_bits(w.reshape(m, k), axis=1)          # [M, KW] uint32
    packed = f"{name}/xpack"
    if node.op == "BGemm":
        n = int(xt.shape[0])
        buffers[packed] = {"shape": [n, kw], "dtype": "uint32"}
        pack = {"program": PROGRAM, "kernel": "ek_bpack_b1_ocl", "args": [x, packed, _i(n), _i(k), _i(kw)],
                "global": [kw, n], "local": None}
        return {"launches": [pack, _bgemm_launch(packed, f"{name}/w", y, n, m, kw, k, device_type)],
                "consts": consts, "buffers": buffers}
    _, c, h, wd = (int(v) for v in xt.shape)
    kh, kwid = int(w.shape[2]), int(w.shape[3])
    strides, pads, dil = conv_geometry(node, xt.shape, w.shape)
    oh, ow = (int(v) for v in graph.tensors[y].shape[2:])
    p = oh * ow
    buffers[packed] = {"shape": [p, kw], "dtype": "uint32"}
    im2col = {"program": PROGRAM, "kernel": "ek_bim2col_b1_ocl",
              "args": [x, _i(0), *[_i(v) for v in (c, h, wd, kh, kwid, strides[0], strides[1], pads[0], pads[1],
                                                    dil[0], dil[1], oh, ow, kw)], packed],
              "global": [p, kw], "local": None}
    # rows = output channels, columns = pixels: the [O, P] result is the NCHW output
    return {"launches": [im2col, _bgemm_launch(f"{name}/w", packed, y, m, p, kw, k, device_type)],
            "consts": consts, "buffers": buffers}
