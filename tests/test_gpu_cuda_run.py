"""CUDA kernels run on a real NVIDIA GPU (the `gpu` marker): every hand kernel against its
numpy oracle, and a whole CUDA build folder against the integer reference. Skipped,
saying so, on machines without an NVIDIA driver (CI)."""
import shutil

import numpy as np
import pytest

from edgesdk.gpu.cuda_launch import driver_present
from edgesdk.lower.mcu import pack_s4
from edgesdk.reference.binary import bgemm, pack_bits
from edgesdk.reference.quantized import qgemm
from gpu_helpers import rand_requant

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not driver_present(), reason="no NVIDIA GPU/driver on this machine"),
              pytest.mark.skipif(shutil.which("nvcc") is None, reason="not installed: nvcc")]


@pytest.fixture(scope="module")
def cuda(tmp_path_factory):
    from edgesdk.gpu.cuda_kernels import source_files
    from edgesdk.gpu.cuda_launch import CudaDriver
    from edgesdk.gpu.nvcc import compile_cubin, cuda_dir
    drv = CudaDriver()
    d = tmp_path_factory.mktemp("cubins")
    cubins = {f: compile_cubin(cuda_dir() / f, drv.arch, d / f"{f}.cubin")["cubin"] for f in source_files()}
    return drv, cubins


