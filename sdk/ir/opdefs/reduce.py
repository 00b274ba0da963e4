"""Reductions. Axes come as an attribute (older opsets) or as a constant input (newer)."""
import numpy as np

from ..ops import register_op

REDUCE_OPS = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
              "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp")


def reduce_axes(node, rank, axes_input):
    """The reduced axes (sorted, non-negative), or () for a no-op reduction."""
    axes = node.attrs.get("axes")
    if axes_input is not None:
        axes = [int(a) for a in np.asarray(axes_input).reshape(-1)]
    if axes is None or len(axes) == 0:
        if node.attrs.get("noop_with_empty_axes", 0):
            return ()
        return tuple(range(rank))
    return tuple(sorted(int(a) % rank for a in axes))


def _reduce(node, ins):
    x = ins[0]
    axes_t = ins[1] if len(ins) > 1 else None
    from .layout import const_of
    axes = reduce_axes(node, len(x.shape), const_of(axes_t, "axes"))
    keep = node.attrs.get("keepdims", 1)
    shape = [1 if i in axes else s for i, s in enumerate(x.shape)] if keep else \
        [s for i, s in enumerate(x.shape) if i not in axes]
    return [(tuple(shape), x.dtype)]


for _op in REDUCE_OPS:
    register_op(_op, defaults={"keepdims": 1, "noop_with_empty_axes": 0})(_reduce)


def _arg(node, ins):
    x = ins[0]
    axis = node.attrs.get("axis", 0) % len(x.shape)
    shape = list(x.shape)
    if node.attrs.get("keepdims", 1):
        shape[axis] = 1
    else:
        del shape[axis]
    return [(tuple(shape), "s64")]


for _op in ("ArgMax", "ArgMin"):
    register_op(_op, defaults={"axis": 0, "keepdims": 1, "select_last_index": 0})(_arg)
