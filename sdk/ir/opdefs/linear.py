"""Gemm and MatMul (ONNX semantics). Float nodes may carry a fused `activation`."""
import numpy as np

from ..ops import register_op


@register_op("Gemm", defaults={"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})
def _gemm(node, ins):
    a, b = ins[0].shape, ins[1].shape
    m = a[1] if node.attrs.get("transA", 0) else a[0]
    ka = a[0] if node.attrs.get("transA", 0) else a[1]
    n = b[0] if node.attrs.get("transB", 0) else b[1]
    kb = b[1] if node.attrs.get("transB", 0) else b[0]
    if ka != kb:
        raise ValueError(f"inner dimensions differ: A {a} vs B {b}")
    return [((m, n), ins[0].dtype)]


def matmul_shape(a, b):
    a1, b1 = len(a) == 1, len(b) == 1
    a = (1,) + tuple(a) if a1 else tuple(a)
    b = tuple(b) + (1,) if b1 else tuple(b)
    if a[-1] != b[-2]:
        raise ValueError(f"inner dimensions differ: {a} @ {b}")
    batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    out = batch + (a[-2], b[-1])
    if a1:
        out = out[:-2] + out[-1:]
    if b1:
        out = out[:-1]
    return tuple(int(s) for s in out)


@register_op("MatMul")
def _matmul(node, ins):
    return [(matmul_shape(ins[0].shape, ins[1].shape), ins[0].dtype)]
