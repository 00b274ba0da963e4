"""`edgesdk run`, `validate` and `bench` on an int8 GPU build (Fashion-MNIST CNN on PoCL):
outputs checked against the reference interpreter, the device time is OpenCL profiling ns,
a corrupted build is caught, bad requests are one-line errors (exit 2)."""
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from edgesdk.cli import main
from gpu_helpers import requires_opencl

pytestmark = [pytest.mark.opencl, requires_opencl]


@pytest.fixture(scope="module")
def fmnist_build(tmp_path_factory):
    import torch

    from edgesdk.backends_gpu import build
    from edgesdk.data import load_fashion_mnist
    from edgesdk.frontends import load
    from edgesdk.quant import quantize
    from edgesdk.zoo import fmnist_cnn

    torch.manual_seed(0)
    g = load(fmnist_cnn().eval(), example_inputs=torch.zeros(1, 1, 28, 28))
    x, _ = load_fashion_mnist("train", limit=32)
    q = quantize(g, x)
    out = tmp_path_factory.mktemp("gpucli") / "fmnist"
    build(q, "pocl", out, gpu_api="opencl", dtype="s8", check=False)
    return out, q, x


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_validate_fmnist_int8_gpu_build_is_bit_exact(fmnist_build, tmp_path):
    d, _, _ = fmnist_build
    r = _cli("validate", d, "--cases", 5, "--junit", tmp_path / "v.xml")
    assert r.exit_code == 0, r.output
    assert "5/5 cases matching the reference on pocl" in r.output
    rows = [l for l in r.output.splitlines() if l.split()[:1] in (["0"], ["1"], ["2"], ["3"], ["4"])]
    assert len(rows) == 5 and all(l.endswith("ok") and " ns " in l for l in rows)
    assert 'failures="0"' in (tmp_path / "v.xml").read_text()


def test_run_prints_reference_outputs_and_device_time(fmnist_build, tmp_path):
    from edgesdk.hil.buildinfo import quantize as quantize_input
    from edgesdk.reference import run as reference_run
    d, q, x = fmnist_build
    np.save(tmp_path / "x.npy", x[3])            # float image: `run` quantizes it
    r = _cli("run", d, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npz")
    assert r.exit_code == 0, r.output
    man = json.loads((d / "manifest.json").read_text())
    want = reference_run(q, {q.inputs[0]: quantize_input(x[3], man["inputs"][0])[None]})[q.outputs[0]]
    with np.load(tmp_path / "y.npz") as z:
        np.testing.assert_array_equal(z[man["outputs"][0]["name"]], want)
    lines = r.output.splitlines()
    total = int(next(l for l in lines if l.startswith("ns: ")).split()[1])
    layers = {l.split()[0]: int(l.split()[1]) for l in lines if l.startswith("  /")}
    # every layer of the plan has a profiled time and they add up to the run's count
    assert list(layers) == [L["name"] for L in man["layers"]]
    assert all(v > 0 for v in layers.values()) and sum(layers.values()) == total
    assert "OpenCL" in lines[0]


def test_bench_gpu_build_reports_ns_per_layer(fmnist_build, tmp_path):
    d, _, _ = fmnist_build
    r = _cli("bench", d, "--runs", 2, "--json", tmp_path / "b.json")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "b.json").read_text())
    assert res["unit"] == "ns" and len(res["runs"]) == 2 and all(c > 0 for c in res["runs"])
    man = json.loads((d / "manifest.json").read_text())
    assert [L["name"] for L in res["layers"]] == [L["name"] for L in man["layers"]]
    assert res["macs"] == 112896 + 903168 + 451584 + 320   # the conv and fc MACs of fmnist_cnn


def test_validate_catches_a_corrupted_weight(fmnist_build, tmp_path):
    d, _, _ = fmnist_build
    bad = tmp_path / "bad"
    shutil.copytree(d, bad)
    with np.load(bad / "consts.npz") as z:
        consts = {k: z[k].copy() for k in z.files}
    key = next(k for k in consts if k.endswith("/w") and "13/Gemm" in k)   # the classifier's weights
    consts[key] = -consts[key].clip(-127, 127)
    np.savez(bad / "consts.npz", **consts)
    r = _cli("validate", bad, "--cases", 2)
    assert r.exit_code == 1, r.output
    assert "0/2 cases matching" in r.output and "FAIL" in r.output


def test_gpu_build_refuses_another_board_and_bad_input(fmnist_build, tmp_path):
    d, _, _ = fmnist_build
    r = _cli("run", d, "--board", "mps2-an386")
    assert r.exit_code == 2 and "built for gpu board pocl" in r.output and "Traceback" not in r.output
    np.save(tmp_path / "x.npy", np.zeros((5, 5), np.float32))
    r = _cli("run", d, "--input", tmp_path / "x.npy")
    assert r.exit_code == 2 and "does not split into cases" in r.output, r.output
