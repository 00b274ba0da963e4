"""MLPerf Tiny models through the whole mcu build, on the emulated M4 (DSP) and M55 (MVE).

The build's self-test runs the optimized kernels on the emulated core and compares the
output with the integer reference interpreter bit for bit (the oracle); the test checks
the verdict, the arena against the liveness lower bound (goal: within 10 %), and that the
per-layer instruction counts are sane (they sum to at most the whole inference, which a
kernel writing past its output into the counters breaks). KWS DS-CNN (conv, depthwise,
1x1, average pool, flatten, FC) and the AD autoencoder (FC only) are the two smallest of
the four; the others are measured by bench/mcu_mlperf.py.
"""
import sys
from pathlib import Path

import pytest

from conftest import require_tools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from mcu_mlperf import quantized_model  # noqa: E402  (the bench's calibration recipe)

from edgesdk.pipeline import build  # noqa: E402

BOARDS = {"mps2-an386": "dsp", "mps3-an547": "mve"}


@pytest.fixture(scope="module", params=["kws_dscnn", "ad_autoencoder"])
def model(request):
    return (request.param, *quantized_model(request.param, n_calib=16))


@require_tools("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_mlperf_model_builds_bit_exact_with_tight_arena(model, board, tmp_path):
    name, q, sample = model
    r = build(q, "mcu", board, tmp_path / "b", calib=sample, quiet=True)
    s = r.summary
    assert r.manifest["kernels"] == [BOARDS[board]]
    assert s["selftest"] == "bit-exact"
    assert s["arena_lower_bound"] > 0 and s["arena_bytes"] <= 1.10 * s["arena_lower_bound"]
    layers = r.manifest["layers"]
    assert all(L["instructions"] for L in layers)
    assert sum(L["instructions"] for L in layers) <= s["instructions"]
    # FC layers count M * K MACs once (batch 1), also after GlobalAvgPool -> Flatten.
    for L, node in ((L, next(n for n in q.nodes if n.name == L["name"])) for L in layers if L["op"] == "QGemm"):
        m, k = q.tensors[node.inputs[1]].shape
        assert L["macs"] == m * k, (L["name"], L["macs"], m, k)
    # An optimized build does fewer instructions than the portable C of the same model
    # (measured by the bench; here only a sanity floor: at least 1 instruction per 8 MACs).
    assert s["instructions"] >= s["macs"] / 8
