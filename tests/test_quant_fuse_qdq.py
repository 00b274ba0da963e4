"""fuse_qdq: a QDQ model made by onnxruntime.quantization.quantize_static imports as an
integer graph whose reference output matches onnxruntime running the QDQ model.
(onnxruntime computes QDQ in float, so equality is checked in int8 output steps.)"""
import numpy as np
import pytest
import torch
from torch import nn

import edgesdk.quant as Q
from edgesdk.frontends import load
from edgesdk.passes import run_passes
from edgesdk.reference import run

ort = pytest.importorskip("onnxruntime")
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static  # noqa: E402


class Residual(nn.Module):
    """Conv-ReLU, depthwise conv, residual add + ReLU, average pool, global pool, linear."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 8, 1, stride=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.c1(x))
        z = self.pw(torch.relu(self.dw(y)))
        y = torch.relu(y + z)
        y = nn.functional.avg_pool2d(y, 2)
        y = nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.fc(y)


def make_qdq(tmp_path, model, shape, data):
    fp = tmp_path / "float.onnx"
    torch.onnx.export(model.eval(), torch.zeros(shape), str(fp), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["out"])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": data[i:i + 1]} for i in range(len(data))])

        def get_next(self):
            return next(self.it, None)

    qp = tmp_path / "qdq.onnx"
    quantize_static(str(fp), str(qp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return qp


def max_step_diff(qp, graph, xs):
    sess = ort.InferenceSession(str(qp))
    out = graph.tensors[graph.outputs[0]]
    worst = 0
    for x in xs:
        ref = sess.run(None, {"input": x[None]})[0]
        got = run(graph, Q.quantize_inputs(graph, {"input": x[None]}))[graph.outputs[0]]
        want = np.clip(np.round(ref / float(out.quant.scale)) + int(out.quant.zero_point), -128, 127)
        worst = max(worst, int(np.abs(got.astype(np.int64) - want).max()))
    return worst


@pytest.mark.parametrize("kind", ["fmnist_cnn", "residual"])
def test_ort_qdq_imports_as_integer_graph(tmp_path, kind):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if kind == "fmnist_cnn":
        from edgesdk.data import load_fashion_mnist
        from edgesdk.zoo import fmnist_cnn
        model, shape = fmnist_cnn(), (1, 1, 28, 28)
        data, _ = load_fashion_mnist("test", limit=48)
    else:
        model, shape = Residual(), (1, 3, 16, 16)
        data = rng.normal(0, 1, (48,) + shape[1:]).astype(np.float32)
    qp = make_qdq(tmp_path, model, shape, data[:24])
    g = run_passes(load(str(qp)))
    assert Q.float_ops(g) == [], Q.float_ops(g)
    ops = {n.op for n in g.nodes}
    assert "QConv" in ops and "QGemm" in ops
    if kind == "residual":
        assert {"QAdd", "QAvgPool", "QGlobalAvgPool"} <= ops
    for name in g.inputs + g.outputs:
        assert g.tensors[name].dtype == "s8" and g.tensors[name].quant is not None
    diff = max_step_diff(qp, g, data[24:])
    # onnxruntime rounds in float (half to even, float32 rescale); we requantize in
    # fixed point (half up): a few ties may land one step apart per layer.
    assert diff <= 2, diff


def test_float_graph_is_untouched():
    from edgesdk.zoo import fmnist_cnn
    g = load(fmnist_cnn().eval(), example_inputs=torch.zeros(1, 1, 28, 28))
    g2 = run_passes(g, ["fuse_qdq"])
    assert [n.op for n in g2.nodes] == [n.op for n in g.nodes]


class WithSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = torch.sigmoid(self.c(x))
        return self.fc(nn.functional.adaptive_avg_pool2d(y, 1).flatten(1))


def test_unfusable_op_is_left_float_and_listed(tmp_path):
    torch.manual_seed(0)
    data = np.random.default_rng(0).normal(0, 1, (8, 3, 8, 8)).astype(np.float32)
    qp = make_qdq(tmp_path, WithSigmoid(), (1, 3, 8, 8), data)
    g = run_passes(load(str(qp)))
    left = {op for _, op in Q.float_ops(g)}
    assert "Sigmoid" in left and "QConv" in {n.op for n in g.nodes}
    # The partly fused graph still computes what onnxruntime computes.
    sess = ort.InferenceSession(str(qp))
    x = data[:1]
    got = run(g, Q.quantize_inputs(g, {"input": x}))[g.outputs[0]]
    ref = sess.run(None, {"input": x})[0]
    out = g.tensors[g.outputs[0]]
    assert out.dtype == "s8"
    got = (got.astype(np.float32) - int(out.quant.zero_point)) * float(out.quant.scale)
    assert np.abs(got - ref).max() <= 2.01 * float(out.quant.scale)
