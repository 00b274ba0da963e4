"""Training recipe for binarized / DenseShift models (they need training to recover).

Cross-entropy, one cosine learning-rate decay per stage, Adam (or SGD with momentum, the
BiPer authors' optimizer). Two-stage training as in BiPer (Vargas et al. 2024): with
stage1_epochs > 0, binary layers first train with real-valued weights (their surrogate
function: sin(freq w) for BiPer, hardtanh(w) for STE) and binary activations, then with
binary weights for `epochs` more. The BiPer frequency schedule moves per epoch of the
binary stage; `sine_penalty` adds tau * mean(sin^2(freq w)) per BiPer layer, the
authors' regularizer. Data are (x, y) numpy arrays or torch tensors.
"""
import torch
from torch import nn

from ..errors import EdgeError
from ..zoo.train import accuracy, labelled_tensors
from .layers import FrequencySchedule, _BinaryMixin

OPTIMIZERS = ("adam", "sgd")


def _tensors(x, y, what):
    return labelled_tensors(x, y, what)


def evaluate(model, x, y, batch=512):
    """Top-1 accuracy in percent."""
    return 100.0 * accuracy(model, x, y, batch, "evaluation data")


def set_binary_weights(model, on):
    """Switch every binary layer between stage 1 (real-valued weights) and stage 2 (binary)."""
    for m in model.modules():
        if isinstance(m, _BinaryMixin):
            m.binary_weights = bool(on)


def _check_settings(epochs, stage1_epochs, lr, optimizer, sine_penalty, weight_decay, stage1_lr=None):
    for name, v in (("epochs", epochs), ("stage1_epochs", stage1_epochs)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise EdgeError(f"train_recipe {name}: must be a non-negative integer, got {v!r}")
    if epochs + stage1_epochs < 1:
        raise EdgeError("train_recipe: epochs + stage1_epochs must be at least 1")
    if optimizer not in OPTIMIZERS:
        raise EdgeError(f"train_recipe optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    values = (("lr", lr), ("sine_penalty", sine_penalty), ("weight_decay", weight_decay))
    if stage1_lr is not None:
        values += (("stage1_lr", stage1_lr),)
    for name, v in values:
        positive = name.endswith("lr")
        if not isinstance(v, (int, float)) or not v >= 0 or v == float("inf") or (positive and v == 0):
            raise EdgeError(f"train_recipe {name}: must be a finite {'positive' if positive else 'non-negative'} "
                            f"number, got {v!r}")


def _run_stage(model, x, y, epochs, lr, batch, optimizer, weight_decay, sine_penalty, g, freq, log, tag, losses):
    if epochs == 0:
        return
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    binary = [m for m in model.modules() if isinstance(m, _BinaryMixin) and m.method == "biper"]
    loss_fn = nn.CrossEntropyLoss()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        tot, nb = 0.0, 0
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = loss_fn(model(x[idx]), y[idx])
            if sine_penalty and binary:
                loss = loss + sine_penalty * sum(m.sine_penalty() for m in binary)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
            nb += 1
        losses.append(tot / nb)
        if log:
            log(f"{tag}epoch {ep + 1}/{epochs}: loss {losses[-1]:.4f}")
        if freq is not None:
            freq.step()


def train_recipe(model, x, y, epochs=3, lr=2e-3, batch=128, freq_start=None, freq_end=None,
                 weight_decay=0.0, seed=0, log=None, stage1_epochs=0, stage1_lr=None, optimizer="adam",
                 sine_penalty=0.0):
    """Train in place; returns the per-epoch mean losses (stage 1 first).

    stage1_epochs: epochs with real-valued weights before the `epochs` binary ones
    (stage1_lr defaults to lr). freq_start/freq_end: BiPer frequency schedule over the
    binary stage (units of 1/std(w)), geometric across epochs; default keeps each
    layer's frequency. sine_penalty: tau of BiPer's mean(sin^2(freq w)) regularizer.
    """
    _check_settings(epochs, stage1_epochs, lr, optimizer, sine_penalty, weight_decay, stage1_lr)
    x, y = _tensors(x, y, "training data")
    g = torch.Generator().manual_seed(seed)
    losses = []
    has_binary = any(isinstance(m, _BinaryMixin) for m in model.modules())
    if stage1_epochs and not has_binary:
        epochs, stage1_epochs = epochs + stage1_epochs, 0     # nothing binary: one plain stage
    freq = None
    if freq_start is not None or freq_end is not None:
        # set before stage 1, so that stage 1 trains at the frequency stage 2 starts with
        fs = freq_start if freq_start is not None else freq_end
        fe = freq_end if freq_end is not None else freq_start
        freq = FrequencySchedule(model, fs, fe, steps=max(1, epochs - 1), kind="geometric")
    if stage1_epochs:
        set_binary_weights(model, False)
        try:
            lr1 = lr if stage1_lr is None else stage1_lr
            _run_stage(model, x, y, stage1_epochs, lr1, batch, optimizer, weight_decay, sine_penalty,
                       g, None, log, "stage 1 (real weights) ", losses)
        finally:
            set_binary_weights(model, True)
    _run_stage(model, x, y, epochs, lr, batch, optimizer, weight_decay, sine_penalty, g, freq, log,
               "stage 2 (binary) " if stage1_epochs else "", losses)
    return losses
