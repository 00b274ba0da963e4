"""Data-movement and shape ops: Reshape, Transpose, Concat, Pad, Slice, Gather, ...

Ops whose output shape depends on the VALUE of an input (Reshape's shape, Slice's
starts/ends, Pad's pads, ...) need that input to be a constant: the ONNX importer folds
shape subgraphs into constants first. The helpers here compute the geometry once for
both the shape rule and the numpy reference (edgesdk.reference.layout).
"""
import math

import numpy as np

from ..ops import register_op


def const_of(t, what):
    if t is None:
        return None
    if t.data is None:
        raise ValueError(f"{what} input {t.name!r} is not a constant (dynamic shapes are not supported)")
    return t.data


def ints(a):
    return [int(v) for v in np.asarray(a).reshape(-1)]


# ---- Reshape / Flatten / Squeeze / Unsqueeze ------------------------------------
def reshape_target(in_shape, shape, allowzero=0):
    shape = ints(shape)
    out = [in_shape[i] if (s == 0 and not allowzero) else s for i, s in enumerate(shape)]
    if -1 in out:
        known = math.prod(s for s in out if s != -1)
        total = math.prod(in_shape)
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {tuple(in_shape)} to {tuple(shape)}")
        out[out.index(-1)] = total // known
    if math.prod(out) != math.prod(in_shape):
        raise ValueError(f"cannot reshape {tuple(in_shape)} to {tuple(shape)}")
    return tuple(out)


@register_op("Reshape", defaults={"allowzero": 0})
def _reshape(node, ins):
    x = ins[0]
    return [(reshape_target(x.shape, const_of(ins[1], "shape"), node.attrs.get("allowzero", 0)), x.dtype)]


def flatten_shape(shape, axis):
    axis = axis + len(shape) if axis < 0 else axis
    return (math.prod(shape[:axis]), math.prod(shape[axis:]))


@register_op("Flatten", defaults={"axis": 1})
def _flatten(node, ins):
    return [(flatten_shape(ins[0].shape, node.attrs.get("axis", 1)), ins[0].dtype)]


def squeeze_axes(node, shape, axes_input):
    axes = ints(axes_input) if axes_input is not None else node.attrs.get("axes")
    if axes is None:
        return tuple(i for i, s in enumerate(shape) if s == 1)
    axes = tuple(sorted(a % len(shape) for a in axes))
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"cannot squeeze axis {a} of size {shape[a]}")
    return axes


@register_op("Squeeze")
def _squeeze(node, ins):
    x = ins[0]
    axes = squeeze_axes(node, x.shape, const_of(ins[1], "axes") if len(ins) > 1 else None)
    return [(tuple(s for i, s in enumerate(x.shape) if i not in axes), x.dtype)]


def unsqueeze_shape(node, shape, axes_input):
    axes = ints(axes_input) if axes_input is not None else list(node.attrs["axes"])
    rank = len(shape) + len(axes)
    axes = sorted(a % rank for a in axes)
    out, it = [], iter(shape)
    for i in range(rank):
        out.append(1 if i in axes else next(it))
    return tuple(out)


@register_op("Unsqueeze")
def _unsqueeze(node, ins):
    x = ins[0]
    return [(unsqueeze_shape(node, x.shape, const_of(ins[1], "axes") if len(ins) > 1 else None), x.dtype)]


# ---- Transpose / Concat / Split ---------------------------------------------------
def transpose_perm(node, rank):
    perm = node.attrs.get("perm")
    return list(perm) if perm is not None else list(range(rank))[::-1]


@register_op("Transpose")
def _transpose(node, ins):
    x = ins[0]
    return [(tuple(x.shape[p] for p in transpose_perm(node, len(x.shape))), x.dtype)]


@register_op("Concat")
def _concat(node, ins):
    ts = [t for t in ins if t is not None]
    axis = node.attrs["axis"] % len(ts[0].shape)
    shape = list(ts[0].shape)
    shape[axis] = sum(t.shape[axis] for t in ts)
    return [(tuple(shape), ts[0].dtype)]


