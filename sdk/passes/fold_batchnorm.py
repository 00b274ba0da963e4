"""Fold inference BatchNormalization into the Conv, Gemm or MatMul(+Add) before it.

BN(y) = s * (y - mean) + beta with s = gamma / sqrt(var + eps), per channel (axis 1).
For a linear producer y = W x + b that is the producer with W' = s * W (scaled along
the output-channel axis) and b' = s * (b - mean) + beta, so the BN disappears and the
kernels never see it. The producer's output must have no other reader (else the
unscaled value is still needed). The new constants are computed in float64 and stored
in the weight's dtype; the old ones are dropped when nothing else reads them.
"""
import numpy as np

from . import register_pass
from .rewrite import const_value, drop_unused, new_const, remove_node, sole_reader

FLOAT = ("f32", "f16")


def bn_affine(graph, bn):
    """(s, shift) of y -> s*y + shift as float64 arrays, or None when BN is not foldable
    (training mode, non-constant parameters). Also the GPU lowering's, for a BN left standing."""
    if len(bn.inputs) < 5 or bn.attrs.get("training_mode", 0):
        return None
    vals = [const_value(graph, n) for n in bn.inputs[1:5]]
    if any(v is None for v in vals):
        return None
    gamma, beta, mean, var = (np.asarray(v, np.float64).reshape(-1) for v in vals)
    if not (gamma.size == beta.size == mean.size == var.size):
        return None
    s = gamma / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-5)))
    return s, beta - mean * s


def _rewire_output(graph, producer, bn, dropped):
    """The producer now writes the BN's output tensor; the BN node goes away."""
    old = producer.outputs[0]
    producer.outputs[0] = bn.outputs[0]
    remove_node(graph, bn)
    dropped.append(old)


def _fold_conv(graph, conv, bn, s, shift, dropped):
    w = const_value(graph, conv.inputs[1])
    if w is None or graph.tensors[conv.inputs[1]].dtype not in FLOAT or w.shape[0] != s.size:
        return False
    b = const_value(graph, conv.inputs[2]) if len(conv.inputs) > 2 and conv.inputs[2] else None
    if len(conv.inputs) > 2 and conv.inputs[2] and b is None:
        return False  # a bias computed at run time: not ours to fold
    b64 = np.zeros(s.size) if b is None else np.asarray(b, np.float64)
    w_new = np.asarray(w, np.float64) * s.reshape((-1,) + (1,) * (w.ndim - 1))
    b_new = b64 * s + shift
    old_w, old_b = conv.inputs[1], (conv.inputs[2] if len(conv.inputs) > 2 else "")
    conv.inputs[1] = new_const(graph, f"{conv.name}.weight_bnfold", w_new, like=old_w)
    b_name = new_const(graph, f"{conv.name}.bias_bnfold", b_new, like=old_w)
    if len(conv.inputs) > 2:
        conv.inputs[2] = b_name
    else:
        conv.inputs.append(b_name)
    dropped += [old_w, old_b]
    _rewire_output(graph, conv, bn, dropped)
    return True


def _fold_gemm(graph, gemm, bn, s, shift, dropped):
    # Y = alpha * A' B' + beta * C ; BN scales the columns of Y (axis 1 of [M, N]).
    bw = const_value(graph, gemm.inputs[1])
    if bw is None or graph.tensors[gemm.inputs[1]].dtype not in FLOAT:
        return False
    trans_b = gemm.attrs.get("transB", 0)
    n_axis = 0 if trans_b else 1
    if bw.ndim != 2 or bw.shape[n_axis] != s.size:
        return False
    c_name = gemm.inputs[2] if len(gemm.inputs) > 2 else ""
    c = const_value(graph, c_name)
    if c_name and c is None:
        return False
    beta = float(gemm.attrs.get("beta", 1.0))
    w_new = np.asarray(bw, np.float64) * (s[:, None] if trans_b else s[None, :])
    c_new = shift if c is None else beta * np.asarray(c, np.float64) * s + shift
    if c_new.ndim == 2 and c_new.shape[0] == 1:
        c_new = c_new.reshape(-1)
    old_w = gemm.inputs[1]
    gemm.inputs[1] = new_const(graph, f"{gemm.name}.weight_bnfold", w_new, like=old_w)
    new_c = new_const(graph, f"{gemm.name}.bias_bnfold", c_new, like=old_w)
    if len(gemm.inputs) > 2:
        gemm.inputs[2] = new_c
    else:
        gemm.inputs.append(new_c)
    gemm.attrs["beta"] = 1.0
    dropped += [old_w, c_name]
    _rewire_output(graph, gemm, bn, dropped)
    return True


