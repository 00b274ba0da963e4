"""The trained Fashion-MNIST models the quantization benchmarks share (trained once, cached).

`.venv/bin/python bench/quant_fmnist_model.py` trains them (about 2-4 minutes each on
2 cores) and caches the state_dicts in bench/results/; later runs load the caches.

- fmnist_cnn (edgesdk.zoo.fmnist_cnn): three convs, global average pool, linear head;
  trained on all 60000 training images (the cache predates the validation split).
- fmnist_vgg (edgesdk.zoo.models.fmnist_vgg): conv-conv-pool-conv-pool, a hidden FC layer
  and the head; trained on the first 55000 training images, so the last 5000 are a true
  validation split for choosing quantization settings (the test set is only reported).
- fmnist_dscnn (edgesdk.zoo.models.fmnist_dscnn): a 3x3 conv, five depthwise-separable
  blocks, global average pool, linear head (MobileNet / DS-CNN style); trained like
  fmnist_vgg on the first 55000 training images.
- fmnist_dscnn_s (edgesdk.zoo.models.fmnist_dscnn_s): fmnist_dscnn at half width (~10k
  params, MCU-sized); trained exactly like fmnist_dscnn.
- fmnist_bnn_resnet (edgesdk.zoo.models.fmnist_bnn_resnet): the binary-friendly ResNet
  (a real shortcut around every conv); its float form, trained like fmnist_vgg, is the
  float reference of the binary benchmark on that model.
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch

from edgesdk.data import load_fashion_mnist
from edgesdk.zoo import fmnist_cnn
from edgesdk.zoo.models import fmnist_bnn_resnet, fmnist_dscnn, fmnist_dscnn_s, fmnist_vgg

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / "results" / "fmnist_cnn_state.pt"
VGG_CACHE = ROOT / "results" / "fmnist_vgg_state.pt"
DSCNN_CACHE = ROOT / "results" / "fmnist_dscnn_state.pt"
DSCNN_S_CACHE = ROOT / "results" / "fmnist_dscnn_s_state.pt"
BNN_RESNET_CACHE = ROOT / "results" / "fmnist_bnn_resnet_state.pt"
VAL = 5000  # the last VAL training images: validation split (held out of fmnist_vgg's training)


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(torch.from_numpy(x[i:i + batch])).argmax(1).numpy() == y[i:i + batch]).sum())
    return correct / len(x)


def train(epochs=3, seed=0, make=fmnist_cnn, limit=None):
    # One thread: with other jobs on the machine, torch's spinning thread pool is many
    # times slower than a single thread.
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x, y = load_fashion_mnist("train")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    model = make()
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
        print(f"epoch {ep + 1}: loss {loss.item():.3f}", flush=True)
    return model.eval()


def _cached(make, cache, **train_kw):
    model = make()
    if cache.exists():
        model.load_state_dict(torch.load(cache, weights_only=True))
        return model.eval()
    model = train(make=make, **train_kw)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(cache)
    return model


def trained_fmnist_cnn():
    """The trained model (eval mode), from the cache when present."""
    return _cached(fmnist_cnn, CACHE)


def trained_fmnist_vgg():
    """fmnist_vgg trained like fmnist_cnn (3 epochs Adam, one-cycle) on the first 55000 images."""
    return _cached(fmnist_vgg, VGG_CACHE, limit=60000 - VAL)


def trained_fmnist_dscnn():
    """fmnist_dscnn trained like fmnist_vgg (3 epochs Adam, one-cycle) on the first 55000 images."""
    return _cached(fmnist_dscnn, DSCNN_CACHE, limit=60000 - VAL)


def trained_fmnist_dscnn_s():
    """fmnist_dscnn_s (half width) trained exactly like fmnist_dscnn, on the first 55000 images."""
    return _cached(fmnist_dscnn_s, DSCNN_S_CACHE, limit=60000 - VAL)


def trained_fmnist_bnn_resnet():
    """fmnist_bnn_resnet (float) trained like fmnist_vgg, on the first 55000 images."""
    return _cached(fmnist_bnn_resnet, BNN_RESNET_CACHE, limit=60000 - VAL)


MODELS = {"fmnist_cnn": trained_fmnist_cnn, "fmnist_vgg": trained_fmnist_vgg,
          "fmnist_dscnn": trained_fmnist_dscnn, "fmnist_dscnn_s": trained_fmnist_dscnn_s,
          "fmnist_bnn_resnet": trained_fmnist_bnn_resnet}


def validation_split(model_name=None, calib=512, val=VAL):
    """(calibration images, labels, validation images, labels), all from the TRAIN set.

    Calibration: the first `calib` training images; validation: the last `val` ones
    (disjoint). For fmnist_vgg the validation images were never trained on; fmnist_cnn
    saw them in training (its float accuracy there is optimistic, but plans are compared
    against each other on the same images)."""
    x, y = load_fashion_mnist("train")
    return x[:calib], y[:calib], x[len(x) - val:], y[len(y) - val:]


if __name__ == "__main__":
    xt, yt = load_fashion_mnist("test")
    for name, fn in MODELS.items():
        t = time.time()
        m = fn()
        print(f"{name}: test accuracy {evaluate(m, xt, yt):.4f} ({time.time() - t:.0f} s)")
    sys.exit(0)
