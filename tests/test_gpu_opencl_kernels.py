"""Hand-written OpenCL kernels on PoCL, bit-exact against the numpy integer reference."""
import shutil
import subprocess

import numpy as np
import pytest

from edgesdk.errors import DeviceError
from edgesdk.paths import kernels_dir
from edgesdk.reference.binary import bgemm, pack_bits
from edgesdk.reference.quantized import qconv2d, qgemm
from gpu_helpers import rand_requant, requires_opencl

pytestmark = [pytest.mark.opencl, requires_opencl]


@pytest.mark.parametrize("variant", ["tiled", "vec", "ref"])
@pytest.mark.parametrize("n,m,k", [(1, 10, 64), (37, 45, 70), (64, 32, 33), (5, 129, 17), (3, 7, 9), (2, 5, 8)])
def test_gemm_s8_bit_exact(n, m, k, variant):
    from edgesdk.gpu.ocl_kernels import gemm_s8
    rng = np.random.default_rng(n * 1000 + m + k)
    x = rng.integers(-128, 128, (n, k), dtype=np.int8)
    w = rng.integers(-127, 128, (m, k), dtype=np.int8)
    b = rng.integers(-20000, 20000, m).astype(np.int32)
    mult, shift = rand_requant(rng, m)
    want = qgemm(x, w, b, 5, -3, mult, shift, -128, 127)
    got = gemm_s8(x, w, b, 5, -3, mult, shift, variant=variant)
    assert np.unique(want).size > min(20, want.size // 2)  # the output stage really varies, not saturated
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("variant", ["tiled", "vec"])
def test_gemm_s8_relu_clamp_and_extreme_zero_points(variant):
    from edgesdk.gpu.ocl_kernels import gemm_s8
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, (9, 300), dtype=np.int8)
    w = rng.integers(-128, 128, (20, 300), dtype=np.int8)
    mult, shift = rand_requant(rng, 20, -12, -9)
    for x_zp, y_zp, lo, hi in [(-128, -128, -128, 127), (127, 10, 10, 127), (0, 0, 0, 60)]:
        want = qgemm(x, w, None, x_zp, y_zp, mult, shift, lo, hi)
        np.testing.assert_array_equal(gemm_s8(x, w, None, x_zp, y_zp, mult, shift, lo, hi, variant=variant), want)


CONV_CASES = [
    # x shape, w shape, group, strides, pads, dilations
    ((1, 3, 16, 16), (8, 3, 3, 3), 1, (1, 1), (1, 1, 1, 1), (1, 1)),
    ((2, 6, 11, 13), (6, 3, 3, 2), 2, (2, 1), (0, 1, 1, 0), (1, 1)),
    ((1, 8, 9, 9), (16, 8, 1, 1), 1, (1, 1), (0, 0, 0, 0), (1, 1)),
    ((1, 4, 12, 12), (4, 4, 3, 3), 1, (1, 1), (2, 2, 2, 2), (2, 2)),
    ((2, 6, 11, 13), (12, 1, 3, 3), 6, (2, 2), (1, 1, 1, 1), (1, 1)),   # depthwise, multiplier 2
    ((1, 16, 10, 10), (16, 1, 5, 5), 16, (1, 1), (2, 2, 2, 2), (1, 1)),  # depthwise 5x5
    ((2, 24, 7, 9), (10, 24, 1, 1), 1, (1, 1), (0, 0, 0, 0), (1, 1)),    # pointwise, P = 63 (tail of 16)
    ((1, 5, 8, 8), (7, 5, 1, 1), 1, (1, 1), (0, 0, 0, 0), (1, 1)),       # pointwise, P = 64 (no tail)
]


@pytest.mark.parametrize("variant", ["tiled", "vec", "ref"])
@pytest.mark.parametrize("xs,ws,group,strides,pads,dil", CONV_CASES)
def test_conv2d_s8_bit_exact(xs, ws, group, strides, pads, dil, variant):
    """Every path: im2col + GEMM (tiled/vec/ref), depthwise, pointwise (and its _ref twin)."""
    from edgesdk.gpu.ocl_kernels import conv2d_s8
    rng = np.random.default_rng(sum(xs) + sum(ws))
    x = rng.integers(-128, 128, xs, dtype=np.int8)
    w = rng.integers(-127, 128, ws, dtype=np.int8)
    b = rng.integers(-3000, 3000, ws[0]).astype(np.int32)
    mult, shift = rand_requant(rng, ws[0], -9, -6)
    want = qconv2d(x, w, b, -7, 2, mult, shift, strides, pads, dil, group, -128, 127)
    got = conv2d_s8(x, w, b, -7, 2, mult, shift, strides, pads, dil, group, ref=(variant == "ref"),
                    variant=None if variant == "ref" else variant)
    assert np.unique(want).size > 20
    np.testing.assert_array_equal(got, want)
    if ws[2:] == (1, 1) and group == 1:   # the same 1x1 conv through im2col + GEMM
        got = conv2d_s8(x, w, b, -7, 2, mult, shift, strides, pads, dil, group, ref=(variant == "ref"),
                        variant=None if variant == "ref" else variant, pointwise=False)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ref", [False, True])
