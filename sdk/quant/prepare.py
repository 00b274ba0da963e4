"""Float-graph clean-up before quantization, so that every op maps onto one integer op.

- the standard passes (fold_batchnorm, fuse_activation, fold_constants, remove_dead)
  when they are registered;
- standalone Relu / Clip(0, 6) are absorbed as attr `activation` into the Conv / Gemm /
  MatMul / Add that produces their input, looking through MaxPool / Reshape / Flatten
  (monotone, data-movement ops commute with a clamp);
- MatMul(x, W) + Add(b) with constants W, b and a 2D x becomes one Gemm with a bias.
Every rewrite keeps the float semantics exactly.
"""
import numpy as np

STANDARD_PASSES = ("fold_batchnorm", "fuse_activation", "fold_constants", "remove_dead")
TRANSPARENT = {"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
ACT_HOSTS = {"Conv", "Gemm", "MatMul", "Add"}


def run_standard_passes(graph):
    try:
        from ..passes import known_passes, run_passes
    except ImportError:
        return graph.copy()
    have = known_passes()
    names = [p for p in STANDARD_PASSES if p in have]
    return run_passes(graph, names) if names else graph.copy()


def _clip_kind(graph, node):
    """'relu' / 'relu6' for a Relu or a Clip equivalent to one, else None."""
    if node.op == "Relu":
        return "relu"
    if node.op != "Clip":
        return None
    lo = node.attrs.get("min")
    hi = node.attrs.get("max")
    if len(node.inputs) > 1 and node.inputs[1]:
        d = graph.const(node.inputs[1])
        lo = None if d is None else float(np.asarray(d).reshape(-1)[0])
        if d is None:
            return None
    if len(node.inputs) > 2 and node.inputs[2]:
        d = graph.const(node.inputs[2])
        if d is None:
            return None
        hi = float(np.asarray(d).reshape(-1)[0])
    if lo is not None and float(lo) == 0.0 and hi is None:
        return "relu"
    if lo is not None and float(lo) == 0.0 and hi is not None and float(hi) == 6.0:
        return "relu6"
    return None


def absorb_activations(graph):
    """Fold standalone Relu / ReLU6 into the op that computes their input (see module doc)."""
    changed = True
    count = 0
    while changed:
        changed = False
        prod = graph.producers()
        cons = graph.consumers()
        for node in list(graph.nodes):
            kind = _clip_kind(graph, node)
            if kind is None:
                continue
            t = node.inputs[0]
            chain = []
            p = prod.get(t)
            while p is not None and p.op in TRANSPARENT and len(cons[p.outputs[0]]) == 1 \
                    and p.outputs[0] not in graph.outputs:
                chain.append(p)
                p = prod.get(p.inputs[0])
            if p is None or p.op not in ACT_HOSTS or p.attrs.get("activation") not in (None, "none"):
                continue
            if len(cons[p.outputs[0]]) != 1 or p.outputs[0] in graph.outputs:
                continue
            p.attrs["activation"] = kind
            out = node.outputs[0]
            graph.nodes.remove(node)
            graph.replace_uses(out, node.inputs[0])  # a graph output takes the new name
            count += 1
            changed = True
            break
    graph.remove_unused_tensors()
    return count


def fold_matmul_bias(graph):
    """MatMul(x[N, K], W[K, M]) + Add(b[M]) with constant W, b -> Gemm(x, W, b)."""
    count = 0
    cons = graph.consumers()
    prod = graph.producers()
    for add in list(graph.nodes):
        if add.op != "Add":
            continue
        for i, j in ((0, 1), (1, 0)):
            mm = prod.get(add.inputs[i])
            b = graph.const(add.inputs[j])
            if mm is None or mm.op != "MatMul" or b is None or len(cons[mm.outputs[0]]) != 1:
                continue
            if mm.outputs[0] in graph.outputs:
                continue
            w = graph.const(mm.inputs[1])
            x = graph.tensors[mm.inputs[0]]
            if w is None or w.ndim != 2 or len(x.shape) != 2 or mm.attrs.get("activation") not in (None, "none"):
                continue
            if b.size != w.shape[1] or (b.ndim > 1 and b.shape[-1] != w.shape[1]):
                continue
            bname = graph.unique_name(add.inputs[j] + "_bias")
            graph.add_const(bname, np.asarray(b, np.float32).reshape(-1))
            mm.op = "Gemm"
            mm.inputs = [mm.inputs[0], mm.inputs[1], bname]
            mm.attrs = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0,
                        "activation": add.attrs.get("activation")}
            out = add.outputs[0]
            graph.nodes.remove(add)
            graph.replace_uses(out, mm.outputs[0])
            count += 1
            break
    graph.remove_unused_tensors()
    return count


def prepare_float(graph):
    """A cleaned-up float copy of `graph`, ready for calibration and rewriting."""
    from ..ir import infer_shapes, verify
    g = run_standard_passes(graph)
    fold_matmul_bias(g)
    absorb_activations(g)
    infer_shapes(g)
    verify(g)
    return g
