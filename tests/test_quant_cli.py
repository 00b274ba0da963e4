"""`edgesdk quantize` through the real console script: output file, plan table, one-line errors."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import edgesdk.quant as Q
from edgesdk.ir import load
from edgesdk.reference import run

EDGESDK = str(Path(sys.executable).parent / "edgesdk")


def sh(*args):
    return subprocess.run([EDGESDK, "quantize", *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from edgesdk.data import load_fashion_mnist
    from edgesdk.zoo import fmnist_cnn
    d = tmp_path_factory.mktemp("qcli")
    torch.manual_seed(0)
    torch.onnx.export(fmnist_cnn().eval(), torch.zeros(1, 1, 28, 28), str(d / "m.onnx"), opset_version=17,
                      dynamo=False, input_names=["input"], output_names=["out"])
    x, _ = load_fashion_mnist("test", limit=48)
    np.save(d / "calib.npy", x)
    np.savez(d / "calib.npz", input=x[:16])
    np.save(d / "bad_shape.npy", x[:, :, :20])
    np.save(d / "bad_dtype.npy", (x * 255).astype(np.int64))
    np.save(d / "empty.npy", x[:0])
    return d, x


def test_quantize_writes_integer_graph(files):
    d, x = files
    r = sh(d / "m.onnx", "--calib", d / "calib.npy", "-o", d / "q.edg")
    assert r.returncode == 0, r.stderr
    assert "QConv x3" in r.stdout and "s8 scale" in r.stdout
    g = load(d / "q.edg")
    assert Q.float_ops(g) == [] and g.tensors[g.inputs[0]].dtype == "s8"
    out = run(g, Q.quantize_inputs(g, {"input": x[:1]}))
    assert out[g.outputs[0]].dtype == np.int8


@pytest.mark.slow
def test_budget_prints_plan_and_fits(files):
    d, _ = files
    r = sh(d / "m.onnx", "--calib", d / "calib.npz", "-o", d / "mixed.edg", "--budget-bits-per-weight", "4",
           "--no-bias-correction", "--layerwise-steps", "20")
    assert r.returncode == 0, r.stderr
    assert "sens@4" in r.stdout and "total" in r.stdout
    g = load(d / "mixed.edg")
    plan = g.meta["quantization"]["weight_bits"]
    packed = sum((g.tensors[n.inputs[1]].data.size * plan[n.name] + 7) // 8 for n in g.nodes
                 if n.op in ("QConv", "QGemm"))
    n_weights = sum(g.tensors[n.inputs[1]].data.size for n in g.nodes if n.op in ("QConv", "QGemm"))
    assert packed <= 4 * n_weights / 8


@pytest.mark.parametrize("calib,extra,msg", [
    ("bad_shape.npy", [], r"shape \(48, 1, 20, 28\), expected \('S', 1, 28, 28\)"),
    ("bad_dtype.npy", [], "dtype int64"),
    ("empty.npy", [], "empty"),
    ("missing.npy", [], "no such file"),
    ("calib.npy", ["--budget-bytes", "100"], "impossible"),
])
def test_errors_are_one_line(files, calib, extra, msg):
    import re
    d, _ = files
    r = sh(d / "m.onnx", "--calib", d / calib, "-o", d / "x.edg", *extra)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgesdk: error:") and re.search(msg, lines[0]), r.stderr
    assert not (d / "x.edg").exists()


def test_already_quantized_model_is_refused(files):
    d, _ = files
    if not (d / "q.edg").exists():
        assert sh(d / "m.onnx", "--calib", d / "calib.npy", "-o", d / "q.edg").returncode == 0
    r = sh(d / "q.edg", "--calib", d / "calib.npy", "-o", d / "qq.edg")
    assert r.returncode == 2 and "already quantized" in r.stderr and "q.edg" in r.stderr
