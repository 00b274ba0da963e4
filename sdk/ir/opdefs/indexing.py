"""Indexing, scatter/gather, sorting and matrix-structure ops (ONNX semantics)."""
from ..ops import register_op
from .layout import const_of, ints


@register_op("GatherND", defaults={"batch_dims": 0})
def _gather_nd(node, ins):
    x, idx = ins[0].shape, ins[1].shape
    b = node.attrs.get("batch_dims", 0)
    return [(tuple(idx[:-1]) + tuple(x[b + idx[-1]:]), ins[0].dtype)]


def _like_first(node, ins):
    return [(ins[0].shape, ins[0].dtype)]


register_op("ScatterND", defaults={"reduction": "none"})(_like_first)
register_op("ScatterElements", defaults={"axis": 0, "reduction": "none"})(_like_first)
register_op("CumSum", defaults={"exclusive": 0, "reverse": 0})(_like_first)
register_op("Trilu", defaults={"upper": 1})(_like_first)
register_op("LpNormalization", defaults={"axis": -1, "p": 2})(_like_first)


@register_op("OneHot", defaults={"axis": -1})
def _one_hot(node, ins):
    depth = int(ints(const_of(ins[1], "depth"))[0])
    shape = list(ins[0].shape)
    axis = node.attrs.get("axis", -1)
    axis = axis + len(shape) + 1 if axis < 0 else axis
    shape.insert(axis, depth)
    return [(tuple(shape), ins[2].dtype)]


@register_op("TopK", defaults={"axis": -1, "largest": 1, "sorted": 1})
def _topk(node, ins):
    k = int(ints(const_of(ins[1], "k"))[0])
    shape = list(ins[0].shape)
    shape[node.attrs.get("axis", -1) % len(shape)] = k
    return [(tuple(shape), ins[0].dtype), (tuple(shape), "s64")]


@register_op("EyeLike", defaults={"k": 0})
def _eye_like(node, ins):
    from .. import dtypes
    dt = node.attrs.get("dtype")
    return [(ins[0].shape, dt if isinstance(dt, str) and dt in dtypes.DTYPES else ins[0].dtype)]
