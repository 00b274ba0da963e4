"""Training recipe for binarized / DenseShift models (they need training to recover).

Adam on all parameters, cosine learning rate, the BiPer frequency schedule stepped per
epoch, cross-entropy. Data are (x, y) numpy arrays or torch tensors; kept small on CI.
"""
import torch
from torch import nn

from ..zoo.train import accuracy, labelled_tensors
from .layers import FrequencySchedule


def _tensors(x, y, what):
    return labelled_tensors(x, y, what)


def evaluate(model, x, y, batch=512):
    """Top-1 accuracy in percent."""
    return 100.0 * accuracy(model, x, y, batch, "evaluation data")


def train_recipe(model, x, y, epochs=3, lr=2e-3, batch=128, freq_start=None, freq_end=None,
                 weight_decay=0.0, seed=0, log=None):
    """Train in place; returns the per-epoch mean losses.

    freq_start/freq_end: BiPer frequency schedule (units of 1/std(w)); default keeps
    each layer's frequency. The schedule moves geometrically across epochs.
    """
    x, y = _tensors(x, y, "training data")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    freq = None
    if freq_start is not None or freq_end is not None:
        fs = freq_start if freq_start is not None else freq_end
        fe = freq_end if freq_end is not None else freq_start
        freq = FrequencySchedule(model, fs, fe, steps=max(1, epochs - 1), kind="geometric")
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        tot, nb = 0.0, 0
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
            nb += 1
        losses.append(tot / nb)
        if log:
            log(f"epoch {ep + 1}/{epochs}: loss {losses[-1]:.4f}")
        if freq is not None:
            freq.step()
    return losses
