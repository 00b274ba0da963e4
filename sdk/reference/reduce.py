"""Reductions (axes as attribute or input; keepdims; noop_with_empty_axes) and ArgMax/ArgMin."""
import numpy as np

from ..ir.opdefs.reduce import REDUCE_OPS, reduce_axes
from . import reference


def _max(x, axis, keepdims):
    if x.dtype == np.bool_:
        return np.any(x, axis=axis, keepdims=keepdims)
    init = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    return np.max(x, axis=axis, keepdims=keepdims, initial=init)


def _min(x, axis, keepdims):
    if x.dtype == np.bool_:
        return np.all(x, axis=axis, keepdims=keepdims)
    init = np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).max
    return np.min(x, axis=axis, keepdims=keepdims, initial=init)


_FNS = {
    "ReduceMean": lambda x, a, k: np.mean(x, axis=a, keepdims=k),
    "ReduceSum": lambda x, a, k: np.sum(x, axis=a, keepdims=k),
    "ReduceMax": _max,
    "ReduceMin": _min,
    "ReduceProd": lambda x, a, k: np.prod(x, axis=a, keepdims=k),
    "ReduceSumSquare": lambda x, a, k: np.sum(x * x, axis=a, keepdims=k),
    "ReduceL1": lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k),
    "ReduceL2": lambda x, a, k: np.sqrt(np.sum(x * x, axis=a, keepdims=k)),
    "ReduceLogSum": lambda x, a, k: np.log(np.sum(x, axis=a, keepdims=k)),
    "ReduceLogSumExp": lambda x, a, k: np.log(np.sum(np.exp(x.astype(np.float64)), axis=a, keepdims=k)),
}
assert set(_FNS) == set(REDUCE_OPS)


def _make(name):
    fn = _FNS[name]

    def run(node, ins):
        x = ins[0]
        axes = reduce_axes(node, x.ndim, ins[1] if len(ins) > 1 else None)
        if axes == ():
            return [x]
        with np.errstate(divide="ignore", invalid="ignore"):
            y = fn(x, axes, bool(node.attrs.get("keepdims", 1)))
        return [np.asarray(y).astype(x.dtype)]
    reference(name)(run)


for _name in REDUCE_OPS:
    _make(_name)


def _arg(fn):
    def run(node, ins):
        x = ins[0]
        axis = node.attrs.get("axis", 0) % x.ndim
        if node.attrs.get("select_last_index", 0):
            y = x.shape[axis] - 1 - fn(np.flip(x, axis), axis=axis)
        else:
            y = fn(x, axis=axis)
        if node.attrs.get("keepdims", 1):
            y = np.expand_dims(y, axis)
        return [y.astype(np.int64)]
    return run


reference("ArgMax")(_arg(np.argmax))
reference("ArgMin")(_arg(np.argmin))
