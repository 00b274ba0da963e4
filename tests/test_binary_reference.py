"""BConv/BGemm XNOR-popcount and ShiftConv/ShiftGemm references against float/torch oracles."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgesdk.ir import Graph, Node, Tensor, infer_shapes, verify
from edgesdk.quant.fixedpoint import quantize_multiplier, requantize_to
from edgesdk.reference import run
from edgesdk.reference.binary import bconv2d, bgemm, pack_bits, unpack_bits, shift_conv_acc, shift_gemm_acc


def _pm1(bits):
    return bits.astype(np.float64) * 2 - 1


@pytest.mark.parametrize("c,o,k,stride,pad,dil,group", [
    (5, 4, 3, 1, 1, 1, 1),       # fewer channels than a word: pad bits
    (33, 6, 3, 2, 1, 1, 1),      # crosses a word boundary, stride 2
    (70, 8, 3, 1, 2, 2, 2),      # groups, dilation, 2-pixel padding
    (64, 3, 1, 1, 0, 1, 1),      # exact words, 1x1
])
def test_bconv_xnor_popcount_equals_float_pm1(c, o, k, stride, pad, dil, group):
    rng = np.random.default_rng(c * 7 + o)
    x = rng.integers(0, 2, (2, c, 7, 6), dtype=np.uint8)
    w = rng.integers(0, 2, (o, c // group, k, k), dtype=np.uint8)
    got = bconv2d(x, w, (stride, stride), (pad, pad, pad, pad), (dil, dil), group)
    # Oracle: +-1 floats, spatial padding with -1 (explicit), torch conv2d.
    xf = F.pad(torch.tensor(_pm1(x)), (pad, pad, pad, pad), value=-1.0)
    want = F.conv2d(xf, torch.tensor(_pm1(w)), stride=stride, dilation=dil, groups=group).numpy()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want.astype(np.int32))


def test_bgemm_equals_float_pm1():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, (3, 100), dtype=np.uint8)
    w = rng.integers(0, 2, (7, 100), dtype=np.uint8)
    np.testing.assert_array_equal(bgemm(x, w), (_pm1(x) @ _pm1(w).T).astype(np.int32))


def test_pack_bits_layout_and_roundtrip():
    bits = np.zeros((1, 40), np.uint8)
    bits[0, [0, 3, 31, 32, 39]] = 1
    words = pack_bits(bits, axis=1)
    assert words.dtype == np.uint32 and words.shape == (1, 2)
    assert int(words[0, 0]) == (1 | 8 | (1 << 31)) and int(words[0, 1]) == (1 | (1 << 7))
    np.testing.assert_array_equal(unpack_bits(words, 40, axis=1), bits)


def _int_stage_attrs(real_m, y_zp=3):
    m, s = quantize_multiplier(real_m)
    return {"multiplier": m.tolist(), "shift": s.tolist(), "y_zp": y_zp, "act_min": -128, "act_max": 127}, m, s


def test_shift_conv_and_gemm_match_float_then_output_stage():
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, (2, 6, 5, 5), dtype=np.int8)
    sign = rng.choice([-1, 1], (4, 6, 3, 3)).astype(np.int8)
    exp = rng.integers(0, 8, (4, 6, 3, 3)).astype(np.int8)
    bias = rng.integers(-1000, 1000, 4).astype(np.int32)
    acc = shift_conv_acc(x, -5, sign, exp, bias, (1, 1), (1, 1, 1, 1))
    wf = torch.tensor(sign.astype(np.float64) * 2.0 ** exp)
    # padding contributes 0: pad (x - zp) with 0
    want = F.conv2d(torch.tensor(x.astype(np.float64) + 5), wf, torch.tensor(bias, dtype=torch.float64), padding=1)
    np.testing.assert_array_equal(acc, want.numpy().astype(np.int64))

    # Through the graph, reference.run applies the QConv output stage.
    attrs, m, s = _int_stage_attrs(np.array([1e-4, 2e-4, 3e-4, 5e-5]))
    g = Graph("shift")
    g.add_tensor(Tensor("x", x.shape, "s8"))
    g.add_const("ws", sign, "s8")
    g.add_const("we", exp, "s8")
    g.add_const("b", bias, "s32")
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_node(Node("sc", "ShiftConv", ["x", "ws", "we", "b"], ["y"],
                    {"pads": [1, 1, 1, 1], "x_zp": -5, **attrs}))
    infer_shapes(g)
    verify(g)
    assert g.tensors["y"].dtype == "s8" and g.tensors["y"].shape == (2, 4, 5, 5)
    y = run(g, {"x": x})["y"]
    np.testing.assert_array_equal(y, requantize_to(acc, m.reshape(1, -1, 1, 1), s.reshape(1, -1, 1, 1), 3))

    xg = rng.integers(-128, 128, (3, 20), dtype=np.int8)
    sg = rng.choice([-1, 1], (5, 20)).astype(np.int8)
    eg = rng.integers(0, 4, (5, 20)).astype(np.int8)
    accg = shift_gemm_acc(xg, 2, sg, eg)
    np.testing.assert_array_equal(accg, ((xg.astype(np.int64) - 2) @ (sg * 2 ** eg.astype(np.int64)).T))


def test_binarize_bconv_graph_runs_through_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 40, 6, 6)).astype(np.float32)
    w = rng.integers(0, 2, (8, 40, 3, 3), dtype=np.uint8)
    g = Graph("bin")
    g.add_tensor(Tensor("x", x.shape, "f32"))
    g.add_const("w", w, "b1", tags={"packing": {"bits": 1, "word": 32}})
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_node(Node("bin", "Binarize", ["x"], ["xb"]))
    g.add_node(Node("bc", "BConv", ["xb", "w"], ["y"], {"pads": [1, 1, 1, 1]}))
    infer_shapes(g)
    verify(g)
    assert g.tensors["xb"].dtype == "b1" and g.tensors["y"].dtype == "s32"
    y = run(g, {"x": x})["y"]
    xs = torch.tensor(np.where(x >= 0, 1.0, -1.0))
    want = F.conv2d(F.pad(xs, (1, 1, 1, 1), value=-1.0), torch.tensor(_pm1(w)))
    np.testing.assert_array_equal(y, want.numpy().astype(np.int32))


def test_shift_weights_out_of_range_are_rejected():
    with pytest.raises(ValueError, match="signs"):
        shift_gemm_acc(np.zeros((1, 2), np.int8), 0, np.array([[1, 0]]), np.array([[0, 0]]))
    g = Graph("bad")
    g.add_tensor(Tensor("x", (1, 4), "f32"))
    g.add_const("w", np.zeros((2, 4), np.uint8), "b1")
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_node(Node("bg", "BGemm", ["x", "w"], ["y"]))
    with pytest.raises(Exception, match="BGemm input must be b1"):
        infer_shapes(g)
