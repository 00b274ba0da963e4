"""Reading a build directory (docs/build-format.md) and converting between the user's
arrays and the device's bytes (dtype, layout, quantization from manifest.json)."""
import json
from pathlib import Path

import numpy as np

from ..errors import DataError, EdgeError

_NP = {"s8": np.int8, "u8": np.uint8, "s32": np.int32, "f32": np.float32, "f16": np.float16,
       "s16": np.int16}


def read_manifest(build):
    build = Path(build)
    path = build / "manifest.json"
    if not build.is_dir():
        raise EdgeError(f"{build}: no such build directory")
    if not path.is_file():
        raise EdgeError(f"{build}: not a build directory (no manifest.json; make one with `edgesdk build`)")
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise EdgeError(f"{path}: malformed manifest: {e}") from None
    for key in ("board", "image", "inputs", "outputs"):
        if key not in m:
            raise EdgeError(f"{path}: missing field '{key}'")
    for kind in ("inputs", "outputs"):
        for i, spec in enumerate(m[kind]):
            for key in ("shape", "dtype"):
                if key not in spec:
                    raise EdgeError(f"{path}: {kind}[{i}] has no field '{key}'")
            if spec["dtype"] not in _NP:
                raise EdgeError(f"{path}: {kind}[{i}].dtype is {spec['dtype']!r}; "
                                f"the rig knows {', '.join(_NP)}")
    return m


def np_dtype(spec):
    return np.dtype(_NP[spec["dtype"]])


def nbytes(spec):
    return int(np.prod(spec["shape"], dtype=np.int64)) * np_dtype(spec).itemsize


def _device_perm(spec):
    """Axis order of the device buffer relative to the (NCHW) logical shape, or None."""
    if spec.get("layout") == "NHWC" and len(spec["shape"]) == 4:
        return (0, 2, 3, 1)
    return None


def quantize(x, spec):
    """Float data -> the integer dtype of `spec` through its quant params (per tensor)."""
    q = spec.get("quant") or {}
    if not q:
        raise DataError(f"input {spec.get('name', '?')}: float data for a {spec['dtype']} input "
                        f"without quantization parameters in the manifest")
    scale = float(np.asarray(q["scale"]).reshape(-1)[0])
    zp = int(np.asarray(q["zero_point"]).reshape(-1)[0])
    info = np.iinfo(np_dtype(spec))
    return np.clip(np.round(np.asarray(x, np.float64) / scale) + zp, info.min, info.max).astype(np_dtype(spec))


def to_device(x, spec):
    """A user's array (logical shape; device dtype, or float to quantize) -> device bytes."""
    name = spec.get("name", "?")
    x = np.asarray(x)
    shape = tuple(spec["shape"])
    if x.size != int(np.prod(shape)):
        raise DataError(f"input {name!r}: {x.size} values but the model wants shape {list(shape)}")
    x = x.reshape(shape)
    want = np_dtype(spec)
    if x.dtype != want:
        if np.issubdtype(want, np.integer) and np.issubdtype(x.dtype, np.floating):
            x = quantize(x, spec)
        elif np.issubdtype(want, np.floating):
            x = x.astype(want)
        elif np.issubdtype(x.dtype, np.integer) and np.can_cast(x.min(initial=0), want) and \
                np.can_cast(x.max(initial=0), want):
            x = x.astype(want)
        else:
            raise DataError(f"input {name!r}: {x.dtype} data does not fit the device dtype {spec['dtype']}")
    perm = _device_perm(spec)
    if perm:
        x = x.transpose(perm)
    return np.ascontiguousarray(x).tobytes()


def from_device(data, spec):
    """Device bytes -> an array in the logical (NCHW) shape and device dtype."""
    shape = tuple(spec["shape"])
    perm = _device_perm(spec)
    dev_shape = tuple(shape[p] for p in perm) if perm else shape
    arr = np.frombuffer(data, dtype=np_dtype(spec)).reshape(dev_shape)
    if perm:
        arr = arr.transpose(np.argsort(perm))
    return np.ascontiguousarray(arr)


def dequantize(x, spec):
    q = spec.get("quant") or {}
    if not q or not np.issubdtype(np.asarray(x).dtype, np.integer):
        return np.asarray(x, np.float64)
    scale = float(np.asarray(q["scale"]).reshape(-1)[0])
    zp = int(np.asarray(q["zero_point"]).reshape(-1)[0])
    return (np.asarray(x, np.float64) - zp) * scale
