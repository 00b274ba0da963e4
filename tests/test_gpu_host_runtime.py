"""The C host runtimes of runtime/gpu: OpenCL (run on PoCL) and CUDA driver API (built
here; run for real only under the `gpu` marker)."""
import shutil
import subprocess

import numpy as np
import pytest

from edgesdk.paths import kernels_dir
from edgesdk.reference.quantized import qgemm
from gpu_helpers import rand_requant, requires_opencl


def _case(rng, n, m, k):
    from edgesdk.gpu.ocl_kernels import fold_bias
    x = rng.integers(-128, 128, (n, k), dtype=np.int8)
    w = rng.integers(-127, 128, (m, k), dtype=np.int8)
    b = rng.integers(-20000, 20000, m).astype(np.int32)
    mult, shift = rand_requant(rng, m)
    want = qgemm(x, w, b, 9, -4, mult, shift, -128, 127)
    return x, w, fold_bias(w, b, 9), mult, shift, want


@pytest.mark.opencl
@requires_opencl
@pytest.mark.skipif(shutil.which("gcc") is None, reason="not installed: gcc")
def test_opencl_host_runtime_runs_qgemm_bit_exact(tmp_path):
    from edgesdk.gpu.host_runtime import build_ocl_gemm_driver, write_gemm_case
    exe = build_ocl_gemm_driver(tmp_path / "ek_ocl_gemm")
    rng = np.random.default_rng(11)
    x, w, beff, mult, shift, want = _case(rng, 45, 70, 123)
    case = write_gemm_case(tmp_path / "case.bin", x, w, beff, mult, shift, -4)
    r = subprocess.run([str(exe), str(kernels_dir() / "opencl"), str(case), str(tmp_path / "y.bin")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = np.fromfile(tmp_path / "y.bin", np.int8).reshape(want.shape)
    np.testing.assert_array_equal(got, want)

    # a truncated case file is refused with one line naming the file
    (tmp_path / "bad.bin").write_bytes(case.read_bytes()[:-5])
    r = subprocess.run([str(exe), str(kernels_dir() / "opencl"), str(tmp_path / "bad.bin"), str(tmp_path / "z.bin")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "bad.bin" in r.stderr and r.stderr.count("\n") == 1


def _cuda_driver_present():
    import ctypes.util
    return ctypes.util.find_library("cuda") is not None


@pytest.mark.skipif(shutil.which("nvcc") is None or shutil.which("gcc") is None, reason="not installed: nvcc/gcc")
def test_cuda_host_runtime_builds_and_tells_when_no_gpu(tmp_path):
    from edgesdk.gpu.host_runtime import EXIT_NO_CUDA, build_cuda_gemm_driver, write_gemm_case
    from edgesdk.gpu.nvcc import compile_cubin, cuda_dir
    exe = build_cuda_gemm_driver(tmp_path / "ek_cuda_gemm")
    cubin = compile_cubin(cuda_dir() / "ek_gemm_s8_cuda.cu", "sm_87", tmp_path / "g.cubin")["cubin"]
    rng = np.random.default_rng(5)
    x, w, beff, mult, shift, _ = _case(rng, 8, 16, 64)
    case = write_gemm_case(tmp_path / "case.bin", x, w, beff, mult, shift, -4)
    r = subprocess.run([str(exe), str(cubin), str(case), str(tmp_path / "y.bin")], capture_output=True, text=True, timeout=60)
    if not _cuda_driver_present():
        assert r.returncode == EXIT_NO_CUDA, r.stderr
        assert "no CUDA driver" in r.stderr
    else:
        assert r.returncode in (0, EXIT_NO_CUDA), r.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_driver_present(), reason="no NVIDIA GPU/driver on this machine")
def test_cuda_host_runtime_runs_dp4a_qgemm_bit_exact(tmp_path):
    from edgesdk.gpu.host_runtime import build_cuda_gemm_driver, write_gemm_case
    from edgesdk.gpu.nvcc import compile_cubin, cuda_dir
    exe = build_cuda_gemm_driver(tmp_path / "ek_cuda_gemm")
    r0 = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
                        capture_output=True, text=True, timeout=60)
    arch = "sm_" + r0.stdout.strip().splitlines()[0].replace(".", "") if r0.returncode == 0 else "sm_90"
    cubin = compile_cubin(cuda_dir() / "ek_gemm_s8_cuda.cu", arch, tmp_path / "g.cubin")["cubin"]
    rng = np.random.default_rng(6)
    x, w, beff, mult, shift, want = _case(rng, 70, 130, 256)   # K multiple of 4
    case = write_gemm_case(tmp_path / "case.bin", x, w, beff, mult, shift, -4)
    r = subprocess.run([str(exe), str(cubin), str(case), str(tmp_path / "y.bin")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.fromfile(tmp_path / "y.bin", np.int8).reshape(want.shape), want)
