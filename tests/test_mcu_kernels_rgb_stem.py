"""The 3-channel 3x3 convolution (an RGB stem) on the Cortex-M kernels: the _dsp kernel
assembles interior columns straight from unaligned words (groups straddling two kernel
rows borrow and mask neighbouring bytes); the _mve kernel copies interior rows without
bounds logic.  Bit-exact with the Python integer reference on the shapes that reach the
edges of those paths: input exactly 3 wide or 3 high, strides, row dilation (the
borrowed bytes then come from other rows), column dilation (not the fast path), extreme
zero points (the x_zp pad byte), NULL bias."""
import numpy as np
import pytest

from conftest import require_tools
from edgesdk import kernelcheck as kc
from edgesdk.kernelcheck import arm as kca

needs_arm = require_tools("arm-none-eabi-gcc", "qemu-system-arm")


def _cases():
    rng = np.random.default_rng(31)
    P1 = (1, 1, 1, 1)
    specs = [
        dict(in_h=3, in_w=3), dict(in_h=3, in_w=3, pads=P1), dict(in_h=4, in_w=3),
        dict(in_h=3, in_w=7, pads=(0, 1, 0, 0)), dict(in_h=9, in_w=8, pads=P1),
        dict(in_h=11, in_w=10, stride=(2, 2), pads=(0, 0, 1, 1)), dict(in_h=10, in_w=9, stride=(1, 3)),
        dict(in_h=12, in_w=7, dil=(2, 1), pads=P1), dict(in_h=9, in_w=9, dil=(1, 2), pads=P1),
        dict(in_h=8, in_w=8, pads=P1, bias=False), dict(in_h=7, in_w=6, pads=P1, x_zp=-128),
        dict(in_h=7, in_w=6, pads=P1, x_zp=127), dict(in_h=16, in_w=16, pads=P1, x_zp=5),
    ]
    cases = []
    for i, sp in enumerate(specs):
        sp = dict(sp)
        in_h, in_w = sp.pop("in_h"), sp.pop("in_w")
        cases.append(kc.conv_case(rng, "conv2d", in_h, in_w, 3, 5 + i % 4, 3, 3, **sp))
    return cases


@needs_arm
@pytest.mark.parametrize("isa,board", [("dsp", "mps2-an386"), ("mve", "mps3-an547")])
def test_rgb_3x3_conv_is_exact(isa, board):
    cases = _cases()
    bad = kca.mismatches(cases, kca.run_cases(cases, isa, board))
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. {bad[:3]}"
