"""MaxPool (with Indices), AveragePool (count_include_pad, ceil_mode), LpPool, global pools."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir.opdefs.pool import pool_geometry
from . import reference


def _windows(a, k, strides, pads, dil, out, fill):
    """Windows [N, C, O..., K...] of `a` padded with `fill` (explicit pads + ceil_mode overhang)."""
    nsp = len(k)
    widths = []
    for i in range(nsp):
        need = (out[i] - 1) * strides[i] + (k[i] - 1) * dil[i] + 1
        extra = max(0, need - (a.shape[2 + i] + pads[i] + pads[i + nsp]))
        widths.append((pads[i], pads[i + nsp] + extra))
    ap = np.pad(a, [(0, 0), (0, 0)] + widths, constant_values=fill)
    win = [(k[i] - 1) * dil[i] + 1 for i in range(nsp)]
    v = sliding_window_view(ap, win, axis=tuple(range(2, 2 + nsp)))
    v = v[(slice(None), slice(None)) + tuple(slice(None, (out[i] - 1) * strides[i] + 1, strides[i])
                                             for i in range(nsp))
          + tuple(slice(None, None, d) for d in dil)]
    return v


@reference("MaxPool")
def _maxpool(node, ins):
    x = ins[0]
    k, strides, pads, dil, out = pool_geometry(node, x.shape[2:])
    nsp = len(k)
    low = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    v = _windows(x, k, strides, pads, dil, out, low)
    flat = v.reshape(*v.shape[:2 + nsp], -1)
    y = flat.max(axis=-1).astype(x.dtype)
    # Indices: flat positions into x (row-major, or column-major with storage_order=1).
    if node.attrs.get("storage_order", 0):
        pos = np.arange(int(np.prod(x.shape[2:]))).reshape(x.shape[2:][::-1]).T
    else:
        pos = np.arange(int(np.prod(x.shape[2:]))).reshape(x.shape[2:])
    plane = int(np.prod(x.shape[2:]))
    base = (np.arange(x.shape[0] * x.shape[1]) * plane).reshape(x.shape[0], x.shape[1], *([1] * nsp))
    pos = np.broadcast_to(pos, x.shape) + base
    pv = _windows(pos, k, strides, pads, dil, out, -1).reshape(flat.shape)
    idx = np.take_along_axis(pv, flat.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    return [y, idx.astype(np.int64)]


@reference("AveragePool")
def _avgpool(node, ins):
    x = ins[0]
    k, strides, pads, dil, out = pool_geometry(node, x.shape[2:])
    nsp = len(k)
    v = _windows(x, k, strides, pads, dil, out, 0)
    s = v.reshape(*v.shape[:2 + nsp], -1).sum(axis=-1, dtype=np.float64)
    # Count what each window covers: real input, plus the explicit pads with
    # count_include_pad; never the ceil_mode overhang beyond the pads.
    ones = np.ones((1, 1) + tuple(x.shape[2:]))
    if node.attrs.get("count_include_pad", 0):
        ones = np.pad(ones, [(0, 0), (0, 0)] + [(pads[i], pads[i + nsp]) for i in range(nsp)],
                      constant_values=1)
        cnt_v = _windows(ones, k, strides, [0] * (2 * nsp), dil, out, 0)
    else:
        cnt_v = _windows(ones, k, strides, pads, dil, out, 0)
    cnt = cnt_v.reshape(*cnt_v.shape[:2 + nsp], -1).sum(axis=-1)
    return [(s / cnt).astype(x.dtype)]


@reference("LpPool")
def _lppool(node, ins):
    x = ins[0]
    p = node.attrs.get("p", 2)
    k, strides, pads, dil, out = pool_geometry(node, x.shape[2:])
    v = _windows(np.abs(x).astype(np.float64) ** p, k, strides, pads, dil, out, 0)
    s = v.reshape(*v.shape[:2 + len(k)], -1).sum(axis=-1)
    return [(s ** (1.0 / p)).astype(x.dtype)]


@reference("GlobalAveragePool")
def _gap(node, ins):
    x = ins[0]
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype)]


@reference("GlobalMaxPool")
def _gmp(node, ins):
    x = ins[0]
    return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]
