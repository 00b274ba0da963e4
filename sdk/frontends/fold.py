"""Fold constant subgraphs (the Shape/Gather/Concat/Unsqueeze chains exporters emit) at import.

One pass in node order: a node whose inputs are all constants (or a Shape/Size of a
tensor whose shape is already static) is evaluated once with the numpy reference and
replaced by constant outputs; every other node gets its output shapes inferred, so the
Shape nodes further down see static shapes. Q/DQ nodes are never folded: their
constant inputs are the quantized weights, which a later pass fuses into integer ops.
"""
import numpy as np

from ..ir.dtypes import dtype_of
from ..ir.shapes import infer_node, node_inputs
from ..ir.tensor import Tensor

NEVER_FOLD = {"QuantizeLinear", "DequantizeLinear"}


def _foldable(node, ins):
    if node.op in NEVER_FOLD:
        return False
    if node.op in ("Shape", "Size"):
        return ins[0] is not None and ins[0].is_static
    return all(t is None or t.is_const for t in ins)


def _set_const(graph, name, value):
    value = np.asarray(value)
    if value.dtype == np.float64:
        value = value.astype(np.float32)
    graph.tensors[name] = Tensor(name, tuple(value.shape), dtype_of(value), data=value)


def fold_and_infer(graph):
    """Fold constant nodes away and infer every remaining node's output shapes, in order."""
    from .. import reference
    kept = []
    for node in graph.nodes:
        ins = node_inputs(graph, node, missing_hint=": no node, initializer or graph input produces it "
                                                   "(truncated or malformed model?)")
        if _foldable(node, ins):
            if node.op == "Shape":
                r = len(ins[0].shape)
                outs = [np.array(ins[0].shape[slice(node.attrs.get("start", 0), node.attrs.get("end", r))],
                                 dtype=np.int64)]
            elif node.op == "Size":
                outs = [np.array(int(np.prod(ins[0].shape)), dtype=np.int64)]
            else:
                outs = reference.get(node.op)(node, [None if t is None else t.data for t in ins])
            for name, val in zip(node.outputs, outs):
                if name:
                    _set_const(graph, name, val)
            continue
        for name, (shape, dtype) in zip(node.outputs, infer_node(node, ins)):
            if name:
                graph.tensors[name] = Tensor(name, tuple(int(s) for s in shape), dtype)
        kept.append(node)
    graph.nodes = kept
    graph.remove_unused_tensors()
    return graph
