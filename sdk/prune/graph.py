"""One-shot pruning of an IR graph (ONNX users, no training code), with correction.

prune_graph(graph, ratio, structured=False, calib=x) prunes every Conv/Gemm/MatMul with
a constant float weight by magnitude:
- unstructured (default): the `ratio` smallest |w| of each layer; `pattern="block"`
  prunes 1x4 blocks of Gemm/MatMul weights by L1 (the MCU block-sparse FC format, CSR
  arrays in the tags); "2:4" / "1:4" N:M patterns;
- structured: the `ratio` filters with the smallest L1 norm of each Conv (groups=1) are
  PHYSICALLY removed when every reader of its output is channel-wise (BatchNorm,
  activations, pooling) up to Conv (groups=1) / Gemm-after-global-pool consumers, which
  lose the matching input channels; other convs are left dense.
Then, on calibration data, every weighted layer after a change is corrected in
topological order so that its output statistics match the original graph's:
- a layer read by a BatchNormalization: the BN's mean/variance are re-fitted so that
  the pruned activations are normalised like the original ones (BN correction);
- otherwise its bias gets the per-channel mean difference (bias correction, added as a
  new bias input if it had none). MatMul has no bias: left uncorrected.
Tensor tags record the sparsity: {"kind": "unstructured"|"block"|"nm", ...}.
"""
import numpy as np

from ..errors import DataError, EdgeError
from ..ir import infer_shapes, verify
from .formats import block_sparse_tag, check_nm, nm_mask, nm_tag, unstructured_tag
from .magnitude import check_ratio

_CHANNELWISE = {"BatchNormalization", "Relu", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid",
                "MaxPool", "AveragePool", "Identity", "Dropout"}
PATTERNS = ("unstructured", "block", "2:4", "1:4")


def _weighted(graph):
    out = []
    for n in graph.nodes:
        if n.op in ("Conv", "Gemm", "MatMul") and len(n.inputs) > 1:
            t = graph.tensors.get(n.inputs[1])
            if t is not None and t.is_const and t.dtype in ("f32", "f16") and t.data.ndim >= 2:
                out.append(n)
    return out


def _out_major(node, w):
    """Weight viewed as [outputs, inputs...] (Gemm transB=0 and MatMul store [K, M])."""
    if node.op == "MatMul" or (node.op == "Gemm" and not node.attrs.get("transB", 0)):
        return w.T
    return w


def _magnitude_mask(w, ratio):
    k = int(round(ratio * w.size))
    if k == 0:
        return np.ones(w.shape, bool)
    order = np.argsort(np.abs(w).reshape(-1), kind="stable")
    mask = np.ones(w.size, bool)
    mask[order[:k]] = False
    return mask.reshape(w.shape)


def _block_mask(w2, ratio):
    m, k = w2.shape
    kb = (k + 3) // 4
    pad = np.zeros((m, kb * 4))
    pad[:, :k] = np.abs(w2)
    score = pad.reshape(m, kb, 4).sum(2)
    bm = _magnitude_mask(score, ratio)
    return np.repeat(bm, 4, axis=1)[:, :k]


