"""Layer-adaptive pruning rates under a global MAC or parameter budget.

Rate-distortion allocation (in the spirit of Xu et al., CVPR 2023): every prunable unit
(a channel dependency group for structured pruning, a layer for unstructured) is
pruned ALONE at each candidate rate; the distortion is the mean squared change of the
model outputs on a calibration batch (output distortion is close to additive over
layers, which the allocation assumes; a loss increase is not, and is often negative)
and the cost is the MACs (or parameters) it saves. A dynamic program
over discretised savings then picks one rate per unit minimising the summed distortion
subject to total savings >= the budget. Savings of adjacent layers interact for channel
pruning (a conv loses input AND output channels), so the allocation is re-solved with a
raised target until the real model meets the budget.
"""
import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EdgeError
from .macs import count_macs, count_params
from .magnitude import check_ratio, magnitude_prune
from .masks import prunable_layers, remove_masks
from .structured import channel_prune, dependency_groups

CANDIDATES = tuple(round(0.1 * i, 1) for i in range(10))


def allocate_rates(savings, distortions, target, bins=400):
    """Pick one candidate per unit: minimise sum distortion s.t. sum savings >= target.

    savings/distortions: lists (one per unit) of equal-length arrays over candidates.
    Returns the chosen candidate index per unit; raises EdgeError if the target is
    unreachable.
    """
    if target <= 0:
        return [int(np.argmin(d)) for d in distortions]
    step = target / bins
    inf = float("inf")
    dp = np.full(bins + 1, inf)
    dp[0] = 0.0
    choice = []
    for sv, ds in zip(savings, distortions):
        q = np.minimum(bins, np.floor(np.asarray(sv, float) / step + 1e-9).astype(int))
        new = np.full(bins + 1, inf)
        arg = np.zeros(bins + 1, int)
        for j, (qj, dj) in enumerate(zip(q, ds)):
            # from state b (savings so far, capped) to min(bins, b + qj)
            cand = dp + dj
            dest = np.minimum(bins, np.arange(bins + 1) + qj)
            for b in np.nonzero(np.isfinite(cand))[0]:
                if cand[b] < new[dest[b]]:
                    new[dest[b]] = cand[b]
                    arg[dest[b]] = j * (bins + 1) + b
        choice.append(arg)
        dp = new
    if not np.isfinite(dp[bins]):
        raise EdgeError(f"layer-adaptive pruning: the budget (saving {target:.4g}) cannot be met even at the "
                        f"highest candidate rates")
    picks, b = [], bins
    for arg in reversed(choice):
        j, prev = divmod(int(arg[b]), bins + 1)
        picks.append(j)
        b = prev
    return picks[::-1]


DISTORTIONS = ("mse", "kl", "ce")


def _loss(model, x, y, ref, distortion="mse"):
    """Output distortion on the calibration batch: "mse" of the logits against the
    unpruned model's (`ref`), "kl" from the unpruned model's softmax to the pruned one's
    (the distillation loss fine-tuning will minimise), or "ce" the task loss (labels)."""
    model.eval()
    with torch.no_grad():
        out = model(x)
    if distortion == "kl":
        return F.kl_div(F.log_softmax(out, 1), F.log_softmax(ref, 1), reduction="batchmean", log_target=True).item()
    if distortion == "ce":
        return F.cross_entropy(out, y).item()
    return F.mse_loss(out, ref).item()


