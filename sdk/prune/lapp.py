"""Layer-adaptive channel rates from learnable per-group thresholds (LAPP-style).

The other allocation method of issue 8 (the first is the rate-distortion DP of
adaptive.py, which scores plans on a calibration batch without labels or training).
Here the allocation is LEARNED with the task loss on labelled training data:

  * every prunable dependency group g (structured.dependency_groups) ranks its channels
    by the same importance channel_prune uses (L1 filter norm x BN scale); channel c gets
    the normalised rank s_c = (rank + 0.5) / size in (0, 1), so a threshold t_g is the
    fraction of the group that is pruned;
  * a soft gate sigmoid((s_c - t_g) / T) multiplies channel c where the group's producers'
    outputs (after their BatchNorm) leave, so every reader of the group sees it;
  * the expected MACs are a differentiable function of the kept fractions f_g = 1 - t_g
    (the mean gate as T -> 0, because the ranks are uniform in (0, 1); unlike the mean of
    hardened gates its gradient does not vanish between two channels' ranks, so the budget
    keeps steering the thresholds while T anneals): a Conv/Linear costs
    base_MACs x f_in x f_out (depthwise: x f_in);
  * thresholds AND weights are trained for `steps` Adam steps on
        cross-entropy + relu(mu + rho * g)^2 / (2 rho),   g = MACs/base - (1 - target)
    (augmented Lagrangian of the inequality g <= 0; mu <- max(0, mu + rho * g)). mu also
    SHRINKS while the budget is over-met, so thresholds the loss does not care about keep
    rising while useful groups win channels back: at the equilibrium the budget is paid
    by the groups whose channels cost the least loss per MAC (a plain penalty stops as
    soon as the budget is met, wherever the thresholds happen to be). T is annealed
    geometrically so the gates harden into a channel count;
  * the learned kept fractions are rounded to channel counts, then fixed up greedily
    against the REAL pruned model's MAC count (count_macs): channels whose gate is lowest
    are cut until the budget is met, then channels are given back while it still is.

Weights are trained jointly (as LAPP does) so that the allocation is judged after the
network has adapted to it; only the per-group rates are kept: lapp_prune applies them to
the ORIGINAL weights with channel_prune + BatchNorm re-fit, exactly like adaptive_prune,
so fine-tuning afterwards gets the same budget as any other method.
"""
import copy
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EdgeError
from ..zoo.train import labelled_tensors
from .adaptive import _cost, recalibrate_bn
from . import macs
from .magnitude import check_ratio
from .masks import remove_masks
from .structured import _Analysis, _importance, channel_prune


def _check(target, steps, lr, batch, temperatures):
    target = check_ratio(target, "target reduction")
    if target <= 0:
        raise EdgeError(f"lapp: target reduction {target!r} must be > 0")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise EdgeError(f"lapp: steps {steps!r} must be a positive integer")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise EdgeError(f"lapp: batch {batch!r} must be a positive integer")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise EdgeError(f"lapp: lr {lr!r} must be a positive number")
    t0, t1 = temperatures
    if not (0 < t1 <= t0):
        raise EdgeError(f"lapp: temperatures {temperatures!r} must satisfy 0 < end <= start")
    return target


