"""Where the C sources (kernels/, runtime/, targets/) and codegen templates live.

In the repository they are top-level folders; in an installed wheel they are package
data under edgesdk/_c/. Callers never care which.
"""
from functools import lru_cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def data_root() -> Path:
    shipped = _PKG / "_c"
    if (shipped / "targets").is_dir():
        return shipped
    repo = _PKG.parent
    if (repo / "targets").is_dir() and (repo / "sdk").is_dir():
        return repo
    raise RuntimeError(f"edgesdk C sources not found under {shipped} or {repo}")


def kernels_dir() -> Path:
    return data_root() / "kernels"


def runtime_dir() -> Path:
    return data_root() / "runtime"


def targets_dir() -> Path:
    return data_root() / "targets"
