"""Per-layer sensitivity for mixed precision, measured the way the layer will really be
quantized, and on the model's task output.

For every Conv/Gemm/MatMul with constant weights and every candidate width b, only that
layer is quantized (everything else stays float) and the damage is measured at the
model output. Two refinements over a plain round-to-nearest output MSE, both because
the ranking of plans depends on them:

- "calibrated": below 8 bits the layer's weights, per-channel scales and bias are first
  optimised with the same AdaQuant-style layer-wise calibration that `quantize` applies
  (edgesdk.quant.refine.adaquant_layer, on the float layer input and output). A layer
  whose 2-bit round-to-nearest error looks fatal may recover most of it once calibrated,
  and the plan is finished with that calibration, so that is the error to budget for.
  8-bit layers use absmax round-to-nearest, as `quantize` does.
- metric "kl": the mean KL divergence from the float model's class distribution
  (softmax of the output logits) to the quantized one. Output MSE weighs every logit
  alike; the KL weighs the errors that move probability mass, i.e. the decision.
  "mse" (output MSE relative to the output variance) serves models that are not
  classifiers.
The calibration fits on one part of the calibration samples and the damage is measured
on the others (split_sizes), because a calibrated layer always looks better on the
samples it was fitted to than on new inputs, and the more so the more weights it has.

context_bits (optional): measure layer l at b bits with every OTHER measured layer
quantized at context_bits (e.g. 4, the mean width of a 4-bit budget) instead of float.
Errors do not add up exactly: a layer whose error is swamped by the others' counts for
less than it does alone. Every layer's sens[context_bits] is then the same number (the
all-context model), so the MILP still compares the same plans, with other costs.
"""
import numpy as np

from .calibrate import normalize_calib, widen_batch
from .weights import fake_quant, weight_scale


def default_metric(graph):
    """'kl' for a single (N, C>=2) output (a classifier's logits or probabilities), else 'mse'."""
    if len(graph.outputs) != 1:
        return "mse"
    shape = tuple(graph.tensors[graph.outputs[0]].shape or ())
    return "kl" if len(shape) == 2 and shape[1] >= 2 else "mse"


def _log_probs(y, is_prob):
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    if is_prob:
        return np.log(np.clip(y, 1e-12, None))
    y = y - y.max(1, keepdims=True)
    return y - np.log(np.exp(y).sum(1, keepdims=True))


class OutputDamage:
    """Distance of a model output from the float reference output on the same samples."""

    def __init__(self, graph, ref, metric):
        self.metric = metric
        prod = graph.producers()
        src = prod.get(graph.outputs[0])
        self.is_prob = src is not None and src.op == "Softmax"
        if metric == "kl":
            self.ref_lp = _log_probs(ref, self.is_prob)
        else:
            self.ref = np.asarray(ref, np.float64)
            self.var = float(self.ref.var()) or 1.0

    def __call__(self, out):
        if self.metric == "kl":
            lq = _log_probs(out, self.is_prob)
            return float((np.exp(self.ref_lp) * (self.ref_lp - lq)).sum(1).mean())
        return float(((np.asarray(out, np.float64) - self.ref) ** 2).mean() / self.var)


