"""LLM.int8()-style mixed decomposition of MatMul / Gemm with constant weights.

(Dettmers et al. 2022.) Input features (columns of X) whose magnitude exceeds a threshold
on calibration data are outliers: their part of the product runs in float16; the rest
runs in int8 with vector-wise scales (one per row of X, computed at run time from the
row's absmax, and one per output column of W), accumulated exactly in int32:

    Y = (Xq_in @ Wq_in) * sx[:, None] * sw[None, :]  +  X_out(f16) @ W_out(f16)  +  b

The rewritten node is `QMatMulDecomposed` (a mixed float/int op: a target with float
support runs it; edgesdk.quant.float_ops lists it for int8-only targets).
"""
import numpy as np

from ..errors import EdgeError
from ..ir import Node

DEFAULT_THRESHOLD = 6.0


def decomposed_matmul(x, w_int8, w_scale, w_outlier, outlier_idx, inlier_idx, bias=None):
    """The numpy reference of QMatMulDecomposed. x [..., K] float; w_int8 [K_in, M]; w_outlier f16 [K_out, M]."""
    x = np.asarray(x, np.float32)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    xi = x2[:, inlier_idx]
    amax = np.abs(xi).max(axis=1)
    sx = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    xq = np.clip(np.rint(xi / sx[:, None]), -127, 127)
    # Exact int32 accumulation (float64 sums of these integer products are exact).
    acc = np.rint(xq.astype(np.float64) @ np.asarray(w_int8, np.float64))
    if np.abs(acc).max(initial=0) >= 2 ** 31:
        raise OverflowError("QMatMulDecomposed: int32 accumulator overflow")
    y = (acc.astype(np.float32) * sx[:, None]) * np.asarray(w_scale, np.float32)[None, :]
    if len(outlier_idx):
        xo = x2[:, outlier_idx].astype(np.float16).astype(np.float32)
        y = y + xo @ np.asarray(w_outlier, np.float16).astype(np.float32)
    if bias is not None:
        y = y + np.asarray(bias, np.float32).reshape(1, -1)
    return y.reshape(*lead, -1).astype(np.float32)


def _weight_km(graph, node):
    """Constant weight as [K, M] (x @ W), or None."""
    w = graph.const(node.inputs[1]) if len(node.inputs) > 1 else None
    if w is None or np.asarray(w).ndim != 2:
        return None
    if node.op == "Gemm":
        if node.attrs.get("transA", 0) or float(node.attrs.get("alpha", 1.0)) != 1.0 \
                or float(node.attrs.get("beta", 1.0)) != 1.0:
            return None
        return np.asarray(w.T if node.attrs.get("transB", 0) else w, np.float32)
    return np.asarray(w, np.float32)


def find_outliers(x_samples, threshold=DEFAULT_THRESHOLD):
    """Input-feature indices whose |value| exceeds `threshold` anywhere in the samples."""
    x = np.abs(np.asarray(x_samples, np.float32))
    return np.nonzero(x.reshape(-1, x.shape[-1]).max(axis=0) > threshold)[0]


def llm_int8(graph, calib_feeds, threshold=DEFAULT_THRESHOLD):
    """Rewrite every MatMul/Gemm with a constant 2D weight into QMatMulDecomposed.

    calib_feeds: a list of feed dicts (one reference run each) used to find the outlier
    input features of every layer. threshold=inf gives plain vector-wise int8.
    Returns (new graph, {node: number of outlier features}).
    """
    from ..reference import run
    if not calib_feeds:
        raise EdgeError("llm_int8: the calibration set is empty")
    g = graph.copy()
    targets = [n for n in g.nodes if n.op in ("MatMul", "Gemm") and _weight_km(g, n) is not None
               and n.attrs.get("activation") in (None, "none")]
    maxabs = {n.name: None for n in targets}
    for feeds in calib_feeds:
        env = run(graph, feeds, keep_intermediates=True)
        for n in targets:
            a = np.abs(np.asarray(env[n.inputs[0]], np.float32))
            m = a.reshape(-1, a.shape[-1]).max(axis=0)
            maxabs[n.name] = m if maxabs[n.name] is None else np.maximum(maxabs[n.name], m)
    report = {}
    for n in targets:
        w = _weight_km(g, n)
        out_idx = np.nonzero(maxabs[n.name] > threshold)[0]
        in_idx = np.setdiff1d(np.arange(w.shape[0]), out_idx)
        wi = w[in_idx]
        amax = np.abs(wi).max(axis=0)
        sw = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        wq = np.clip(np.rint(wi / sw[None, :]), -127, 127).astype(np.int8)
        bias = None
        if n.op == "Gemm" and len(n.inputs) > 2 and n.inputs[2]:
            c = g.const(n.inputs[2])
            if c is None or c.size != w.shape[1]:
                continue
            bias = np.asarray(c, np.float32).reshape(-1)
        names = [g.add_const(g.unique_name(f"{n.name}_w_int8"), wq, "s8").name,
                 g.add_const(g.unique_name(f"{n.name}_w_scale"), sw).name,
                 g.add_const(g.unique_name(f"{n.name}_w_outlier"), w[out_idx].astype(np.float16), "f16").name]
        if bias is not None:
            names.append(g.add_const(g.unique_name(f"{n.name}_bias"), bias).name)
        new = Node(n.name, "QMatMulDecomposed", [n.inputs[0], *names], list(n.outputs),
                   {"outlier_idx": out_idx.astype(np.int64), "inlier_idx": in_idx.astype(np.int64),
                    "threshold": float(threshold)})
        g.nodes[g.nodes.index(n)] = new
        report[n.name] = int(out_idx.size)
    g.remove_unused_tensors()
    from ..ir import infer_shapes, verify
    infer_shapes(g)
    verify(g)
    g.meta["llm_int8"] = {"threshold": float(threshold), "outliers": report}
    return g, report
