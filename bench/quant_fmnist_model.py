"""The trained Fashion-MNIST CNN the quantization benchmarks share (trained once, cached).

`.venv/bin/python bench/quant_fmnist_model.py` trains edgesdk.zoo.fmnist_cnn for a few
epochs (about 2-4 minutes on 2 cores) and caches the state_dict in
bench/results/fmnist_cnn_state.pt; later runs load the cache.
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch

from edgesdk.data import load_fashion_mnist
from edgesdk.zoo import fmnist_cnn

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / "results" / "fmnist_cnn_state.pt"


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(torch.from_numpy(x[i:i + batch])).argmax(1).numpy() == y[i:i + batch]).sum())
    return correct / len(x)


def train(epochs=3, seed=0):
    # One thread: with other jobs on the machine, torch's spinning thread pool is many
    # times slower than a single thread.
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x, y = load_fashion_mnist("train")
    model = fmnist_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * (len(x) // 128))
    rng = np.random.default_rng(seed)
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(len(x))
        for i in range(0, len(x) - 127, 128):
            idx = perm[i:i + 128]
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {ep + 1}: loss {float(loss):.3f}", flush=True)
    return model.eval()


def trained_fmnist_cnn():
    """The trained model (eval mode), from the cache when present."""
    model = fmnist_cnn()
    if CACHE.exists():
        model.load_state_dict(torch.load(CACHE, weights_only=True))
        return model.eval()
    model = train()
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    tmp = CACHE.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(CACHE)
    return model


if __name__ == "__main__":
    t = time.time()
    m = trained_fmnist_cnn()
    xt, yt = load_fashion_mnist("test")
    print(f"test accuracy {evaluate(m, xt, yt):.4f} ({time.time() - t:.0f} s)")
    sys.exit(0)
