"""The CUDA depthwise int8 kernel (kernels/cuda/ek_dwconv_s8_cuda.cu) against the numpy
QConv reference. Without a GPU: a host program, compiled by nvcc from the kernel file
itself, runs the kernel's own __host__ __device__ steps block by block (staging into a
poisoned shared-memory tile, then every thread's output). With a GPU (`gpu` marker):
both kernels on the device."""
import shutil
import subprocess

import numpy as np
import pytest

from edgesdk.reference.quantized import qconv2d
from gpu_helpers import rand_requant

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="not installed: nvcc")

# The grid of ek_dwconv_s8_cuda, one block after another; mode 1 = the _ref's global path.
HARNESS = r"""
#include "ek_dwconv_s8_cuda.cu"
#include <cstdio>
#include <cstring>
#include <vector>
static void rd(void* p, size_t n) { if (fread(p, 1, n, stdin) != n) { fprintf(stderr, "short read\n"); exit(3); } }
int main() {
    int P[20]; rd(P, sizeof P);
    const int N = P[0], C = P[1], H = P[2], W = P[3], O = P[4], kh = P[5], kw = P[6], sh = P[7], sw = P[8],
              ph = P[9], pw = P[10], dh = P[11], dw = P[12], OH = P[13], OW = P[14], x_zp = P[15], y_zp = P[16],
              lo = P[17], hi = P[18], mode = P[19];
    std::vector<int8_t> x((size_t)N * C * H * W), w((size_t)O * kh * kw), y((size_t)N * O * OH * OW);
    std::vector<int32_t> bias(O), mult(O), shift(O);
    rd(x.data(), x.size()); rd(w.data(), w.size());
    rd(bias.data(), 4 * O); rd(mult.data(), 4 * O); rd(shift.data(), 4 * O);
    static int8_t tile[EK_DW_SMEM];
    for (int no = 0; no < N * O; ++no)
        for (int by = 0; by < (OH + EK_DW_B - 1) / EK_DW_B; ++by)
            for (int bx = 0; bx < (OW + EK_DW_B - 1) / EK_DW_B; ++bx) {
                const int n = no / O, o = no % O, c = o / (O / C), oy0 = by * EK_DW_B, ox0 = bx * EK_DW_B;
                const int8_t* xc = x.data() + (size_t)(n * C + c) * H * W;
                const int8_t* wo = w.data() + o * kh * kw;
                const int th = ek_dw_span(sh, kh, dh), tw = ek_dw_span(sw, kw, dw);
                const bool staged = mode == 0 && th * tw <= EK_DW_SMEM;
                memset(tile, 0x55, sizeof tile);   /* a read of an unstaged byte shows */
                if (staged)
                    for (int tid = 0; tid < EK_DW_B * EK_DW_B; ++tid)
                        ek_dw_stage(tile, xc, th, tw, oy0 * sh - ph, ox0 * sw - pw, H, W, x_zp, tid, EK_DW_B * EK_DW_B);
                for (int ly = 0; ly < EK_DW_B; ++ly)
                    for (int lx = 0; lx < EK_DW_B; ++lx) {
                        const int oy = oy0 + ly, ox = ox0 + lx;
                        if (oy >= OH || ox >= OW) continue;
                        const int32_t acc = staged
                            ? ek_dw_acc_tile(tile, tw, wo, bias[o], ly, lx, kh, kw, sh, sw, dh, dw, x_zp)
                            : ek_dw_acc_global(xc, H, W, wo, bias[o], oy, ox, kh, kw, sh, sw, ph, pw, dh, dw, x_zp);
                        y[((size_t)(n * O + o) * OH + oy) * OW + ox] =
                            ek_output_stage(acc, mult[o], shift[o], y_zp, lo, hi);
                    }
            }
    fwrite(y.data(), 1, y.size(), stdout);
    return 0;
}
"""

