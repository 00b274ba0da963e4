"""Labelled sample files for fine-tuning: .npz with the samples under x (or input,
images) and the labels under y (or labels)."""
from pathlib import Path

import numpy as np

from ..errors import DataError

X_KEYS = ("x", "input", "images", "samples")
Y_KEYS = ("y", "labels", "label", "targets")


def load_labelled(path, what="--data"):
    """(x float32, y int64) from an .npz; one-line DataError naming the file otherwise."""
    from ..util.arrays import open_array_file
    p = Path(path)
    data = open_array_file(p, what)
    if not hasattr(data, "files"):
        raise DataError(f"{what} {p}: a single array; fine-tuning needs an .npz with samples (x) and labels (y)")
    xk = next((k for k in X_KEYS if k in data.files), None)
    yk = next((k for k in Y_KEYS if k in data.files), None)
    if xk is None or yk is None:
        raise DataError(f"{what} {p}: needs arrays named x and y (has {', '.join(data.files) or 'none'})")
    x, y = data[xk], data[yk]
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{what} {p}: {xk} has dtype {x.dtype}, not numbers")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{what} {p}: {yk} must be a 1-D integer array of class indices (is {y.dtype} {y.shape})")
    if len(x) != len(y):
        raise DataError(f"{what} {p}: {len(x)} samples but {len(y)} labels")
    if len(x) == 0:
        raise DataError(f"{what} {p}: holds no samples")
    return x.astype(np.float32), y.astype(np.int64)
