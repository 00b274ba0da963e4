"""Resize: nearest / linear / cubic, every ONNX coordinate_transformation_mode, antialias.

Separable: each resized axis is one (out x in) interpolation matrix (or, for nearest,
one index array), built from the ONNX formulas, applied with a tensordot. That is the
n-linear / n-cubic interpolation ONNX defines, without loops over pixels.
"""
import math

import numpy as np

from ..ir.opdefs.resize import resize_plan
from . import reference
from ._util import attr_str, unsupported


def _source_coords(mode, n_out, n_in, scale, roi_start, roi_end):
    i = np.arange(n_out, dtype=np.float64)
    # ONNX uses the unrounded output length (n_in * scale) in these formulas.
    n_out_f = n_in * scale
    if mode == "half_pixel":
        return (i + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adj = n_out / n_out_f
        center = n_in / 2
        return center * (1 - adj) + (i + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (i + 0.5) / scale - 0.5 if n_out_f != 1 else np.full(n_out, -0.5)
    if mode == "align_corners":
        return i * (n_in - 1) / (n_out_f - 1) if n_out_f != 1 else np.zeros(n_out)
    if mode == "asymmetric":
        return i / scale
    if mode == "tf_crop_and_resize":
        if n_out_f != 1:
            return roi_start * (n_in - 1) + i * (roi_end - roi_start) * (n_in - 1) / (n_out_f - 1)
        return np.full(n_out, 0.5 * (roi_start + roi_end) * (n_in - 1))
    raise ValueError(mode)


def _nearest_index(x, rule, n_in):
    if rule == "round_prefer_floor":
        idx = np.where(x - np.floor(x) == 0.5, np.floor(x), np.round(x))
    elif rule == "round_prefer_ceil":
        idx = np.where(x - np.floor(x) == 0.5, np.ceil(x), np.round(x))
    elif rule == "floor":
        idx = np.floor(x)
    elif rule == "ceil":
        idx = np.ceil(x)
    else:
        raise ValueError(rule)
    return np.clip(idx, 0, n_in - 1).astype(np.int64)


def _cubic_kernel(t, a):
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))


def _interp_matrix(x, n_in, mode, scale, cubic_a, exclude_outside, antialias):
    """(out x in) weights for linear/cubic at source coordinates x (ONNX resize formulas)."""
    base = np.floor(x)
    ratio = x - base
    # Antialias widens the kernel by 1/scale when downsampling.
    s = min(scale, 1.0) if antialias else 1.0
    support = 1 if mode == "linear" else 2
    start = int(math.floor(-support / s) + 1)
    taps = np.arange(start, 2 - start)  # ONNX: footprint 2 - 2*start
    args = (taps[None, :] - ratio[:, None]) * s
    if mode == "linear":
        w = np.clip(1 - np.abs(args), 0, None)
    else:
        w = _cubic_kernel(args, cubic_a)
    idx = base[:, None].astype(np.int64) + taps[None, :]
    inside = (idx >= 0) & (idx < n_in)
    if exclude_outside:
        w = np.where(inside, w, 0.0)
    if antialias or exclude_outside:
        w = w / w.sum(axis=1, keepdims=True)
    m = np.zeros((len(x), n_in))
    rows = np.repeat(np.arange(len(x)), idx.shape[1])
    np.add.at(m, (rows, np.clip(idx, 0, n_in - 1).reshape(-1)), w.reshape(-1))
    return m


@reference("Resize")
def _resize(node, ins):
    x = ins[0]
    get = lambda i: ins[i] if len(ins) > i and ins[i] is not None and np.asarray(ins[i]).size else None  # noqa: E731
    roi, scales, sizes = get(1), get(2), get(3)
    out_shape, full_scales = resize_plan(node, x.shape, scales, sizes)
    mode = attr_str(node, "mode", "nearest")
    ctm = attr_str(node, "coordinate_transformation_mode", "half_pixel")
    nearest = attr_str(node, "nearest_mode", "round_prefer_floor")
    antialias = int(node.attrs.get("antialias", 0))
    if mode not in ("nearest", "linear", "cubic"):
        unsupported(node, f"mode {mode!r}")
    if ctm not in ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                   "asymmetric", "tf_crop_and_resize"):
        unsupported(node, f"coordinate_transformation_mode {ctm!r}")
    rank = x.ndim
    axes = node.attrs.get("axes")
    axes = [a % rank for a in axes] if axes is not None else list(range(rank))
    roi_full = [(0.0, 1.0)] * rank
    if roi is not None and ctm == "tf_crop_and_resize":
        r = np.asarray(roi, dtype=np.float64).reshape(-1)
        na = len(r) // 2
        roi_axes = axes if na == len(axes) else list(range(rank))
        for j, a in enumerate(roi_axes):
            roi_full[a] = (r[j], r[j + na])
    y = x.astype(np.float64) if mode != "nearest" else x
    outside = np.zeros(out_shape, dtype=bool) if ctm == "tf_crop_and_resize" else None
    for a in range(rank):
        n_in, n_out = x.shape[a], out_shape[a]
        if n_in == n_out and full_scales[a] == 1.0 and ctm != "tf_crop_and_resize":
            continue
        src = _source_coords(ctm, n_out, n_in, full_scales[a], *roi_full[a])
        if outside is not None:
            bad = (src < 0) | (src > n_in - 1)
            shape = [1] * rank
            shape[a] = n_out
            outside |= bad.reshape(shape)
        if mode == "nearest":
            y = np.take(y, _nearest_index(src, nearest, n_in), axis=a)
        else:
            m = _interp_matrix(src, n_in, mode, full_scales[a], node.attrs.get("cubic_coeff_a", -0.75),
                               node.attrs.get("exclude_outside", 0), antialias)
            y = np.moveaxis(np.tensordot(m, y, axes=([1], [a])), 0, a)
    if outside is not None:
        y = np.where(outside, node.attrs.get("extrapolation_value", 0.0), y)
    if np.issubdtype(x.dtype, np.integer) and mode != "nearest":
        y = np.clip(np.round(y), np.iinfo(x.dtype).min, np.iinfo(x.dtype).max)
    return [np.asarray(y).astype(x.dtype)]
