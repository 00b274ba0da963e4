"""The integer reference (edgesdk.reference.quantized) against independent oracles:
torch float64 convolution / matmul (exact on integers), the doc's formulas written
with Python integers (fractions for rounding), and hand-derived values."""
from fractions import Fraction

import numpy as np
import pytest
import torch

from edgesdk.ir import Graph, Node, Tensor, infer_shapes, verify
from edgesdk.quant.fixedpoint import quantize_multiplier
from edgesdk.reference import run
from edgesdk.reference.quantized import (qadd, qadd_params, qavgpool, qconv2d, qgemm, qsoftmax,
                                         softmax_table)


def requant_exact(acc, m, s):
    """round-half-up(acc * m / 2**(31 - s)) with exact rationals: independent of the shift trick."""
    v = Fraction(int(acc) * int(m), 1 << (31 - int(s)))
    return int(np.floor(v + Fraction(1, 2)))


def out_stage(acc, m, s, zp, lo, hi):
    return max(lo, min(hi, requant_exact(acc, m, s) + zp))


def rand_mults(rng, n, lo=1e-4, hi=0.05):
    return quantize_multiplier(rng.uniform(lo, hi, n))


@pytest.mark.parametrize("case", [
    dict(n=1, c=3, h=7, w=6, o=5, k=(3, 3), s=(1, 1), p=(1, 1, 1, 1), d=(1, 1), g=1),
    dict(n=2, c=4, h=9, w=8, o=6, k=(3, 2), s=(2, 1), p=(0, 1, 2, 0), d=(1, 1), g=2),
    dict(n=1, c=6, h=8, w=8, o=6, k=(3, 3), s=(2, 2), p=(1, 1, 1, 1), d=(1, 1), g=6),   # depthwise
    dict(n=1, c=5, h=10, w=9, o=7, k=(3, 3), s=(1, 2), p=(2, 2, 2, 2), d=(2, 2), g=1),  # dilated
    dict(n=1, c=7, h=5, w=5, o=3, k=(1, 1), s=(1, 1), p=(0, 0, 0, 0), d=(1, 1), g=1),   # 1x1
])
def test_qconv2d_matches_torch_and_exact_requant(case):
    rng = np.random.default_rng(0)
    c, o, g = case["c"], case["o"], case["g"]
    x = rng.integers(-128, 128, (case["n"], c, case["h"], case["w"]), dtype=np.int8)
    w = rng.integers(-127, 128, (o, c // g, *case["k"]), dtype=np.int8)
    b = rng.integers(-5000, 5000, o).astype(np.int32)
    x_zp, y_zp = 7, -3
    m, s = rand_mults(rng, o)
    y = qconv2d(x, w, b, x_zp, y_zp, m, s, case["s"], case["p"], case["d"], g, -100, 120)

    p = case["p"]
    # Oracle: pad with x_zp explicitly, float64 conv (exact for these integers).
    xp = np.pad(x.astype(np.int64), [(0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])], constant_values=x_zp)
    acc = torch.nn.functional.conv2d(torch.tensor(xp - x_zp, dtype=torch.float64),
                                     torch.tensor(w, dtype=torch.float64),
                                     torch.tensor(b, dtype=torch.float64),
                                     stride=case["s"], dilation=case["d"], groups=g).numpy()
    acc = np.rint(acc).astype(np.int64)
    want = np.empty(acc.shape, np.int8)
    for idx in np.ndindex(acc.shape):
        want[idx] = out_stage(acc[idx], m[idx[1]], s[idx[1]], y_zp, -100, 120)
    assert y.dtype == np.int8 and y.shape == want.shape
    np.testing.assert_array_equal(y, want)


def test_qconv_hand_value():
    # One 2x2 window: (x - zp) = [1, 2, 3, 4], w = [1, -1, 2, 0]: acc = 1 - 2 + 6 + 0 + bias 10 = 15.
    # M = 0.5 -> m = 2**30, shift 0: requant(15) = round_half_up(7.5) = 8; + y_zp 1 = 9.
    x = (np.array([1, 2, 3, 4], np.int8) + 5).reshape(1, 1, 2, 2).astype(np.int8)
    w = np.array([1, -1, 2, 0], np.int8).reshape(1, 1, 2, 2)
    m, s = quantize_multiplier(0.5)
    assert (int(m[0]), int(s[0])) == (1 << 30, 0)
    y = qconv2d(x, w, np.array([10], np.int32), 5, 1, m, s, [1, 1], [0, 0, 0, 0], [1, 1], 1, -128, 127)
    assert y.reshape(-1).tolist() == [9]
    # Negative half rounds up (towards +inf): acc = 5 - 40 = -35 -> -17.5 -> -17.
    y = qconv2d(x, w, np.array([-40], np.int32), 5, 0, m, s, [1, 1], [0, 0, 0, 0], [1, 1], 1, -128, 127)
    assert y.reshape(-1).tolist() == [-17]


def test_qconv_negative_half_rounds_up():
    x = np.zeros((1, 1, 1, 1), np.int8)
    w = np.ones((1, 1, 1, 1), np.int8)
    m, s = quantize_multiplier(0.5)
    for bias, want in [(-15, -7), (-35, -17), (15, 8), (-1, 0), (1, 1)]:
        y = qconv2d(x, w, np.array([bias], np.int32), 0, 0, m, s, [1, 1], [0] * 4, [1, 1], 1, -128, 127)
        assert int(y.reshape(-1)[0]) == want, bias


def test_qconv_padding_contributes_zero():
    # A 3x3 all-ones kernel on a 1x1 image padded by 1: only the centre tap is real.
    x = np.array([[[[20]]]], np.int8)
    w = np.ones((1, 1, 3, 3), np.int8)
    m, s = quantize_multiplier(1.0 / 2)
    y = qconv2d(x, w, None, 10, 0, m, s, [1, 1], [1, 1, 1, 1], [1, 1], 1, -128, 127)
    assert int(y.reshape(-1)[0]) == 5  # (20 - 10) * 0.5


def test_qgemm_matches_exact():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (3, 37), dtype=np.int8)
    w = rng.integers(-127, 128, (11, 37), dtype=np.int8)
    b = rng.integers(-3000, 3000, 11).astype(np.int32)
    m, s = rand_mults(rng, 11)
    y = qgemm(x, w, b, -9, 4, m, s, -128, 127)
    acc = (x.astype(object) + 9) @ w.T.astype(object) + b.astype(object)
    want = np.array([[out_stage(acc[i, j], m[j], s[j], 4, -128, 127) for j in range(11)] for i in range(3)])
    np.testing.assert_array_equal(y, want)


