"""Bad input to the frontends and the reference: one clear EdgeError line naming the culprit."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgesdk import reference
from edgesdk.errors import DataError, EdgeError, ModelError, UnsupportedOpsError
from edgesdk.frontends import load
from edgesdk.ir import Graph, Node, Tensor


def _one_line(e):
    assert isinstance(e, EdgeError)
    assert "\n" not in str(e)
    return str(e)


def _relu_model(dims=(1, 4), name="x", opset=17):
    x = helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Relu", [name], ["y"], name="relu0")], "g", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_missing_file(tmp_path):
    with pytest.raises(ModelError) as e:
        load(tmp_path / "nope.onnx")
    assert "nope.onnx" in _one_line(e.value) and "no such file" in str(e.value)


def test_file_that_is_not_a_model(tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("this is a text file, not a model\n" * 20)
    with pytest.raises(ModelError) as e:
        load(p)
    assert "notes.onnx" in _one_line(e.value) and "not an ONNX model" in str(e.value)


def test_truncated_onnx_file(tmp_path):
    m = _relu_model()
    w = helper.make_tensor("w", TensorProto.FLOAT, [64, 64], np.ones(64 * 64, np.float32).tobytes(), raw=True)
    m.graph.initializer.append(w)
    data = m.SerializeToString()
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as e:
        load(p)
    assert "cut.onnx" in _one_line(e.value)


def test_unsupported_ops_are_listed_all_at_once():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    k = helper.make_tensor("k", TensorProto.INT64, [1], [2])
    nodes = [helper.make_node("Unique", ["x"], ["v"], name="my_unique"),
             helper.make_node("Relu", ["v"], ["r"], name="ok_relu"),
             helper.make_node("Einsum", ["r", "r"], ["e"], name="my_einsum", equation="ij,ij->i"),
             helper.make_node("FusedGemm", ["x", "x"], ["f"], name="ms_op", domain="com.microsoft")]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("e", "f")]
    g = helper.make_graph(nodes, "g", [x], outs, initializer=[k])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    with pytest.raises(UnsupportedOpsError) as e:
        load(m)
    msg = _one_line(e.value)
    for part in ("my_unique [Unique]", "my_einsum [Einsum]", "ms_op [com.microsoft.FusedGemm]", "opset 17"):
        assert part in msg, msg
    assert "ok_relu" not in msg
    assert [n for n, _ in e.value.ops] == ["my_unique", "my_einsum", "ms_op"]


def test_dynamic_input_needs_input_shapes():
    m = _relu_model(dims=("batch", 3, "h", "w"), name="image")
    with pytest.raises(ModelError) as e:
        load(m)
    msg = _one_line(e.value)
    assert "'image'" in msg and "--input-shape image=" in msg
    g = load(m, input_shapes={"image": (2, 3, 5, 7)})
    assert g.tensors["y"].shape == (2, 3, 5, 7)


def test_input_shapes_naming_an_unknown_input():
    with pytest.raises(ModelError) as e:
        load(_relu_model(), input_shapes={"imgae": (1, 4)})
    msg = _one_line(e.value)
    assert "'imgae'" in msg and "x" in msg


def test_input_shapes_conflicting_with_a_fixed_dim():
    with pytest.raises(ModelError) as e:
        load(_relu_model(dims=(1, 4)), input_shapes={"x": (1, 5)})
    assert "axis 1" in _one_line(e.value)


def test_opset_out_of_range():
    with pytest.raises(ModelError) as e:
        load(_relu_model(opset=9))
    assert "opset 9" in _one_line(e.value)


def test_torch_module_without_example_inputs():
    torch = pytest.importorskip("torch")
    with pytest.raises(ModelError) as e:
        load(torch.nn.ReLU())
    assert "example_inputs" in _one_line(e.value)


def test_unknown_model_object():
    with pytest.raises(ModelError) as e:
        load(42)
    assert "int" in _one_line(e.value)


def _tiny_graph(op="Relu"):
    g = Graph("tiny")
    g.add_tensor(Tensor("x", (2, 3), "f32"))
    g.add_tensor(Tensor("y", (2, 3), "f32"))
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_node(Node("the_node", op, ["x"], ["y"]))
    return g


def test_reference_names_node_without_reference():
    with pytest.raises(UnsupportedOpsError) as e:
        reference.run(_tiny_graph("NoSuchOp"), {"x": np.zeros((2, 3), np.float32)})
    assert "the_node [NoSuchOp]" in _one_line(e.value)


@pytest.mark.parametrize("feed, what", [
    (np.zeros((2, 4), np.float32), "shape (2, 4)"),
    (np.zeros((2, 3), np.float64), "dtype float64"),
    (np.zeros((2, 3, 1), np.float32), "shape (2, 3, 1)"),
])
def test_reference_rejects_bad_feeds(feed, what):
    with pytest.raises(DataError) as e:
        reference.run(_tiny_graph(), {"x": feed})
    msg = _one_line(e.value)
    assert "'x'" in msg and what in msg


def test_reference_missing_and_unknown_feeds():
    with pytest.raises(DataError) as e:
        reference.run(_tiny_graph(), {})
    assert "'x'" in _one_line(e.value)
    with pytest.raises(DataError) as e:
        reference.run(_tiny_graph(), {"x": np.zeros((2, 3), np.float32), "z": np.zeros(1)})
    assert "'z'" in _one_line(e.value)


def test_edg_round_trip_and_bad_edg(tmp_path):
    from edgesdk.ir import save
    g = load(_relu_model())
    p = save(g, tmp_path / "m.edg")
    g2 = load(p)
    x = np.array([[-1, 2, -3, 4]], np.float32)
    assert np.array_equal(reference.run(g2, {"x": x})["y"], [[0, 2, 0, 4]])
    bad = tmp_path / "bad.edg"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ModelError) as e:
        load(bad)
    assert "bad.edg" in _one_line(e.value)


def test_opset11_softmax_keeps_its_2d_semantics():
    """Opset 11 Softmax (default axis 1) on a 3-D tensor normalizes over dims 1..2 together."""
    ort = pytest.importorskip("onnxruntime")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    m = helper.make_model(helper.make_graph([helper.make_node("Softmax", ["x"], ["y"], name="sm")], "g", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 11)], ir_version=7)
    g = load(m)
    assert g.node("sm").attrs.get("coerce_2d") == 1
    xv = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": xv})[0]
    np.testing.assert_allclose(reference.run(g, {"x": xv})["y"], want, atol=1e-6)
    np.testing.assert_allclose(want.sum(axis=(1, 2)), 1, atol=1e-5)
