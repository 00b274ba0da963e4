"""The edgesdk graph IR: one representation for every frontend, pass and backend.

Conventions every stage relies on:
- Op names are ONNX op names where ONNX has the op (Conv, Gemm, Relu, ...), with
  ONNX attribute names and defaults. Integer ops that ONNX lacks are prefixed with Q
  (QConv, QGemm, QAdd, ...) and documented where they are registered.
- Activations are NCHW, weights OIHW, as in ONNX. Lowering for a target may change
  layouts; it records the new layout on the tensor.
- Every tensor has a static shape once the graph is imported.
"""
from .dtypes import DTYPES, np_dtype, dtype_of, itemsize_bits, storage_bytes
from .tensor import Tensor, QuantParams
from .node import Node
from .graph import Graph
from .ops import OpDef, register_op, op_def, known_ops
from .shapes import infer_shapes
from .verify import verify
from .serialize import save, load, FORMAT_VERSION

__all__ = [
    "DTYPES", "np_dtype", "dtype_of", "itemsize_bits", "storage_bytes",
    "Tensor", "QuantParams", "Node", "Graph",
    "OpDef", "register_op", "op_def", "known_ops",
    "infer_shapes", "verify", "save", "load", "FORMAT_VERSION",
]
