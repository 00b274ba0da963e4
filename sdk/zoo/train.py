"""A small, dependable classifier trainer (torch, CPU) and a cache of trained models.

Tests, examples and the demo need *trained* models (random weights prove little), but
must not retrain them every time: `pretrained()` trains once and keeps the state dict
in the repository's .cache/ (gitignored; a fresh clone simply trains again).
"""
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn


def cache_dir() -> Path:
    d = Path(os.environ.get("EDGESDK_CACHE", Path(__file__).resolve().parents[2] / ".cache"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def train_classifier(model, x, y, epochs=2, batch=64, lr=3e-3, seed=0, progress=False, desc="train"):
    """Adam + cross-entropy on numpy data; returns the model in eval mode."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs * (len(x) // batch)))
    xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.int64))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=epochs * ((len(x) + batch - 1) // batch), desc=desc, unit="batch", leave=False)
    model.train()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
    if bar is not None:
        bar.close()
    return model.eval()


def labelled_tensors(x, y, what="data"):
    """(float32 inputs, int64 labels) as tensors; one-line DataError if they do not pair up."""
    from ..errors import DataError
    x = torch.as_tensor(np.asarray(x, np.float32))
    y = torch.as_tensor(np.asarray(y, np.int64))
    if len(x) != len(y) or len(x) == 0:
        raise DataError(f"{what}: {len(x)} inputs and {len(y)} labels (need one label per input, at least one)")
    return x, y


@torch.no_grad()
def accuracy(model, x, y, batch=500, what="evaluation data"):
    """Top-1 accuracy as a fraction (model put in eval mode)."""
    x, y = labelled_tensors(x, y, what)
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def pretrained(name, build, data, epochs=2, progress=False, **train_kw):
    """Train `build()` on data=(x, y) once; later calls load the cached weights.

    The cache key covers the name, the data and the training settings, so changing
    any of them retrains instead of returning a stale model.
    """
    x, y = data
    key = hashlib.sha1(json.dumps([name, epochs, sorted(train_kw.items()), x.shape, float(x[:64].sum()),
                                   int(y[:256].sum())], default=str).encode()).hexdigest()[:12]
    path = cache_dir() / f"{name}-{key}.pt"
    model = build()
    if path.exists():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()
    train_classifier(model, x, y, epochs=epochs, progress=progress, desc=f"train {name}", **train_kw)
    # A unique temporary name: parallel test workers may train the same model at once.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model.eval()


def fmnist_classifier(classes=None, width=16, epochs=2, limit=None, progress=False):
    """The zoo's Fashion-MNIST CNN trained on `classes` (default all 10); cached."""
    from ..data import load_fashion_mnist
    from .models import fmnist_cnn
    x, y = load_fashion_mnist("train", classes=classes, limit=limit)
    n = 10 if classes is None else len(classes)
    name = f"fmnist_cnn_w{width}_c{'-'.join(map(str, classes)) if classes else 'all'}"
    return pretrained(name, lambda: fmnist_cnn(n, width), (x, y), epochs=epochs, progress=progress)
