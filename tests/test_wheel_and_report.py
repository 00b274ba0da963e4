"""Packaging and reporting, as a user meets them.

- The wheel works outside the repository: built with `pip wheel`, unpacked away from the
  checkout, it finds its C sources as package data and builds and runs a model natively.
- `edgesdk report` writes Markdown, HTML and real PNG plots for a build.
"""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(REPO)], capture_output=True, text=True, cwd=out)
    assert p.returncode == 0, p.stderr[-2000:]
    whl = next(out.glob("edgesdk-*.whl"))
    site = out / "site"
    with zipfile.ZipFile(whl) as z:
        z.extractall(site)
    return site


def test_wheel_ships_c_sources(wheel_dir):
    c = wheel_dir / "edgesdk" / "_c"
    for rel in ("kernels/ek_conv2d_s8_ref.c", "kernels/include/ek_s8.h", "runtime/include/ek_model_api.h",
                "runtime/hil/ek_hil_server.c", "runtime/train/ek_train.c", "targets/mcu/link.ld.in",
                "targets/mcu/boards/mps2-an386.yaml"):
        assert (c / rel).is_file(), f"wheel lacks {rel}"
    assert (wheel_dir / "edgesdk" / "codegen" / "mcu" / "emit.py").is_file()


def test_wheel_works_outside_the_repo(wheel_dir, tmp_path):
    script = r'''
import numpy as np, torch, sys
import edgesdk, edgesdk.paths as P
assert str(P.data_root()).startswith(sys.argv[1]), P.data_root()
from edgesdk.frontends import load
from edgesdk.pipeline import prepare_graph
from edgesdk.quant import quantize, quantize_inputs
from edgesdk.boards import load_board
from edgesdk.lower.mcu import lower_mcu
from edgesdk.package.host import compile_program, run_program
from edgesdk.reference import run
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3)).eval()
x = np.random.default_rng(0).random((16, 1, 8, 8), dtype=np.float32)
q = quantize(prepare_graph(load(m, example_inputs=torch.from_numpy(x[:1]))), x)
prog = lower_mcu(q, load_board("mps2-an386"), "ref")
hm = compile_program(prog, sys.argv[2])
ref = run(q, quantize_inputs(q, {q.inputs[0]: x[:1]}))[q.outputs[0]]
assert np.array_equal(run_program(prog, hm, q, x[:1]), ref)
print("OK", P.data_root())
'''
    env = {**os.environ, "PYTHONPATH": str(wheel_dir)}
    p = subprocess.run([sys.executable, "-c", script, str(wheel_dir), str(tmp_path)], capture_output=True,
                       text=True, cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "OK" in p.stdout and str(wheel_dir) in p.stdout


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    import shutil
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("not installed: arm-none-eabi-gcc/qemu-system-arm")
    import torch

    from edgesdk.frontends import load
    from edgesdk.pipeline import build, prepare_graph
    from edgesdk.quant import quantize
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                            torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                            torch.nn.Flatten(), torch.nn.Linear(8, 4)).eval()
    x = np.random.default_rng(1).random((16, 1, 12, 12), dtype=np.float32)
    q = quantize(prepare_graph(load(m, example_inputs=torch.from_numpy(x[:1]))), x)
    out = tmp_path_factory.mktemp("tiny") / "b"
    return build(q, "mcu", "mps2-an386", out, quiet=True)


@pytest.mark.qemu
def test_report_writes_plots(tiny_build, tmp_path):
    from edgesdk.report import make_report
    b = tiny_build
    res = tmp_path / "results"
    res.mkdir()
    (res / "fake_bench.json").write_text(json.dumps({"rows": [{"config": "a", "accuracy": 90.0, "model_bytes": 1000},
                                                              {"config": "b", "accuracy": 0.85, "model_bytes": 250}]}))
    out = make_report(b.out_dir, tmp_path / "rep", res)
    for name in ("layers.png", "memory.png", "accuracy_size.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    md = (out / "report.md").read_text()
    assert b.manifest["build_id"] in md and "![" in md
    assert "instructions/inf." in (out / "report.html").read_text()


@pytest.mark.qemu
def test_bench_counts_layers_and_compares_variants(tiny_build, tmp_path):
    from click.testing import CliRunner

    from edgesdk.cli import main
    out = tmp_path / "bench.json"
    r = CliRunner().invoke(main, ["bench", str(tiny_build.out_dir), "--runs", "2", "--compare", "ref",
                                  "--json", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["unit"] == "instructions" and len(data["runs"]) == 2
    # The firmware's RUN count and the self-test's count measure the same code.
    assert abs(data["median"] - tiny_build.summary["instructions"]) < 0.02 * tiny_build.summary["instructions"]
    assert len(data["layers"]) == len(tiny_build.manifest["layers"]) and all(L["count"] > 0 for L in data["layers"])
    assert data["variants"]["ref"]["instructions"] > tiny_build.summary["instructions"]  # dsp beats ref


def test_accuracy_size_points_label_rows_by_config_method_or_model(tmp_path):
    from edgesdk.report import accuracy_size_points
    rows = [{"config": "int8", "accuracy": 0.9, "model_bytes": 100},
            {"method": "prune", "accuracy": 88.0, "weight_bytes": 50},
            {"model": "ste binary", "accuracy": 90.34, "weight_bytes": 10896},   # the binary benches' rows
            {"model": "no size", "accuracy": 80.0}]
    (tmp_path / "b.json").write_text(json.dumps({"rows": rows}))
    assert accuracy_size_points(tmp_path) == [("b", "int8", 100.0, 90.0), ("b", "prune", 50.0, 88.0),
                                              ("b", "ste binary", 10896.0, 90.34)]
