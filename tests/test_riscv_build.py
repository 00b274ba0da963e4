"""edgesdk.backends_riscv.build: float graphs -> C on the RVV kernels -> images that run.

Oracle: edgesdk.reference.run (the numpy golden model). The build checks itself per
layer; these tests also run the shipped image on a fresh input, read the manifest, and
check the refusals (unsupported ops, grouped conv, tolerance, bad VLEN/board)."""
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn as nn

from edgesdk import reference, zoo
from edgesdk.backends_riscv import build
from edgesdk.errors import DeviceError, EdgeError, UnsupportedOpsError
from edgesdk.pipeline import load_graph, prepare_graph

pytestmark = pytest.mark.skipif(not (shutil.which("clang-19") and shutil.which("qemu-riscv64")
                                     and shutil.which("qemu-system-riscv32")),
                                reason="clang-19, qemu-riscv64 and qemu-system-riscv32 are needed")


def graph_of(module, shape, seed=0):
    torch.manual_seed(seed)
    return prepare_graph(load_graph(module.eval(), example_inputs=(torch.randn(*shape),)))


def rel_err(a, b):
    b = np.asarray(b, np.float64).reshape(-1)
    return float(np.abs(np.asarray(a, np.float64).reshape(-1) - b).max() / np.abs(b).max())


def test_fmnist_f32_linux_app_matches_reference(tmp_path):
    from edgesdk.package.riscv import run_linux
    g = graph_of(zoo.fmnist_cnn(), (1, 1, 28, 28))
    out = tmp_path / "b"
    s = build(g, "qemu-rv64-linux", out, dtype="f32")
    man = json.loads((out / "manifest.json").read_text())
    assert man["target"] == "riscv" and man["image"] == "rig" and man["selftest_image"] == "app" and man["dtype"] == "f32"
    assert [l["name"] for l in man["layers"]] == [n.name for n in g.nodes]
    assert man["summary"]["macs"] == s["macs"] > 1_000_000 and man["summary"]["instructions"] is None
    for f in ("model.edg", "summary.txt", "src/model.c", "src/Makefile", "src/include/ek_float.h",
              "src/kernels/ek_conv2d_f32_rvv.c"):
        assert (out / f).exists(), f
    # the shipped image on a fresh input, against the reference
    x = np.random.default_rng(42).standard_normal((1, 1, 28, 28)).astype(np.float32)
    x.tofile(tmp_path / "x.f32")
    r = run_linux(out / "app", [tmp_path / "x.f32", tmp_path / "y.f32"], vlen=512)
    assert r.exit_code == 0, r.stderr
    y = np.fromfile(tmp_path / "y.f32", np.float32)
    ref = reference.run(g, {g.inputs[0]: x})[g.outputs[0]]
    assert rel_err(y, ref) < 1e-4


@pytest.mark.slow
def test_dscnn_f16_bare_metal_counts(tmp_path):
    g = graph_of(zoo.ds_cnn(), (1, 1, 49, 10))
    s = build(g, "qemu-rv32-virt", tmp_path / "b", dtype="f16", vlen=256)
    man = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert man["image"] == "firmware.elf" and (tmp_path / "b" / "firmware.elf").exists()
    counts = [l["instructions"] for l in man["layers"]]
    assert all(c is not None and c > 0 for c in counts)
    assert sum(counts) <= s["instructions"] < 1.1 * sum(counts)
    assert s["macs"] / s["instructions"] > 2.0      # the RVV kernels at work
    assert s["max_rel_err"] < 3e-2 and man["vlen"] == 256
    assert {l["impl"] for l in man["layers"]} >= {"ek_dwconv2d_f16_rvv", "ek_pwconv2d_f16_rvv", "ek_conv2d_f16_rvv"}


def test_resnet8_f16_residuals(tmp_path):
    g = graph_of(zoo.resnet8(), (1, 3, 32, 32))
    s = build(g, "qemu-rv64-linux", tmp_path / "b", dtype="f16")
    assert any(l["op"] == "Add" for l in s["layers"])
    assert s["max_rel_err"] < 3e-2


