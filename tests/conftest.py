"""Shared fixtures and skips for host tests."""
import shutil

import pytest


def have(tool):
    return shutil.which(tool) is not None


def require_tools(*tools):
    """Skip (saying which tool is missing) when an external tool is absent."""
    missing = [t for t in tools if not have(t)]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one torch thread avoids OpenMP oversubscription on a shared 2-core
    machine (and under pytest-xdist's two workers)."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
