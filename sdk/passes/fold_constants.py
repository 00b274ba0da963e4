"""Evaluate nodes whose inputs are all constants, once, at compile time.

Each such node runs through the numpy reference (edgesdk.reference) and its outputs
become constants, so the device never recomputes shape arithmetic, transposed
weights or the like. Nodes are visited in order, so a chain of constant nodes folds
in one sweep. A node is left alone when the reference has no implementation of its
op, when it is random or a Q/DQ of a weight, or when its result would be much bigger than its inputs
(Expand/Tile of a small constant: folding would only bloat the flash image).
"""
import numpy as np

from ..ir.dtypes import np_dtype
from . import register_pass
from .rewrite import const_value

NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                    "Multinomial", "Bernoulli"}
# Q/DQ of a constant is a quantized weight waiting for fuse_qdq: folding it would turn
# the int8 weight back into float and lose the quantization (as in frontends.fold).
NEVER_FOLD = NONDETERMINISTIC | {"QuantizeLinear", "DequantizeLinear"}
# A folded result may be this many times its inputs' bytes before we prefer to keep the node.
MAX_GROWTH = 4
GROWTH_FREE_BYTES = 1 << 16


def _declared_bytes(graph, names):
    total = 0
    for n in names:
        t = graph.tensors.get(n)
        if t is None or not t.is_static:
            return None
        total += t.numel * np.dtype(np_dtype(t.dtype)).itemsize
    return total


def _evaluate(node, values):
    from .. import reference
    fn = reference.get(node.op)
    if fn is None:
        return None
    return fn(node, values)


@register_pass("fold_constants", order=10)
def fold_constants(graph):
    """Replace nodes whose inputs are all constants by their (reference-computed) outputs."""
    folded = 0
    keep = []
    for node in graph.nodes:
        values = [None if not i else const_value(graph, i) for i in node.inputs]
        foldable = (node.op not in NEVER_FOLD
                    and all(v is not None for i, v in zip(node.inputs, values) if i))
        if foldable:
            in_bytes = sum(np.asarray(v).nbytes for v in values if v is not None)
            out_bytes = _declared_bytes(graph, [o for o in node.outputs if o])
            if out_bytes is not None and out_bytes > max(MAX_GROWTH * in_bytes, GROWTH_FREE_BYTES):
                foldable = False
        outs = _evaluate(node, values) if foldable else None
        if outs is None:
            keep.append(node)
            continue
        for name, val in zip(node.outputs, outs):
            if not name:
                continue
            val = np.asarray(val)
            t = graph.tensors.get(name)
            if t is None:
                graph.add_const(name, val)
            else:
                # Keep the declared IR dtype (s4/b1 share numpy storage with s8/u8).
                t.set_data(val)
        folded += 1
    graph.nodes = keep
    return folded
