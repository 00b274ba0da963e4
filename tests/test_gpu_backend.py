"""edgesdk.backends_gpu.build: the build folder, its plan run on PoCL, CUDA cubins with
ptxas figures, and every refusal as one clear EdgeError line."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edgesdk.errors import DeviceError, EdgeError, ToolMissingError, UnsupportedOpsError
from edgesdk.reference import run as reference_run
from gpu_helpers import requires_opencl
from gpu_models import random_feed, tiny_mobile_graphs


@pytest.fixture(scope="module")
def graphs():
    return tiny_mobile_graphs(seed=3)


@pytest.mark.opencl
@requires_opencl
def test_pocl_int8_build_folder_runs_bit_exact(graphs, tmp_path):
    from edgesdk.backends_gpu import build
    from edgesdk.gpu.plan_runner import PlanRunner
    _, q = graphs
    s = build(q, "pocl", tmp_path / "b", gpu_api="opencl", dtype="s8")
    d = tmp_path / "b"
    for f in ("manifest.json", "plan.json", "model.edg", "consts.npz", "summary.txt", "kernels.cl",
              "hand/ek_gemm_s8_ocl.cl", "hand/ek_dwconv_s8_ocl.cl", "hand/ek_ocl_common.h"):
        assert (d / f).is_file(), f
    man = json.loads((d / "manifest.json").read_text())
    assert man["target"] == "gpu" and man["board"] == "pocl" and man["image"] == "plan.json"
    assert [l["name"] for l in man["layers"]] == [n.name for n in q.nodes]
    assert man["inputs"][0]["dtype"] == "s8" and man["inputs"][0]["quant"]["zero_point"]
    plan = json.loads((d / "plan.json").read_text())
    by = {l["name"]: l for l in plan["layers"]}
    # hand-derived figures of the first conv: 3->8 channels, 3x3, stride 2 on 16x16 -> 8x8 out
    assert by["/c1/Conv"]["macs"] == 8 * 8 * 8 * 3 * 3 * 3
    assert by["/c1/Conv"]["flops"] == 2 * by["/c1/Conv"]["macs"]
    assert by["/c1/Conv"]["bytes"] == 3 * 16 * 16 + 8 * 27 + 8 * 4 + 8 * 8 * 8
    # pocl is a CPU device: the vector GEMM, 2 rows x 4 channels per work-item, over
    # 64 output pixels (rows) x 8 channels -> 32 x 2 work-items
    gemm = by["/c1/Conv"]["launches"][1]
    assert gemm["kernel"] == "ek_gemm_s8_ocl_vec" and gemm["global"] == [32, 2] and gemm["local"] is None
    assert s["hand_layers"] == 6 and s["tvm_layers"] == 1   # QAdd and the GAP on hand kernels, Flatten on TVM
    assert s["check"]["bit_exact"] is True
    # the folder alone is enough to run: a fresh runner from disk, a new input
    r = PlanRunner.from_build(d)
    feed = random_feed(q, 11)
    got = r.run(feed)
    want = reference_run(q, feed)
    for o in q.outputs:
        np.testing.assert_array_equal(got[o], want[o])


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="not installed: nvcc")
def test_cuda_build_for_jetson_has_cubins_and_no_spills_in_hand_kernels(graphs, tmp_path):
    from edgesdk.backends_gpu import build
    _, q = graphs
    s = build(q, "jetson-orin", tmp_path / "b", gpu_api="cuda")
    d = tmp_path / "b"
    plan = json.loads((d / "plan.json").read_text())
    assert plan["api"] == "cuda" and (d / "kernels.cu").is_file()
    for rel in plan["cubins"].values():
        assert (d / rel).stat().st_size > 1000 and rel.endswith(".sm_87.cubin")
    by = {l["name"]: l for l in plan["layers"]}
    assert by["/c1/Conv"]["impl"] == "ek_gemm_s8_cuda"
    assert by["/dw/Conv"]["impl"] == "ek_dwconv_s8_cuda"
    assert by["/dw/Conv"]["launches"][0]["grid"] == [1, 1, 8] and by["/dw/Conv"]["launches"][0]["block"] == [16, 16, 1]
    assert "grid" in by["/c1/Conv"]["launches"][1]
    hand = {k: v for k, v in plan["ptxas"].items() if k.startswith("ek_")}
    assert "ek_gemm_s8_cuda" in hand
    assert all(v["spill_stores"] == 0 and v["spill_loads"] == 0 for v in hand.values())
    launched = {k["kernel"] for l in plan["layers"] for k in l["launches"]}
    assert launched <= set(plan["ptxas"])
    assert "ptxas" in (d / "summary.txt").read_text()


def test_f16_build_for_mali_uses_half_kernels(graphs, tmp_path):
    from edgesdk.backends_gpu import build
    g, _ = graphs
    build(g, "mali", tmp_path / "b", dtype="f16")
    d = tmp_path / "b"
    plan = json.loads((d / "plan.json").read_text())
    assert plan["dtype"] == "f16"
    assert "half" in (d / "kernels.cl").read_text()
    assert {l["name"]: l["impl"] for l in plan["layers"]}["/fc/Gemm"] == "ek_gemm_f16_ocl"
    if shutil.which("clang-19"):
        for f in ("kernels.cl", "hand/ek_gemm_f16_ocl.cl"):
            r = subprocess.run(["clang-19", "-x", "cl", "-cl-std=CL1.2", "-fsyntax-only", "-Xclang",
                                "-finclude-default-header", "-Xclang", "-cl-ext=+cl_khr_fp16", "--target=spir64",
                                str(d / f)], capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, f"{f}: {r.stderr[:2000]}"


# ---- refusals ----------------------------------------------------------------------

@requires_opencl
def test_fp16_on_device_without_cl_khr_fp16(graphs, tmp_path):
    from edgesdk.backends_gpu import build
    from edgesdk.gpu.opencl import has_fp16
    if has_fp16():
        pytest.skip("this OpenCL device has cl_khr_fp16")
    g, _ = graphs
    with pytest.raises(DeviceError, match=r"FP16 requested .* has no cl_khr_fp16"):
        build(g, "pocl", tmp_path / "b", dtype="f16")
    assert not (tmp_path / "b").exists()


def test_no_opencl_platform_present(tmp_path):
    """ocl-icd finds no vendor in an empty OCL_ICD_VENDORS dir: the build says so in one line."""
    code = ("import sys; sys.path.insert(0, 'tests')\n"
            "from gpu_models import tiny_mobile_graphs\n"
            "from edgesdk.backends_gpu import build\n"
            "from edgesdk.errors import EdgeError\n"
            "g, q = tiny_mobile_graphs()\n"
            "try:\n"
            f"    build(q, 'pocl', {str(tmp_path / 'b')!r})\n"
            "except EdgeError as e:\n"
            "    print('EDGEERROR', type(e).__name__, e)\n")
    env = dict(os.environ, OCL_ICD_VENDORS=str(tmp_path / "no_vendors"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert "EDGEERROR DeviceError no OpenCL platform present" in r.stdout, r.stdout + r.stderr


def test_nvcc_missing_for_cuda(graphs, tmp_path, monkeypatch):
    from edgesdk.backends_gpu import build
    from edgesdk.gpu import nvcc
    monkeypatch.setattr(nvcc.shutil, "which", lambda name: None)
    monkeypatch.setattr(nvcc, "CUDA_ROOT", tmp_path)
    _, q = graphs
    with pytest.raises(ToolMissingError, match="nvcc not found"):
        build(q, "jetson-orin", tmp_path / "b", gpu_api="cuda")


def test_op_with_no_gpu_path_lists_every_node(graphs, tmp_path):
    from edgesdk.backends_gpu import build
    _, q = graphs
    bad = q.copy()
    for n in bad.nodes:
        if n.op in ("QAdd", "QGlobalAvgPool"):
            n.op = "QAvgPoolX" if n.op == "QAdd" else "Mystery"
    with pytest.raises(UnsupportedOpsError) as e:
        build(bad, "pocl", tmp_path / "b", check=False)
    msg = str(e.value)
    assert "/Add [QAvgPoolX]" in msg and "/GlobalAveragePool [Mystery]" in msg and "\n" not in msg


def test_request_mismatches_are_named(graphs, tmp_path):
    from edgesdk.backends_gpu import build
    g, q = graphs
    with pytest.raises(EdgeError, match=r"board pocl: field 'api'.*no cuda"):
        build(q, "pocl", tmp_path / "b", gpu_api="cuda")
    with pytest.raises(EdgeError, match=r"dtype s8 needs a quantized graph"):
        build(g, "pocl", tmp_path / "b", dtype="s8")
    with pytest.raises(EdgeError, match=r"is a mcu board, not a gpu board"):
        build(q, "mps2-an386", tmp_path / "b")
    with pytest.raises(EdgeError, match=r"dtype 'f64'"):
        build(g, "pocl", tmp_path / "b", dtype="f64")


@pytest.mark.opencl
@requires_opencl
def test_cpu_plan_kernel_choice_is_bit_exact():
    """On a CPU OpenCL device: direct conv for K < 16, pointwise for 1x1, vector GEMM otherwise."""
    import torch
    from torch import nn

    from edgesdk.backends_gpu import lower
    from edgesdk.frontends import load
    from edgesdk.gpu.plan_runner import PlanRunner
    from edgesdk.paths import kernels_dir
    from edgesdk.passes import run_passes
    from edgesdk.quant import quantize

    torch.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 1), nn.ReLU(),
                      nn.Conv2d(12, 8, 3, stride=2, padding=1), nn.Flatten(), nn.Linear(8 * 5 * 5, 4)).eval()
    g = run_passes(load(m, example_inputs=(torch.randn(1, 1, 10, 10),)))
    q = quantize(g, np.random.default_rng(0).standard_normal((8, 1, 10, 10)).astype(np.float32), bias_correction=False)
    plan, src, consts = lower(q, "opencl", "s8", device_type="cpu")
    kernels = [l["launches"][-1]["kernel"] for l in plan["layers"] if not l["impl"].startswith("tvm")]
    assert kernels == ["ek_conv_s8_ocl", "ek_conv1x1_s8_ocl", "ek_gemm_s8_ocl_vec", "ek_gemm_s8_ocl_vec"]
    progs = {"tvm": src}
    for l in plan["layers"]:
        for k in l["launches"]:
            if k["program"] != "tvm":
                progs[k["program"]] = (kernels_dir() / "opencl" / k["program"]).read_text()
    r = PlanRunner(plan, progs, consts)
    for seed in (1, 2):
        feed = random_feed(q, seed)
        np.testing.assert_array_equal(r.run(feed)[q.outputs[0]], reference_run(q, feed)[q.outputs[0]])


@pytest.mark.opencl
@requires_opencl
def test_float_model_with_calibration_builds_int8(graphs, tmp_path):
    from edgesdk.backends_gpu import build
    g, _ = graphs
    calib = np.random.default_rng(5).standard_normal((8, 3, 16, 16)).astype(np.float32)
    s = build(g, "pocl", tmp_path / "b", calib=calib)
    assert s["dtype"] == "s8" and s["check"]["bit_exact"] is True
    man = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert man["inputs"][0]["dtype"] == "s8" and man["dtype"] == "s8"
