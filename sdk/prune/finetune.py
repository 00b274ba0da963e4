"""Fine-tuning after pruning: one-shot, iterative and progressive schedules.

- oneshot:     prune to the target, then fine-tune for all epochs.
- iterative:   `rounds` rounds of (prune a further step, fine-tune epochs/rounds); the
               target is reached in the last round.
- progressive: masks grow every few steps along the cubic schedule of Zhu & Gupta
               (2017) during the first 3/4 of training, then training continues with
               the final masks (unstructured / N:M only: masks, not removal).
N:M with progressive gradient flow: pruned weights get a gradient scaled by a decay
going from 1 to 0 (cosine) over the first 3/4 of training, while the N:M groups are
re-selected from the latent weights; plain N:M freezes the one-shot mask at once.
Masks are torch parametrizations, so pruned weights stay exactly zero in the forward.
"""
import math

import torch
from torch import nn

from ..errors import EdgeError
from .magnitude import check_ratio, magnitude_prune
from .masks import masks_of, remove_masks, set_grad_decay
from .nm import nm_prune, refresh_nm_masks
from ..zoo.train import accuracy, labelled_tensors
from .structured import channel_prune

SCHEDULES = ("oneshot", "iterative", "progressive")


def _tensors(x, y):
    return labelled_tensors(x, y, "fine-tuning data")


def evaluate(model, x, y, batch=500):
    """Top-1 accuracy in percent."""
    return 100.0 * accuracy(model, x, y, batch, "fine-tuning data")


def finetune(model, x, y, epochs=1, lr=1e-3, batch=64, step_hook=None, seed=0, total_steps=None):
    """Adam + cosine LR; `step_hook(step, total)` runs before every optimizer step.
    Returns per-epoch mean losses."""
    x, y = _tensors(x, y)
    g = torch.Generator().manual_seed(seed)
    steps_per_epoch = (len(x) + batch - 1) // batch
    total = total_steps or epochs * steps_per_epoch
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, total))
    loss_fn = nn.CrossEntropyLoss()
    losses, step = [], 0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        tot = 0.0
        for i in range(0, len(x), batch):
            if step_hook is not None:
                step_hook(step, total)
            idx = perm[i:i + batch]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            partial = _partial_flow_snapshot(model)
            opt.step()
            _apply_partial_flow(partial)
            sched.step()
            tot += loss.item()
            step += 1
        losses.append(tot / steps_per_epoch)
    return losses


def _partial_flow_snapshot(model):
    """Latent weights of masks with 0 < grad_decay < 1, before the optimizer step.

    Adam normalises each weight's step by its own gradient history, so scaling a
    gradient by `grad_decay` would not slow that weight down; the decay is therefore
    (also) applied to the UPDATE of the pruned weights, whatever the optimizer."""
    snaps = []
    mods = dict(model.named_modules())
    for name, wm in masks_of(model).items():
        if 0.0 < wm.grad_decay < 1.0:
            p = mods[name].parametrizations.weight.original
            snaps.append((p, wm, p.detach().clone()))
    return snaps


def _apply_partial_flow(snaps):
    with torch.no_grad():
        for p, wm, before in snaps:
            pruned = wm.mask == 0
            p[pruned] = before[pruned] + wm.grad_decay * (p[pruned] - before[pruned])


def cubic_fraction(step, total, end=0.75):
    """Zhu & Gupta: share of the final sparsity reached at `step` (1 after end*total)."""
    t = min(1.0, step / max(1, end * total))
    return 1 - (1 - t) ** 3


def nm_gradient_flow_hook(model, refresh_every=8, end=0.75):
    """Decay the gradient of pruned weights 1 -> 0 (cosine) and re-select N:M groups until `end`."""
    def hook(step, total):
        t = min(1.0, step / max(1, end * total))
        decay = 0.5 * (1 + math.cos(math.pi * t))
        set_grad_decay(model, decay)
        if t < 1.0 and step % refresh_every == 0:
            refresh_nm_masks(model)
    return hook


def prune_and_finetune(model, x, y, method="magnitude", ratio=0.5, n=2, m=4, schedule="oneshot", epochs=2,
                       rounds=3, lr=1e-3, batch=64, input_shape=None, progressive_flow=False, every=8):
    """Prune `model` (a copy for channel pruning, in place for masks) and fine-tune it.

    method: "magnitude" (global unstructured, `ratio`), "channel" (structured removal,
    `ratio` of every dependency group; needs input_shape), "nm" (n:m masks, with
    `progressive_flow` for progressive gradient flow). Returns (model, losses); masks are
    baked into the weights at the end.
    """
    if schedule not in SCHEDULES:
        raise EdgeError(f"schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")
    if method not in ("magnitude", "channel", "nm"):
        raise EdgeError(f"pruning method {method!r}: choose magnitude, channel or nm")
    if method != "nm":
        ratio = check_ratio(ratio)
    if method == "channel" and input_shape is None:
        raise EdgeError("channel pruning needs input_shape")
    if method == "channel" and schedule == "progressive":
        raise EdgeError("the progressive schedule grows masks; channel pruning removes channels: use iterative")
    if rounds < 1 or epochs < 1:
        raise EdgeError(f"rounds and epochs must be >= 1, got rounds={rounds}, epochs={epochs}")
    losses = []
    ft = dict(lr=lr, batch=batch)
    if method == "nm":
        if schedule == "iterative":
            raise EdgeError("N:M masks have a fixed density; use oneshot (optionally progressive_flow) or progressive")
        nm_prune(model, n, m, progressive=progressive_flow or schedule == "progressive")
        hook = nm_gradient_flow_hook(model, every) if (progressive_flow or schedule == "progressive") else None
        losses += finetune(model, x, y, epochs, step_hook=hook, **ft)
        set_grad_decay(model, 0.0)
        return remove_masks(model), losses
    if schedule == "oneshot":
        if method == "channel":
            model = channel_prune(model, input_shape, ratio=ratio)
        else:
            magnitude_prune(model, ratio)
        losses += finetune(model, x, y, epochs, **ft)
    elif schedule == "iterative":
        per = max(1, epochs // rounds)
        for i in range(1, rounds + 1):
            if method == "channel":
                # keep (1 - ratio)^(i/rounds) of the channels overall after round i
                step_keep = (1 - ratio) ** (1 / rounds)
                model = channel_prune(model, input_shape, ratio=1 - step_keep)
            else:
                magnitude_prune(model, ratio * i / rounds)
            losses += finetune(model, x, y, per, **ft)
    else:  # progressive masks
        def hook(step, total):
            if step % every == 0:
                magnitude_prune(model, ratio * cubic_fraction(step, total))
        magnitude_prune(model, 0.0)
        losses += finetune(model, x, y, epochs, step_hook=hook, **ft)
        magnitude_prune(model, ratio)  # exactly the target at the end
    if masks_of(model):
        remove_masks(model)
    return model, losses
