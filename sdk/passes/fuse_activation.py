"""Fuse Relu and ReLU6 into the Conv / Gemm / MatMul / Add that feeds them.

The producer gets attr `activation` = "relu" | "relu6" and writes the activation's
output tensor; the activation node disappears. This attribute is THE convention for a
fused float activation: edgesdk.reference.apply_activation applies it, and kernels
clamp their output with it. ReLU6 is Clip(min=0, max=6); Clip(min=0) with no max is
a Relu.
"""
import numpy as np

from . import register_pass
from .rewrite import const_value, drop_unused, remove_node, sole_reader

# Ops whose kernels apply a fused activation. Other engineers may extend this set
# (for an op whose reference and kernels honour the `activation` attr).
FUSABLE_PRODUCERS = {"Conv", "Gemm", "MatMul", "Add"}


def _scalar(graph, node, index, attr):
    """Clip bound from input `index` (opset 11+) or attribute `attr` (opset 6); None if absent,
    False if present but not a constant scalar."""
    if len(node.inputs) > index and node.inputs[index]:
        v = const_value(graph, node.inputs[index])
        if v is None or np.asarray(v).size != 1:
            return False
        return float(np.asarray(v).reshape(-1)[0])
    return None if attr not in node.attrs else float(node.attrs[attr])


def activation_kind(graph, node):
    """"relu" / "relu6" when `node` is one of the activations we fuse, else None."""
    if node.op == "Relu":
        return "relu"
    if node.op != "Clip":
        return None
    lo, hi = _scalar(graph, node, 1, "min"), _scalar(graph, node, 2, "max")
    if lo is False or hi is False or lo != 0.0:
        return None
    if hi is None or hi == float("inf"):
        return "relu"
    return "relu6" if hi == 6.0 else None


@register_pass("fuse_activation", order=30)
def fuse_activation(graph):
    """Fuse Relu / Clip(0, 6) into a preceding Conv, Gemm, MatMul or Add (attr `activation`)."""
    fused = 0
    dropped = []
    for act in [n for n in graph.nodes if n.op in ("Relu", "Clip")]:
        kind = activation_kind(graph, act)
        if kind is None or not act.inputs or not act.inputs[0]:
            continue
        prod = graph.producers().get(act.inputs[0])
        if prod is None or prod.op not in FUSABLE_PRODUCERS or len([o for o in prod.outputs if o]) != 1:
            continue
        if prod.attrs.get("activation", "none") != "none":
            continue
        if graph.tensors[act.inputs[0]].dtype not in ("f32", "f16"):
            continue  # integer ops clamp through their own act_min/act_max
        if sole_reader(graph, act.inputs[0]) is not act:
            continue
        old = prod.outputs[0]
        prod.attrs["activation"] = kind
        prod.outputs[0] = act.outputs[0]
        remove_node(graph, act)
        dropped += [old] + list(act.inputs[1:])
        fused += 1
    drop_unused(graph, dropped)
    return fused
