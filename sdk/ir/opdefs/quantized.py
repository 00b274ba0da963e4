"""Integer ops (docs/integer-ops.md): QConv, QGemm, QAdd, QAvgPool, QGlobalAvgPool, QSoftmax.

Shape rules only; the arithmetic is edgesdk.reference.quantized. Outputs are s8.
The requantization constants travel in node attrs (for the reference) and on the
output tensor's QuantParams (for codegen); see edgesdk.reference.quantized.
"""
import numpy as np

from ..ops import register_op
from .conv import conv_geometry, conv_out_dim

_ACT = {"act_min": -128, "act_max": 127}


def _need_s8(node, ins, idx):
    for i in idx:
        t = ins[i] if i < len(ins) else None
        if t is not None and t.dtype != "s8":
            raise ValueError(f"input {i} ({t.name}) is {t.dtype}, {node.op} wants s8")


@register_op("QConv", defaults={"group": 1, "auto_pad": "NOTSET", **_ACT})
def _qconv(node, ins):
    """Quantized Conv: x s8 NCHW, w s8 OIHW (per-channel symmetric), optional bias s32 [O]."""
    x, w = ins[0], ins[1]
    _need_s8(node, ins, (0, 1))
    g = node.attrs.get("group", 1)
    if x.shape[1] != w.shape[1] * g:
        raise ValueError(f"input channels {x.shape[1]} != weight in-channels {w.shape[1]} x group {g}")
    strides, pads, dil = conv_geometry(node, x.shape, w.shape)
    nsp = len(x.shape) - 2
    spatial = [conv_out_dim(x.shape[2 + i], w.shape[2 + i], strides[i], pads[i], pads[i + nsp], dil[i])
               for i in range(nsp)]
    return [((x.shape[0], w.shape[0], *spatial), "s8")]


@register_op("QGemm", defaults=dict(_ACT))
def _qgemm(node, ins):
    """Quantized fully connected: x s8 [N, K], w s8 [M, K], optional bias s32 [M] -> s8 [N, M]."""
    x, w = ins[0], ins[1]
    _need_s8(node, ins, (0, 1))
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"x {x.shape} and w {w.shape} disagree on K")
    return [((*x.shape[:-1], w.shape[0]), "s8")]


@register_op("QAdd", defaults=dict(_ACT))
def _qadd(node, ins):
    """Quantized add with numpy broadcasting: s8 + s8 -> s8."""
    _need_s8(node, ins, (0, 1))
    shape = np.broadcast_shapes(tuple(ins[0].shape), tuple(ins[1].shape))
    return [(tuple(int(s) for s in shape), "s8")]


@register_op("QAvgPool", defaults={"ceil_mode": 0, "count_include_pad": 1, **_ACT})
def _qavgpool(node, ins):
    """Quantized AveragePool: padding counts as zero point and in the window size."""
    x = ins[0]
    _need_s8(node, ins, (0,))
    k = list(node.attrs["kernel_shape"])
    nsp = len(k)
    strides = list(node.attrs.get("strides") or [1] * nsp)
    pads = list(node.attrs.get("pads") or [0] * (2 * nsp))
    if node.attrs.get("ceil_mode", 0):
        raise ValueError("ceil_mode is not supported by QAvgPool")
    spatial = [conv_out_dim(x.shape[2 + i], k[i], strides[i], pads[i], pads[i + nsp], 1) for i in range(nsp)]
    return [((x.shape[0], x.shape[1], *spatial), "s8")]


@register_op("QGlobalAvgPool", defaults=dict(_ACT))
def _qglobalavgpool(node, ins):
    """Quantized GlobalAveragePool: (N, C, ...) -> (N, C, 1, ...)."""
    x = ins[0]
    _need_s8(node, ins, (0,))
    return [((x.shape[0], x.shape[1], *[1] * (len(x.shape) - 2)), "s8")]


@register_op("QSoftmax", defaults={"axis": -1})
def _qsoftmax(node, ins):
    """Quantized softmax over the last axis (256-entry exp table); output scale 1/256, zp -128."""
    x = ins[0]
    _need_s8(node, ins, (0,))
    if node.attrs.get("axis", -1) not in (-1, len(x.shape) - 1):
        raise ValueError(f"QSoftmax works on the last axis only, got axis {node.attrs.get('axis')}")
    return [(tuple(x.shape), "s8")]


@register_op("QMatMulDecomposed")
def _qmatmul_decomposed(node, ins):
    """LLM.int8 mixed MatMul: x f32 [..., K], w_int8 [K_in, M], w_scale f32 [M], w_outlier f16 [K_out, M],
    optional bias f32 [M] -> f32 [..., M] (edgesdk.quant.llm_int8)."""
    x, wq, ws, wo = ins[0], ins[1], ins[2], ins[3]
    k_in, k_out = len(node.attrs["inlier_idx"]), len(node.attrs["outlier_idx"])
    if wq.shape[0] != k_in or wo.shape[0] != k_out or k_in + k_out != x.shape[-1]:
        raise ValueError(f"feature split {k_in}+{k_out} does not match x {x.shape} / weights {wq.shape}, {wo.shape}")
    return [((*x.shape[:-1], wq.shape[1]), "f32")]
