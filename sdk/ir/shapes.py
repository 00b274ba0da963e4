"""Shape and dtype inference over a whole graph, using each op's registered function."""
from ..errors import EdgeError, GraphError, UnsupportedOpsError
from .ops import op_def
from .tensor import Tensor


def node_inputs(graph, node, missing_hint=""):
    """Apply the op's attribute defaults; return the node's input tensors (None for an
    absent optional input), with a GraphError naming the node for a missing one."""
    for k, v in op_def(node.op).defaults.items():
        node.attrs.setdefault(k, v)
    ins = [graph.tensors.get(i) if i else None for i in node.inputs]
    for name, t in zip(node.inputs, ins):
        if name and t is None:
            raise GraphError(f"node {node.name} ({node.op}): input {name!r} does not exist{missing_hint}")
    return ins


def infer_node(node, ins):
    """[(shape, dtype)] of the node's outputs; a GraphError naming the node when its shape
    rule rejects the inputs (an EdgeError from the rule itself passes through)."""
    try:
        return op_def(node.op).infer(node, ins)
    except EdgeError:
        raise
    except Exception as e:  # a shape rule that rejects its inputs
        shapes = [None if t is None else t.shape for t in ins]
        raise GraphError(f"node {node.name} ({node.op}): cannot infer output shapes from inputs {shapes}: {e}") from e


def infer_shapes(graph, overwrite=True):
    """Fill in every non-constant tensor's shape and dtype, in node order."""
    missing = [(n.name, n.op) for n in graph.nodes if op_def(n.op) is None]
    if missing:
        raise UnsupportedOpsError(missing, source=graph.name)
    for node in graph.nodes:
        outs = infer_node(node, node_inputs(graph, node))
        for name, (shape, dtype) in zip(node.outputs, outs):
            if not name:
                continue
            t = graph.tensors.get(name)
            if t is None:
                graph.tensors[name] = Tensor(name, tuple(shape), dtype)
            elif overwrite and not t.is_const:
                t.shape = tuple(int(s) for s in shape)
                t.dtype = dtype
    return graph
