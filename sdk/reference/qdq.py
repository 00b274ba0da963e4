"""QuantizeLinear / DequantizeLinear, ONNX semantics: round half to even, saturate.

Per-tensor (scalar scale) or per-axis (1-D scale along `axis`). Blocked quantization
(opset 21 block_size) and the float8/int4/16-bit types are not supported.
"""
import numpy as np

from . import reference
from ._util import unsupported

_RANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255), np.dtype(np.int32): (-2**31, 2**31 - 1)}


def _along(v, axis, rank):
    v = np.asarray(v)
    if v.ndim == 0 or v.size == 1 and rank == 0:
        return v.reshape(())
    if v.ndim != 1:
        return None
    shape = [1] * rank
    shape[axis % rank] = v.size
    return v.reshape(shape)


@reference("QuantizeLinear")
def _quantize(node, ins):
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    if node.attrs.get("block_size", 0):
        unsupported(node, "block_size (blocked quantization)")
    if zp is not None:
        out_dt = zp.dtype
    else:
        from ..ir.dtypes import np_dtype
        out_dt = np.dtype(np_dtype(node.attrs.get("output_dtype_ir") or "u8"))
    if np.dtype(out_dt) not in _RANGE:
        unsupported(node, f"output type {out_dt}")
    lo, hi = _RANGE[np.dtype(out_dt)]
    axis = node.attrs.get("axis", 1)
    s = _along(scale, axis, x.ndim)
    z = _along(zp, axis, x.ndim) if zp is not None else 0
    if s is None:
        unsupported(node, "a scale of rank > 1 (blocked quantization)")
    q = np.rint(x.astype(np.float32) / s.astype(np.float32)).astype(np.float64) + np.asarray(z, np.float64)
    return [np.clip(q, lo, hi).astype(out_dt)]


@reference("DequantizeLinear")
def _dequantize(node, ins):
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    if node.attrs.get("block_size", 0):
        unsupported(node, "block_size (blocked quantization)")
    axis = node.attrs.get("axis", 1)
    s = _along(scale, axis, x.ndim)
    if s is None:
        unsupported(node, "a scale of rank > 1 (blocked quantization)")
    z = _along(zp, axis, x.ndim) if zp is not None else 0
    y = (x.astype(np.float32) - np.asarray(z).astype(np.float32)) * s
    return [y.astype(scale.dtype)]