@pytest.mark.parametrize("xs,ws,group,strides,pads,dil", [c for c in CONV_CASES if c[2] == 1])
def test_direct_conv_s8_bit_exact(xs, ws, group, strides, pads, dil, ref):
    """ek_conv_s8_ocl (direct, vectorized along pixels) and its _ref twin, every geometry."""
    from edgesdk.gpu.ocl_kernels import conv2d_s8
    rng = np.random.default_rng(sum(xs) * 3 + sum(ws))
    x = rng.integers(-128, 128, xs, dtype=np.int8)
    w = rng.integers(-127, 128, ws, dtype=np.int8)
    b = rng.integers(-3000, 3000, ws[0]).astype(np.int32)
    mult, shift = rand_requant(rng, ws[0], -9, -6)
    want = qconv2d(x, w, b, 11, -3, mult, shift, strides, pads, dil, group, -128, 127)
    got = conv2d_s8(x, w, b, 11, -3, mult, shift, strides, pads, dil, group, ref=ref, direct=True)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ref", [False, True])
@pytest.mark.parametrize("n,m,k", [(1, 10, 100), (19, 33, 100), (40, 70, 1000), (3, 5, 32)])
def test_bgemm_b1_matches_reference(n, m, k, ref):
    from edgesdk.gpu.ocl_kernels import bgemm_b1
    rng = np.random.default_rng(k + n)
    xb = rng.integers(0, 2, (n, k))
    wb = rng.integers(0, 2, (m, k))
    got = bgemm_b1(pack_bits(xb), pack_bits(wb), k, ref=ref)
    np.testing.assert_array_equal(got, bgemm(xb, wb))
    # and against the +-1 float dot product it stands for
    np.testing.assert_array_equal(got, ((2 * xb - 1) @ (2 * wb - 1).T).astype(np.int32))


@pytest.mark.parametrize("ref", [False, True])
def test_gemm_f16_tiling_logic_with_float_storage(ref):
    """PoCL has no cl_khr_fp16: the same kernel with float storage checks tiling and bias/relu."""
    from edgesdk.gpu.ocl_kernels import gemm_f16
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 50)).astype(np.float32)
    w = rng.standard_normal((45, 50)).astype(np.float32)
    b = rng.standard_normal(45).astype(np.float32)
    got = gemm_f16(x, w, b, relu=True, ref=ref, as_float=True)
    np.testing.assert_allclose(got, np.maximum(x @ w.T + b, 0), rtol=1e-5, atol=1e-4)


def test_gemm_f16_refused_without_cl_khr_fp16():
    from edgesdk.gpu.ocl_kernels import gemm_f16
    from edgesdk.gpu.opencl import has_fp16
    if has_fp16():
        pytest.skip("this OpenCL device has cl_khr_fp16")
    with pytest.raises(DeviceError, match="cl_khr_fp16"):
        gemm_f16(np.ones((2, 2)), np.ones((2, 2)), None)


@pytest.mark.skipif(shutil.which("clang-19") is None, reason="not installed: clang-19")
def test_every_opencl_kernel_parses_with_fp16_enabled():
    """The half path cannot run on PoCL: clang's OpenCL front end checks it (and all files)."""
    d = kernels_dir() / "opencl"
    files = sorted(d.glob("*.cl"))
    assert len(files) >= 5
    for f in files:
        r = subprocess.run(["clang-19", "-x", "cl", "-cl-std=CL1.2", "-fsyntax-only", "-Xclang",
                            "-finclude-default-header", "-Xclang", "-cl-ext=+cl_khr_fp16",
                            "--target=spir64", f"-I{d}", str(f)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{f.name}: {r.stderr}"