def recalibrate_bn(model, x, batch=256):
    """Re-estimate every BatchNorm's running statistics on `x` (cumulative average).

    Removing channels shifts the statistics the following BatchNorms were trained with;
    re-fitting them is free (no labels, no gradients) and is what the first steps of
    fine-tuning would do anyway, so sensitivities are measured after it."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    saved = [(m, m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    was = model.training
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
    for m, mom in saved:
        m.momentum = mom
    model.train(was)
    return model


def _calib(calib):
    if isinstance(calib, (tuple, list)):
        x, y = calib
        return torch.as_tensor(np.asarray(x, np.float32)), torch.as_tensor(np.asarray(y, np.int64))
    return torch.as_tensor(np.asarray(calib, np.float32)), None


def _cost(model, input_shape, metric):
    if metric == "macs":
        return count_macs(model, input_shape, sparse=True)
    if metric == "params":
        return count_params(model, sparse=True)
    raise EdgeError(f"budget metric {metric!r}: choose 'macs' or 'params'")


def adaptive_prune(model, input_shape, calib, reduction, metric="macs", kind="structured",
                   candidates=CANDIDATES, max_rounds=12, importance="l1bn", distortion="mse"):
    """Prune `model` (a copy) so that `metric` drops by at least `reduction` (fraction),
    with per-unit rates from the rate-distortion DP. Returns (pruned model, report)."""
    reduction = check_ratio(reduction, "reduction")
    if kind not in ("structured", "unstructured"):
        raise EdgeError(f"adaptive_prune kind {kind!r}: choose 'structured' or 'unstructured'")
    for c in candidates:
        check_ratio(c, "candidate rate")
    if distortion not in DISTORTIONS:
        raise EdgeError(f"adaptive_prune distortion {distortion!r}: choose one of {', '.join(DISTORTIONS)}")
    x, y = _calib(calib)
    if distortion == "ce" and y is None:
        raise EdgeError("adaptive_prune: distortion='ce' needs calib=(inputs, labels)")
    model = copy.deepcopy(model)
    remove_masks(model)
    model.eval()
    with torch.no_grad():
        ref = model(x)
    base_loss = _loss(model, x, y, ref, distortion)
    base_cost = _cost(model, input_shape, metric)

    if kind == "structured":
        units = [g["name"] for g in dependency_groups(model, input_shape) if g["prunable"]]
        sizes = {g["name"]: g["size"] for g in dependency_groups(model, input_shape)}

        def prune(rates):
            return recalibrate_bn(channel_prune(model, input_shape, rates=rates, importance=importance,
                                                calib=(x, y) if y is not None else None), x)
    else:
        units = [n for n, _ in prunable_layers(model)]
        sizes = {n: m.weight.numel() for n, m in prunable_layers(model)}

        def prune(rates):
            m = copy.deepcopy(model)
            magnitude_prune(m, 0.0, scope="layer", rates=rates)
            return remove_masks(m)
    if not units:
        raise EdgeError(f"layer-adaptive pruning: model {type(model).__name__} has no prunable layers")

    sav, dist = [], []
    for u in units:
        su, du = [], []
        for r in candidates:
            if kind == "structured" and int(round(sizes[u] * (1 - r))) < 1:
                su.append(0.0)
                du.append(float("inf"))
                continue
            p = prune({u: r}) if r > 0 else model
            su.append(base_cost - _cost(p, input_shape, metric))
            du.append(max(0.0, _loss(p, x, y, ref, distortion) - base_loss))
        sav.append(np.array(su))
        # A higher rate removes a superset of the weights/channels, so its distortion is at
        # least that of a lower rate; measured values are noisy (BN shifts, ties): take the
        # running maximum so the allocation cannot exploit the noise.
        dist.append(np.maximum.accumulate(np.array(du)))

    target = reduction * base_cost
    reachable = sum(float(np.max(sv[np.isfinite(d)])) for sv, d in zip(sav, dist))
    # Adjacent layers' savings overlap (a conv loses input AND output channels), so the
    # real saving of an allocation is below its estimate: bisect on the DP's goal for
    # the smallest goal whose pruned model really meets the budget.
    def realise(goal):
        picks = allocate_rates(sav, dist, goal)
        rates = {u: candidates[j] for u, j in zip(units, picks) if candidates[j] > 0}
        pruned = prune(rates) if rates else copy.deepcopy(model)
        return pruned, picks, base_cost - _cost(pruned, input_shape, metric)

    best = None
    lo, hi = target, reachable * 0.97   # the DP floors savings to its grid: stay clear of the edge
    pruned, picks, got = realise(lo)
    if got >= target:
        best = (pruned, picks)
    else:
        pruned, picks, got = realise(hi)
        if got < target:
            raise EdgeError(f"layer-adaptive pruning: could not reach a {reduction:.0%} {metric} reduction "
                            f"with candidate rates up to {max(candidates)}")
        best = (pruned, picks)
        for _ in range(max_rounds):
            mid = (lo + hi) / 2
            pruned, picks, got = realise(mid)
            if got >= target:
                best, hi = (pruned, picks), mid
            else:
                lo = mid
    pruned, picks = best
    final_cost = _cost(pruned, input_shape, metric)
    report = {
        "metric": metric, "kind": kind, "target_reduction": reduction,
        "achieved_reduction": 1 - final_cost / base_cost, "base": base_cost, "pruned": final_cost,
        "layers": [{"unit": u, "size": sizes[u], "rate": candidates[j], "distortion": float(d[j]),
                    "saving": float(s[j])} for u, j, d, s in zip(units, picks, dist, sav)],
    }
    return pruned, report


def uniform_prune(model, input_shape, reduction, metric="macs", kind="structured", iters=20, calib=None,
                  importance="l1bn"):
    """The same rate for every unit, found by bisection so that `metric` drops by >= `reduction`.
    With `calib`, BatchNorms are re-fitted on it afterwards (as adaptive_prune does)."""
    reduction = check_ratio(reduction, "reduction")
    model = remove_masks(copy.deepcopy(model))
    base = _cost(model, input_shape, metric)

    xy = _calib(calib) if calib is not None else None
    if importance == "taylor" and (xy is None or xy[1] is None):
        raise EdgeError("uniform_prune: importance='taylor' needs calib=(inputs, labels)")

    def prune(r):
        if kind == "structured":
            return channel_prune(model, input_shape, ratio=r, importance=importance, calib=xy)
        m = copy.deepcopy(model)
        magnitude_prune(m, r, scope="layer")
        return remove_masks(m)

    lo, hi = 0.0, 0.99
    best = None
    for _ in range(iters):
        mid = (lo + hi) / 2
        try:
            p = prune(mid)
        except EdgeError:
            hi = mid
            continue
        if 1 - _cost(p, input_shape, metric) / base >= reduction:
            best, hi = (p, mid), mid
        else:
            lo = mid
    if best is None:
        raise EdgeError(f"uniform pruning cannot reach a {reduction:.0%} {metric} reduction")
    p, r = best
    if calib is not None and kind == "structured":
        recalibrate_bn(p, xy[0])
    return p, {"rate": r, "achieved_reduction": 1 - _cost(p, input_shape, metric) / base}
