"""ek_add_s8_{dsp,mve} on every path they specialize: each of the three requantizations
in its shift >= -1 and shift <= -2 form (the _mve loop is specialized per combination),
lengths with and without a 4-element tail, short (in-register) and long (tabulated, _dsp)
adds; bit-exact with the Python integer reference (edgesdk.reference.quantized.qadd)."""
import itertools

import numpy as np
import pytest

from conftest import require_tools
from edgesdk import kernelcheck as kc
from edgesdk.kernelcheck import arm as kca
from edgesdk.reference import quantized as qref

needs_arm = require_tools("arm-none-eabi-gcc", "qemu-system-arm")


def _fitting_out_shift(a, b, a_zp, b_zp, am, a_shift, bm, b_shift, m):
    """The output shift that maps the largest |a' + b'| to about 100 (few clamped values)."""
    ls = qref.QADD_LEFT_SHIFT
    s = (qref.requantize((a.astype(np.int64) - a_zp) << ls, am, a_shift)
         + qref.requantize((b.astype(np.int64) - b_zp) << ls, bm, b_shift))
    peak = max(int(np.abs(s).max()), 1)
    return min(0, int(np.floor(np.log2(100 / peak))))  # y ~ s * m / 2^31 * 2^shift, m ~ 2^31


def _case(rng, n, a_shift, b_shift, out_shift=None):
    a_zp, b_zp, y_zp = (int(v) for v in rng.integers(-128, 128, size=3))
    am, bm, m = (int(v) for v in rng.integers(1 << 30, (1 << 31) - 1, size=3))
    y_zp = int(np.clip(y_zp, -40, 40))
    lo = int(rng.integers(-128, y_zp + 1)) if rng.random() < 0.5 else -128
    hi = 127
    a = rng.integers(-128, 128, size=n, dtype=np.int8)
    b = rng.integers(-128, 128, size=n, dtype=np.int8)
    if out_shift is None:
        out_shift = _fitting_out_shift(a, b, a_zp, b_zp, am, a_shift, bm, b_shift, m)
    y = qref.qadd(a, b, a_zp, b_zp, y_zp, am, a_shift, bm, b_shift, m, out_shift, lo, hi)
    params = [-a_zp, am, a_shift, -b_zp, bm, b_shift, m, out_shift, y_zp, qref.QADD_LEFT_SHIFT, lo, hi, n]
    return kc.Case("add", params, [a, b], np.asarray(y, np.int8).reshape(-1), n,
                   f"add n={n} shifts={a_shift},{b_shift},{out_shift}")


def _cases():
    rng = np.random.default_rng(77)
    # input shifts -1 and 0 take the VQSHL/VRMULH form, -2 .. -24 VMULH/VRSHL; the output
    # shift is chosen so that most results are not clamped: the down form (large a', b')
    # for every input combination, the up form (0, -1) where both inputs shrink a lot
    cases = []
    for sa, sb in itertools.product((0, -1, -2, -24), (-1, -2, -20)):
        for n in (1, 7, 16, 45):
            cases.append(_case(rng, n, sa, sb))
    for sa, sb, so in itertools.product((-21, -24), (-22, -25), (0, -1)):
        for n in (3, 16, 45):
            cases.append(_case(rng, n, sa, sb, so))
    cases += [_case(rng, 45, -1, -1, 0), _case(rng, 9, 0, -2, -1)]  # saturating
    cases += [_case(rng, n, sa, sb) for n, sa, sb in ((511, -24, -23), (513, -2, -20), (1026, -1, -1))]
    cases += [_case(rng, 600, -22, -22, 0), _case(rng, 601, -2, -24)]
    return cases


@needs_arm
@pytest.mark.parametrize("isa,board", [("dsp", "mps2-an386"), ("mve", "mps3-an547")])
def test_add_every_requant_form_is_exact(isa, board):
    cases = _cases()
    bad = kca.mismatches(cases, kca.run_cases(cases, isa, board))
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. {bad[:3]}"
