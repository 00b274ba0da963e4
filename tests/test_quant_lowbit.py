"""Low bit-widths: 4/2-bit weights, AdaQuant-style layer-wise calibration, and mixed precision
by MILP (oracle: brute-force enumeration of every bit allocation)."""
import itertools

import numpy as np
import pytest

import edgesdk.quant as Q
from edgesdk.quant.mixed import LayerInfo, format_plan, plan_mixed_precision, quantize_to_budget
from edgesdk.quant.ptq import QuantizeError
from edgesdk.reference import run

from test_quant_ptq import hand_graph


def _logits_graph(seed):
    g = hand_graph(seed=seed)
    g.outputs = ["logits"]
    g.nodes = [n for n in g.nodes if n.name != "sm"]
    g.remove_unused_tensors()
    return g


def _out_mse(g, qg, xs):
    e = []
    for x in xs:
        f = run(g, {"x": x[None]})["logits"]
        q = Q.dequantize_outputs(qg, run(qg, Q.quantize_inputs(qg, {"x": x[None]})))["logits"]
        e.append(((f - q) ** 2).mean())
    return float(np.mean(e))


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    g = _logits_graph(7)
    calib = rng.normal(0, 1, (128, 3, 12, 12)).astype(np.float32)
    test = rng.normal(0, 1, (24, 3, 12, 12)).astype(np.float32)
    return g, calib, test


@pytest.mark.parametrize("bits", [4, 2])
def test_lowbit_weights_in_range_and_tagged(setup, bits):
    g, calib, _ = setup
    qg = Q.quantize(g, calib, weight_bits=bits, layerwise=False, bias_correction=False)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    for n in qg.nodes:
        if n.op in ("QConv", "QGemm"):
            w = qg.tensors[n.inputs[1]]
            assert w.dtype == "s8" and w.quant.bits == bits and w.tags["packing"] == {"bits": bits}
            assert lo <= int(w.data.min()) and int(w.data.max()) <= hi
    n_w = sum(qg.tensors[n.inputs[1]].data.size for n in qg.nodes if n.op in ("QConv", "QGemm"))
    assert Q.weight_bytes(qg) == sum((qg.tensors[n.inputs[1]].data.size * bits + 7) // 8 +
                                     qg.tensors[n.inputs[2]].data.size * 4
                                     for n in qg.nodes if n.op in ("QConv", "QGemm"))
    assert n_w > 0


def test_layerwise_calibration_beats_round_to_nearest(setup):
    g, calib, test = setup
    rtn = Q.quantize(g, calib, weight_bits=4, layerwise=False, bias_correction=False)
    ada = Q.quantize(g, calib, weight_bits=4, layerwise=True, bias_correction=False, layerwise_steps=150)
    log = ada.meta["refine"]["layers"]
    assert all(v["adaquant_mse"][1] <= v["adaquant_mse"][0] for v in log.values())
    assert _out_mse(g, ada, test) < _out_mse(g, rtn, test)


def test_milp_matches_brute_force():
    rng = np.random.default_rng(1)
    infos = [LayerInfo(f"l{i}", "Conv", f"w{i}", int(p), {2: float(s2), 4: float(s2) / f4, 8: float(s2) / f8})
             for i, (p, s2, f4, f8) in enumerate(zip(rng.integers(50, 900, 6), rng.uniform(0.1, 2, 6),
                                                      rng.uniform(3, 20, 6), rng.uniform(50, 400, 6)))]
    sizes = {i.name: {b: (i.params * b + 7) // 8 for b in (2, 4, 8)} for i in infos}
    for budget in (sum(s[2] for s in sizes.values()) + 37, sum(s[4] for s in sizes.values()),
                   sum(s[4] for s in sizes.values()) + 400):
        plan = plan_mixed_precision(infos, budget_bytes=budget)
        best = min((sum(i.sens[b] for i, b in zip(infos, combo)), combo)
                   for combo in itertools.product((2, 4, 8), repeat=len(infos))
                   if sum(sizes[i.name][b] for i, b in zip(infos, combo)) <= budget)
        got = sum(i.sens[plan[i.name]] for i in infos)
        assert got == pytest.approx(best[0], rel=1e-9)
        assert sum(sizes[n][b] for n, b in plan.items()) <= budget
    assert "total" in format_plan(infos, plan)


def test_impossible_budget(setup):
    infos = [LayerInfo("a", "Conv", "w", 100, {2: 1.0, 4: 0.5, 8: 0.1})]
    with pytest.raises(QuantizeError, match="impossible.*25 bytes"):
        plan_mixed_precision(infos, budget_bytes=24)
    with pytest.raises(QuantizeError, match="impossible"):
        plan_mixed_precision(infos, budget_bits_per_weight=1.0)


def test_mixed_precision_end_to_end(setup):
    g, calib, test = setup
    uniform4 = Q.quantize(g, calib, weight_bits=4, layerwise=False)
    budget = sum((uniform4.tensors[n.inputs[1]].data.size * 4 + 7) // 8
                 for n in uniform4.nodes if n.op in ("QConv", "QGemm"))
    qg, plan, table = quantize_to_budget(g, calib, budget_bytes=budget, layerwise=False, sens_samples=64)
    packed = sum((qg.tensors[n.inputs[1]].data.size * plan[n.name] + 7) // 8
                 for n in qg.nodes if n.op in ("QConv", "QGemm"))
    assert packed <= budget
    assert set(plan.values()) <= {2, 4, 8} and "bits" in table
    assert Q.float_ops(qg) == []
