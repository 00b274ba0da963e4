"""Small graph-surgery helpers the passes share (no pass lives here)."""
import numpy as np


def const_value(graph, name):
    """The constant array behind `name`, or None for activations, absent inputs and graph
    inputs (an input with an initializer is a default the user may override)."""
    if not name or name in graph.inputs:
        return None
    t = graph.tensors.get(name)
    return None if t is None else t.data


def sole_reader(graph, tensor, consumers=None):
    """The one node reading `tensor` when nothing else does (not even the graph outputs), else None."""
    if tensor in graph.outputs:
        return None
    readers = (consumers if consumers is not None else graph.consumers()).get(tensor, [])
    if len(readers) != 1:
        return None
    node = readers[0]
    # Read twice by the same node (Add(x, x)) still counts as one reader, but not a fusable one.
    if sum(1 for i in node.inputs if i == tensor) != 1:
        return None
    return node


def new_const(graph, base, array, like=None):
    """Add a constant (named after `base`) holding `array` in the dtype of `like` or f32."""
    dtype = graph.tensors[like].dtype if like else "f32"
    from ..ir.dtypes import np_dtype
    return graph.add_const(base, np.asarray(array).astype(np_dtype(dtype)), dtype=dtype).name


def drop_unused(graph, names):
    """Delete the tensors among `names` that no node, input or output refers to any more."""
    used = set(graph.inputs) | set(graph.outputs)
    for n in graph.nodes:
        used.update(n.inputs)
        used.update(n.outputs)
    for name in names:
        if name and name not in used:
            graph.tensors.pop(name, None)


def remove_node(graph, node):
    graph.nodes = [n for n in graph.nodes if n is not node]
