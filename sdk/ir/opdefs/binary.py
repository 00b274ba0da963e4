"""Binary (XNOR-popcount), power-of-two shift ops: shapes and dtypes.

Semantics are fixed in docs/integer-ops.md; the numpy reference is
edgesdk.reference.binary.

- Binarize:  x (f32 or s8) -> b1, bit = 1 where x >= threshold (sign(0) = +1).
             `threshold` is a scalar or one value per channel (axis 1);
             for s8 inputs it is in the integer domain (zero point = real 0).
- BConv:     x b1 NCHW, w b1 OIHW -> s32 dot = K - 2 * popcount(x XOR w)
             (Conv attrs; padding is bit 0 = -1 and counts in K).
- BGemm:     x b1 [N, K], w b1 [M, K] -> s32, same dot.
- ShiftConv: x s8, w_sign s8 (+1/-1) OIHW, w_exp s8 (>= 0) OIHW, b s32 [O] (optional)
             -> s8; acc = b + sum sign * ((x - x_zp) << exp), then the QConv
             output stage with per-channel `multiplier`/`shift` attrs, `y_zp` (names as QConv),
             `act_min`/`act_max`.
- ShiftGemm: x s8 [N, K], w_sign/w_exp [M, K], b s32 [M] -> s8 [N, M], same stage.
"""
from ..ops import register_op
from .conv import conv_geometry, conv_out_dim

_INT_STAGE = {"x_zp": 0, "y_zp": 0, "act_min": -128, "act_max": 127}


def _check_dtype(node, t, want, what):
    if t.dtype not in want:
        raise ValueError(f"{what} must be {'/'.join(want)}, got {t.dtype}")


def _conv_out(node, x, w):
    strides, pads, dil = conv_geometry(node, x.shape, w.shape)
    nsp = len(x.shape) - 2
    g = node.attrs.get("group", 1)
    if x.shape[1] != w.shape[1] * g:
        raise ValueError(f"input channels {x.shape[1]} != weight in-channels {w.shape[1]} x group {g}")
    if w.shape[0] % g:
        raise ValueError(f"output channels {w.shape[0]} not divisible by group {g}")
    return (x.shape[0], w.shape[0], *[conv_out_dim(x.shape[2 + i], w.shape[2 + i], strides[i], pads[i],
                                                   pads[i + nsp], dil[i]) for i in range(nsp)])


@register_op("Binarize", defaults={"threshold": 0})
def _binarize(node, ins):
    _check_dtype(node, ins[0], ("f32", "f16", "s8"), "Binarize input")
    return [(ins[0].shape, "b1")]


@register_op("BConv", defaults={"group": 1, "auto_pad": "NOTSET"})
def _bconv(node, ins):
    x, w = ins[0], ins[1]
    _check_dtype(node, x, ("b1",), "BConv input")
    _check_dtype(node, w, ("b1",), "BConv weight")
    return [(_conv_out(node, x, w), "s32")]


@register_op("BGemm")
def _bgemm(node, ins):
    x, w = ins[0], ins[1]
    _check_dtype(node, x, ("b1",), "BGemm input")
    _check_dtype(node, w, ("b1",), "BGemm weight")
    if len(x.shape) != 2 or len(w.shape) != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"BGemm needs x [N, K] and w [M, K]; got {x.shape} and {w.shape}")
    return [((x.shape[0], w.shape[0]), "s32")]


@register_op("ShiftConv", defaults={"group": 1, "auto_pad": "NOTSET", **_INT_STAGE})
def _shiftconv(node, ins):
    x, ws, we = ins[0], ins[1], ins[2]
    _check_dtype(node, x, ("s8",), "ShiftConv input")
    if tuple(ws.shape) != tuple(we.shape):
        raise ValueError(f"weight sign {ws.shape} and exponent {we.shape} shapes differ")
    return [(_conv_out(node, x, ws), "s8")]


@register_op("ShiftGemm", defaults=dict(_INT_STAGE))
def _shiftgemm(node, ins):
    x, ws, we = ins[0], ins[1], ins[2]
    _check_dtype(node, x, ("s8",), "ShiftGemm input")
    if tuple(ws.shape) != tuple(we.shape):
        raise ValueError(f"weight sign {ws.shape} and exponent {we.shape} shapes differ")
    if len(x.shape) != 2 or len(ws.shape) != 2 or x.shape[1] != ws.shape[1]:
        raise ValueError(f"ShiftGemm needs x [N, K] and w [M, K]; got {x.shape} and {ws.shape}")
    return [((x.shape[0], ws.shape[0]), "s8")]
