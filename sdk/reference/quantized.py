"""Integer reference of the quantized ops: THE bit-exact specification (docs/integer-ops.md).

Pure numpy, NCHW / OIHW, int8 in and int8 out. Every C / OpenCL / CUDA kernel is
compared with these functions bit for bit, so they follow the doc literally:
- the accumulator is an exact integer (checked to fit int32, as on the device);
- requantization is edgesdk.quant.fixedpoint.requantize (single rounding, half up);
- padding is the input zero point, so padded taps contribute exactly 0.

The registered reference ops read their integer constants from node attrs, because a
reference function only sees (node, input arrays). The quantizer writes the same
values on the tensors' QuantParams (for codegen) and in these attrs:

  QConv / QGemm:      x_zp, y_zp, multiplier[O], shift[O], act_min, act_max (+ Conv attrs)
  QAvgPool:           x_zp, y_zp, multiplier, shift, act_min, act_max (+ AveragePool attrs)
  QGlobalAvgPool:     x_zp, y_zp, multiplier, shift, act_min, act_max
  QAdd:               a_zp, b_zp, y_zp, a_multiplier, a_shift, b_multiplier, b_shift,
                      multiplier, shift, act_min, act_max
  QSoftmax:           table (256 uint32)
"""
import numpy as np

from ..quant.fixedpoint import requantize
from . import reference

# float64 sums of integer products are exact below 2**53: products are at most
# 255 * 128, so up to 2**53 / 32640 (~2.7e11) terms a BLAS matmul in float64 gives the
# exact integer accumulator, much faster than numpy's int64 matmul (no BLAS).
_EXACT_F64_TERMS = (1 << 53) // (255 * 128)

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
QADD_LEFT_SHIFT = 20


def _check_int32(acc, what):
    lo, hi = int(acc.min(initial=0)), int(acc.max(initial=0))
    if lo < INT32_MIN or hi > INT32_MAX:
        raise OverflowError(f"{what}: int32 accumulator overflow (range [{lo}, {hi}])")
    return acc


def _int_matmul(a, b):
    """Exact integer a @ b (int64 result) for int-valued arrays a [.., K], b [K, M]."""
    k = a.shape[-1]
    if k <= _EXACT_F64_TERMS:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a.astype(np.int64) @ b.astype(np.int64)


def _output_stage(acc, multiplier, shift, y_zp, act_min, act_max, channel_axis):
    """requant + zero point + clamp; multiplier/shift per channel along `channel_axis` (or scalar)."""
    m = np.asarray(multiplier, np.int64).reshape(-1)
    s = np.asarray(shift, np.int64).reshape(-1)
    if m.size > 1:
        shape = [1] * acc.ndim
        shape[channel_axis] = m.size
        m, s = m.reshape(shape), s.reshape(shape)
    else:
        m, s = m.reshape(()), s.reshape(())
    out = requantize(acc, m, s) + np.int64(y_zp)
    return np.clip(out, int(act_min), int(act_max)).astype(np.int8)


def _pad_value(x, pads, value):
    """Pad the spatial axes of NCHW `x` (ONNX pads: begins then ends) with `value`."""
    nsp = x.ndim - 2
    if not any(pads):
        return x
    width = [(0, 0), (0, 0)] + [(int(pads[i]), int(pads[i + nsp])) for i in range(nsp)]
    return np.pad(x, width, mode="constant", constant_values=value)


def _windows(x, kernel, strides, dilations):
    """View of NCHW x as [N, C, OH, OW, kh, kw] windows (no copy)."""
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = strides
    dh, dw = dilations
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    if oh <= 0 or ow <= 0:
        raise ValueError(f"window {kernel} (dilation {dilations}) larger than padded input {h}x{w}")
    sn, sc, shh, sww = x.strides
    return np.lib.stride_tricks.as_strided(
        x, shape=(n, c, oh, ow, kh, kw),
        strides=(sn, sc, shh * sh, sww * sw, shh * dh, sww * dw), writeable=False)


def _as_2d(vals, nsp, name):
    vals = list(vals)
    if len(vals) != nsp:
        raise ValueError(f"{name} has {len(vals)} entries for {nsp} spatial axes")
    return vals


