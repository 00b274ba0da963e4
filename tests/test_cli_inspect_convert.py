"""`edgesdk inspect` and `edgesdk convert` through the real console script.

Bad input must give exactly one line `edgesdk: error: ...` on stderr and exit code 2,
never a traceback. Good input is checked against onnxruntime (convert) and
hand-derived MACs (inspect).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

EDGESDK = str(Path(sys.executable).with_name("edgesdk"))


def edgesdk(*args, cwd=None):
    return subprocess.run([EDGESDK, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)


def assert_user_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("edgesdk: error: "), lines[0]
    assert "Traceback" not in res.stderr + res.stdout
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def tiny_onnx(path, batch=1, dynamic=False, extra_op=None):
    """x[N,2,6,6] -> Conv(4, 3x3, pad 1) -> BatchNorm -> Relu -> GlobalAveragePool -> Flatten -> Gemm(3)."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 4).astype(np.float32), "g"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "be"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "m"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 4).astype(np.float32), "v"),
             numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "fw"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "fb")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "be", "m", "v"], ["bn"], name="bn"),
             helper.make_node("Relu", ["bn"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    out = "y"
    if extra_op == "Det":
        inits.append(numpy_helper.from_array(np.eye(3, dtype=np.float32), "sq"))
        nodes += [helper.make_node("MatMul", ["y", "sq"], ["y3"], name="mm"),
                  helper.make_node("Det", ["sq"], ["d"], name="det_node"),
                  helper.make_node("Mul", ["y3", "d"], ["yd"], name="mul")]
        out = "yd"
    n = "N" if dynamic else batch
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 2, 6, 6])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, [n, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def nms_onnx(path):
    boxes = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 4, 4])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 4])
    sel = helper.make_tensor_value_info("sel", TensorProto.INT64, [None, 3])
    g = helper.make_graph([helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["sel"], name="nms")],
                          "nms", [boxes, scores], [sel])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


# ---- happy paths ---------------------------------------------------------------------
def test_help_has_examples():
    for cmd in ("inspect", "convert"):
        res = edgesdk(cmd, "--help")
        assert res.returncode == 0 and "Example" in res.stdout and f"edgesdk {cmd} " in res.stdout