def _matmul_weight(graph, mm, s):
    w = const_value(graph, mm.inputs[1])
    if w is None or w.ndim != 2 or w.shape[1] != s.size or graph.tensors[mm.inputs[1]].dtype not in FLOAT:
        return None
    if len(graph.tensors[mm.outputs[0]].shape) != 2:
        return None  # BN's channel axis 1 is then not MatMul's output-feature axis
    return w


def _fold_matmul(graph, mm, bn, s, shift, dropped):
    # MatMul alone: W' = s * W, and the BN becomes an Add of the shift.
    w = _matmul_weight(graph, mm, s)
    if w is None:
        return False
    old_w = mm.inputs[1]
    mm.inputs[1] = new_const(graph, f"{mm.name}.weight_bnfold", np.asarray(w, np.float64) * s[None, :], like=old_w)
    bn.op, bn.attrs = "Add", {}
    bn.inputs = [bn.inputs[0], new_const(graph, f"{bn.name}.shift", shift, like=old_w)]
    dropped.append(old_w)
    return True


def _fold_matmul_add(graph, add, bn, s, shift, consumers, dropped):
    # Add(MatMul(x, W), b) -> BN: W' = s * W, b' = s * b + shift.
    prod = graph.producers()
    for k in (0, 1):
        mm = prod.get(add.inputs[k])
        bias = const_value(graph, add.inputs[1 - k])
        if mm is None or mm.op != "MatMul" or bias is None or sole_reader(graph, add.inputs[k], consumers) is not add:
            continue
        if mm.attrs.get("activation", "none") != "none":
            continue
        w = _matmul_weight(graph, mm, s)
        if w is None or np.asarray(bias).size not in (1, s.size):
            continue
        old_w, old_b = mm.inputs[1], add.inputs[1 - k]
        mm.inputs[1] = new_const(graph, f"{mm.name}.weight_bnfold", np.asarray(w, np.float64) * s[None, :],
                                 like=old_w)
        b_new = np.asarray(bias, np.float64).reshape(-1) * s + shift
        add.inputs[1 - k] = new_const(graph, f"{add.name}.bias_bnfold", b_new, like=old_w)
        dropped += [old_w, old_b]
        _rewire_output(graph, add, bn, dropped)
        return True
    return False


@register_pass("fold_batchnorm", order=20)
def fold_batchnorm(graph):
    """Fold BatchNormalization into a preceding Conv / Gemm / MatMul(+Add) that nothing else reads."""
    folded = 0
    dropped = []
    for bn in [n for n in graph.nodes if n.op == "BatchNormalization"]:
        affine = bn_affine(graph, bn)
        if affine is None:
            continue
        consumers = graph.consumers()
        prod = graph.producers().get(bn.inputs[0])
        if prod is None or sole_reader(graph, bn.inputs[0], consumers) is not bn:
            continue
        if len(prod.outputs) != 1 or prod.attrs.get("activation", "none") != "none":
            continue  # an activation already applied sits between the linear op and the BN
        s, shift = affine
        bn_params = list(bn.inputs[1:5])
        x_t = graph.tensors[bn.inputs[0]]
        if x_t.dtype not in FLOAT or len(x_t.shape) < 2 or x_t.shape[1] != s.size:
            continue
        ok = False
        if prod.op == "Conv":
            ok = _fold_conv(graph, prod, bn, s, shift, dropped)
        elif prod.op == "Gemm":
            ok = _fold_gemm(graph, prod, bn, s, shift, dropped)
        elif prod.op == "MatMul":
            ok = _fold_matmul(graph, prod, bn, s, shift, dropped)
        elif prod.op == "Add":
            ok = _fold_matmul_add(graph, prod, bn, s, shift, consumers, dropped)
        if ok:
            dropped += bn_params
            folded += 1
    drop_unused(graph, dropped)
    return folded
