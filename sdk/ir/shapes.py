"""Shape and dtype inference over a whole graph, using each op's registered function."""
from ..errors import GraphError, UnsupportedOpsError
from .ops import op_def
from .tensor import Tensor


def infer_shapes(graph, overwrite=True):
    """Fill in every non-constant tensor's shape and dtype, in node order."""
    missing = [(n.name, n.op) for n in graph.nodes if op_def(n.op) is None]
    if missing:
        raise UnsupportedOpsError(missing, source=graph.name)
    for node in graph.nodes:
        d = op_def(node.op)
        for k, v in d.defaults.items():
            node.attrs.setdefault(k, v)
        ins = [graph.tensors.get(i) if i else None for i in node.inputs]
        for name, t in zip(node.inputs, ins):
            if name and t is None:
                raise GraphError(f"node {node.name} ({node.op}): input {name!r} does not exist")
        try:
            outs = d.infer(node, ins)
        except GraphError:
            raise
        except Exception as e:  # a shape rule that rejects its inputs
            shapes = [None if t is None else t.shape for t in ins]
            raise GraphError(f"node {node.name} ({node.op}): cannot infer shapes from inputs {shapes}: {e}") from e
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