# (N, C, mult_ch, H, W, k, stride, pads t/l/b/r, dilation)
CASES = [
    (1, 8, 1, 14, 14, 3, 1, (1, 1, 1, 1), 1),       # MobileNet's 3x3 s1
    (2, 4, 2, 37, 20, 3, 2, (1, 1, 1, 1), 1),       # several tiles, partial ones, depth multiplier 2
    (1, 3, 1, 19, 23, 5, 1, (4, 3, 2, 1), 2),       # dilated, asymmetric padding
    (1, 2, 1, 70, 70, 5, 4, (2, 2, 2, 2), 1),       # window over 48x48: the global-memory path
]


def _case(case, seed):
    n, c, mch, h, wd, k, s, pads, d = case
    rng = np.random.default_rng(seed)
    o = c * mch
    x = rng.integers(-128, 128, (n, c, h, wd), dtype=np.int8)
    w = rng.integers(-128, 128, (o, 1, k, k), dtype=np.int8)
    bias = rng.integers(-5000, 5000, o).astype(np.int32)
    mult, shift = rand_requant(rng, o, lo=-14, hi=-9)
    x_zp, y_zp, lo, hi = int(rng.integers(-30, 30)), -4, -100, 120
    want = qconv2d(x, w, bias, x_zp, y_zp, mult, shift, [s, s], list(pads), [d, d], c, lo, hi)
    return (x, w, bias, mult, shift, x_zp, y_zp, lo, hi), want


def _params(case, want):
    n, c, mch, h, wd, k, s, pads, d = case
    return [n, c, h, wd, c * mch, k, k, s, s, pads[0], pads[1], d, d, want.shape[2], want.shape[3]]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    from edgesdk.gpu.nvcc import cuda_dir
    d = tmp_path_factory.mktemp("dwh")
    (d / "h.cu").write_text(HARNESS)
    subprocess.run(["nvcc", "-O2", f"-I{cuda_dir()}", "-o", str(d / "h"), str(d / "h.cu")], check=True,
                   timeout=240, capture_output=True)
    return d / "h"


@pytest.mark.parametrize("mode", [0, 1], ids=["tiled", "ref"])
@pytest.mark.parametrize("case", CASES, ids=["3x3s1", "s2_mult2", "dil2_asym", "global_path"])
def test_cuda_dwconv_steps_bit_exact_on_host(harness, case, mode):
    (x, w, bias, mult, shift, x_zp, y_zp, lo, hi), want = _case(case, seed=case[3])
    head = np.array(_params(case, want) + [x_zp, y_zp, lo, hi, mode], np.int32)
    blob = b"".join(a.tobytes() for a in (head, x, w, bias, mult, shift))
    out = subprocess.run([str(harness)], input=blob, capture_output=True, timeout=60, check=True).stdout
    got = np.frombuffer(out, np.int8).reshape(want.shape)
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(want)) > 20


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["ek_dwconv_s8_cuda", "ek_dwconv_s8_cuda_ref"])
def test_cuda_dwconv_on_the_gpu(name, tmp_path):
    from edgesdk.gpu.cuda_launch import driver_present
    if not driver_present():
        pytest.skip("no NVIDIA GPU/driver on this machine")
    from edgesdk.gpu.cuda_launch import CudaDriver
    from edgesdk.gpu.nvcc import compile_cubin, cuda_dir
    drv = CudaDriver()
    cubin = compile_cubin(cuda_dir() / "ek_dwconv_s8_cuda.cu", drv.arch, tmp_path / "dw.cubin")["cubin"]
    fn = drv.function(cubin, name)
    for case in CASES:
        (x, w, bias, mult, shift, x_zp, y_zp, lo, hi), want = _case(case, seed=case[3])
        ptrs = [drv.upload(a) for a in (x, w, bias, mult, shift)]
        py = drv.alloc(want.size)
        p = _params(case, want)
        drv.launch(fn, (-(-p[14] // 16), -(-p[13] // 16), p[0] * p[4]), (16, 16),
                   [("ptr", v) for v in ptrs] + [("ptr", py)] + [("i32", v) for v in p[1:] + [x_zp, y_zp, lo, hi]])
        np.testing.assert_array_equal(drv.download(py, want.shape, np.int8), want)