def _grid(n, b):
    return -(-n // b)


@pytest.mark.parametrize("name", ["ek_gemm_s8_cuda", "ek_gemm_s8_cuda_ref"])
def test_dp4a_gemm_bit_exact(cuda, name):
    from edgesdk.gpu.ocl_kernels import fold_bias
    drv, cubins = cuda
    rng = np.random.default_rng(1)
    N, M, K = 70, 130, 256
    x = rng.integers(-128, 128, (N, K), dtype=np.int8)
    w = rng.integers(-127, 128, (M, K), dtype=np.int8)
    b = rng.integers(-20000, 20000, M).astype(np.int32)
    mult, shift = rand_requant(rng, M)
    want = qgemm(x, w, b, 3, -5, mult, shift, -128, 127)
    ptr = {k: drv.upload(v) for k, v in dict(x=x, w=w, b=fold_bias(w, b, 3), m=mult, s=shift).items()}
    y = drv.alloc(N * M)
    fn = drv.function(cubins["ek_gemm_s8_cuda.cu"], name)
    tile = 64 if name == "ek_gemm_s8_cuda" else 16
    drv.launch(fn, (_grid(M, tile), _grid(N, tile)), (16, 16),
               [("ptr", ptr["x"]), ("ptr", ptr["w"]), ("ptr", ptr["b"]), ("ptr", ptr["m"]), ("ptr", ptr["s"]),
                ("ptr", y), ("i32", N), ("i32", M), ("i32", K), ("i32", M), ("i32", 1), ("i32", -5),
                ("i32", -128), ("i32", 127)])
    np.testing.assert_array_equal(drv.download(y, (N, M), np.int8), want)


@pytest.mark.parametrize("name", ["ek_gemm_f16_cuda", "ek_gemm_f16_cuda_ref"])
def test_wmma_f16_gemm(cuda, name):
    drv, cubins = cuda
    rng = np.random.default_rng(2)
    N, M, K = 48, 80, 64      # multiples of 16
    x = rng.standard_normal((N, K)).astype(np.float16)
    w = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal(M).astype(np.float16)
    want = np.maximum(x.astype(np.float32) @ w.astype(np.float32).T + b.astype(np.float32), 0)
    px, pw, pb, py = drv.upload(x), drv.upload(w), drv.upload(b), drv.alloc(2 * N * M)
    fn = drv.function(cubins["ek_gemm_f16_cuda.cu"], name)
    grid, block = ((_grid(M, 32), _grid(N, 32)), (128,)) if name == "ek_gemm_f16_cuda" else ((_grid(M, 16), _grid(N, 16)), (16, 16))
    drv.launch(fn, grid, block, [("ptr", px), ("ptr", pw), ("ptr", pb), ("ptr", py), ("i32", N), ("i32", M),
                                 ("i32", K), ("i32", 1)])
    got = drv.download(py, (N, M), np.float16).astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", ["ek_bgemm_b1_cuda", "ek_bgemm_b1_cuda_ref"])
def test_popc_bgemm(cuda, name):
    drv, cubins = cuda
    rng = np.random.default_rng(3)
    N, M, K = 37, 70, 1000
    xb, wb = rng.integers(0, 2, (N, K)), rng.integers(0, 2, (M, K))
    xp, wp = pack_bits(xb), pack_bits(wb)
    px, pw, py = drv.upload(xp), drv.upload(wp), drv.alloc(4 * N * M)
    tile = 64 if name == "ek_bgemm_b1_cuda" else 16
    drv.launch(drv.function(cubins["ek_bgemm_b1_cuda.cu"], name), (_grid(M, tile), _grid(N, tile)), (16, 16),
               [("ptr", px), ("ptr", pw), ("ptr", py), ("i32", N), ("i32", M), ("i32", xp.shape[1]), ("i32", K)])
    np.testing.assert_array_equal(drv.download(py, (N, M), np.int32), bgemm(xb, wb))


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("ref", [False, True])
def test_weight_only_gemv(cuda, bits, ref):
    drv, cubins = cuda
    rng = np.random.default_rng(4)
    M, K = 300, 512
    x = rng.standard_normal(K).astype(np.float16)
    lo, hi = (-128, 128) if bits == 8 else (-8, 8)
    wq = rng.integers(lo, hi, (M, K)).astype(np.int8)
    scale = (rng.random(M) * 0.05 + 0.01).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    want = (x.astype(np.float32) @ wq.astype(np.float32).T) * scale + b
    packed = pack_s4(wq) if bits == 4 else wq   # two nibbles per byte, low nibble = even k
    name = f"ek_gemv_s{bits}_cuda" + ("_ref" if ref else "")
    fn = drv.function(cubins[f"ek_gemv_s{bits}_cuda.cu"], name)
    py = drv.alloc(2 * M)
    grid, block = ((_grid(M, 256),), (256,)) if ref else ((_grid(M, 8),), (256,))
    drv.launch(fn, grid, block, [("ptr", drv.upload(x)), ("ptr", drv.upload(packed)), ("ptr", drv.upload(scale)),
                                 ("ptr", drv.upload(b)), ("ptr", py), ("i32", M), ("i32", K)])
    np.testing.assert_allclose(drv.download(py, (M,), np.float16).astype(np.float32), want, rtol=1e-2, atol=5e-2)


def test_cuda_build_folder_runs_bit_exact(cuda, tmp_path):
    """A whole int8 model: hand dp4a kernels + TVM's CUDA kernels, from the build folder."""
    # GPU machines often carry their own Python without TVM; the hand kernels above still run.
    pytest.importorskip("tvm", reason="not installed: apache-tvm (TVM generates the non-hand kernels)")
    from edgesdk.backends_gpu import build
    from edgesdk.gpu.cuda_launch import CudaPlanRunner
    from edgesdk.reference import run as reference_run
    from gpu_models import random_feed, tiny_mobile_graphs
    drv, _ = cuda
    board = tmp_path / "this_gpu.yaml"
    board.write_text(f"name: this-gpu\ntarget: gpu\ncore: nvidia\nrunner: host\napi: [cuda]\narch: {drv.arch}\n"
                     f"fp16: true\ndevice: remote\ndevice_type: gpu\n")
    _, q = tiny_mobile_graphs()
    build(q, board, tmp_path / "b", gpu_api="cuda")
    r = CudaPlanRunner(tmp_path / "b", drv)
    feed = random_feed(q, 9)
    got = r.run(feed)
    want = reference_run(q, feed)
    for o in q.outputs:
        np.testing.assert_array_equal(got[o], want[o])
