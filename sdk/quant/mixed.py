"""Mixed precision: per-layer sensitivity at 2/4/8 bits, then an exact bit allocation by
integer linear programming (scipy.optimize.milp) under a weight-size budget.

Sensitivity of layer l at b bits: the model output MSE (relative to the output's
variance) on calibration samples when only layer l's weights are quantized to b bits
(round to nearest, MSE-optimal per-channel scales) and everything else stays float.
Sensitivities are treated as additive, the standard first-order assumption (HAWQ, ...):

    minimise  sum_l sum_b sens[l, b] * x[l, b]
    s.t.      sum_b x[l, b] = 1                             (one width per layer)
              sum_l sum_b bytes[l, b] * x[l, b] <= budget   (packed weight bytes)
              x binary
"""
from dataclasses import dataclass

import numpy as np

from .calibrate import iterate_batches, normalize_calib
from .prepare import prepare_float
from .ptq import QuantizeError, quantize
from .weights import fake_quant, weight_scale

CHOICES = (2, 4, 8)


@dataclass
class LayerInfo:
    name: str
    op: str
    weight: str
    params: int
    sens: dict  # bits -> relative output MSE


def _layers(fg):
    out = []
    for n in fg.nodes:
        if n.op in ("Conv", "Gemm", "MatMul") and len(n.inputs) > 1 and fg.const(n.inputs[1]) is not None:
            if n.op == "MatMul" and fg.const(n.inputs[1]).ndim != 2:
                continue
            out.append(n)
    return out


def _outputs(graph, calib):
    from ..reference import run
    outs = []
    for g, feeds in iterate_batches(graph, calib):
        res = run(g, feeds)
        outs.append(np.concatenate([np.asarray(res[o], np.float64).reshape(len(next(iter(feeds.values()))), -1)
                                    for o in graph.outputs], axis=1))
    return np.concatenate(outs)


def layer_sensitivity(graph, calib, choices=CHOICES, samples=128, seed=0):
    """[LayerInfo] for every Conv/Gemm/MatMul with constant weights, in graph order."""
    fg = prepare_float(graph)
    calib = normalize_calib(fg, calib)
    n_all = next(iter(calib.values())).shape[0]
    if n_all > samples:
        idx = np.sort(np.random.default_rng(seed).choice(n_all, samples, replace=False))
        calib = {k: v[idx] for k, v in calib.items()}
    ref = _outputs(fg, calib)
    var = float(ref.var()) or 1.0
    infos = []
    for node in _layers(fg):
        wname = node.inputs[1]
        w = fg.const(wname)
        # Quantize along the output channels: MatMul / Gemm(transB=0) weights are [K, M].
        trans = node.op == "MatMul" or (node.op == "Gemm" and not node.attrs.get("transB", 0))
        wo = w.T if trans else w
        sens = {}
        for b in choices:
            wq = fake_quant(wo, weight_scale(wo, b, search="mse" if b < 8 else None), b).astype(np.float32)
            g = fg.copy()
            g.tensors[wname].set_data(wq.T if trans else wq)
            sens[b] = float(((_outputs(g, calib) - ref) ** 2).mean() / var)
        infos.append(LayerInfo(node.name, node.op, wname, int(w.size), sens))
    return infos


def _bytes(params, bits):
    return (params * bits + 7) // 8


def plan_mixed_precision(infos, budget_bytes=None, budget_bits_per_weight=None, choices=CHOICES):
    """{layer name: bits} minimising the summed sensitivity under the budget (exact MILP)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    total_params = sum(i.params for i in infos)
    if budget_bytes is None and budget_bits_per_weight is None:
        raise QuantizeError("mixed precision needs --budget-bytes or --budget-bits-per-weight")
    if budget_bytes is None:
        if budget_bits_per_weight <= 0:
            raise QuantizeError(f"budget_bits_per_weight: {budget_bits_per_weight} must be positive")
        budget_bytes = int(np.floor(budget_bits_per_weight * total_params / 8))
    budget_bytes = int(budget_bytes)
    lo = sum(_bytes(i.params, min(choices)) for i in infos)
    if budget_bytes < lo:
        raise QuantizeError(f"budget: {budget_bytes} bytes is impossible; the smallest model "
                            f"({min(choices)}-bit weights everywhere) needs {lo} bytes")
    L, B = len(infos), len(choices)
    cost = np.array([[i.sens[b] for b in choices] for i in infos]).reshape(-1)
    size = np.array([[_bytes(i.params, b) for b in choices] for i in infos], np.float64).reshape(-1)
    one = np.zeros((L, L * B))
    for li in range(L):
        one[li, li * B:(li + 1) * B] = 1
    cons = [LinearConstraint(one, 1, 1), LinearConstraint(size[None], 0, budget_bytes)]
    # Tiny size tie-break: among equally sensitive plans prefer the smaller one.
    res = milp(cost + 1e-12 * size, constraints=cons, integrality=np.ones(L * B),
               bounds=Bounds(0, 1))
    if not res.success:
        raise QuantizeError(f"budget: no bit allocation fits {budget_bytes} bytes ({res.message})")
    x = np.round(res.x).reshape(L, B)
    return {i.name: int(choices[int(np.argmax(x[k]))]) for k, i in enumerate(infos)}


def format_plan(infos, plan, choices=CHOICES):
    """The chosen plan as a text table."""
    head = f"{'layer':<28} {'op':<6} {'params':>8} " + " ".join(f"{'sens@' + str(b):>10}" for b in choices) \
        + f" {'bits':>5} {'bytes':>8}"
    lines = [head, "-" * len(head)]
    total = 0
    for i in infos:
        b = plan[i.name]
        total += _bytes(i.params, b)
        lines.append(f"{i.name[-28:]:<28} {i.op:<6} {i.params:>8} "
                     + " ".join(f"{i.sens[c]:>10.2e}" for c in choices) + f" {b:>5} {_bytes(i.params, b):>8}")
    lines.append(f"{'total':<28} {'':<6} {sum(i.params for i in infos):>8} "
                 + " ".join(f"{'':>10}" for _ in choices) + f" {'':>5} {total:>8}")
    return "\n".join(lines)


def quantize_to_budget(graph, calib, budget_bytes=None, budget_bits_per_weight=None, choices=CHOICES,
                       sens_samples=128, **kw):
    """Sensitivity -> MILP plan -> quantize(weight_bits=plan). Returns (graph, plan, table)."""
    # Check the budget before the (slow) sensitivity analysis: an impossible one fails at once.
    fg = prepare_float(graph)
    sizes = [LayerInfo(n.name, n.op, n.inputs[1], int(fg.const(n.inputs[1]).size), {b: 0.0 for b in choices})
             for n in _layers(fg)]
    plan_mixed_precision(sizes, budget_bytes, budget_bits_per_weight, choices)
    infos = layer_sensitivity(graph, calib, choices, samples=sens_samples)
    plan = plan_mixed_precision(infos, budget_bytes, budget_bits_per_weight, choices)
    qg = quantize(graph, calib, weight_bits=plan, **kw)
    table = format_plan(infos, plan, choices)
    qg.meta.setdefault("quantization", {})["mixed_precision"] = {
        "plan": plan, "budget_bytes": budget_bytes, "budget_bits_per_weight": budget_bits_per_weight,
        "sensitivity": {i.name: {str(b): v for b, v in i.sens.items()} for i in infos}}
    return qg, plan, table
