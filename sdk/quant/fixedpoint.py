"""Fixed-point requantization: THE specification every integer kernel matches bit for bit.

A real multiplier M = in_scale * w_scale / out_scale (> 0) is stored as
    M ~= multiplier * 2**(shift - 31),   multiplier in [2**30, 2**31), shift in [-31, 30].

Requantizing an int32 accumulator `acc` is "single rounding", round half up
(towards +infinity), done in 64-bit:
    total = 31 - shift                              (1 <= total <= 62)
    out   = (acc * multiplier + (1 << (total - 1))) >> total     (arithmetic shift)
then the output zero point is added and the result is clamped to [act_min, act_max]
(which also implements fused ReLU/ReLU6 and the int8 range).

In C:
    static inline int32_t ek_requant(int32_t acc, int32_t mult, int32_t shift) {
        int32_t total = 31 - shift;
        int64_t v = (int64_t)acc * mult + ((int64_t)1 << (total - 1));
        return (int32_t)(v >> total);
    }
The constants are computed here, in Python, never on the device.
"""
import numpy as np


def quantize_multiplier(real):
    """Per-element (multiplier, shift) int32 arrays for positive real multipliers."""
    real = np.atleast_1d(np.asarray(real, dtype=np.float64))
    mult = np.zeros(real.shape, np.int64)
    shift = np.zeros(real.shape, np.int64)
    for i, r in enumerate(real.flat):
        if not np.isfinite(r) or r <= 0:
            # A zero scale (a dead channel): the output is always the zero point.
            mult.flat[i], shift.flat[i] = 0, 0
            continue
        m, e = np.frexp(r)  # r = m * 2**e, m in [0.5, 1)
        q = int(round(m * (1 << 31)))
        if q == (1 << 31):
            q //= 2
            e += 1
        if e > 30:
            raise ValueError(f"requantization multiplier {r} is too large to represent")
        if e < -31:
            q, e = 0, 0  # underflows to zero
        mult.flat[i], shift.flat[i] = q, e
    return mult.astype(np.int32), shift.astype(np.int32)


def requantize(acc, multiplier, shift):
    """Vectorised reference of ek_requant; multiplier/shift broadcast against acc."""
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    total = 31 - np.asarray(shift, dtype=np.int64)
    return ((acc * m + (np.int64(1) << (total - 1))) >> total).astype(np.int64)


def requantize_to(acc, multiplier, shift, zero_point, act_min=-128, act_max=127, dtype=np.int8):
    """Requantize, add the zero point, clamp; the full output stage of an int8 op."""
    out = requantize(acc, multiplier, shift) + np.int64(zero_point)
    return np.clip(out, act_min, act_max).astype(dtype)


def activation_range(kind, scale, zero_point, qmin=-128, qmax=127):
    """Clamp bounds that fuse relu/relu6 into the requantization (computed on the host)."""
    if kind in (None, "", "none"):
        return qmin, qmax
    lo = max(qmin, int(zero_point))
    if kind == "relu":
        return lo, qmax
    if kind == "relu6":
        return lo, min(qmax, int(zero_point) + int(round(6.0 / float(scale))))
    raise ValueError(f"unknown fused activation {kind!r}")
