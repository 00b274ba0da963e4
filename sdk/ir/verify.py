"""The IR verifier: shapes, dtypes, topological order, dangling tensors.

Every message names the node (or tensor) at fault, so a failing pass is found fast.
"""
from ..errors import GraphError
from .ops import op_def


def verify(graph, check_shapes=True):
    problems = []
    defined = set(graph.inputs) | {t.name for t in graph.tensors.values() if t.is_const}
    for name in graph.inputs:
        if name not in graph.tensors:
            problems.append(f"graph input {name!r} has no tensor")
    seen_nodes = set()
    written = {}
    for node in graph.nodes:
        if node.name in seen_nodes:
            problems.append(f"node {node.name}: duplicate node name")
        seen_nodes.add(node.name)
        if op_def(node.op) is None:
            problems.append(f"node {node.name}: unknown op {node.op!r}")
        for i in node.inputs:
            if not i:
                continue
            if i not in graph.tensors:
                problems.append(f"node {node.name} ({node.op}): input {i!r} does not exist")
            elif i not in defined:
                problems.append(f"node {node.name} ({node.op}): input {i!r} is read before it is written "
                                f"(nodes out of topological order, or a dangling tensor)")
        for o in node.outputs:
            if not o:
                continue
            if o in written:
                problems.append(f"node {node.name} ({node.op}): output {o!r} is also written by {written[o]}")
            written[o] = node.name
            if o not in graph.tensors:
                problems.append(f"node {node.name} ({node.op}): output {o!r} has no tensor")
            defined.add(o)
    for o in graph.outputs:
        if o not in defined:
            problems.append(f"graph output {o!r} is never written")
    if check_shapes and not problems:
        problems += _check_shapes(graph)
    if problems:
        raise GraphError(f"graph {graph.name}: " + "; ".join(problems[:20])
                         + (f"; and {len(problems) - 20} more" if len(problems) > 20 else ""))
    return True


def _check_shapes(graph):
    """Re-run shape inference node by node and compare with the stored tensors."""
    problems = []
    for node in graph.nodes:
        d = op_def(node.op)
        ins = [graph.tensors.get(i) if i else None for i in node.inputs]
        try:
            outs = d.infer(node, ins)
        except Exception as e:
            problems.append(f"node {node.name} ({node.op}): shape rule failed: {e}")
            continue
        for name, (shape, dtype) in zip(node.outputs, outs):
            if not name:
                continue
            t = graph.tensors[name]
            if tuple(t.shape) != tuple(shape):
                problems.append(f"node {node.name} ({node.op}): output {name} has shape {t.shape}, expected {tuple(shape)}")
            if t.dtype != dtype:
                problems.append(f"node {node.name} ({node.op}): output {name} has dtype {t.dtype}, expected {dtype}")
    for t in graph.tensors.values():
        if t.data is not None and tuple(t.data.shape) != tuple(t.shape):
            problems.append(f"tensor {t.name}: data shape {t.data.shape} != declared shape {t.shape}")
    return problems