def _feeds_batches(graph, calib):
    name = graph.inputs[0]
    t = graph.tensors[name]
    x = np.asarray(calib, dtype=np.float32)
    if x.ndim == len(t.shape) - 1:
        x = x[:, None] if False else x.reshape((-1,) + tuple(t.shape[1:]))
    if tuple(x.shape[1:]) != tuple(t.shape[1:]):
        raise DataError(f"--calib: samples have shape {tuple(x.shape[1:])}, graph input {name!r} "
                        f"expects {tuple(t.shape[1:])}")
    b = t.shape[0] if isinstance(t.shape[0], int) and t.shape[0] > 0 else 1
    n = (len(x) // b) * b
    if n == 0:
        raise DataError(f"--calib: {len(x)} samples, fewer than the graph batch size {b}")
    return [{name: x[i:i + b]} for i in range(0, n, b)]


def _collect(graph, batches, names):
    from ..reference import run
    acc = {k: [] for k in names}
    for feeds in batches:
        env = run(graph, feeds, keep_intermediates=True)
        for k in names:
            acc[k].append(env[k])
    return {k: np.concatenate(v, axis=0) for k, v in acc.items()}


def _channel_stats(y):
    axes = tuple(i for i in range(y.ndim) if i != 1) if y.ndim > 2 else (0,)
    return y.astype(np.float64).mean(axes), y.astype(np.float64).var(axes)


def _structured_chain(graph, node, cons):
    """Readers of `node`'s output through channel-wise ops: ([intermediate nodes], [consumers])
    or None when some reader is not understood (then the filters stay)."""
    inter, terminals, frontier = [], [], [node.outputs[0]]
    spatial_one = False
    while frontier:
        t = frontier.pop()
        if t in graph.outputs:
            return None
        for c in cons.get(t, []):
            if c.op in _CHANNELWISE and c.inputs[0] == t:
                inter.append(c)
                frontier.append(c.outputs[0])
            elif c.op == "GlobalAveragePool":
                inter.append(c)
                frontier.append(c.outputs[0])
                spatial_one = True
            elif c.op == "Flatten" and spatial_one and c.attrs.get("axis", 1) == 1:
                inter.append(c)
                frontier.append(c.outputs[0])
            elif c.op == "Conv" and c.inputs[0] == t and c.attrs.get("group", 1) == 1 \
                    and graph.tensors[c.inputs[1]].is_const:
                terminals.append(c)
            elif c.op == "Gemm" and c.inputs[0] == t and spatial_one and graph.tensors[c.inputs[1]].is_const:
                terminals.append(c)
            else:
                return None
    return inter, terminals


def _slice_const(graph, name, idx, axis):
    t = graph.tensors[name]
    t.set_data(np.take(t.data, idx, axis=axis))


def _remove_filters(graph, node, keep, inter, terminals):
    _slice_const(graph, node.inputs[1], keep, 0)
    if len(node.inputs) > 2 and node.inputs[2]:
        _slice_const(graph, node.inputs[2], keep, 0)
    for c in inter:
        if c.op == "BatchNormalization":
            for name in c.inputs[1:5]:
                _slice_const(graph, name, keep, 0)
    for c in terminals:
        if c.op == "Conv":
            _slice_const(graph, c.inputs[1], keep, 1)
        else:
            axis = 1 if c.attrs.get("transB", 0) else 0
            _slice_const(graph, c.inputs[1], keep, axis)


def prune_graph(graph, ratio, structured=False, calib=None, pattern="unstructured", correct=True):
    """Returns (pruned copy of `graph`, report). `calib`: input samples (N, ...) for the correction."""
    ratio = check_ratio(ratio, "--ratio")
    if pattern not in PATTERNS:
        raise EdgeError(f"--pattern {pattern!r}: choose one of {', '.join(PATTERNS)}")
    if structured and pattern != "unstructured":
        raise EdgeError("--structured removes whole filters; it cannot be combined with --pattern")
    if correct and calib is None:
        raise DataError("pruning correction needs calibration data (--calib)")
    if len(graph.inputs) != 1:
        raise EdgeError(f"graph {graph.name}: pruning with calibration supports one input, it has {len(graph.inputs)}")
    g = graph.copy()
    layers = _weighted(g)
    if not layers:
        raise EdgeError(f"graph {graph.name}: no prunable layers (Conv/Gemm/MatMul with a constant float weight)")
    report = {"layers": [], "ratio": ratio, "structured": bool(structured), "pattern": pattern}
    changed = set()
    kept = {}   # output tensor -> indices of the original channels it still has
    if structured:
        cons = g.consumers()
        plans = []
        for n in layers:
            if n.op != "Conv" or n.attrs.get("group", 1) != 1:
                continue
            chain = _structured_chain(g, n, cons)
            w = g.tensors[n.inputs[1]].data
            if chain is None:
                report["layers"].append({"layer": n.name, "filters": int(w.shape[0]), "kept": int(w.shape[0]),
                                         "note": "output read by a non-channel-wise op: kept dense"})
                continue
            k = int(round(w.shape[0] * (1 - ratio)))
            if k < 1:
                raise EdgeError(f"layer {n.name}: ratio {ratio} would remove all its {w.shape[0]} filters")
            # Scores from the original weights of every layer, before any slicing.
            l1 = np.abs(w).reshape(w.shape[0], -1).sum(1)
            keep = np.sort(np.argsort(-l1, kind="stable")[:k])
            plans.append((n, keep, chain))
            report["layers"].append({"layer": n.name, "filters": int(w.shape[0]), "kept": int(k)})
        for n, keep, chain in plans:
            _remove_filters(g, n, keep, *chain)
            kept[n.outputs[0]] = keep
            changed.add(n.name)
        if not changed:
            raise EdgeError(f"graph {graph.name}: no Conv whose filters can be removed (every conv output is read "
                            f"by a residual add, concat, depthwise conv or the graph output)")
        for t in g.tensors.values():
            if not t.is_const and t.name not in g.inputs:
                t.shape = ()
        infer_shapes(g)
    else:
        if pattern in ("2:4", "1:4"):
            n_, m_ = (int(v) for v in pattern.split(":"))
            check_nm(n_, m_)
        for n in layers:
            t = g.tensors[n.inputs[1]]
            w2 = _out_major(n, t.data.reshape(t.data.shape[0], -1) if n.op == "Conv" else t.data)
            if pattern == "block" and n.op in ("Gemm", "MatMul"):
                mask2 = _block_mask(w2, ratio)
            elif pattern in ("2:4", "1:4"):
                if w2.shape[1] % m_:
                    report["layers"].append({"layer": n.name, "weights": int(t.data.size), "density": 1.0,
                                             "note": f"input size {w2.shape[1]} not a multiple of {m_}: kept dense"})
                    continue
                mask2 = nm_mask(w2, n_, m_)
            else:
                mask2 = _magnitude_mask(w2, ratio)
            pruned2 = np.where(mask2, w2, 0).astype(t.data.dtype)
            new = (pruned2 if n.op == "Conv" or (n.op == "Gemm" and n.attrs.get("transB", 0)) else pruned2.T)
            t.set_data(new.reshape(t.data.shape))
            if pattern == "block" and n.op in ("Gemm", "MatMul"):
                t.tags["sparsity"] = block_sparse_tag(pruned2)
            elif pattern in ("2:4", "1:4"):
                t.tags["sparsity"] = nm_tag(pruned2, n_, m_)
            else:
                t.tags["sparsity"] = unstructured_tag(pruned2)
            changed.add(n.name)
            report["layers"].append({"layer": n.name, "weights": int(t.data.size),
                                     "density": float(np.count_nonzero(pruned2) / pruned2.size)})
    verify(g)
    if correct:
        report["corrections"] = _correct(graph, g, _feeds_batches(graph, calib), kept, scale=correct != "bias")
    g.meta.setdefault("compression", {})
    g.meta["pruning"] = {k: v for k, v in report.items() if k != "layers"}
    return g, report


def annotate_sparsity(graph, min_sparsity=0.05):
    """Tag the sparse constant weights of Conv/Gemm/MatMul (e.g. pruned in torch, then
    imported): N:M (2:4, 1:4) when every group qualifies, 1x4 block CSR for FC weights
    whose zeros come in whole blocks, else unstructured. Returns {tensor: kind}."""
    out = {}
    for n in _weighted(graph):
        t = graph.tensors[n.inputs[1]]
        w2 = _out_major(n, t.data.reshape(t.data.shape[0], -1) if n.op == "Conv" else t.data)
        density = np.count_nonzero(w2) / max(1, w2.size)
        if density > 1 - min_sparsity:
            continue
        tag = None
        for n_, m_ in ((1, 4), (2, 4)):
            if w2.shape[1] % m_ == 0 and ((w2.reshape(w2.shape[0], -1, m_) != 0).sum(2) <= n_).all():
                tag = nm_tag(w2, n_, m_)
                break
        if tag is None and n.op in ("Gemm", "MatMul"):
            bt = block_sparse_tag(w2)
            if bt["density"] * 4 * w2.shape[0] * ((w2.shape[1] + 3) // 4) <= np.count_nonzero(w2) * 1.25:
                tag = bt   # the stored blocks are mostly non-zero: the block format pays
        t.tags["sparsity"] = tag or unstructured_tag(w2)
        out[t.name] = t.tags["sparsity"]["kind"]
    return out


def _correct(orig, g, batches, kept, scale=True):
    """BN / bias correction, layer by layer in topological order (see module doc)."""
    cons = g.consumers()
    weighted = [n for n in _weighted(g) if n.op in ("Conv", "Gemm")]
    outs = [n.outputs[0] for n in weighted]
    ref = _collect(orig, batches, outs)
    ref_stats = {}
    for k, v in ref.items():
        mu, var = _channel_stats(v)
        if k in kept:   # compare the channels that survived filter removal
            mu, var = mu[kept[k]], var[kept[k]]
        ref_stats[k] = (mu, var)
    done = []
    for n in weighted:
        y = n.outputs[0]
        cur = _collect(g, batches, [y])[y]
        mu_p, var_p = _channel_stats(cur)
        mu_o, var_o = ref_stats[y]
        if np.allclose(mu_p, mu_o, atol=1e-7) and np.allclose(var_p, var_o, rtol=1e-6, atol=1e-9):
            continue
        readers = cons.get(y, [])
        if len(readers) == 1 and readers[0].op == "BatchNormalization" and y not in g.outputs:
            bn = readers[0]
            mean_t, var_t = g.tensors[bn.inputs[3]], g.tensors[bn.inputs[4]]
            eps = bn.attrs.get("epsilon", 1e-5)
            s = np.sqrt(var_t.data.astype(np.float64) + eps)
            ratio = np.sqrt((var_p + 1e-12) / (var_o + 1e-12))
            new_s = s * ratio
            mean_t.set_data((mu_p - (mu_o - mean_t.data) * ratio).astype(mean_t.data.dtype))
            var_t.set_data(np.maximum(new_s ** 2 - eps, 0).astype(var_t.data.dtype))
            done.append({"layer": n.name, "kind": "batchnorm", "node": bn.name})
        else:
            # Folded-BN graphs: match mean AND spread per channel by rescaling the filter
            # (what re-fitting the folded BatchNorm would do), then shift the bias.
            r = np.sqrt((var_o + 1e-12) / (var_p + 1e-12)) if scale else np.ones_like(mu_o)
            r = np.clip(r, 0.5, 2.0)
            wt = g.tensors[n.inputs[1]]
            shape = (-1,) + (1,) * (wt.data.ndim - 1)
            if n.op == "Gemm" and not n.attrs.get("transB", 0):
                shape = (1, -1)
            if scale:
                wt.set_data((wt.data * r.reshape(shape)).astype(wt.data.dtype))
            b_old = np.zeros_like(mu_o)
            if len(n.inputs) > 2 and n.inputs[2]:
                bt = g.tensors[n.inputs[2]]
                b_old = np.broadcast_to(bt.data.astype(np.float64).reshape(-1), mu_o.shape)
            b_new = r * b_old + (mu_o - r * mu_p)
            if len(n.inputs) > 2 and n.inputs[2]:
                bt.set_data(b_new.reshape(bt.data.shape if bt.data.size == b_new.size else (-1,)).astype(bt.data.dtype))
            else:
                name = g.add_const(f"{n.name}.bias_correction", b_new.astype(np.float32), "f32").name
                n.inputs = list(n.inputs[:2]) + [name]
            done.append({"layer": n.name, "kind": "bias+scale" if scale else "bias",
                         "max_shift": float(np.abs(b_new - b_old).max()), "max_scale": float(np.abs(r - 1).max())})
    return done
