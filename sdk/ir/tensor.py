"""Tensors of the IR: shape, dtype, layout, optional constant data and quantization."""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .dtypes import np_dtype, storage_bytes


@dataclass
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point).

    `axis` is None for per-tensor parameters, else the channel axis of per-channel
    ones. `multiplier`/`shift` are the fixed-point requantization constants of the
    node that PRODUCES this tensor (one per output channel, or one): see
    edgesdk.quant.fixedpoint for the exact rounding. `bits` is the integer width of
    the stored values (8, 4, 2 or 1).
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: Optional[int] = None
    multiplier: Optional[np.ndarray] = None
    shift: Optional[np.ndarray] = None
    bits: int = 8

    def __post_init__(self):
        self.scale = np.asarray(self.scale, dtype=np.float32)
        self.zero_point = np.asarray(self.zero_point, dtype=np.int32)
        if self.multiplier is not None:
            self.multiplier = np.asarray(self.multiplier, dtype=np.int32)
        if self.shift is not None:
            self.shift = np.asarray(self.shift, dtype=np.int32)

    @property
    def per_channel(self):
        return self.axis is not None and self.scale.size > 1

    def to_json(self):
        d = {"scale": self.scale.tolist(), "zero_point": self.zero_point.tolist(),
             "axis": self.axis, "bits": self.bits}
        if self.multiplier is not None:
            d["multiplier"] = self.multiplier.tolist()
            d["shift"] = self.shift.tolist()
        return d

    @classmethod
    def from_json(cls, d):
        return cls(scale=np.array(d["scale"], np.float32), zero_point=np.array(d["zero_point"], np.int32),
                   axis=d.get("axis"), bits=d.get("bits", 8),
                   multiplier=None if d.get("multiplier") is None else np.array(d["multiplier"], np.int32),
                   shift=None if d.get("shift") is None else np.array(d["shift"], np.int32))


@dataclass
class Tensor:
    """A value in the graph. `data` is set for constants (weights, biases, shapes).

    `tags` carries optional, codegen-facing facts, by convention:
      sparsity: {"kind": "nm", "n": 2, "m": 4} | {"kind": "block", "block": [1, 4]} |
                {"kind": "unstructured", "density": 0.3}
      packing:  {"bits": 4} | {"bits": 1, "word": 32}
      shift_weights: {"bits": 4}  (DenseShift: value = sign * 2**exponent)
    """

    name: str
    shape: tuple
    dtype: str = "f32"
    layout: str = ""
    data: Optional[np.ndarray] = None
    quant: Optional[QuantParams] = None
    tags: dict = field(default_factory=dict)

    def __post_init__(self):
        self.shape = tuple(int(s) if not isinstance(s, str) else s for s in self.shape)
        np_dtype(self.dtype)  # validates the name
        if self.data is not None:
            self.data = np.asarray(self.data, dtype=np_dtype(self.dtype))
            if tuple(self.data.shape) != self.shape:
                raise ValueError(f"tensor {self.name}: data shape {self.data.shape} != declared {self.shape}")

    @property
    def is_const(self):
        return self.data is not None

    @property
    def numel(self):
        n = 1
        for s in self.shape:
            if not isinstance(s, int) or s < 0:
                raise ValueError(f"tensor {self.name} has a dynamic shape {self.shape}")
            n *= s
        return n

    @property
    def is_static(self):
        return all(isinstance(s, int) and s >= 0 for s in self.shape)

    @property
    def nbytes(self):
        """Bytes on the device, packed for sub-byte dtypes."""
        return storage_bytes(self.dtype, self.numel)

    def set_data(self, data, dtype=None):
        if dtype is not None:
            self.dtype = dtype
        self.data = np.asarray(data, dtype=np_dtype(self.dtype))
        self.shape = tuple(int(s) for s in self.data.shape)
