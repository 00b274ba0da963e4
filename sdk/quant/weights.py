"""Weight quantization: symmetric, per output channel (axis 0), 8/4/2 bits held in int8.

8-bit weights use [-127, 127] (symmetric, the kernels' SMLAD paths rely on it);
4- and 2-bit weights use the full two's-complement range [-2**(b-1), 2**(b-1) - 1]
(zero point 0): at so few levels the extra negative level matters.
"""
import numpy as np


def qrange(bits):
    if bits == 8:
        return -127, 127
    if bits in (4, 2, 3, 5, 6, 7):
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    raise ValueError(f"unsupported weight bit-width {bits} (8, 4 or 2)")


def _per_channel_absmax(w, per_channel):
    a = np.abs(np.asarray(w, np.float64))
    if per_channel:
        return a.reshape(a.shape[0], -1).max(axis=1)
    return np.full(a.shape[0], a.max())


def fake_quant(w, scale, bits):
    """Dequantized values of w quantized with per-channel `scale` (broadcast on axis 0)."""
    lo, hi = qrange(bits)
    s = np.asarray(scale, np.float64).reshape((-1,) + (1,) * (np.ndim(w) - 1))
    return np.clip(np.round(w / s), lo, hi) * s


def weight_scale(w, bits=8, per_channel=True, search=None):
    """Per-channel scale (one per output channel even when per_channel=False).

    `search`: None -> absmax / qmax. "mse" -> per channel, the clipping ratio in
    [0.3, 1] that minimises the weight quantization MSE (what low bit-widths need).
    """
    w = np.asarray(w, np.float64)
    _, hi = qrange(bits)
    amax = _per_channel_absmax(w, per_channel)
    scale = np.where(amax > 0, amax / hi, 1.0)
    if search == "mse":
        flat = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
        best_s = scale[:flat.shape[0]].copy() if per_channel else scale[:1].copy()
        best_e = np.full(best_s.shape, np.inf)
        for ratio in np.linspace(0.3, 1.0, 50):
            s = best_s * 0 + (amax[:best_s.size] * ratio / hi)
            s = np.where(s > 0, s, 1.0)
            err = ((fake_quant(flat, s, bits) - flat) ** 2).mean(axis=1)
            better = err < best_e
            best_e = np.where(better, err, best_e)
            best_s = np.where(better, s, best_s)
        scale = best_s if per_channel else np.full(w.shape[0], best_s[0])
    return scale.astype(np.float32)


def quantize_weight(w, scale, bits=8):
    """int8 array of w / scale (per channel), rounded half to even and clamped to the bit range."""
    lo, hi = qrange(bits)
    s = np.asarray(scale, np.float64).reshape((-1,) + (1,) * (np.ndim(w) - 1))
    return np.clip(np.round(np.asarray(w, np.float64) / s), lo, hi).astype(np.int8)


def quantize_bias(b, x_scale, w_scale, what="bias"):
    """int32 bias with scale x_scale * w_scale[o]; refuses values that overflow int32."""
    s = np.float64(x_scale) * np.asarray(w_scale, np.float64)
    q = np.round(np.asarray(b, np.float64) / s)
    if np.abs(q).max(initial=0) >= 2 ** 31 - 1:
        raise OverflowError(f"{what}: bias does not fit int32 at scale {s.min()}")
    return q.astype(np.int32)
