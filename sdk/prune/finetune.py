"""Fine-tuning after pruning: one-shot, iterative and progressive schedules.

- oneshot:     prune to the target, then fine-tune for all epochs.
- iterative:   `rounds` rounds of (prune a further step, fine-tune epochs/rounds); the
               target is reached in the last round.
- progressive: masks grow every few steps along the cubic schedule of Zhu & Gupta
               (2017) during the first 3/4 of training, then training continues with
               the final masks (unstructured / N:M only: masks, not removal).
N:M with progressive gradient flow: pruned weights get a gradient scaled by a decay
going from 1 to 0 (cosine) over the first 3/4 of training, while the N:M groups are
re-selected from the latent weights; plain N:M freezes the one-shot mask at once
(flow mode "mask" also fades the pruned weights out of the forward).
Masks are torch parametrizations, so pruned weights stay exactly zero in the forward.
Every schedule can distil from the unpruned model (teacher=, kd_weight=, T=): the
loss mixes cross-entropy with the teacher's temperature-softened outputs.
"""
import math

import torch
import torch.nn.functional as F
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


def kd_loss(student_logits, teacher_logits, labels, kd_weight=0.5, T=4.0):
    """Hinton et al. (2015) distillation: (1 - w) * CE(labels) + w * T^2 * KL(teacher_T || student_T).

    T^2 keeps the soft term's gradient scale independent of the temperature."""
    ce = F.cross_entropy(student_logits, labels)
    if kd_weight == 0.0:
        return ce
    kl = F.kl_div(F.log_softmax(student_logits / T, 1), F.log_softmax(teacher_logits / T, 1),
                  reduction="batchmean", log_target=True)
    return (1 - kd_weight) * ce + kd_weight * T * T * kl


def _check_kd(teacher, kd_weight, T):
    if teacher is None:
        return
    if not isinstance(teacher, nn.Module):
        raise EdgeError(f"finetune teacher must be a torch nn.Module, got {type(teacher).__name__}")
    if not 0.0 <= kd_weight <= 1.0:
        raise EdgeError(f"finetune kd_weight {kd_weight}: must be in [0, 1]")
    if not T > 0:
        raise EdgeError(f"finetune T {T}: the distillation temperature must be > 0")


def finetune(model, x, y, epochs=1, lr=1e-3, batch=64, step_hook=None, seed=0, total_steps=None,
             teacher=None, kd_weight=0.5, T=4.0):
    """Adam + cosine LR; `step_hook(step, total)` runs before every optimizer step.

    teacher: an (unpruned) model to distil from: the loss becomes kd_loss(kd_weight, T)
    instead of plain cross-entropy. The teacher is put in eval mode and never updated.
    Returns per-epoch mean losses."""
    _check_kd(teacher, kd_weight, T)
    x, y = _tensors(x, y)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)   # dropout and anything else random in the model
    steps_per_epoch = (len(x) + batch - 1) // batch
    total = total_steps or epochs * steps_per_epoch
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, total))
    if teacher is not None:
        teacher.eval()
    losses, step = [], 0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        tot = 0.0
        for i in range(0, len(x), batch):
            if step_hook is not None:
                step_hook(step, total)
            idx = perm[i:i + batch]
            out = model(x[idx])
            if teacher is None:
                loss = F.cross_entropy(out, y[idx])
            else:
                with torch.no_grad():
                    t_out = teacher(x[idx])
                loss = kd_loss(out, t_out, y[idx], kd_weight, T)
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


FLOW_MODES = ("gradient", "mask")


def nm_gradient_flow_hook(model, refresh_every=8, end=0.75, mode="gradient"):
    """Decay the pruned weights' share 1 -> 0 (cosine) and re-select N:M groups until `end`.

    mode "gradient": the forward uses the hard mask and only the gradient (and update) of
    pruned weights decays (straight-through, like SR-STE); "mask": the forward keeps
    decay * w of each pruned weight as well (mask-decay gradient flow, Bambhaniya et
    al. 2024), so the network leaves the dense solution gradually."""
    if mode not in FLOW_MODES:
        raise EdgeError(f"gradient flow mode {mode!r}: choose one of {', '.join(FLOW_MODES)}")
    if refresh_every < 1:
        raise EdgeError(f"refresh_every must be >= 1, got {refresh_every}")

    def hook(step, total):
        t = min(1.0, step / max(1, end * total))
        decay = 0.5 * (1 + math.cos(math.pi * t))
        set_grad_decay(model, decay, soft=mode == "mask")
        if t < 1.0 and step % refresh_every == 0:
            refresh_nm_masks(model)
    return hook


def prune_and_finetune(model, x, y, method="magnitude", ratio=0.5, n=2, m=4, schedule="oneshot", epochs=2,
                       rounds=3, lr=1e-3, batch=64, input_shape=None, progressive_flow=False, every=8,
                       flow_mode="gradient", seed=0, teacher=None, kd_weight=0.5, T=4.0):
    """Prune `model` (a copy for channel pruning, in place for masks) and fine-tune it.

    method: "magnitude" (global unstructured, `ratio`), "channel" (structured removal,
    `ratio` of every dependency group; needs input_shape), "nm" (n:m masks, with
    `progressive_flow` for progressive gradient flow, `flow_mode` see nm_gradient_flow_hook).
    The iterative schedule splits `epochs` over the rounds (later rounds get the remainder),
    so every schedule trains for the same number of epochs. teacher/kd_weight/T: distil
    from `teacher` while fine-tuning (see finetune). Returns (model, losses); masks are
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
    ft = dict(lr=lr, batch=batch, seed=seed, teacher=teacher, kd_weight=kd_weight, T=T)
    if method == "nm":
        if schedule == "iterative":
            raise EdgeError("N:M masks have a fixed density; use oneshot (optionally progressive_flow) or progressive")
        nm_prune(model, n, m, progressive=progressive_flow or schedule == "progressive")
        hook = nm_gradient_flow_hook(model, every, mode=flow_mode) \
            if (progressive_flow or schedule == "progressive") else None
        losses += finetune(model, x, y, epochs, step_hook=hook, **ft)
        set_grad_decay(model, 0.0, soft=False)
        return remove_masks(model), losses
    if schedule == "oneshot":
        if method == "channel":
            model = channel_prune(model, input_shape, ratio=ratio)
        else:
            magnitude_prune(model, ratio)
        losses += finetune(model, x, y, epochs, **ft)
    elif schedule == "iterative":
        per_round = [epochs // rounds + (1 if i >= rounds - epochs % rounds else 0) for i in range(rounds)]
        for i in range(1, rounds + 1):
            if method == "channel":
                # keep (1 - ratio)^(i/rounds) of the channels overall after round i
                step_keep = (1 - ratio) ** (1 / rounds)
                model = channel_prune(model, input_shape, ratio=1 - step_keep)
            else:
                magnitude_prune(model, ratio * i / rounds)
            if per_round[i - 1]:
                losses += finetune(model, x, y, per_round[i - 1], **ft)
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
