"""aeon's BasicMotions: 6-axis IMU (accelerometer + gyroscope), 100 steps, 4 classes."""
import numpy as np

from ..errors import DataError


def load_basic_motions(split="train"):
    """(x float32 (N, 6, 100), y int64 (N,), class names)."""
    try:
        from aeon.datasets import load_basic_motions as _load
    except ImportError as e:
        raise DataError(f"BasicMotions needs the `aeon` package ({e}); `make setup` installs it") from None
    x, y = _load(split=split)
    names = sorted(set(y))
    lookup = {n: i for i, n in enumerate(names)}
    return np.asarray(x, np.float32), np.array([lookup[v] for v in y], np.int64), names
