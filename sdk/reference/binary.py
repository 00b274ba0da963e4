"""Reference of the binary (XNOR-popcount) and shift ops, exactly as the kernels compute.

Bit conventions (docs/integer-ops.md): bit 1 = +1, bit 0 = -1. Bits are packed 32 to a
uint32 word along the input-channel axis, channel c in word c // 32 at bit c % 32
(LSB first); unused pad bits are 0 in both x and w, so they XOR to 0 and never count.
dot = K - 2 * popcount(x XOR w) with K the number of real terms; spatial padding is a
-1 input (bit 0) and counts in K. The reference really packs and popcounts (rather
than multiplying +-1 floats) so that the packing rules are tested here too.

ShiftConv/ShiftGemm: acc = b + sum sign * ((x - x_zp) << exp), then the QConv output
stage (edgesdk.quant.fixedpoint) with node attrs multiplier/shift (per output channel
or one), y_zp, act_min, act_max.
"""
import numpy as np

from ..ir.opdefs.conv import conv_geometry
from ..quant.fixedpoint import requantize
from . import reference

WORD = 32


def pack_bits(bits, axis=-1):
    """Pack {0,1} values along `axis` into uint32 words (LSB first), moved to the last axis.

    Returns an array whose last axis holds ceil(n / 32) words; pad bits are 0.
    """
    b = np.moveaxis(np.asarray(bits, dtype=np.uint8), axis, -1)
    n = b.shape[-1]
    nw = (n + WORD - 1) // WORD
    pad = nw * WORD - n
    if pad:
        b = np.concatenate([b, np.zeros(b.shape[:-1] + (pad,), np.uint8)], axis=-1)
    b = b.reshape(b.shape[:-1] + (nw, WORD)).astype(np.uint32)
    weights = (np.uint32(1) << np.arange(WORD, dtype=np.uint32))
    return (b * weights).sum(axis=-1, dtype=np.uint64).astype(np.uint32)


def unpack_bits(words, n, axis=-1):
    """Inverse of pack_bits: words [..., nw] -> {0,1} uint8 with `n` values put back at `axis`."""
    w = np.asarray(words, dtype=np.uint32)
    bits = (w[..., None] >> np.arange(WORD, dtype=np.uint32)) & np.uint32(1)
    bits = bits.reshape(w.shape[:-1] + (-1,))[..., :n].astype(np.uint8)
    return np.moveaxis(bits, -1, axis)


def _popcount(a):
    return np.bitwise_count(a).astype(np.int64)


def bgemm(x_bits, w_bits):
    """x [N, K] {0,1}, w [M, K] {0,1} -> int32 [N, M] = K - 2 * popcount(x XOR w)."""
    k = np.asarray(x_bits).shape[1]
    xp = pack_bits(x_bits, axis=1)                # [N, nw]
    wp = pack_bits(w_bits, axis=1)                # [M, nw]
    pop = _popcount(xp[:, None, :] ^ wp[None, :, :]).sum(-1)
    return (k - 2 * pop).astype(np.int32)


def bconv2d(x_bits, w_bits, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1):
    """x [N, C, H, W] {0,1}, w [O, C/g, kh, kw] {0,1} -> int32 [N, O, OH, OW].

    Channels-last packing per group; padding is bit 0 (-1) and counts in K = C/g*kh*kw.
    """
    x_bits = np.asarray(x_bits, np.uint8)
    w_bits = np.asarray(w_bits, np.uint8)
    n, c, h, w = x_bits.shape
    o, cg, kh, kw = w_bits.shape
    sh, sw = strides
    dh, dw = dilations
    pt, pl, pb, pr = pads
    xpad = np.zeros((n, c, h + pt + pb, w + pl + pr), np.uint8)  # pad bits 0 = -1
    xpad[:, :, pt:pt + h, pl:pl + w] = x_bits
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    og = o // group
    k = cg * kh * kw
    out = np.zeros((n, o, oh, ow), np.int64)
    for g in range(group):
        xg = pack_bits(xpad[:, g * cg:(g + 1) * cg], axis=1)          # [N, Hp, Wp, nw]
        wg = pack_bits(w_bits[g * og:(g + 1) * og], axis=1)           # [Og, kh, kw, nw]
        pop = np.zeros((n, oh, ow, og), np.int64)
        for ky in range(kh):
            for kx in range(kw):
                y0, x0 = ky * dh, kx * dw
                patch = xg[:, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw, :]  # [N,OH,OW,nw]
                pop += _popcount(patch[:, :, :, None, :] ^ wg[None, None, None, :, ky, kx, :]).sum(-1)
        out[:, g * og:(g + 1) * og] = np.moveaxis(k - 2 * pop, 3, 1)
    return out.astype(np.int32)