def lapp_rates(model, input_shape, x, y, target, metric="macs", steps=300, lr=0.02, weight_lr=1e-3, batch=64,
               temperatures=(0.1, 0.01), rho=10.0, train_weights=True, seed=0):
    """Learn per-group channel rates under a MAC budget (`target` = fraction removed).

    x, y: labelled TRAINING data (a sample of `steps * batch` is drawn with `seed`).
    Returns (rates {group name: fraction pruned} for the groups that lose channels,
    report {"metric", "target_reduction", "achieved_reduction", "base", "pruned",
    "layers": [{"unit", "size", "rate", "threshold", "kept"}], "steps", "final_penalty"}).
    The returned rates meet the budget on the real pruned model (count_macs)."""
    target = _check(target, steps, lr, batch, temperatures)
    if metric != "macs":
        raise EdgeError(f"lapp: metric {metric!r}: only 'macs' (the expected-cost model counts MACs)")
    x, y = labelled_tensors(x, y, "lapp training data")
    orig = remove_masks(copy.deepcopy(model))
    net = copy.deepcopy(orig)
    a = _Analysis(net, torch.zeros(*input_shape))
    groups = {r: g for r, g in a.groups().items() if g["prunable"]}
    if not groups:
        raise EdgeError(f"lapp: model {type(model).__name__} has no prunable layers")
    mods = dict(net.named_modules())

    # fixed normalised ranks per group; thresholds start at the uniform rate for the budget
    # (a conv scales with f_in * f_out, so kept fraction sqrt(1 - target))
    ranks, thr = {}, {}
    t_init = 1 - math.sqrt(1 - target)
    for r, g in groups.items():
        score = _importance(net, a, r, g)
        rank = torch.empty(g["size"])
        rank[torch.argsort(score)] = torch.arange(g["size"], dtype=torch.float32)
        ranks[r] = (rank + 0.5) / g["size"]
        thr[r] = torch.nn.Parameter(torch.tensor(float(t_init)))
    temp = [temperatures[0]]

    def gate(r):
        return torch.sigmoid((ranks[r] - thr[r]) / temp[0])

    hooks = []
    for r, g in groups.items():
        for p in g["producers"]:
            tap = mods[a.bn_after.get(p, p)]

            def hook(_m, _i, out, r=r):
                gt = gate(r)
                return out * gt.reshape(1, -1, *([1] * (out.dim() - 2)))
            hooks.append(tap.register_forward_hook(hook))

    layer_macs = macs.layer_macs(orig, input_shape)
    base = float(sum(layer_macs.values()))

    def frac(val):
        num, den = 0.0, 0
        for s, size in val.layout:
            root = a.find(s)
            num = num + ((1 - thr[root]).clamp(0, 1) if root in groups else torch.tensor(1.0)) * size
            den += size
        return num / den

    def expected_macs():
        total = torch.tensor(0.0)
        for name, cost in layer_macs.items():
            kind, xin, out = a.records.get(name, ("fixed", None, None))
            if kind in ("conv", "linear"):
                total = total + cost * frac(xin) * frac(out)
            elif kind == "depthwise":
                total = total + cost * frac(xin)
            else:
                total = total + cost
        return total

    params = [{"params": list(thr.values()), "lr": lr}]
    if train_weights:
        params.append({"params": [p for p in net.parameters() if p.requires_grad], "lr": weight_lr})
    else:
        for p in net.parameters():
            p.requires_grad_(False)
    opt = torch.optim.Adam(params)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mu, allowed, g = 0.0, 1 - target, torch.tensor(0.0)
    decay = (temperatures[1] / temperatures[0]) ** (1 / max(1, steps - 1))
    net.train()
    try:
        for step in range(steps):
            idx = torch.randint(0, len(x), (min(batch, len(x)),), generator=gen)
            ce = F.cross_entropy(net(x[idx]), y[idx])
            g = expected_macs() / base - allowed
            loss = ce + F.relu(mu + rho * g) ** 2 / (2 * rho)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for t in thr.values():
                    t.clamp_(0.0, 1.0)
            mu = max(0.0, mu + rho * float(g.detach()))
            temp[0] *= decay
    finally:
        for h in hooks:
            h.remove()

    thr = {r: float(t.detach()) for r, t in thr.items()}
    # round: a channel is pruned when its rank is below the threshold
    size = {r: groups[r]["size"] for r in groups}
    cut = {r: min(size[r] - 1, int((ranks[r] < thr[r]).sum())) for r in groups}
    real_base = _cost(orig, input_shape, metric)
    budget = real_base * (1 - target)

    def rates_of(c):
        return {groups[r]["name"]: c[r] / size[r] for r in groups if c[r] > 0}

    def realise(c):     # the real pruned model's cost
        rates = rates_of(c)
        pruned = channel_prune(orig, input_shape, rates=rates) if rates else copy.deepcopy(orig)
        return _cost(pruned, input_shape, metric)

    def margin_next(r):     # how far the next channel to cut sits above the threshold
        return (cut[r] + 0.5) / size[r] - thr[r]

    cost = realise(cut)
    while cost > budget:    # cut the channel with the lowest gate until the budget holds
        cands = [r for r in groups if cut[r] < size[r] - 1]
        if not cands:
            raise EdgeError(f"lapp: a {target:.0%} MAC reduction cannot be reached without emptying a group")
        r = min(cands, key=margin_next)
        cut[r] += 1
        cost = realise(cut)
    # give back channels (highest gate first) while the budget still holds
    for r in sorted(groups, key=lambda r: thr[r] - (cut[r] - 0.5) / size[r]):
        while cut[r] > 0:
            cut[r] -= 1
            c = realise(cut)
            if c > budget:
                cut[r] += 1
                break
            cost = c
    rates = rates_of(cut)     # `cost` is already this plan's (the last accepted one)
    report = {
        "metric": metric, "method": "lapp", "target_reduction": target, "base": real_base, "pruned": cost,
        "achieved_reduction": 1 - cost / real_base, "steps": steps, "train_weights": train_weights,
        "final_excess": float(g.detach()), "final_multiplier": mu,
        "layers": [{"unit": groups[r]["name"], "size": size[r], "rate": cut[r] / size[r],
                    "threshold": thr[r], "kept": size[r] - cut[r]} for r in groups],
    }
    return rates, report


def lapp_prune(model, input_shape, x, y, target, metric="macs", calib=None, **kw):
    """Prune `model` (a copy) with lapp_rates' per-group rates; BatchNorms are re-fitted on
    `calib` inputs (default: the first 256 of `x`). Returns (pruned model, report) like
    adaptive_prune."""
    rates, report = lapp_rates(model, input_shape, x, y, target, metric=metric, **kw)
    m = remove_masks(copy.deepcopy(model))
    pruned = channel_prune(m, input_shape, rates=rates) if rates else m
    cx = torch.as_tensor(np.asarray(x[:256] if calib is None else calib, np.float32))
    recalibrate_bn(pruned, cx)
    return pruned, report
