"""Weight masks as torch parametrizations, with progressive gradient flow.

A mask is registered on `module.weight` (torch.nn.utils.parametrize): the forward pass
sees weight * mask, so pruned weights stay exactly zero through fine-tuning. The
backward pass multiplies the gradient of pruned weights by `grad_decay` instead of 0:
with grad_decay = 1 they keep learning (dense gradient, masks may be re-selected from
them), with 0 they are frozen. Decaying it over a schedule is "progressive gradient
flow" (Bambhaniya et al. 2024 for N:M): the pruned weights are not cut at once.
"""
import torch
from torch import nn
from torch.nn.utils import parametrize

from ..errors import EdgeError

PRUNABLE = (nn.Conv2d, nn.Conv1d, nn.Linear)


class _MaskedWeight(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, mask, decay):
        ctx.save_for_backward(mask)
        ctx.decay = decay
        return w * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        if ctx.decay == 0.0:
            return g * mask, None, None
        return g * (mask + (1 - mask) * ctx.decay), None, None


class WeightMask(nn.Module):
    """The parametrization: weight -> weight * mask (gradient to pruned weights * grad_decay)."""

    def __init__(self, mask, grad_decay=0.0, kind="unstructured", n=None, m=None):
        super().__init__()
        self.register_buffer("mask", mask.detach().to(torch.float32).clone())
        self.grad_decay = float(grad_decay)
        self.kind, self.n, self.m = kind, n, m
        # soft: the FORWARD also keeps grad_decay of each pruned weight (mask-decay
        # gradient flow): the model goes from dense to sparse smoothly instead of
        # losing the pruned weights at once while they still get a gradient.
        self.soft = False

    def forward(self, w):
        mask = self.mask.to(w.dtype)
        if self.soft and self.grad_decay > 0.0:
            return w * (mask + (1 - mask) * self.grad_decay)
        return _MaskedWeight.apply(w, mask, self.grad_decay)


def prunable_layers(model, include_depthwise=True):
    """(name, module) of every Conv/Linear, in registration order."""
    out = []
    for name, m in model.named_modules():
        if isinstance(m, PRUNABLE):
            if not include_depthwise and isinstance(m, (nn.Conv2d, nn.Conv1d)) and m.groups > 1 \
                    and m.groups == m.in_channels:
                continue
            out.append((name, m))
    return out


def require_prunable(model, layers=None, include_depthwise=True):
    found = prunable_layers(model, include_depthwise)
    if layers is not None:
        names = dict(found)
        missing = [n for n in layers if n not in names]
        if missing:
            raise EdgeError(f"layers {missing} are not prunable Conv/Linear layers of {type(model).__name__}")
        found = [(n, names[n]) for n in layers]
    if not found:
        raise EdgeError(f"model {type(model).__name__} has no prunable layers (Conv1d/Conv2d/Linear)")
    return found


def dense_weight(module):
    """The unmasked (latent) weight of a module, masked or not."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def get_mask(module):
    if parametrize.is_parametrized(module, "weight"):
        for p in module.parametrizations.weight:
            if isinstance(p, WeightMask):
                return p
    return None


def apply_mask(module, mask, grad_decay=0.0, kind="unstructured", n=None, m=None):
    """Attach (or replace) the mask of module.weight."""
    existing = get_mask(module)
    if existing is not None:
        existing.mask.copy_(mask.to(existing.mask.dtype))
        existing.grad_decay, existing.kind, existing.n, existing.m = float(grad_decay), kind, n, m
        return existing
    wm = WeightMask(mask, grad_decay, kind, n, m)
    parametrize.register_parametrization(module, "weight", wm)
    return wm


def masks_of(model):
    return {name: wm for name, mod in model.named_modules() if (wm := get_mask(mod)) is not None}


def set_grad_decay(model, value, soft=None):
    """Set every mask's grad_decay (and, if given, whether the forward is soft too)."""
    for wm in masks_of(model).values():
        wm.grad_decay = float(value)
        if soft is not None:
            wm.soft = bool(soft)


def remove_masks(model):
    """Bake weight * mask into plain weights and drop the parametrizations."""
    for _, mod in list(model.named_modules()):
        if get_mask(mod) is not None:
            parametrize.remove_parametrizations(mod, "weight", leave_parametrized=True)
    return model


def sparsity_report(model):
    """Per prunable layer: weights, non-zeros, density; and the totals."""
    rows, tot, nz = [], 0, 0
    for name, m in prunable_layers(model):
        w = m.weight.detach()
        n, k = w.numel(), int((w != 0).sum())
        rows.append({"layer": name, "weights": n, "nonzero": k, "density": k / n})
        tot, nz = tot + n, nz + k
    return {"layers": rows, "weights": tot, "nonzero": nz, "density": nz / max(1, tot)}
