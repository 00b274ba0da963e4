"""Depthwise int8 QConv on CUDA (kernels/cuda/ek_dwconv_s8_cuda.cu): the launch and constants.

Same arguments as the OpenCL depthwise kernel (bias not folded: padded taps are skipped
in the window, so x_zp is subtracted per tap on the device, not folded into the bias).
"""
import numpy as np

from ..ir.opdefs.conv import conv_geometry

KERNEL = "ek_dwconv_s8_cuda"
BLOCK = 16   # EK_DW_B


def _i(v):
    return {"i32": int(v)}


def lower(graph, node):
    """-> {"launches", "consts", "buffers"} (the edgesdk.gpu.hand_lower contract)."""
    name, x, y = node.name, node.inputs[0], node.outputs[0]
    xs, ys = graph.tensors[x].shape, graph.tensors[y].shape
    w = np.asarray(graph.tensors[node.inputs[1]].data, np.int8)
    n, c, h, wd = (int(v) for v in xs)
    o, oh, ow = int(w.shape[0]), int(ys[2]), int(ys[3])
    strides, pads, dil = conv_geometry(node, xs, w.shape)
    bias = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    a = node.attrs
    consts = {f"{name}/w": w, f"{name}/bias": np.zeros(o, np.int32) if bias is None else np.asarray(bias, np.int32),
              f"{name}/mult": np.broadcast_to(np.asarray(a["multiplier"], np.int32).reshape(-1), (o,)).copy(),
              f"{name}/shift": np.broadcast_to(np.asarray(a["shift"], np.int32).reshape(-1), (o,)).copy()}
    args = [x, f"{name}/w", f"{name}/bias", f"{name}/mult", f"{name}/shift", y,
            *[_i(v) for v in (c, h, wd, o, w.shape[2], w.shape[3], strides[0], strides[1], pads[0], pads[1],
                              dil[0], dil[1], oh, ow, a["x_zp"], a["y_zp"], a.get("act_min", -128),
                              a.get("act_max", 127))]]
    launch = {"program": "ek_dwconv_s8_cuda.cu", "kernel": KERNEL, "args": args,
              "grid": [-(-ow // BLOCK), -(-oh // BLOCK), n * o], "block": [BLOCK, BLOCK, 1]}
    return {"launches": [launch], "consts": consts, "buffers": {}}
