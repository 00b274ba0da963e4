"""Data-movement and shape ops; geometry shared with the shape rules (edgesdk.ir.opdefs.layout)."""
import numpy as np

from ..ir.opdefs.layout import (flatten_shape, ints, pad_widths, range_length, reshape_target,
                                slice_index, split_sizes, squeeze_axes, transpose_perm,
                                unsqueeze_shape)
from . import reference
from ._util import attr_str, unsupported


def _opt(ins, i):
    return ins[i] if len(ins) > i else None


@reference("Reshape")
def _reshape(node, ins):
    return [ins[0].reshape(reshape_target(ins[0].shape, ins[1], node.attrs.get("allowzero", 0)))]


@reference("Flatten")
def _flatten(node, ins):
    return [ins[0].reshape(flatten_shape(ins[0].shape, node.attrs.get("axis", 1)))]


@reference("Squeeze")
def _squeeze(node, ins):
    return [np.squeeze(ins[0], axis=squeeze_axes(node, ins[0].shape, _opt(ins, 1)))]


@reference("Unsqueeze")
def _unsqueeze(node, ins):
    return [ins[0].reshape(unsqueeze_shape(node, ins[0].shape, _opt(ins, 1)))]


@reference("Transpose")
def _transpose(node, ins):
    return [np.transpose(ins[0], transpose_perm(node, ins[0].ndim))]


@reference("Concat")
def _concat(node, ins):
    xs = [x for x in ins if x is not None]
    return [np.concatenate(xs, axis=node.attrs["axis"] % xs[0].ndim)]


@reference("Split")
def _split(node, ins):
    x = ins[0]
    axis = node.attrs.get("axis", 0) % x.ndim
    sizes = split_sizes(node, x.shape[axis], _opt(ins, 1), len(node.outputs))
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


@reference("Slice")
def _slice(node, ins):
    x = ins[0]
    return [x[slice_index(x.shape, ins[1], ins[2], _opt(ins, 3), _opt(ins, 4))]]


@reference("Gather")
def _gather(node, ins):
    x, idx = ins
    axis = node.attrs.get("axis", 0) % x.ndim
    return [np.take(x, idx.astype(np.int64), axis=axis)]


@reference("GatherElements")
def _gather_el(node, ins):
    x, idx = ins
    axis = node.attrs.get("axis", 0) % x.ndim
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return [np.take_along_axis(x, idx.astype(np.int64), axis=axis)]


@reference("Pad")
def _pad(node, ins):
    x = ins[0]
    pads = _opt(ins, 1) if _opt(ins, 1) is not None else node.attrs.get("pads")
    cval = _opt(ins, 2)
    cval = node.attrs.get("value", 0) if cval is None or np.asarray(cval).size == 0 else np.asarray(cval).item()
    widths = pad_widths(x.ndim, pads, _opt(ins, 3))
    # Negative pads crop (ONNX allows them).
    x = x[tuple(slice(-b if b < 0 else None, e if e < 0 else None) for b, e in widths)]
    widths = [(max(b, 0), max(e, 0)) for b, e in widths]
    mode = attr_str(node, "mode", "constant")
    if mode == "constant":
        return [np.pad(x, widths, mode="constant", constant_values=cval)]
    if mode in ("reflect", "edge", "wrap"):
        return [np.pad(x, widths, mode=mode)]
    unsupported(node, f"mode {mode!r}")


@reference("Shape")
def _shape(node, ins):
    r = ins[0].ndim
    return [np.array(ins[0].shape[slice(node.attrs.get("start", 0), node.attrs.get("end", r))],
                     dtype=np.int64)]


@reference("Size")
def _size(node, ins):
    return [np.array(ins[0].size, dtype=np.int64)]


@reference("Expand")
def _expand(node, ins):
    shape = np.broadcast_shapes(ins[0].shape, tuple(ints(ins[1])))
    return [np.broadcast_to(ins[0], shape).copy()]


@reference("Tile")
def _tile(node, ins):
    return [np.tile(ins[0], ints(ins[1]))]


@reference("ConstantOfShape")
def _const_of_shape(node, ins):
    v = node.attrs.get("value")
    v = np.zeros(1, np.float32) if v is None else np.asarray(v).reshape(-1)
    return [np.full(tuple(ints(ins[0])), v[0], dtype=v.dtype)]


@reference("Constant")
def _constant(node, ins):
    return [np.asarray(node.attrs["value"])]


@reference("Range")
def _range(node, ins):
    s, l, d = (np.asarray(v).item() for v in ins)
    n = range_length(s, l, d)
    return [(s + np.arange(n) * d).astype(ins[0].dtype)]


@reference("DepthToSpace")
def _d2s(node, ins):
    x = ins[0]
    n, c, h, w = x.shape
    b = node.attrs["blocksize"]
    if attr_str(node, "mode", "DCR") == "DCR":
        y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return [y.reshape(n, c // (b * b), h * b, w * b)]


@reference("SpaceToDepth")
def _s2d(node, ins):
    x = ins[0]
    n, c, h, w = x.shape
    b = node.attrs["blocksize"]
    y = x.reshape(n, c, h // b, b, w // b, b)
    # DCR puts the block offset before the channel, CRD (opset 25+) after it.
    y = y.transpose(0, 3, 5, 1, 2, 4) if attr_str(node, "mode", "DCR") == "DCR" else y.transpose(0, 1, 3, 5, 2, 4)
    return [y.reshape(n, c * b * b, h // b, w // b)]
