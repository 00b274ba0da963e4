"""Tensor element types.

The edge dtypes are f32, f16, s32, s8, s4 and b1. s64, u8 and bool exist only while
importing (shape subgraphs, uint8 QDQ models) and are folded or converted away by
the frontends before a graph reaches the passes.

Storage: s4 and b1 constants are held unpacked in numpy (one int8 / uint8 per
element, values in [-8, 7] and {0, 1}) and carry a `packing` tag describing how the
codegen packs them (two s4 per byte, 32 b1 per word). Packing happens at the edge of
the system, never in the reference math.
"""
import numpy as np

DTYPES = {
    "f32": np.float32,
    "f16": np.float16,
    "s32": np.int32,
    "s8": np.int8,
    "s4": np.int8,
    "b1": np.uint8,
    "s64": np.int64,
    "u8": np.uint8,
    "bool": np.bool_,
}

_BITS = {"f32": 32, "f16": 16, "s32": 32, "s8": 8, "s4": 4, "b1": 1, "s64": 64, "u8": 8, "bool": 8}

_FROM_NUMPY = {
    np.dtype(np.float32): "f32",
    np.dtype(np.float16): "f16",
    np.dtype(np.int32): "s32",
    np.dtype(np.int8): "s8",
    np.dtype(np.int64): "s64",
    np.dtype(np.uint8): "u8",
    np.dtype(np.bool_): "bool",
    np.dtype(np.float64): "f32",
}


def np_dtype(dtype):
    """numpy storage dtype for an IR dtype name."""
    try:
        return DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}") from None


def dtype_of(array):
    """IR dtype name for a numpy array (float64 maps to f32)."""
    try:
        return _FROM_NUMPY[np.asarray(array).dtype]
    except KeyError:
        raise ValueError(f"numpy dtype {np.asarray(array).dtype} has no IR dtype") from None


def itemsize_bits(dtype):
    return _BITS[dtype]


def storage_bytes(dtype, numel):
    """Bytes that `numel` elements take on the device, packed (s4: 2/byte, b1: 8/byte)."""
    return (numel * _BITS[dtype] + 7) // 8