def split_sizes(n_all, samples):
    """(fit, held-out) sample counts: the calibration fits on up to `samples` samples and the
    damage is measured on up to `samples` others. Measured on the fitting samples, a large
    layer calibrated at 2 bits looks nearly free (it fits those samples; measured: 10x
    below its real damage on a 100k-weight FC layer); held out, it does not. Fewer than
    2 samples: both on the same ones."""
    if n_all < 2:
        return n_all, 0
    n_fit = min(samples, n_all - min(samples, n_all // 2))
    return n_fit, min(samples, n_all - n_fit)


def _orientation(graph, node):
    """True when the weight is stored [K, M] (MatMul, Gemm transB=0): transpose to [M, K]."""
    return node.op == "MatMul" or (node.op == "Gemm" and not node.attrs.get("transB", 0))


def calibrated_sensitivity(fg, calib, layers, choices, samples=256, metric=None, steps=300, seed=0,
                           calibrated=True, context_bits=None):
    """{layer name: {bits: damage}} for the prepared float graph `fg` (see the module doc).

    layers: the Conv/Gemm/MatMul nodes to measure. calibrated=False gives round-to-nearest
    (MSE-optimal per-channel scales below 8 bits) instead of the layer-wise calibration.
    context_bits: None (the others stay float) or the width of the other layers.
    """
    from ..reference import run

    metric = metric or default_metric(fg)
    from .ptq import QuantizeError
    if metric not in ("kl", "mse"):
        raise QuantizeError(f"sensitivity metric {metric!r}: expected kl or mse")
    if context_bits is not None and context_bits not in (2, 3, 4, 5, 6, 7, 8):
        raise QuantizeError(f"sensitivity context_bits {context_bits!r}: expected a weight width 2..8")
    calib = normalize_calib(fg, calib)
    n_all = next(iter(calib.values())).shape[0]
    n_fit, n_eval = split_sizes(n_all, samples)
    perm = np.random.default_rng(seed).permutation(n_all)
    fit = {k: v[np.sort(perm[:n_fit])] for k, v in calib.items()}
    held = {k: v[np.sort(perm[n_fit:n_fit + n_eval])] for k, v in calib.items()} if n_eval else fit
    g = widen_batch(fg, n_fit)
    ge = widen_batch(fg, len(next(iter(held.values()))))
    if g is None or ge is None:
        raise QuantizeError(f"calibrated sensitivity: the batch axis of graph {fg.name} cannot be widened; "
                            f"use the round-to-nearest sensitivity (method 'rtn')")
    env = run(g, fit, keep_intermediates=True)
    damage = OutputDamage(ge, run(ge, held)[ge.outputs[0]], metric)
    # Every layer's quantized (weight, bias) at every width, each fitted on the float
    # layer input/output; then the damages, alone or in the context width.
    widths = tuple(dict.fromkeys(tuple(choices) + ((context_bits,) if context_bits is not None else ())))
    quantized = {node.name: {bits: _quantized_layer(g, g.node(node.name), env, bits, steps, seed, calibrated)
                             for bits in widths} for node in layers}
    base = ge.copy()
    if context_bits is not None:
        for node in layers:
            _set_layer(base, g.node(node.name), *quantized[node.name][context_bits])
    out = {}
    for node in layers:
        gn = g.node(node.name)
        sens = {}
        for bits in choices:
            gq = base.copy()
            _set_layer(gq, gn, *quantized[node.name][bits])
            sens[bits] = damage(run(gq, held)[ge.outputs[0]])
        out[node.name] = sens
    return out


def _bias_name(gn):
    """The layer's bias input, or None (Conv/Gemm without one)."""
    return gn.inputs[2] if len(gn.inputs) > 2 and gn.inputs[2] else None


def _quantized_layer(g, gn, env, bits, steps, seed, calibrated):
    """(fake-quantized weight in the graph's layout, bias or None) of one layer at `bits`."""
    from .ptq import Layer
    from .refine import adaquant_layer

    wname = gn.inputs[1]
    w0 = np.asarray(g.const(wname), np.float32)
    trans = _orientation(g, gn)
    wo = w0.T if trans else w0
    bname = _bias_name(gn)
    b0 = np.asarray(g.const(bname), np.float32).reshape(-1) if bname else np.zeros(wo.shape[0], np.float32)
    if bname is not None and b0.size != wo.shape[0]:
        b0 = np.broadcast_to(b0, (wo.shape[0],)).astype(np.float32)
    x, yf = env[gn.inputs[0]], env[gn.outputs[0]]
    w, b = wo, b0
    if bits >= 8 or not calibrated:
        s = weight_scale(wo, bits, search="mse" if bits < 8 else None)
    else:
        lay = Layer(gn.name, "Conv" if gn.op == "Conv" else "Gemm", wname, bname or "", wo, b0,
                    0.0, 0, 0.0, 0, bits, gn.attrs.get("activation") or "none")
        res = adaquant_layer(lay, gn, g, x, yf, steps=steps, seed=seed)
        if res is None:
            s = weight_scale(wo, bits, search="mse")
        else:
            w, b, s = res[0], res[1], res[2]
    wq = fake_quant(w, s, bits).astype(np.float32)
    return (wq.T if trans else wq), (np.asarray(b, np.float32) if bname is not None else None)


def _set_layer(gq, gn, wq, b):
    gq.tensors[gn.inputs[1]].set_data(wq)
    bname = _bias_name(gn)
    # A layer without a per-channel bias input keeps its bias: the calibrated bias
    # shift is dropped (first order only; torch and ONNX exporters emit a bias).
    if b is not None and gq.tensors[bname].data.size == np.size(b):
        gq.tensors[bname].set_data(b.reshape(gq.tensors[bname].data.shape))
