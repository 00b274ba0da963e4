"""The M4 DSP convolution tile's separate paths, each forced by a shape or a constant and
checked bit for bit against the Python integer reference (edgesdk.reference.quantized)
under QEMU: requantization in registers (whole 6-pixel tiles, shifts -22..-2, with and
without activation bounds) vs in C (partial tiles, other shifts), the K % 4 tail as a
padded group (last weight row copied when K <= 256, done in C above), 3-channel inputs
gathered word-wise, interior vs padded pixels, NULL bias, channel counts around the
8-channel block; the depthwise plane path and its size limit; the 4-row FC routine;
tabulated QAdd."""
import numpy as np
import pytest

from conftest import require_tools
from edgesdk import kernelcheck as kc
from edgesdk.kernelcheck import arm as kca
from edgesdk.quant.fixedpoint import activation_range, quantize_multiplier
from edgesdk.reference import quantized as qref

needs_arm = require_tools("arm-none-eabi-gcc", "qemu-system-arm")


def conv(rng, op, in_h, in_w, in_c, out_c, k, stride=1, pad=0, scale=None, act="relu", bias=True):
    """A conv case with chosen requantization scales (per channel) and activation."""
    x_zp, y_zp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    x = rng.integers(-128, 128, size=(1, in_c, in_h, in_w), dtype=np.int8)
    w = rng.integers(-128, 128, size=(out_c, in_c, k, k), dtype=np.int8)
    b = rng.integers(-(1 << 14), 1 << 14, size=out_c).astype(np.int32) if bias else None
    if scale is None:  # outputs spread over the int8 range
        scale = rng.uniform(0.2, 1.5, size=out_c) / (128.0 * np.sqrt(k * k * in_c))
    mult, shift = quantize_multiplier(np.asarray(scale, np.float64))
    lo, hi = activation_range(act, 0.05, y_zp)
    pads = [pad, pad, pad, pad]
    y = qref.qconv2d(x, w, b, x_zp, y_zp, mult, shift, [stride, stride], pads, [1, 1], 1, lo, hi)
    _, _, oh, ow = y.shape
    params = [in_h, in_w, in_c, oh, ow, out_c, k, k, stride, stride, pad, pad, 1, 1, -x_zp, y_zp, lo, hi]
    bufs = [x[0].transpose(1, 2, 0), w.transpose(0, 2, 3, 1), b, mult, shift]
    return kc.Case(op, params, bufs, y[0].transpose(1, 2, 0).reshape(-1), oh * ow * out_c * k * k * in_c,
                   f"{op} {in_h}x{in_w}x{in_c}->{out_c} k{k} s{stride} p{pad} {act}")


def test_scales_select_the_requantization_path():
    # The constants below must really land on both sides of the fast-shift window.
    _, s_fast = quantize_multiplier(np.array([1e-3, 2e-7]))
    _, s_slow = quantize_multiplier(np.array([0.3, 0.9, 2e-8]))
    assert all(-22 <= s <= -2 for s in s_fast)
    assert all(s > -2 or s < -22 for s in s_slow)


@needs_arm
def test_dsp_conv_tile_paths_are_exact():
    rng = np.random.default_rng(77)
    cases = []
    for out_c in (1, 7, 8, 9, 17):
        for act in ("none", "relu", "relu6"):
            # RGB first layer: K = 27 (tail 3), 7x7 = 49 pixels (a partial last tile)
            cases.append(conv(rng, "conv2d", 7, 7, 3, out_c, 3, pad=1, act=act))
    cases += [
        conv(rng, "conv2d", 9, 9, 16, 16, 3, pad=1, act="none"),               # interior + border
        conv(rng, "conv2d", 9, 9, 16, 12, 3, stride=2, pad=1, act="relu6", bias=False),
        conv(rng, "conv2d", 5, 5, 29, 5, 3, pad=1),                            # K = 261 > 256, tail 1
        conv(rng, "conv2d", 6, 6, 2, 3, 1),                                    # K = 2: no whole group
        conv(rng, "conv2d", 8, 8, 8, 10, 3, pad=1, scale=[0.3] * 5 + [1e-3] * 5),   # shift >= -1
        conv(rng, "conv2d", 8, 8, 8, 4, 3, pad=1, scale=[2e-8, 1e-3, 1e-3, 2e-7]),  # shift < -22
        conv(rng, "conv2d", 8, 8, 8, 4, 3, pad=1, scale=[2e-7] * 4),           # the window's edge
        conv(rng, "conv1x1", 6, 6, 7, 9, 1, stride=2),                         # 1x1, K % 4 = 3
        conv(rng, "conv1x1", 6, 6, 301, 3, 1),                                 # 1x1, K = 301 > 256
    ]
    # depthwise 3x3: int16 channel planes (quads + single channels, strides 1/2, uneven
    # pads, the 256-element plane limit exactly) and the general loop just past it
    for ch, hw, stride, pads in [(6, (14, 14), 1, (1, 1, 1, 1)), (5, (9, 7), 2, (0, 0, 1, 1)),
                                 (8, (4, 5), 1, (1, 1, 1, 1)), (4, (15, 14), 1, (1, 1, 1, 1))]:
        cases.append(kc.conv_case(rng, "dwconv2d", *hw, ch, ch, 3, 3, stride=(stride, stride), pads=pads))
    # FC: 4-row routine (+ K % 4 tails in C), then 3-row and single-row remainders
    cases += [kc.fc_case(rng, batch, k, m) for batch, k, m in
              [(1, 640, 128), (2, 130, 7), (1, 7, 9), (2, 3, 5), (1, 12, 4), (1, 20, 1)]]
    # QAdd: direct below EK_ADD_TABLE_MIN (512) elements, tabulated from there
    cases += [kc.add_case(rng, n) for n in (511, 512, 700, 700, 700, 3000)]
    res = kca.run_cases(cases, "dsp", "mps2-an386")
    bad = kca.mismatches(cases, res)
    assert not bad, f"{len(bad)} of {len(cases)} differ: {bad[:3]}"
