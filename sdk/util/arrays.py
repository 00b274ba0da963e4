"""Reading users' .npy/.npz data files with one-line errors that name the file."""
from pathlib import Path

import numpy as np

from ..errors import DataError


def open_array_file(path, what):
    """np.load of an .npy/.npz (no pickles); DataError naming `what` and the file otherwise."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} {p}: no such file")
    try:
        return np.load(p, allow_pickle=False)
    except Exception as e:  # numpy raises several types for a file that is not an array
        raise DataError(f"{what} {p}: not a .npy/.npz array file ({e.__class__.__name__})") from None
