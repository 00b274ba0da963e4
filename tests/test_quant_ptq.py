"""PTQ: float IR graph -> integer-only graph. Oracles: the float reference (accuracy),
torch float64 arithmetic on the dequantized tensors (the constants the quantizer wrote
are self-consistent), and hand-made bad inputs (errors)."""
import numpy as np
import pytest
import torch

import edgesdk.quant as Q
from edgesdk.errors import DataError, EdgeError, UnsupportedOpsError
from edgesdk.ir import Graph, Node, Tensor, infer_shapes, load, save, verify
from edgesdk.reference import run


def hand_graph(seed=0, extra=None):
    """Conv-ReLU-MaxPool, depthwise conv + residual Add + ReLU, GAP, Flatten, Gemm, Softmax."""
    rng = np.random.default_rng(seed)
    g = Graph("hand")
    g.add_tensor(Tensor("x", (1, 3, 12, 12), "f32"))
    g.inputs, g.outputs = ["x"], ["prob"]
    g.add_const("w1", rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32))
    g.add_const("b1", rng.normal(0, 0.1, 8).astype(np.float32))
    g.add_node(Node("conv1", "Conv", ["x", "w1", "b1"], ["c1"], {"pads": [1, 1, 1, 1]}))
    g.add_node(Node("relu1", "Relu", ["c1"], ["r1"]))
    g.add_node(Node("pool1", "MaxPool", ["r1"], ["p1"], {"kernel_shape": [2, 2], "strides": [2, 2]}))
    g.add_const("w2", rng.normal(0, 0.3, (8, 1, 3, 3)).astype(np.float32))
    g.add_node(Node("dw", "Conv", ["p1", "w2"], ["c2"], {"pads": [1, 1, 1, 1], "group": 8, "strides": [1, 1]}))
    g.add_node(Node("add", "Add", ["c2", "p1"], ["a"]))
    g.add_node(Node("relu2", "Relu", ["a"], ["r2"]))
    g.add_node(Node("pool2", "AveragePool", ["r2"], ["ap"], {"kernel_shape": [2, 2], "strides": [2, 2]}))
    g.add_node(Node("gap", "GlobalAveragePool", ["ap"], ["gp"]))
    g.add_node(Node("flat", "Flatten", ["gp"], ["f"]))
    g.add_const("w3", rng.normal(0, 0.5, (5, 8)).astype(np.float32))
    g.add_const("b3", rng.normal(0, 0.1, 5).astype(np.float32))
    g.add_node(Node("fc", "Gemm", ["f", "w3", "b3"], ["logits"], {"transB": 1}))
    g.add_node(Node("sm", "Softmax", ["logits"], ["prob"], {"axis": -1}))
    if extra:
        extra(g)
    infer_shapes(g)
    verify(g)
    return g


@pytest.fixture(scope="module")
def quantized():
    rng = np.random.default_rng(1)
    g = hand_graph()
    calib = rng.normal(0, 1, (64, 3, 12, 12)).astype(np.float32)
    return g, Q.quantize(g, calib), rng.normal(0, 1, (16, 3, 12, 12)).astype(np.float32)


def test_only_integer_ops_and_s8_boundaries(quantized):
    g, qg, _ = quantized
    assert Q.float_ops(qg) == []
    assert Q.is_quantized(qg) and not Q.is_quantized(g)
    assert {n.op for n in qg.nodes} == {"QConv", "MaxPool", "QAdd", "QAvgPool", "QGlobalAvgPool", "Flatten",
                                        "QGemm", "QSoftmax"}
    for name in qg.inputs + qg.outputs:
        t = qg.tensors[name]
        assert t.dtype == "s8" and t.quant is not None
    for n in qg.nodes:
        if n.op in ("QConv", "QGemm"):
            w, b = qg.tensors[n.inputs[1]], qg.tensors[n.inputs[2]]
            assert w.dtype == "s8" and w.quant.axis == 0 and np.all(w.quant.zero_point == 0)
            assert b.dtype == "s32" and np.allclose(b.quant.scale, qg.tensors[n.inputs[0]].quant.scale * w.quant.scale)
            y = qg.tensors[n.outputs[0]]
            np.testing.assert_array_equal(y.quant.multiplier, n.attrs["multiplier"])
            np.testing.assert_array_equal(y.quant.shift, n.attrs["shift"])
            assert int(np.abs(w.data).max()) <= 127


def test_close_to_float(quantized):
    g, qg, test = quantized
    for i in range(4):
        x = test[i:i + 1]
        f = run(g, {"x": x})["prob"]
        q = Q.dequantize_outputs(qg, run(qg, Q.quantize_inputs(qg, {"x": x})))["prob"]
        assert np.abs(f - q).max() < 0.03