def qconv2d(x, w, bias, x_zp, y_zp, multiplier, shift, strides, pads, dilations, group, act_min, act_max):
    """Quantized 2D convolution (QConv), NCHW x int8, OIHW w int8, bias int32 [O] or None.

    acc[n,o,p] = bias[o] + sum (x - x_zp) * w over the window, the input padded with x_zp;
    y = clamp(requant(acc, multiplier[o], shift[o]) + y_zp, act_min, act_max).
    1D convs are NCW: they run as 2D with height 1.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim == 3:  # 1D: (N, C, W) -> (N, C, 1, W)
        pads = list(pads or [0, 0])
        y = qconv2d(x[:, :, None, :], w[:, :, None, :], bias, x_zp, y_zp, multiplier, shift,
                    [1, *(strides or [1])], [0, pads[0], 0, pads[1]], [1, *(dilations or [1])],
                    group, act_min, act_max)
        return y[:, :, 0, :]
    if x.dtype != np.int8 or w.dtype != np.int8:
        raise TypeError(f"qconv2d wants int8 x and w, got {x.dtype} and {w.dtype}")
    strides = _as_2d(strides or [1, 1], 2, "strides")
    dilations = _as_2d(dilations or [1, 1], 2, "dilations")
    pads = list(pads or [0, 0, 0, 0])
    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    g = int(group)
    if c != cg * g or o % g:
        raise ValueError(f"qconv2d: {c} input channels, weight {w.shape}, group {g} do not agree")
    xc = x.astype(np.int32) - np.int32(x_zp)          # centred input, in [-255, 255]
    xc = _pad_value(xc, pads, 0)                      # x_zp padding == 0 after centring
    win = _windows(xc, (kh, kw), strides, dilations)  # [N, C, OH, OW, kh, kw]
    oh, ow = win.shape[2], win.shape[3]
    og = o // g
    acc = np.empty((n, o, oh, ow), np.int64)
    for gi in range(g):
        wg = w[gi * og:(gi + 1) * og].reshape(og, cg * kh * kw)               # [og, K]
        cols = win[:, gi * cg:(gi + 1) * cg]                                  # [N, cg, OH, OW, kh, kw]
        cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n, oh, ow, cg * kh * kw)
        acc[:, gi * og:(gi + 1) * og] = _int_matmul(cols, wg.T).transpose(0, 3, 1, 2)
    if bias is not None:
        acc += np.asarray(bias, np.int64).reshape(1, o, 1, 1)
    _check_int32(acc, "qconv2d")
    return _output_stage(acc, multiplier, shift, y_zp, act_min, act_max, channel_axis=1)


def qgemm(x, w, bias, x_zp, y_zp, multiplier, shift, act_min, act_max):
    """Quantized fully connected (QGemm): x int8 [N, K], w int8 [M, K] (transposed), bias int32 [M]."""
    x = np.asarray(x)
    w = np.asarray(w)
    if x.dtype != np.int8 or w.dtype != np.int8:
        raise TypeError(f"qgemm wants int8 x and w, got {x.dtype} and {w.dtype}")
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"qgemm: x {x.shape} and w {w.shape} disagree on K")
    acc = _int_matmul(x.astype(np.int32) - np.int32(x_zp), w.T)
    if bias is not None:
        acc += np.asarray(bias, np.int64).reshape(-1)
    _check_int32(acc, "qgemm")
    return _output_stage(acc, multiplier, shift, y_zp, act_min, act_max, channel_axis=acc.ndim - 1)


def qadd(a, b, a_zp, b_zp, y_zp, a_mult, a_shift, b_mult, b_shift, multiplier, shift, act_min, act_max):
    """Quantized add (QAdd) with numpy broadcasting.

    a' = requant((a - a_zp) << 20, a_mult, a_shift); b' likewise;
    y = clamp(requant(a' + b', multiplier, shift) + y_zp, act_min, act_max).
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != np.int8 or b.dtype != np.int8:
        raise TypeError(f"qadd wants int8 inputs, got {a.dtype} and {b.dtype}")
    a1 = requantize((a.astype(np.int64) - int(a_zp)) << QADD_LEFT_SHIFT, int(a_mult), int(a_shift))
    b1 = requantize((b.astype(np.int64) - int(b_zp)) << QADD_LEFT_SHIFT, int(b_mult), int(b_shift))
    acc = _check_int32(a1 + b1, "qadd")
    out = requantize(acc, int(multiplier), int(shift)) + int(y_zp)
    return np.clip(out, int(act_min), int(act_max)).astype(np.int8)


def qadd_params(a_scale, b_scale, y_scale):
    """Host-side constants of QAdd: ((a_mult, a_shift), (b_mult, b_shift), (mult, shift))."""
    from ..quant.fixedpoint import quantize_multiplier
    t = 2.0 * max(float(a_scale), float(b_scale))
    am, ash = quantize_multiplier(float(a_scale) / t)
    bm, bsh = quantize_multiplier(float(b_scale) / t)
    m, s = quantize_multiplier(t / ((1 << QADD_LEFT_SHIFT) * float(y_scale)))
    return (int(am[0]), int(ash[0])), (int(bm[0]), int(bsh[0])), (int(m[0]), int(s[0]))


def qavgpool(x, x_zp, y_zp, multiplier, shift, kernel, strides, pads, act_min, act_max):
    """Quantized average pool (QAvgPool; QGlobalAvgPool = kernel of the whole map).

    acc = sum (x - x_zp) over the window (padding counts as x_zp, i.e. 0, and the
    window size in M includes it); y = clamp(requant(acc, m, s) + y_zp).
    The host folds 1 / window_size into M = x_scale / (y_scale * window_size).
    """
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError(f"qavgpool wants int8 input, got {x.dtype}")
    kernel = _as_2d(kernel, 2, "kernel")
    strides = _as_2d(strides or [1, 1], 2, "strides")
    pads = list(pads or [0, 0, 0, 0])
    xc = _pad_value(x.astype(np.int64) - int(x_zp), pads, 0)
    acc = _windows(xc, kernel, strides, (1, 1)).sum(axis=(4, 5))
    _check_int32(acc, "qavgpool")
    return _output_stage(acc, multiplier, shift, y_zp, act_min, act_max, channel_axis=1)


