"""Shared skips and random data of the GPU tests (tests/test_gpu_*.py)."""
import numpy as np
import pytest


def opencl_available():
    try:
        from edgesdk.gpu.opencl import device
        device()
        return True
    except Exception:
        return False


requires_opencl = pytest.mark.skipif(not opencl_available(),
                                     reason="no OpenCL platform (install pocl-opencl-icd and pyopencl)")


def rand_requant(rng, m, lo=-10, hi=-5):
    """Per-channel (multiplier, shift) in the fixedpoint ranges, small enough to spread outputs."""
    mult = rng.integers(1 << 30, (1 << 31) - 1, m).astype(np.int32)
    shift = rng.integers(lo, hi, m).astype(np.int32)
    return mult, shift
