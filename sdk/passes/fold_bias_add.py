"""Fold an Add of a constant per-channel bias into the Conv / Gemm / MatMul before it.

Exporters often write a bias as a separate Add (bias-free Conv + Add, Linear on a 2-D
input as MatMul + Add). On a device that Add is one more pass over the activations;
as the op's own bias it is free. Conv: bias' = bias + c. Gemm: C' = beta * C + c,
beta = 1. MatMul with a 2-D input and a constant 2-D weight becomes Gemm(x, W, c).
The constant must vary along the output-channel axis only (or be a scalar).
"""
import numpy as np

from . import register_pass
from .rewrite import const_value, drop_unused, new_const, remove_node, sole_reader

FLOAT = ("f32", "f16")


def _per_channel(c, out_rank, channel_axis, channels):
    """`c` as a 1-D array of `channels` values when it broadcasts along `channel_axis` only."""
    c = np.asarray(c, np.float64)
    if c.ndim > out_rank:
        return None
    shape = (1,) * (out_rank - c.ndim) + c.shape
    if any(d != 1 for i, d in enumerate(shape) if i != channel_axis) or shape[channel_axis] not in (1, channels):
        return None
    return np.broadcast_to(c.reshape(-1), (channels,)).copy()


def _fold_into(graph, prod, add, c_name, dropped):
    out_t = graph.tensors[prod.outputs[0]]
    rank, shape = len(out_t.shape), out_t.shape
    c = const_value(graph, c_name)
    if prod.op == "Conv":
        w_name = prod.inputs[1]
        bias = _per_channel(c, rank, 1, shape[1]) if rank >= 2 else None
        old = prod.inputs[2] if len(prod.inputs) > 2 and prod.inputs[2] else ""
        if bias is None or (old and const_value(graph, old) is None):
            return False
        new = bias + (np.asarray(const_value(graph, old), np.float64) if old else 0)
        name = new_const(graph, f"{prod.name}.bias_addfold", new, like=w_name)
        prod.inputs = prod.inputs[:2] + [name]
        dropped.append(old)
    elif prod.op in ("Gemm", "MatMul"):
        w_name = prod.inputs[1]
        if rank != 2 or const_value(graph, w_name) is None:
            return False
        if prod.op == "MatMul" and (len(graph.tensors[prod.inputs[0]].shape) != 2
                                    or const_value(graph, w_name).ndim != 2):
            return False
        bias = _per_channel(c, 2, 1, shape[1])
        old = prod.inputs[2] if len(prod.inputs) > 2 and prod.inputs[2] else ""
        if bias is None or (old and const_value(graph, old) is None):
            return False
        new = bias
        if old:
            new = float(prod.attrs.get("beta", 1.0)) * np.asarray(const_value(graph, old), np.float64) + bias
            if new.ndim == 2 and new.shape[0] == 1:
                new = new.reshape(-1)
        name = new_const(graph, f"{prod.name}.bias_addfold", new, like=w_name)
        if prod.op == "MatMul":
            prod.op, prod.attrs = "Gemm", {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
        prod.inputs = prod.inputs[:2] + [name]
        prod.attrs["beta"] = 1.0
        dropped.append(old)
    else:
        return False
    dropped += [prod.outputs[0], c_name]
    prod.outputs[0] = add.outputs[0]
    remove_node(graph, add)
    return True


@register_pass("fold_bias_add", order=25)
def fold_bias_add(graph):
    """Fold Add(constant per-channel bias) into a preceding Conv / Gemm / MatMul (2-D) that nothing else reads."""
    folded = 0
    dropped = []
    for add in [n for n in graph.nodes if n.op == "Add"]:
        if add.attrs.get("activation", "none") != "none" or len(add.inputs) != 2:
            continue
        prods = graph.producers()
        consumers = graph.consumers()
        for k in (0, 1):
            prod = prods.get(add.inputs[k])
            c_name = add.inputs[1 - k]
            if prod is None or prod.op not in ("Conv", "Gemm", "MatMul") or const_value(graph, c_name) is None:
                continue
            if prod.attrs.get("activation", "none") != "none" or len(prod.outputs) != 1:
                continue
            if sole_reader(graph, add.inputs[k], consumers) is not add:
                continue
            out_t = graph.tensors[prod.outputs[0]]
            if out_t.dtype not in FLOAT or graph.tensors[add.outputs[0]].shape != out_t.shape:
                continue  # the Add would broadcast the output to a bigger shape
            if _fold_into(graph, prod, add, c_name, dropped):
                folded += 1
                break
    drop_unused(graph, dropped)
    return folded
