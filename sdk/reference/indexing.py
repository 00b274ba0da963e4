"""Indexing, scatter/gather, sorting and matrix-structure ops; plus the small element-wise
extras (CastLike, Swish, IsNaN, IsInf, Bitwise*)."""
import numpy as np

from ..ir.opdefs.layout import ints
from . import reference
from ._util import attr_str, unsupported


@reference("CastLike")
def _cast_like(node, ins):
    return [ins[0].astype(ins[1].dtype)]


@reference("Swish")
def _swish(node, ins):
    x = ins[0]
    return [(x / (1 + np.exp(-node.attrs.get("alpha", 1.0) * x))).astype(x.dtype)]


@reference("IsNaN")
def _isnan(node, ins):
    return [np.isnan(ins[0])]


@reference("IsInf")
def _isinf(node, ins):
    x = ins[0]
    pos = np.isposinf(x) if node.attrs.get("detect_positive", 1) else np.zeros(x.shape, bool)
    neg = np.isneginf(x) if node.attrs.get("detect_negative", 1) else np.zeros(x.shape, bool)
    return [pos | neg]


for _name, _fn in {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or,
                   "BitwiseXor": np.bitwise_xor}.items():
    reference(_name)(lambda node, ins, f=_fn: [f(ins[0], ins[1])])
reference("BitwiseNot")(lambda node, ins: [np.bitwise_not(ins[0])])


@reference("GatherND")
def _gather_nd(node, ins):
    x, idx = ins[0], ins[1].astype(np.int64)
    b = node.attrs.get("batch_dims", 0)
    batch = x.shape[:b]
    nb = int(np.prod(batch)) if b else 1
    xb = x.reshape((nb,) + x.shape[b:])
    ib = idx.reshape((nb,) + idx.shape[b:])
    k = idx.shape[-1]
    out = []
    for i in range(nb):
        flat = ib[i].reshape(-1, k)
        flat = np.where(flat < 0, flat + np.array(xb.shape[1:1 + k]), flat)
        out.append(xb[i][tuple(flat.T)])
    res = np.stack(out).reshape(idx.shape[:-1] + x.shape[b + k:])
    return [res]


_REDUCE = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


@reference("ScatterND")
def _scatter_nd(node, ins):
    x, idx, upd = ins[0].copy(), ins[1].astype(np.int64), ins[2]
    red = attr_str(node, "reduction", "none")
    k = idx.shape[-1]
    flat_idx = idx.reshape(-1, k)
    flat_upd = upd.reshape((-1,) + x.shape[k:])
    for i, u in zip(flat_idx, flat_upd):
        t = tuple(i)
        x[t] = u if red == "none" else _REDUCE[red](x[t], u)
    return [x]


@reference("ScatterElements")
def _scatter_el(node, ins):
    x, idx, upd = ins[0].copy(), ins[1].astype(np.int64), ins[2]
    axis = node.attrs.get("axis", 0) % x.ndim
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    red = attr_str(node, "reduction", "none")
    for pos in np.ndindex(*idx.shape):
        dst = list(pos)
        dst[axis] = idx[pos]
        dst = tuple(dst)
        x[dst] = upd[pos] if red == "none" else _REDUCE[red](x[dst], upd[pos])
    return [x]


@reference("CumSum")
def _cumsum(node, ins):
    x = ins[0]
    axis = int(np.asarray(ins[1]).reshape(-1)[0]) % x.ndim
    y = np.flip(x, axis) if node.attrs.get("reverse", 0) else x
    c = np.cumsum(y, axis=axis, dtype=x.dtype)
    if node.attrs.get("exclusive", 0):
        c = c - y
    return [np.flip(c, axis) if node.attrs.get("reverse", 0) else c]


@reference("Trilu")
def _trilu(node, ins):
    x = ins[0]
    k = int(np.asarray(ins[1]).reshape(-1)[0]) if len(ins) > 1 and ins[1] is not None else 0
    return [np.triu(x, k) if node.attrs.get("upper", 1) else np.tril(x, k)]


@reference("LpNormalization")
def _lpnorm(node, ins):
    x = ins[0]
    p = node.attrs.get("p", 2)
    axis = node.attrs.get("axis", -1)
    if p == 1:
        n = np.abs(x).sum(axis=axis, keepdims=True)
    elif p == 2:
        n = np.sqrt((x * x).sum(axis=axis, keepdims=True))
    else:
        unsupported(node, f"p={p}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return [np.where(n == 0, 0, x / n).astype(x.dtype)]


@reference("OneHot")
def _one_hot(node, ins):
    idx, depth, values = ins
    depth = int(ints(depth)[0])
    axis = node.attrs.get("axis", -1)
    axis = axis + idx.ndim + 1 if axis < 0 else axis
    idx = idx.astype(np.int64)
    idx = np.where(idx < 0, idx + depth, idx)
    hot = np.expand_dims(idx, axis) == np.arange(depth).reshape([-1 if i == axis else 1 for i in range(idx.ndim + 1)])
    return [np.where(hot, values[1], values[0]).astype(values.dtype)]


@reference("TopK")
def _topk(node, ins):
    x = ins[0]
    k = int(ints(ins[1])[0])
    axis = node.attrs.get("axis", -1) % x.ndim
    largest = node.attrs.get("largest", 1)
    # Stable sort on the key: ties keep the lower index first, as ONNX requires.
    order = np.argsort(-x if largest else x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)]


@reference("EyeLike")
def _eye_like(node, ins):
    from ..ir.dtypes import np_dtype
    x = ins[0]
    dt = node.attrs.get("dtype")
    dt = np_dtype(dt) if isinstance(dt, str) else x.dtype
    return [np.eye(x.shape[0], x.shape[1], k=node.attrs.get("k", 0), dtype=dt)]