def test_inspect_table_and_json(tmp_path):
    m = tiny_onnx(tmp_path / "tiny.onnx")
    res = edgesdk("inspect", m, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    layers = {l["op"]: l for l in doc["layers"]}
    # after the default passes: BN folded into the conv, Relu fused
    assert "BatchNormalization" not in layers and "Relu" not in layers
    conv = layers["Conv"]
    assert conv["activation"] == "relu" and conv["output_shapes"] == [[1, 4, 6, 6]]
    assert conv["macs"] == 4 * 6 * 6 * 2 * 3 * 3 and conv["params"] == 4 * 2 * 9 + 4
    assert layers["Gemm"]["macs"] == 3 * 4
    assert doc["totals"]["params"] == 76 + 15
    raw = json.loads(edgesdk("inspect", m, "--json", "--passes", "none").stdout)
    assert [l["op"] for l in raw["layers"]][:3] == ["Conv", "BatchNormalization", "Relu"]
    assert raw["totals"]["params"] == 76 + 16 + 15   # BN's 4 x 4 parameters still there
    table = edgesdk("inspect", m)
    assert table.returncode == 0 and "Conv+relu" in table.stdout and "MACs" in table.stdout


def test_convert_writes_an_equivalent_graph(tmp_path):
    from edgesdk import reference
    from edgesdk.ir import load
    m = tiny_onnx(tmp_path / "tiny.onnx", dynamic=True)
    out = tmp_path / "sub" / "tiny.edg"
    res = edgesdk("convert", m, "-o", out, "--input-shape", "x=2,2,6,6")
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout
    g = load(out)
    assert g.tensors["x"].shape == (2, 2, 6, 6)
    assert "BatchNormalization" not in g.op_counts()
    x = np.random.default_rng(5).standard_normal((2, 2, 6, 6)).astype(np.float32)
    want = ort.InferenceSession(str(m), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = reference.run(g, {"x": x})[g.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # --passes none keeps the graph as imported; an .edg converts again
    raw = tmp_path / "raw.edg"
    assert edgesdk("convert", m, "-o", raw, "--input-shape", "x=1,2,6,6", "--passes", "none").returncode == 0
    assert "BatchNormalization" in load(raw).op_counts()
    again = tmp_path / "again.edg"
    assert edgesdk("convert", raw, "-o", again).returncode == 0
    assert load(again).op_counts() == load(out).op_counts()


# ---- bad input: one line, exit 2 -----------------------------------------------------
def test_missing_file(tmp_path):
    assert_user_error(edgesdk("inspect", tmp_path / "nope.onnx"), "nope.onnx", "no such file")
    assert_user_error(edgesdk("convert", tmp_path / "nope.onnx", "-o", tmp_path / "x.edg"), "nope.onnx")


def test_directories_where_files_belong(tmp_path):
    assert_user_error(edgesdk("inspect", tmp_path), "is a directory")
    m = tiny_onnx(tmp_path / "t.onnx")
    assert_user_error(edgesdk("convert", m, "-o", tmp_path), "is a directory")
    # the parent "directory" is a file: the write fails, with one line and nothing left behind
    assert_user_error(edgesdk("convert", m, "-o", m / "t.edg"), "cannot write")


def test_not_a_model(tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("these are my notes, not a model\n" * 10)
    assert_user_error(edgesdk("inspect", p), "notes.onnx")
    q = tmp_path / "notes.edg"
    q.write_bytes(b"PK\x03\x04garbage")
    assert_user_error(edgesdk("inspect", q), "notes.edg")


def test_truncated_onnx(tmp_path):
    m = tiny_onnx(tmp_path / "t.onnx")
    data = m.read_bytes()
    m.write_bytes(data[: len(data) // 2])
    assert_user_error(edgesdk("inspect", m), "t.onnx")
    out = tmp_path / "t.edg"
    assert_user_error(edgesdk("convert", m, "-o", out), "t.onnx")
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".t.edg")]


def test_unsupported_ops_are_listed_by_node(tmp_path):
    m = tiny_onnx(tmp_path / "det.onnx", extra_op="Det")
    line = assert_user_error(edgesdk("inspect", m), "det_node", "Det")
    assert "unsupported" in line.lower()
    n = nms_onnx(tmp_path / "nms.onnx")
    assert_user_error(edgesdk("convert", n, "-o", tmp_path / "nms.edg"), "nms", "NonMaxSuppression")
    assert not (tmp_path / "nms.edg").exists()


def test_dynamic_input_needs_input_shape(tmp_path):
    m = tiny_onnx(tmp_path / "dyn.onnx", dynamic=True)
    assert_user_error(edgesdk("inspect", m), "x", "--input-shape")
    ok = edgesdk("inspect", m, "--input-shape", "x=3,2,6,6", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["inputs"][0]["shape"] == [3, 2, 6, 6]


@pytest.mark.parametrize("spec", ["x=1,2,six,6", "x", "=1,2,6,6", "x=1,-2,6,6", "x=", "x=1,,6"])
def test_malformed_input_shape(tmp_path, spec):
    m = tiny_onnx(tmp_path / "dyn.onnx", dynamic=True)
    assert_user_error(edgesdk("inspect", m, "--input-shape", spec), "--input-shape")


def test_input_shape_for_an_unknown_input(tmp_path):
    m = tiny_onnx(tmp_path / "dyn.onnx", dynamic=True)
    assert_user_error(edgesdk("inspect", m, "--input-shape", "image=1,2,6,6"), "image")


def test_unknown_pass(tmp_path):
    m = tiny_onnx(tmp_path / "t.onnx")
    assert_user_error(edgesdk("convert", m, "-o", tmp_path / "t.edg", "--passes", "fold_batchnorm,nope"), "nope")
