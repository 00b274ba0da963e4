"""Fashion-MNIST from Debian's `dataset-fashion-mnist` (IDX files, gzip)."""
import gzip
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DataError

FASHION_MNIST_DIR = Path(os.environ.get("EDGESDK_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@lru_cache(maxsize=2)
def _load(split):
    prefix = "train" if split == "train" else "t10k"
    img = FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"
    lab = FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz"
    if not img.exists():
        raise DataError(f"{img}: Fashion-MNIST not found; install Debian's dataset-fashion-mnist "
                        f"(make setup does) or set EDGESDK_FASHION_MNIST")
    return _read_idx(img), _read_idx(lab)


def load_fashion_mnist(split="train", classes=None, limit=None, normalize=True):
    """Images as float32 (N, 1, 28, 28) in [0, 1] (or uint8 if normalize=False), labels int64.

    `classes` keeps only those labels (relabelled to 0..k-1 in the given order);
    `limit` keeps the first `limit` samples after filtering (the files are shuffled).
    """
    x, y = _load(split)
    if classes is not None:
        classes = list(classes)
        keep = np.isin(y, classes)
        x, y = x[keep], y[keep]
        remap = np.zeros(10, np.int64)
        remap[classes] = np.arange(len(classes))
        y = remap[y]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    x = x[:, None, :, :]
    if normalize:
        x = x.astype(np.float32) / 255.0
    return x, y.astype(np.int64)
