"""Remove nodes whose outputs reach no graph output, then tensors nothing refers to."""
from . import register_pass


@register_pass("remove_dead", order=90)
def remove_dead(graph):
    """Remove nodes that no graph output depends on, and unused tensors."""
    live = set(graph.outputs)
    keep = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs if o):
            keep.append(node)
            live.update(i for i in node.inputs if i)
    removed = len(graph.nodes) - len(keep)
    graph.nodes = keep[::-1]
    n_tensors = len(graph.tensors)
    graph.remove_unused_tensors()
    return removed + (n_tensors - len(graph.tensors))