def _shift_weights(sign, exp):
    sign = np.asarray(sign, np.int64)
    exp = np.asarray(exp, np.int64)
    if np.any((sign != 1) & (sign != -1)):
        raise ValueError("shift weight signs must be +1 or -1")
    if np.any(exp < 0) or np.any(exp > 30):
        raise ValueError("shift weight exponents must be in [0, 30]")
    return sign, exp


def _output_stage(acc, node, channel_axis):
    mult = np.asarray(node.attrs["multiplier"], np.int64).reshape(-1)
    shift = np.asarray(node.attrs["shift"], np.int64).reshape(-1)
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    if mult.size > 1:
        mult, shift = mult.reshape(shape), shift.reshape(shape)
    y = requantize(acc, mult, shift) + int(node.attrs.get("y_zp", 0))
    return np.clip(y, int(node.attrs.get("act_min", -128)), int(node.attrs.get("act_max", 127))).astype(np.int8)


def shift_gemm_acc(x, x_zp, sign, exp, bias=None):
    """int64 acc [N, M] = b + sum_k sign[m,k] * ((x[n,k] - x_zp) << exp[m,k])."""
    sign, exp = _shift_weights(sign, exp)
    xc = np.asarray(x, np.int64) - int(x_zp)                       # [N, K]
    # (x << e) * s == x * (s << e) for integers; kept as shifts to mirror the kernel.
    terms = np.left_shift(xc[:, None, :], exp[None, :, :]) * sign[None, :, :]
    acc = terms.sum(-1)
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)[None, :]
    return acc


def shift_conv_acc(x, x_zp, sign, exp, bias=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1):
    """int64 acc [N, O, OH, OW] of ShiftConv; padding contributes 0 (input padded with x_zp)."""
    sign, exp = _shift_weights(sign, exp)
    x = np.asarray(x, np.int64) - int(x_zp)
    n, c, h, w = x.shape
    o, cg, kh, kw = sign.shape
    sh, sw = strides
    dh, dw = dilations
    pt, pl, pb, pr = pads
    xpad = np.zeros((n, c, h + pt + pb, w + pl + pr), np.int64)
    xpad[:, :, pt:pt + h, pl:pl + w] = x
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    og = o // group
    acc = np.zeros((n, o, oh, ow), np.int64)
    for g in range(group):
        xg = xpad[:, g * cg:(g + 1) * cg]
        for ky in range(kh):
            for kx in range(kw):
                y0, x0 = ky * dh, kx * dw
                patch = xg[:, :, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw]  # [N,Cg,OH,OW]
                s = sign[g * og:(g + 1) * og, :, ky, kx]                                   # [Og, Cg]
                e = exp[g * og:(g + 1) * og, :, ky, kx]
                t = np.left_shift(patch[:, None], e[None, :, :, None, None]) * s[None, :, :, None, None]
                acc[:, g * og:(g + 1) * og] += t.sum(2)
    if bias is not None:
        acc += np.asarray(bias, np.int64)[None, :, None, None]
    return acc


def _geometry(node, x_shape, w_shape):
    strides, pads, dil = conv_geometry(node, x_shape, w_shape)
    if len(x_shape) != 4:
        raise ValueError(f"node {node.name}: only 2-D convolutions are supported, input {x_shape}")
    return strides, (pads[0], pads[1], pads[2], pads[3]), dil


@reference("Binarize")
def _binarize(node, ins):
    x = np.asarray(ins[0])
    thr = np.asarray(node.attrs.get("threshold", 0), dtype=np.float64 if x.dtype.kind == "f" else np.int64)
    if thr.size > 1:  # one threshold per channel (axis 1)
        thr = thr.reshape((1, -1) + (1,) * (x.ndim - 2))
    return [(x >= thr).astype(np.uint8)]


@reference("BConv")
def _bconv(node, ins):
    x, w = ins[0], ins[1]
    strides, pads, dil = _geometry(node, x.shape, w.shape)
    return [bconv2d(x, w, strides, pads, dil, node.attrs.get("group", 1))]


@reference("BGemm")
def _bgemm(node, ins):
    return [bgemm(ins[0], ins[1])]


@reference("ShiftConv")
def _shiftconv(node, ins):
    x, sign, exp = ins[0], ins[1], ins[2]
    bias = ins[3] if len(ins) > 3 else None
    strides, pads, dil = _geometry(node, x.shape, sign.shape)
    acc = shift_conv_acc(x, node.attrs.get("x_zp", 0), sign, exp, bias, strides, pads, dil,
                         node.attrs.get("group", 1))
    return [_output_stage(acc, node, 1)]


@reference("ShiftGemm")
def _shiftgemm(node, ins):
    bias = ins[3] if len(ins) > 3 else None
    acc = shift_gemm_acc(ins[0], node.attrs.get("x_zp", 0), ins[1], ins[2], bias)
    return [_output_stage(acc, node, 1)]