def softmax_table(x_scale):
    """table[d] = round(exp(-d * x_scale) * 2**16), d = 0..255, round half up (host side)."""
    d = np.arange(256, dtype=np.float64)
    return np.floor(np.exp(-d * float(x_scale)) * 65536.0 + 0.5).astype(np.uint32)


def qsoftmax(x, table):
    """Quantized softmax (QSoftmax) over the last axis; output scale 1/256, zero point -128.

    d = max_row - x; e = table[d]; sum = sum e;
    y = clamp((e * 256 + sum / 2) / sum - 128)   (unsigned integer division)
    """
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError(f"qsoftmax wants int8 input, got {x.dtype}")
    table = np.asarray(table, np.uint64).reshape(-1)
    if table.size != 256:
        raise ValueError(f"qsoftmax table has {table.size} entries, not 256")
    xi = x.astype(np.int64)
    d = xi.max(axis=-1, keepdims=True) - xi
    e = table[d]
    s = e.sum(axis=-1, keepdims=True)
    if int(s.max(initial=0)) >= (1 << 32):
        raise OverflowError("qsoftmax: uint32 sum overflow (row too long)")
    q = (e * np.uint64(256) + s // np.uint64(2)) // s
    return np.clip(q.astype(np.int64) - 128, -128, 127).astype(np.int8)


# ---- registration with the reference interpreter ---------------------------------

def _act(node):
    return node.attrs.get("act_min", -128), node.attrs.get("act_max", 127)


def _conv_geometry(node, x, w):
    from ..ir.opdefs.conv import conv_geometry
    return conv_geometry(node, x.shape, w.shape)


@reference("QConv")
def _ref_qconv(node, ins):
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    strides, pads, dil = _conv_geometry(node, x, w)
    lo, hi = _act(node)
    return [qconv2d(x, w, b, node.attrs["x_zp"], node.attrs["y_zp"], node.attrs["multiplier"],
                    node.attrs["shift"], strides, pads, dil, node.attrs.get("group", 1), lo, hi)]


@reference("QGemm")
def _ref_qgemm(node, ins):
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    lo, hi = _act(node)
    return [qgemm(x, w, b, node.attrs["x_zp"], node.attrs["y_zp"], node.attrs["multiplier"],
                  node.attrs["shift"], lo, hi)]


@reference("QAdd")
def _ref_qadd(node, ins):
    a = node.attrs
    lo, hi = _act(node)
    return [qadd(ins[0], ins[1], a["a_zp"], a["b_zp"], a["y_zp"], a["a_multiplier"], a["a_shift"],
                 a["b_multiplier"], a["b_shift"], a["multiplier"], a["shift"], lo, hi)]


@reference("QAvgPool")
def _ref_qavgpool(node, ins):
    a = node.attrs
    x = ins[0]
    kernel = list(a["kernel_shape"])
    strides = list(a.get("strides") or [1] * len(kernel))
    pads = list(a.get("pads") or [0] * (2 * len(kernel)))
    lo, hi = _act(node)
    if x.ndim == 3:  # 1D pooling runs as 2D with height 1
        y = qavgpool(x[:, :, None, :], a["x_zp"], a["y_zp"], a["multiplier"], a["shift"],
                     [1, kernel[0]], [1, strides[0]], [0, pads[0], 0, pads[1]], lo, hi)
        return [y[:, :, 0, :]]
    return [qavgpool(x, a["x_zp"], a["y_zp"], a["multiplier"], a["shift"], kernel, strides, pads, lo, hi)]


@reference("QGlobalAvgPool")
def _ref_qglobalavgpool(node, ins):
    a = node.attrs
    x = ins[0]
    x4 = x if x.ndim == 4 else x.reshape(x.shape[0], x.shape[1], 1, -1)
    lo, hi = _act(node)
    y = qavgpool(x4, a["x_zp"], a["y_zp"], a["multiplier"], a["shift"], list(x4.shape[2:]), [1, 1],
                 [0, 0, 0, 0], lo, hi)
    return [y.reshape(x.shape[:2] + (1,) * (x.ndim - 2))]


@reference("QSoftmax")
def _ref_qsoftmax(node, ins):
    return [qsoftmax(ins[0], node.attrs["table"])]


__all__ = ["qconv2d", "qgemm", "qadd", "qadd_params", "qavgpool", "qsoftmax", "softmax_table"]


@reference("QMatMulDecomposed")
def _ref_qmatmul_decomposed(node, ins):
    from ..quant.llm_int8 import decomposed_matmul
    bias = ins[4] if len(ins) > 4 else None
    return [decomposed_matmul(ins[0], ins[1], ins[2], ins[3], node.attrs["outlier_idx"], node.attrs["inlier_idx"],
                              bias)]