def split_sizes(node, dim, split_input, n_outputs):
    split = ints(split_input) if split_input is not None else node.attrs.get("split")
    if split is not None and len(split) > 0:
        if sum(split) != dim:
            raise ValueError(f"split sizes {split} do not add up to {dim}")
        return list(split)
    n = node.attrs.get("num_outputs", n_outputs)
    chunk = -(-dim // n)  # ONNX: equal chunks, the last one smaller
    return [min(chunk, dim - i * chunk) for i in range(n)]


@register_op("Split", defaults={"axis": 0})
def _split(node, ins):
    x = ins[0]
    axis = node.attrs.get("axis", 0) % len(x.shape)
    sizes = split_sizes(node, x.shape[axis], const_of(ins[1], "split") if len(ins) > 1 else None,
                        len(node.outputs))
    out = []
    for s in sizes:
        shape = list(x.shape)
        shape[axis] = s
        out.append((tuple(shape), x.dtype))
    return out


# ---- Slice / Gather ------------------------------------------------------------------
def slice_index(shape, starts, ends, axes=None, steps=None):
    """A tuple of Python slices implementing ONNX Slice (clamping rules included)."""
    starts, ends = ints(starts), ints(ends)
    axes = ints(axes) if axes is not None else list(range(len(starts)))
    steps = ints(steps) if steps is not None else [1] * len(starts)
    idx = [slice(None)] * len(shape)
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax %= len(shape)
        d = shape[ax]
        if sp == 0:
            raise ValueError("slice step 0")
        st = st + d if st < 0 else st
        en = en + d if en < 0 else en
        if sp > 0:
            st, en = min(max(st, 0), d), min(max(en, 0), d)
        else:
            st, en = min(max(st, 0), d - 1), min(max(en, -1), d - 1)
        idx[ax] = slice(st, None if en < 0 else en, sp)
    return tuple(idx)


def sliced_shape(shape, idx):
    return tuple(len(range(*s.indices(d))) for s, d in zip(idx, shape))


@register_op("Slice")
def _slice(node, ins):
    x = ins[0]
    opt = [const_of(t, n) if t is not None else None
           for t, n in zip(ins[1:] + [None] * (5 - len(ins)), ("starts", "ends", "axes", "steps"))]
    return [(sliced_shape(x.shape, slice_index(x.shape, *opt)), x.dtype)]


@register_op("Gather", defaults={"axis": 0})
def _gather(node, ins):
    x, idx = ins[0], ins[1]
    axis = node.attrs.get("axis", 0) % len(x.shape)
    return [(tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:]), x.dtype)]


@register_op("GatherElements", defaults={"axis": 0})
def _gather_el(node, ins):
    return [(ins[1].shape, ins[0].dtype)]


# ---- Pad -----------------------------------------------------------------------------
def pad_widths(rank, pads, axes=None):
    """[(before, after)] per axis from ONNX pads [x1_begin, x2_begin, ..., x1_end, ...]."""
    pads = ints(pads)
    axes = [a % rank for a in ints(axes)] if axes is not None else list(range(rank))
    n = len(axes)
    widths = [(0, 0)] * rank
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[i + n])
    return widths


@register_op("Pad", defaults={"mode": "constant"})
def _pad(node, ins):
    x = ins[0]
    pads = const_of(ins[1], "pads") if len(ins) > 1 and ins[1] is not None else node.attrs.get("pads")
    axes = const_of(ins[3], "axes") if len(ins) > 3 and ins[3] is not None else None
    w = pad_widths(len(x.shape), pads, axes)
    return [(tuple(s + b + e for s, (b, e) in zip(x.shape, w)), x.dtype)]


# ---- Shape-valued ops ----------------------------------------------------------------
@register_op("Shape", defaults={"start": 0})
def _shape(node, ins):
    r = len(ins[0].shape)
    start, end = node.attrs.get("start", 0), node.attrs.get("end", r)
    n = len(range(r)[slice(start, end)])
    return [((n,), "s64")]


@register_op("Size")
def _size(node, ins):
    return [((), "s64")]


@register_op("Expand")
def _expand(node, ins):
    shape = ints(const_of(ins[1], "shape"))
    return [(tuple(int(s) for s in np.broadcast_shapes(tuple(ins[0].shape), tuple(shape))), ins[0].dtype)]


@register_op("Tile")
def _tile(node, ins):
    reps = ints(const_of(ins[1], "repeats"))
    return [(tuple(s * r for s, r in zip(ins[0].shape, reps)), ins[0].dtype)]


@register_op("ConstantOfShape")
def _const_of_shape(node, ins):
    from ..dtypes import dtype_of
    v = node.attrs.get("value")
    dt = "f32" if v is None else dtype_of(np.asarray(v))
    return [(tuple(ints(const_of(ins[0], "shape"))), dt)]


@register_op("Constant")
def _constant(node, ins):
    from ..dtypes import dtype_of
    v = np.asarray(node.attrs["value"])
    return [(tuple(v.shape), dtype_of(v))]


def range_length(start, limit, delta):
    return max(int(math.ceil((float(limit) - float(start)) / float(delta))), 0)


@register_op("Range")
def _range(node, ins):
    s, l, d = (const_of(t, n) for t, n in zip(ins, ("start", "limit", "delta")))
    return [((range_length(s, l, d),), ins[0].dtype)]


# ---- Depth/space rearrangements ------------------------------------------------------
@register_op("DepthToSpace", defaults={"mode": "DCR"})
def _d2s(node, ins):
    n, c, h, w = ins[0].shape
    b = node.attrs["blocksize"]
    return [((n, c // (b * b), h * b, w * b), ins[0].dtype)]


@register_op("SpaceToDepth", defaults={"mode": "DCR"})
def _s2d(node, ins):
    n, c, h, w = ins[0].shape
    b = node.attrs["blocksize"]
    return [((n, c * b * b, h // b, w // b), ins[0].dtype)]
