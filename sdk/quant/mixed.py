"""Mixed precision: per-layer sensitivity at 2/4/8 bits, then an exact bit allocation by
integer linear programming (scipy.optimize.milp) under a weight-size budget.

Sensitivity of layer l at b bits: the damage to the model output on calibration samples
when only layer l's weights are quantized to b bits and everything else stays float.
By default (method "calibrated", edgesdk.quant.sensitivity) the layer is first finished
with the same layer-wise calibration `quantize` applies (fitted on half the calibration
samples), and the damage is the KL divergence of the class distribution from the float
one (classifiers; output MSE otherwise) on the other half. Method "rtn" is the plain
variant: round to nearest with MSE-optimal per-channel scales, output MSE relative to
the output's variance.
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
    sens: dict  # bits -> output damage (KL or relative MSE, see layer_sensitivity)


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


SENS_METHODS = ("calibrated", "rtn")


def layer_sensitivity(graph, calib, choices=CHOICES, samples=256, seed=0, method="calibrated", metric=None,
                      steps=300, context_bits=None):
    """[LayerInfo] for every Conv/Gemm/MatMul with constant weights, in graph order.

    method "calibrated": layer-wise calibrated weights, damage by `metric` ("kl" for a
    classifier output, else "mse"; see edgesdk.quant.sensitivity). method "rtn": round to
    nearest, relative output MSE (the metric argument is then ignored).
    context_bits (method "calibrated" only): the other layers at this width instead of
    float while one layer is measured (edgesdk.quant.sensitivity).
    """
    if method not in SENS_METHODS:
        raise QuantizeError(f"sensitivity method {method!r}: expected one of {', '.join(SENS_METHODS)}")
    if context_bits is not None and method != "calibrated":
        raise QuantizeError(f"sensitivity context_bits needs method 'calibrated', not {method!r}")
    fg = prepare_float(graph)
    if method == "calibrated":
        from .sensitivity import calibrated_sensitivity, default_metric
        if metric is not None and metric not in ("kl", "mse"):
            raise QuantizeError(f"sensitivity metric {metric!r}: expected kl or mse")
        if metric == "kl" and default_metric(fg) != "kl":
            raise QuantizeError(f"sensitivity metric kl needs one (N, classes) output; graph {fg.name} has "
                                f"{[tuple(fg.tensors[o].shape) for o in fg.outputs]}")
        nodes = _layers(fg)
        sens = calibrated_sensitivity(fg, normalize_calib(fg, calib), nodes, choices, samples=samples,
                                      metric=metric, steps=steps, seed=seed, context_bits=context_bits)
        return [LayerInfo(n.name, n.op, n.inputs[1], int(fg.const(n.inputs[1]).size), sens[n.name])
                for n in nodes]
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


def resolve_budget(infos, budget_bytes=None, budget_bits_per_weight=None):
    """The weight-byte budget: budget_bytes as given, or bits per weight over all layers."""
    if budget_bytes is None and budget_bits_per_weight is None:
        raise QuantizeError("mixed precision needs --budget-bytes or --budget-bits-per-weight")
    if budget_bytes is not None:
        return int(budget_bytes)
    if budget_bits_per_weight <= 0:
        raise QuantizeError(f"budget_bits_per_weight: {budget_bits_per_weight} must be positive")
    return int(np.floor(budget_bits_per_weight * sum(i.params for i in infos) / 8))


def plan_mixed_precision(infos, budget_bytes=None, budget_bits_per_weight=None, choices=CHOICES):
    """{layer name: bits} minimising the summed sensitivity under the budget (exact MILP)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    budget_bytes = resolve_budget(infos, budget_bytes, budget_bits_per_weight)
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


def format_plan(infos, plan, choices=CHOICES, metric=None, budget_bytes=None):
    """The chosen plan as a text table (metric: what the sens@ columns measure)."""
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
    notes = []
    if metric:
        notes.append("sens@b: " + {"kl": "KL(float || quantized) of the class probabilities",
                                   "mse": "output MSE / output variance"}.get(metric, metric)
                     + ", only that layer at b bits")
    if budget_bytes is not None:
        notes.append(f"budget {int(budget_bytes)} weight bytes, plan uses {total}")
    return "\n".join(lines + notes)


def quantize_to_budget(graph, calib, budget_bytes=None, budget_bits_per_weight=None, choices=CHOICES,
                       sens_samples=256, sens_method="calibrated", sens_metric=None, sens_context_bits=None, **kw):
    """Sensitivity -> MILP plan -> quantize(weight_bits=plan). Returns (graph, plan, table).

    sens_method / sens_metric: see layer_sensitivity; the calibrated sensitivity uses the
    same number of layer-wise steps (kw layerwise_steps) and seed as the quantization;
    sens_context_bits: see layer_sensitivity."""
    # Check the budget before the (slow) sensitivity analysis: an impossible one fails at once.
    fg = prepare_float(graph)
    sizes = [LayerInfo(n.name, n.op, n.inputs[1], int(fg.const(n.inputs[1]).size), {b: 0.0 for b in choices})
             for n in _layers(fg)]
    plan_mixed_precision(sizes, budget_bytes, budget_bits_per_weight, choices)
    infos = layer_sensitivity(graph, calib, choices, samples=sens_samples, seed=kw.get("seed", 0),
                              method=sens_method, metric=sens_metric, steps=kw.get("layerwise_steps", 300),
                              context_bits=sens_context_bits)
    plan = plan_mixed_precision(infos, budget_bytes, budget_bits_per_weight, choices)
    qg = quantize(graph, calib, weight_bits=plan, **kw)
    metric = infos_metric(fg, sens_method, sens_metric)
    table = format_plan(infos, plan, choices, metric=metric,
                        budget_bytes=resolve_budget(infos, budget_bytes, budget_bits_per_weight))
    qg.meta.setdefault("quantization", {})["mixed_precision"] = {
        "plan": plan, "budget_bytes": budget_bytes, "budget_bits_per_weight": budget_bits_per_weight,
        "sensitivity_method": sens_method, "sensitivity_metric": metric, "sensitivity_context_bits": sens_context_bits,
        "sensitivity": {i.name: {str(b): v for b, v in i.sens.items()} for i in infos}}
    return qg, plan, table


def infos_metric(fg, method, metric):
    """The damage measure the sensitivities of `method` / `metric` are in (for tables and
    meta); fg: the prepared float graph (prepare_float), not prepared a second time here."""
    if method == "rtn":
        return "mse"
    if metric:
        return metric
    from .sensitivity import default_metric
    return default_metric(fg)
