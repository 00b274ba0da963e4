"""Conv and ConvTranspose (N-d, grouped, dilated, strided, padded), float.

Conv is im2col by stride tricks + one batched matmul per group, so MobileNetV2 runs
in well under a second in numpy; no Python loop touches pixels.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir.opdefs.conv import conv_geometry, conv_transpose_geometry
from . import apply_activation, reference


def conv_nd(x, w, b, strides, pads, dil, group):
    n, c = x.shape[:2]
    nsp = x.ndim - 2
    k = w.shape[2:]
    m = w.shape[0]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + nsp]) for i in range(nsp)])
    win = [dil[i] * (k[i] - 1) + 1 for i in range(nsp)]
    v = sliding_window_view(xp, win, axis=tuple(range(2, 2 + nsp)))
    v = v[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)
          + tuple(slice(None, None, d) for d in dil)]          # N, C, O..., K...
    out_sp = v.shape[2:2 + nsp]
    cg, mg = c // group, m // group
    kk = int(np.prod(k))
    ol = int(np.prod(out_sp))
    # cols[g, n*O, cg*K] (one copy: the im2col buffer) @ w[g, cg*K, mg]
    v = v.reshape(n, group, cg, ol, kk) if nsp else v.reshape(n, group, cg, 1, 1)
    cols = np.ascontiguousarray(v.transpose(1, 0, 3, 2, 4)).reshape(group, n * ol, cg * kk)
    wg = w.reshape(group, mg, cg * kk).transpose(0, 2, 1)
    y = np.matmul(cols, wg)                                       # g, n*O, mg
    y = y.reshape(group, n, ol, mg).transpose(1, 0, 3, 2).reshape(n, m, *out_sp)
    if b is not None:
        y = y + b.reshape((1, m) + (1,) * nsp)
    return y.astype(x.dtype, copy=False)


@reference("Conv")
def _conv(node, ins):
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    strides, pads, dil = conv_geometry(node, x.shape, w.shape)
    y = conv_nd(x, w, b, strides, pads, dil, node.attrs.get("group", 1))
    return [apply_activation(y, node.attrs.get("activation"))]


@reference("ConvTranspose")
def _conv_transpose(node, ins):
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    g = node.attrs.get("group", 1)
    strides, pads, dil, opad, out = conv_transpose_geometry(node, x.shape, w.shape)
    n, c = x.shape[:2]
    nsp = x.ndim - 2
    k = w.shape[2:]
    cg, mg = c // g, w.shape[1]
    in_sp = x.shape[2:]
    # contributions[n, g, mg, K..., I...] = sum_c x[n, g, c, I] * w[g, c, mg, K]
    xg = x.reshape(n, g, cg, -1)
    wg = w.reshape(g, cg, mg * int(np.prod(k)))
    contrib = np.einsum("ngci,gcm->ngmi", xg, wg).reshape(n, g, mg, *k, *in_sp)
    full = [strides[i] * (in_sp[i] - 1) + (k[i] - 1) * dil[i] + 1 for i in range(nsp)]
    off = [max(0, -pads[i]) for i in range(nsp)]
    size = [off[i] + max(full[i], pads[i] + out[i]) for i in range(nsp)]
    buf = np.zeros((n, g, mg, *size), dtype=np.float64)
    # Scatter-add one kernel tap at a time (a loop over taps, not over pixels).
    for tap in np.ndindex(*k):
        dst = tuple(slice(off[i] + tap[i] * dil[i],
                          off[i] + tap[i] * dil[i] + strides[i] * (in_sp[i] - 1) + 1, strides[i])
                    for i in range(nsp))
        buf[(slice(None),) * 3 + dst] += contrib[(slice(None),) * 3 + tap]
    crop = tuple(slice(off[i] + pads[i], off[i] + pads[i] + out[i]) for i in range(nsp))
    y = buf[(slice(None),) * 3 + crop].reshape(n, g * mg, *out)
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * nsp)
    return [apply_activation(y.astype(x.dtype), node.attrs.get("activation"))]
