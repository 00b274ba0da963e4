"""N:M semi-structured sparsity (2:4, 1:4) with optional progressive gradient flow.

Groups of M consecutive weights along the flattened input axis (per output channel)
keep their N largest magnitudes. With progressive=True the pruned weights keep a
decaying gradient (masks.WeightMask.grad_decay) and refresh_nm_masks() re-selects the
groups from the latent weights during fine-tuning, so a weight that grows back can
win its group; the decay schedule lives in edgesdk.prune.finetune.
"""
import torch
from torch import nn

from ..errors import EdgeError
from .formats import check_nm
from .masks import apply_mask, dense_weight, masks_of, require_prunable


def nm_mask_torch(w, n, m):
    w2 = w.detach().abs().reshape(w.shape[0], -1)
    k = w2.shape[1]
    g = w2.reshape(w.shape[0], k // m, m)
    idx = torch.topk(g, n, dim=2).indices
    mask = torch.zeros_like(g)
    mask.scatter_(2, idx, 1.0)
    return mask.reshape(w.shape)


def _eligible(name, mod, m):
    k = mod.weight[0].numel()
    if isinstance(mod, nn.Conv2d) and mod.groups > 1 and mod.groups == mod.in_channels:
        return False, f"layer {name} is depthwise"
    if k % m:
        return False, f"layer {name} has {k} inputs per output, not a multiple of {m}"
    return True, ""


def nm_prune(model, n=2, m=4, layers=None, progressive=False, grad_decay=None):
    """Apply N:M masks to every eligible Conv/Linear (or the named `layers`).

    Layers whose input size is not a multiple of M (e.g. a 1-channel first conv with a
    3x3 kernel) or depthwise convs are skipped when not named, refused when named.
    Returns the list of pruned layer names.
    """
    check_nm(n, m)
    decay = (1.0 if progressive else 0.0) if grad_decay is None else float(grad_decay)
    done = []
    with torch.no_grad():
        for name, mod in require_prunable(model, layers):
            ok, why = _eligible(name, mod, m)
            if not ok:
                if layers is not None:
                    raise EdgeError(f"N:M {n}:{m}: {why}")
                continue
            apply_mask(mod, nm_mask_torch(dense_weight(mod), n, m), decay, kind="nm", n=n, m=m)
            done.append(name)
    if not done:
        raise EdgeError(f"N:M {n}:{m}: model {type(model).__name__} has no layer whose input size is a multiple of {m}")
    return done


def refresh_nm_masks(model):
    """Re-select every N:M mask from the current latent weights."""
    mods = dict(model.named_modules())
    with torch.no_grad():
        for name, wm in masks_of(model).items():
            if wm.kind == "nm":
                wm.mask.copy_(nm_mask_torch(dense_weight(mods[name]), wm.n, wm.m))