def test_qgemm_overflow_is_detected():
    k = 70000
    x = np.full((1, k), 127, np.int8)
    w = np.full((1, k), 127, np.int8)
    m, s = quantize_multiplier(1e-6)
    with pytest.raises(OverflowError):
        qgemm(x, w, None, -128, 0, m, s, -128, 127)


def test_qadd_exact_and_close_to_real():
    rng = np.random.default_rng(2)
    sa, sb, sy = 0.05, 0.11, 0.13
    za, zb, zy = 3, -7, 10
    a = rng.integers(-128, 128, (2, 4, 5, 5), dtype=np.int8)
    b = rng.integers(-128, 128, (1, 4, 1, 5), dtype=np.int8)  # broadcast
    (am, ash), (bm, bsh), (m, s) = qadd_params(sa, sb, sy)
    y = qadd(a, b, za, zb, zy, am, ash, bm, bsh, m, s, -128, 127)
    ab, bb = np.broadcast_arrays(a, b)
    want = np.empty(y.shape, np.int8)
    for idx in np.ndindex(y.shape):
        a1 = requant_exact((int(ab[idx]) - za) << 20, am, ash)
        b1 = requant_exact((int(bb[idx]) - zb) << 20, bm, bsh)
        want[idx] = out_stage(a1 + b1, m, s, zy, -128, 127)
    np.testing.assert_array_equal(y, want)
    real = sa * (ab.astype(np.float64) - za) + sb * (bb.astype(np.float64) - zb)
    ideal = np.clip(np.round(real / sy) + zy, -128, 127)
    assert np.abs(y.astype(np.int64) - ideal).max() <= 1