def test_layer_constants_consistent_with_real_arithmetic(quantized):
    """Each QConv/QGemm output equals, within one step, the real-valued layer computed in
    float64 from the dequantized input, weights and bias: M, bias scale and zero points agree."""
    _, qg, test = quantized
    env = run(qg, Q.quantize_inputs(qg, {"x": test[:1]}), keep_intermediates=True)
    checked = 0
    for n in qg.nodes:
        if n.op not in ("QConv", "QGemm"):
            continue
        xt, wt, bt, yt = (qg.tensors[i] for i in (*n.inputs, n.outputs[0]))
        xr = (env[n.inputs[0]].astype(np.float64) - int(xt.quant.zero_point)) * float(xt.quant.scale)
        wr = wt.data.astype(np.float64) * wt.quant.scale.astype(np.float64).reshape((-1,) + (1,) * (wt.data.ndim - 1))
        br = bt.data.astype(np.float64) * bt.quant.scale.astype(np.float64)
        if n.op == "QConv":
            p = n.attrs.get("pads", [0, 0, 0, 0])
            xp = torch.nn.functional.pad(torch.tensor(xr), (p[1], p[3], p[0], p[2]))
            real = torch.nn.functional.conv2d(xp, torch.tensor(wr), torch.tensor(br),
                                              stride=n.attrs.get("strides", [1, 1]), groups=n.attrs.get("group", 1)).numpy()
        else:
            real = xr @ wr.T + br
        want = np.clip(np.round(real / float(yt.quant.scale)) + int(yt.quant.zero_point),
                       n.attrs["act_min"], n.attrs["act_max"])
        assert np.abs(env[n.outputs[0]].astype(np.int64) - want).max() <= 1, n.name
        checked += 1
    assert checked == 3


def test_save_load_roundtrip(quantized, tmp_path):
    _, qg, test = quantized
    save(qg, tmp_path / "q.edg")
    g2 = load(tmp_path / "q.edg")
    feeds = Q.quantize_inputs(qg, {"x": test[:2].reshape(2, 3, 12, 12)[:1]})
    np.testing.assert_array_equal(run(qg, feeds)["prob"], run(g2, feeds)["prob"])


@pytest.mark.parametrize("method", ["percentile", "mse"])
def test_methods_and_per_tensor(method):
    rng = np.random.default_rng(2)
    g = hand_graph()
    calib = rng.normal(0, 1, (32, 3, 12, 12)).astype(np.float32)
    qg = Q.quantize(g, calib, method=method, per_channel=False, bias_correction=False)
    assert Q.float_ops(qg) == []
    x = calib[:1]
    f = run(g, {"x": x})["prob"]
    q = Q.dequantize_outputs(qg, run(qg, Q.quantize_inputs(qg, {"x": x})))["prob"]
    assert np.abs(f - q).max() < 0.05
    w = qg.tensors[qg.node("conv1").inputs[1]]
    assert np.unique(w.quant.scale).size == 1  # per-tensor weights


def test_bias_correction_reduces_mean_error():
    rng = np.random.default_rng(3)
    g = hand_graph(seed=5)
    g.outputs = ["logits"]
    g.nodes = [n for n in g.nodes if n.name != "sm"]
    g.remove_unused_tensors()
    calib = rng.normal(0, 1, (128, 3, 12, 12)).astype(np.float32)
    errs = {}
    for bc in (False, True):
        qg = Q.quantize(g, calib, bias_correction=bc, weight_bits=4, layerwise=False)
        e = []
        for i in range(32):
            x = calib[i:i + 1]
            e.append(Q.dequantize_outputs(qg, run(qg, Q.quantize_inputs(qg, {"x": x})))["logits"]
                     - run(g, {"x": x})["logits"])
        errs[bc] = np.abs(np.mean(e, axis=0)).mean()
    assert errs[True] < errs[False]


def test_errors():
    rng = np.random.default_rng(4)
    g = hand_graph()
    good = rng.normal(0, 1, (4, 3, 12, 12)).astype(np.float32)
    with pytest.raises(DataError, match=r"\('S', 3, 12, 12\)"):
        Q.quantize(g, rng.normal(0, 1, (4, 3, 10, 10)).astype(np.float32))
    with pytest.raises(DataError, match="dtype int64"):
        Q.quantize(g, np.zeros((4, 3, 12, 12), np.int64))
    with pytest.raises(DataError, match="empty"):
        Q.quantize(g, np.zeros((0, 3, 12, 12), np.float32))
    qg = Q.quantize(g, good, bias_correction=False)
    with pytest.raises(EdgeError, match="already quantized"):
        Q.quantize(qg, good)
    with pytest.raises(EdgeError, match="weight_bits"):
        Q.quantize(g, good, weight_bits=3)

    def add_sigmoid(gr):
        gr.add_node(Node("sig", "Sigmoid", ["prob"], ["out"]))
        gr.outputs = ["out"]
    with pytest.raises(UnsupportedOpsError, match=r"sig \[Sigmoid\]"):
        Q.quantize(hand_graph(extra=add_sigmoid), good)


def test_graph_with_fixed_batch_calibrates_on_whole_batches():
    rng = np.random.default_rng(6)
    g = hand_graph()
    g.tensors["x"].shape = (4, 3, 12, 12)
    for t in g.tensors.values():
        if not t.is_const and t.name != "x":
            t.shape = ()
    infer_shapes(g)
    calib = rng.normal(0, 1, (16, 3, 12, 12)).astype(np.float32)
    qg = Q.quantize(g, calib)
    assert qg.tensors["x"].shape == (4, 3, 12, 12) and Q.float_ops(qg) == []
    f = run(g, {"x": calib[:4]})["prob"]
    q = Q.dequantize_outputs(qg, run(qg, Q.quantize_inputs(qg, {"x": calib[:4]})))["prob"]
    assert np.abs(f - q).max() < 0.03
    with pytest.raises(DataError, match="input batch is 4"):
        Q.quantize(g, calib[:3])
