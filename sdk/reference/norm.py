"""Normalizations at inference: BatchNormalization, LayerNormalization, InstanceNormalization."""
import numpy as np

from . import reference
from ._util import unsupported


def _chan(v, rank):
    return v.reshape((1, -1) + (1,) * (rank - 2))


@reference("BatchNormalization")
def _bn(node, ins):
    x, scale, bias, mean, var = ins[:5]
    if node.attrs.get("training_mode", 0):
        unsupported(node, "training_mode=1")
    r = x.ndim
    y = (x - _chan(mean, r)) / np.sqrt(_chan(var, r) + node.attrs.get("epsilon", 1e-5))
    return [(y * _chan(scale, r) + _chan(bias, r)).astype(x.dtype, copy=False)]


@reference("LayerNormalization")
def _ln(node, ins):
    x, scale = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    axis = node.attrs.get("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    xf = x.astype(np.float32)  # stash_type 1: statistics in float32
    mean = xf.mean(axis=axes, keepdims=True)
    var = ((xf - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + node.attrs.get("epsilon", 1e-5))
    y = (xf - mean) * inv * scale
    if bias is not None:
        y = y + bias
    return [y.astype(x.dtype), mean.astype(np.float32), inv.astype(np.float32)]


@reference("InstanceNormalization")
def _inorm(node, ins):
    x, scale, bias = ins
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + node.attrs.get("epsilon", 1e-5))
    return [(y * _chan(scale, x.ndim) + _chan(bias, x.ndim)).astype(x.dtype)]
