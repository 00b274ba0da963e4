"""Unstructured magnitude pruning: per layer, or one global threshold over all layers."""
import math

import torch

from ..errors import EdgeError
from .masks import apply_mask, require_prunable


def check_ratio(ratio, what="ratio"):
    """A pruning ratio must be a number in [0, 1)."""
    try:
        r = float(ratio)
    except (TypeError, ValueError):
        raise EdgeError(f"{what}: {ratio!r} is not a number") from None
    if not math.isfinite(r) or not 0.0 <= r < 1.0:
        raise EdgeError(f"{what}: must be in [0, 1), got {ratio!r}")
    return r


def _layer_mask(w, ratio):
    k = int(round(ratio * w.numel()))
    if k == 0:
        return torch.ones_like(w)
    thr = w.abs().flatten().kthvalue(k).values
    mask = (w.abs() > thr).to(w.dtype)
    # Ties at the threshold: drop exactly k weights (lowest index first), deterministic.
    deficit = int(mask.numel() - mask.sum().item()) - k
    if deficit > 0:
        ties = torch.nonzero((w.abs() == thr).flatten()).flatten()[:deficit]
        mask.view(-1)[ties] = 1
    return mask


def magnitude_prune(model, ratio, scope="global", layers=None, rates=None, grad_decay=0.0):
    """Zero the smallest-magnitude weights (masks stay during fine-tuning).

    scope="layer": `ratio` of every layer (or `rates` {layer: ratio} per layer);
    scope="global": one magnitude threshold over all selected layers (layers with larger
    weights keep more). Returns {layer: achieved sparsity}.
    """
    ratio = check_ratio(ratio)
    if scope not in ("global", "layer"):
        raise EdgeError(f"magnitude_prune scope {scope!r}: choose 'global' or 'layer'")
    sel = require_prunable(model, layers if rates is None else list(rates))
    out = {}
    with torch.no_grad():
        if scope == "global" and rates is None:
            # Current (masked) weights: what is already pruned stays pruned (monotone schedules).
            allw = torch.cat([m.weight.detach().abs().flatten() for _, m in sel])
            k = int(round(ratio * allw.numel()))
            thr = allw.kthvalue(k).values if k > 0 else torch.tensor(-1.0)
            for name, m in sel:
                w = m.weight.detach()
                mask = (w.abs() > thr).to(w.dtype)
                if mask.sum() == 0:
                    raise EdgeError(f"layer {name}: a global ratio {ratio} would prune all its weights")
                apply_mask(m, mask, grad_decay)
                out[name] = 1 - mask.mean().item()
        else:
            for name, m in sel:
                r = check_ratio(rates[name], f"rate of layer {name}") if rates is not None else ratio
                w = m.weight.detach()
                mask = _layer_mask(w, r)
                apply_mask(m, mask, grad_decay)
                out[name] = 1 - mask.mean().item()
    return out