def test_qavgpool_exact_and_global():
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 3, 6, 7), dtype=np.int8)
    x_zp, y_zp = -5, 2
    m, s = quantize_multiplier(0.9 / 4)
    y = qavgpool(x, x_zp, y_zp, m, s, [2, 2], [2, 2], [0, 0, 0, 1], -128, 127)
    xp = np.pad(x.astype(np.int64) - x_zp, [(0, 0), (0, 0), (0, 0), (0, 1)])
    assert y.shape == (2, 3, 3, 4)
    for idx in np.ndindex(y.shape):
        n, c, i, j = idx
        acc = int(xp[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].sum())
        assert y[idx] == out_stage(acc, m[0], s[0], y_zp, -128, 127)
    # Global pooling == kernel of the whole map, through the registered op.
    g = Graph("gap")
    g.add_tensor(Tensor("x", x.shape, "s8"))
    g.inputs, g.outputs = ["x"], ["y"]
    mg, sg = quantize_multiplier(1.0 / 42)
    g.add_node(Node("gap", "QGlobalAvgPool", ["x"], ["y"],
                    {"x_zp": x_zp, "y_zp": y_zp, "multiplier": mg, "shift": sg}))
    infer_shapes(g)
    verify(g)
    out = run(g, {"x": x})["y"]
    assert out.shape == (2, 3, 1, 1) and g.tensors["y"].dtype == "s8"
    mean = (x.astype(np.float64) - x_zp).mean(axis=(2, 3))
    assert np.abs(out[:, :, 0, 0] - (np.round(mean) + y_zp)).max() <= 1


def test_softmax_table_and_qsoftmax():
    scale = 0.0625
    t = softmax_table(scale)
    assert t.dtype == np.uint32 and t.shape == (256,)
    assert t[0] == 65536 and t[16] == int(np.floor(np.exp(-1.0) * 65536 + 0.5))
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (5, 10), dtype=np.int8)
    y = qsoftmax(x, t)
    for r in range(5):
        d = int(x[r].max()) - x[r].astype(int)
        e = [int(t[v]) for v in d]
        tot = sum(e)
        want = [max(-128, min(127, (ei * 256 + tot // 2) // tot - 128)) for ei in e]
        assert y[r].tolist() == want
    # Close to the float softmax: output real = (y + 128) / 256.
    p = torch.softmax(torch.tensor(x, dtype=torch.float64) * scale, -1).numpy()
    assert np.abs((y.astype(np.float64) + 128) / 256 - p).max() <= 1.5 / 256


def test_registered_qconv_and_shapes():
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (1, 4, 6, 6), dtype=np.int8)
    w = rng.integers(-127, 128, (8, 2, 3, 3), dtype=np.int8)
    b = rng.integers(-100, 100, 8).astype(np.int32)
    m, s = rand_mults(rng, 8)
    g = Graph("qc")
    g.add_tensor(Tensor("x", x.shape, "s8"))
    g.add_const("w", w)
    g.add_const("b", b)
    g.inputs, g.outputs = ["x"], ["y"]
    attrs = {"strides": [2, 2], "pads": [1, 1, 1, 1], "group": 2, "x_zp": 1, "y_zp": -2,
             "multiplier": m, "shift": s, "act_min": -2, "act_max": 127}
    g.add_node(Node("c", "QConv", ["x", "w", "b"], ["y"], attrs))
    infer_shapes(g)
    verify(g)
    assert g.tensors["y"].shape == (1, 8, 3, 3) and g.tensors["y"].dtype == "s8"
    out = run(g, {"x": x})["y"]
    np.testing.assert_array_equal(out, qconv2d(x, w, b, 1, -2, m, s, [2, 2], [1, 1, 1, 1], [1, 1], 2, -2, 127))
    assert out.min() >= -2  # fused ReLU clamp at the zero point


def test_maxpool_on_s8_padding_never_wins():
    """MaxPool on int8 runs through the float MaxPool reference: dtype kept, padding never wins."""
    g = Graph("mp")
    g.add_tensor(Tensor("x", (1, 2, 3, 3), "s8"))
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_node(Node("mp", "MaxPool", ["x"], ["y"], {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1], "strides": [2, 2]}))
    infer_shapes(g)
    x = np.full((1, 2, 3, 3), -100, np.int8)
    x[0, 1, 0, 0] = -128  # the only real element of its (top-left, padded) window
    y = run(g, {"x": x})["y"]
    assert y.dtype == np.int8 and g.tensors["y"].dtype == "s8"
    want = np.array([[[-100, -100], [-100, -100]], [[-128, -100], [-100, -100]]], np.int8)[None]
    np.testing.assert_array_equal(y, want)
