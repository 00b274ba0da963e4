"""The _dsp (Cortex-M4/M7) and _mve (Cortex-M55) kernels, run under QEMU through the
kernel-checker firmware (cases in and results out over semihosting), are bit-exact with
the Python integer reference; so are the _ref kernels compiled for the M4."""
import glob
import os
import textwrap

import numpy as np
import pytest

from conftest import require_tools
from edgesdk import kernelcheck as kc
from edgesdk.kernelcheck import arm as kca
from edgesdk.package import arm
from edgesdk.paths import kernels_dir

needs_arm = require_tools("arm-none-eabi-gcc", "qemu-system-arm")


def _all_op_cases(n, seed):
    cases = []
    for i, op in enumerate(kc.OPS):
        cases += kc.random_cases(op, n, seed=seed + i)
    return cases


def _assert_exact(cases, results):
    bad = kca.mismatches(cases, results)
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. {bad[:3]}"


@needs_arm
@pytest.mark.parametrize("isa,board", [("dsp", "mps2-an386"), ("dsp", "mps2-an500"),
                                       ("dsp", "mps3-an547"), ("mve", "mps3-an547"), ("ref", "mps2-an386")])
def test_variant_on_core_matches_reference(isa, board):
    # Every op, many random shapes (odd channels, K % 4 != 0, strides, pads, dilations,
    # NULL bias, fused activations), one QEMU run per variant.
    cases = _all_op_cases(25, seed=100)
    _assert_exact(cases, kca.run_cases(cases, isa, board))


@needs_arm
@pytest.mark.parametrize("isa,board,opt", [("dsp", "mps2-an386", "-O0"), ("dsp", "mps3-an547", "-Os"),
                                           ("mve", "mps3-an547", "-O0")])
def test_variant_at_other_optimisation_levels(isa, board, opt):
    # The inline-assembly tiles must build (and stay exact) whatever the user's -O level.
    cases = []
    for i, op in enumerate(("conv2d", "conv1x1", "fc", "dwconv2d", "add")):
        cases += kc.random_cases(op, 6, seed=300 + i)
    _assert_exact(cases, kca.run_cases(cases, isa, board, opt=opt))


@needs_arm
@pytest.mark.parametrize("isa,board", [("dsp", "mps2-an386"), ("mve", "mps3-an547")])
def test_variant_on_mlperf_tiny_shapes(isa, board):
    rng = np.random.default_rng(5)
    cases = [
        kc.conv_case(rng, "conv2d", 32, 32, 16, 16, 3, 3, pads=(1, 1, 1, 1)),
        kc.conv_case(rng, "conv2d", 32, 32, 16, 32, 3, 3, stride=(2, 2), pads=(0, 0, 1, 1)),
        kc.conv_case(rng, "conv1x1", 16, 16, 32, 64, 1, 1, stride=(2, 2)),
        kc.conv_case(rng, "dwconv2d", 25, 5, 64, 64, 3, 3, pads=(1, 1, 1, 1)),
        kc.fc_case(rng, 1, 640, 128),
        kc.fc_case(rng, 1, 640, 128, sparse_density=0.25),
        kc.pool_case(rng, "avgpool", 8, 8, 64, (8, 8), (1, 1)),
        kc.softmax_case(rng, 1, 12),
        kc.bconv_case(rng, 16, 16, 64, 32, 3, 3, pads=(1, 1, 1, 1)),
    ]
    results = kca.run_cases(cases, isa, board)
    _assert_exact(cases, results)
    assert all(n > 0 for n, _ in results)  # instruction counts were measured


@needs_arm
def test_check_variant_for_every_arm_kernel_file():
    # The single top-level sweep: every _ref/_dsp/_mve s8/b1 kernel file of the tree.
    files = sorted(glob.glob(str(kernels_dir() / "ek_*_s8_*.c")) + glob.glob(str(kernels_dir() / "ek_*_b1_*.c")))
    files = [f for f in files if f.rsplit("_", 1)[1] in ("ref.c", "dsp.c", "mve.c")]
    assert len(files) >= 33
    failed = [os.path.basename(f) for f in files if not kca.check_variant(f, cases=6, seed=7)]
    assert not failed


@needs_arm
def test_mve_vector_requant_is_the_exact_spec(tmp_path):
    # ek_mve_requant / ek_mve_requant_n against the exact 64-bit single rounding, over
    # every shift in [-31, 30] and accumulators from tiny to +-2^31, including the
    # saturating cases: compared after the int8 clamp, like the Python reference.
    src = tmp_path / "rq.c"
    src.write_text(textwrap.dedent(r"""
        #include "ek_arm_mve.h"
        #include "ek_platform.h"
        static uint32_t s = 12345u;
        static uint32_t rnd(void) { s = s * 1664525u + 1013904223u; return s; }
        static int32_t exact(int32_t acc, int32_t m, int32_t sh, int32_t zp) {
            int32_t t = 31 - sh;
            int64_t p = (int64_t)acc * m;
            /* floor((p + 2^(t-1)) / 2^t) without overflow: split off the low t bits */
            int64_t q = (p >> t) + (((p & (((int64_t)1 << t) - 1)) >= ((int64_t)1 << (t - 1))) ? 1 : 0);
            q += zp;
            return (int32_t)(q < -128 ? -128 : q > 127 ? 127 : q);
        }
        int main(void) {
            uint32_t bad = 0, n = 0;
            for (int32_t sh = -31; sh <= 30; sh++) {
                for (int i = 0; i < 400; i++) {
                    int32_t acc[4], m[4], sv[4];
                    for (int j = 0; j < 4; j++) {
                        int bits = (int)(rnd() % 32u);
                        acc[j] = (int32_t)rnd() >> bits;
                        m[j] = (int32_t)((1u << 30) | (rnd() >> 2));
                        sv[j] = (i & 1) ? sh : (int32_t)(rnd() % 62u) - 31;
                    }
                    if (i == 0) { acc[0] = INT32_MAX; acc[1] = INT32_MIN; acc[2] = 0; acc[3] = -1; }
                    int32_t zp = (int32_t)(rnd() % 256u) - 128;
                    int32x4_t r = ek_mve_out_stage(ek_mve_requant(vldrwq_s32(acc), vldrwq_s32(m), vldrwq_s32(sv)), zp, -128, 127);
                    int32x4_t rn = ek_mve_out_stage(ek_mve_requant_n(vldrwq_s32(acc), m[0], sh), zp, -128, 127);
                    int32_t out[4], outn[4];
                    vstrwq_s32(out, r); vstrwq_s32(outn, rn);
                    for (int j = 0; j < 4; j++) {
                        bad += out[j] != exact(acc[j], m[j], sv[j], zp);
                        bad += outn[j] != exact(acc[j], m[0], sh, zp);
                        n += 2;
                    }
                }
            }
            ek_uart_puts("checked "); ek_uart_put_u32(n); ek_uart_puts(" bad "); ek_uart_put_u32(bad); ek_uart_puts("\n");
            return bad ? 1 : 0;
        }"""))
    info = arm.compile_firmware([src], "mps3-an547", tmp_path / "rq.elf")
    res = arm.run_firmware(info.elf, "mps3-an547", timeout=60)
    assert res.exit_code == 0, res.text
    assert "checked 198400 bad 0" in res.text
