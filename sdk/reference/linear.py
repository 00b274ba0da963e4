"""Gemm and MatMul (float). A fused `activation` attr is applied after the op."""
import numpy as np

from . import apply_activation, reference


@reference("Gemm")
def _gemm(node, ins):
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    if node.attrs.get("transA", 0):
        a = a.T
    if node.attrs.get("transB", 0):
        b = b.T
    y = node.attrs.get("alpha", 1.0) * (a @ b)
    if c is not None:
        y = y + node.attrs.get("beta", 1.0) * c
    return [apply_activation(y.astype(ins[0].dtype, copy=False), node.attrs.get("activation"))]


@reference("MatMul")
def _matmul(node, ins):
    y = np.matmul(ins[0], ins[1])
    return [apply_activation(y.astype(ins[0].dtype, copy=False), node.attrs.get("activation"))]