class _Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        y = nn.functional.leaky_relu(self.conv(x), 0.1)
        return self.fc((y * y).flatten(1))


def test_unsupported_ops_are_all_named(tmp_path):
    g = graph_of(_Odd(), (1, 4, 8, 8))
    with pytest.raises(UnsupportedOpsError) as e:
        build(g, "qemu-rv64-linux", tmp_path / "b", dtype="f16")
    names = {n for n, _ in e.value.ops}
    assert {n.name for n in g.nodes if n.op in ("LeakyRelu", "Mul")} == names
    assert "no F16 RVV kernel and no TVM path" in str(e.value)
    assert not (tmp_path / "b").exists()       # nothing half-written


class _NeedsTvm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        y = torch.tanh(torch.sigmoid(self.conv(x)))
        return torch.softmax(self.fc(y.flatten(1)), dim=1)


def test_ops_without_hand_kernels_go_to_tvm(tmp_path):
    pytest.importorskip("tvm")
    from edgesdk.package.riscv import run_linux
    g = graph_of(_NeedsTvm(), (1, 3, 8, 8))
    s = build(g, "qemu-rv64-linux", tmp_path / "b", dtype="f16")
    impl = {l["op"]: l["impl"] for l in s["layers"]}
    assert impl["Sigmoid"].startswith("tvm:") and impl["Softmax"].startswith("tvm:")
    assert impl["Conv"] == "ek_conv2d_f16_rvv"
    assert (tmp_path / "b" / "src" / "tvm64" / "ek_tvm_0.o").exists()
    x = np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)
    x.tofile(tmp_path / "x.f32")
    assert run_linux(tmp_path / "b" / "app", [tmp_path / "x.f32", tmp_path / "y.f32"]).exit_code == 0
    y = np.fromfile(tmp_path / "y.f32", np.float32)
    ref = reference.run(g, {g.inputs[0]: x})[g.outputs[0]]
    assert rel_err(y, ref) < 1e-2 and abs(float(y.sum()) - 1.0) < 1e-2


def test_grouped_conv_is_refused_by_name(tmp_path):
    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(4, 4, 3, padding=1, groups=2)

        def forward(self, x):
            return self.c(x)
    g = graph_of(G(), (1, 4, 8, 8))
    with pytest.raises(UnsupportedOpsError, match=r"group=2"):
        build(g, "qemu-rv64-linux", tmp_path / "b")


def test_tolerance_failure_names_the_layer(tmp_path):
    g = graph_of(zoo.fmnist_cnn(), (1, 1, 28, 28))
    with pytest.raises(DeviceError, match=r"layer /0/Conv \(Conv, ek_conv2d_f16_rvv\)"):
        build(g, "qemu-rv64-linux", tmp_path / "b", dtype="f16", tol=1e-9)


def test_bad_requests(tmp_path):
    g = graph_of(zoo.fmnist_cnn(), (1, 1, 28, 28))
    with pytest.raises(EdgeError, match="vlen=96"):
        build(g, "qemu-rv64-linux", tmp_path / "b", vlen=96)
    with pytest.raises(EdgeError, match="not a riscv board"):
        build(g, "mps2-an386", tmp_path / "b")
    with pytest.raises(EdgeError, match="dtype 'bf16'"):
        build(g, "qemu-rv64-linux", tmp_path / "b", dtype="bf16")


def test_pipeline_build_reaches_riscv(tmp_path):
    from edgesdk.pipeline import build as pbuild
    res = pbuild(zoo.fmnist_cnn(), "riscv", "qemu-rv64-linux", tmp_path / "b", quiet=True,
                 example_inputs=(torch.randn(1, 1, 28, 28),), dtype="f32", vlen=256)
    assert res.manifest["target"] == "riscv" and res.manifest["vlen"] == 256
    assert "ek_conv2d_f32_rvv" in res.summary_text
