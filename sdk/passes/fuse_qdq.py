"""fuse_qdq: QDQ-quantized graphs (onnxruntime quantize_static, torch QAT export) -> integer ops.

Pattern: DequantizeLinear -> op -> [Relu | Clip] -> QuantizeLinear becomes one integer op
reading the int8 tensors behind the DequantizeLinear nodes and writing the int8 tensor the
QuantizeLinear produced. Weights come from DequantizeLinear of constants (their int8 values
and per-channel scales are kept exactly); biases are requantized to int32 at
x_scale * w_scale[o] (onnxruntime already stores them so: then they are taken as they are).

  Conv -> QConv; Gemm / MatMul (constant weight) -> QGemm; Add -> QAdd;
  AveragePool -> QAvgPool; GlobalAveragePool / ReduceMean(spatial) -> QGlobalAvgPool;
  MaxPool / Reshape / Flatten / Squeeze / Unsqueeze / Transpose / Identity -> the same op
  on int8 when the input and output quantization agree.

The graph's float input feeding a QuantizeLinear becomes an s8 input (same name) and a
graph output produced by a DequantizeLinear becomes the s8 tensor (same name): the device
takes int8 in and gives int8 out. Runs before fold_constants, which would otherwise
turn the DequantizeLinear of the weights into float constants. Whatever does not match
stays as it is (edgesdk.quant.float_ops lists it).
"""
import numpy as np

from . import register_pass

ACT_FOLLOWERS = ("Relu", "Clip")
SHARED = {"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity"}


def _qp(graph, node):
    """(scale array, zero point array, axis) of a Q/DQ node with constant parameters, or None."""
    s = graph.const(node.inputs[1])
    if s is None:
        return None
    zp = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    zp = np.zeros(np.shape(s), np.int64) if zp is None else np.asarray(zp, np.int64)
    return np.asarray(s, np.float64), zp, node.attrs.get("axis", 1)


def _rename(graph, old, new):
    t = graph.tensors.pop(old)
    t.name = new
    graph.tensors[new] = t
    for n in graph.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]
        n.outputs = [new if o == old else o for o in n.outputs]
    graph.inputs = [new if i == old else i for i in graph.inputs]
    graph.outputs = [new if o == old else o for o in graph.outputs]


def _fold_const_quantize(graph):
    """QuantizeLinear of a constant (torch fake-quant export of weights) -> an int8 constant."""
    from ..reference import get
    n_done = 0
    for node in list(graph.nodes):
        if node.op != "QuantizeLinear" or graph.const(node.inputs[0]) is None:
            continue
        if any(i and graph.const(i) is None for i in node.inputs):
            continue
        out = get("QuantizeLinear")(node, [graph.const(i) if i else None for i in node.inputs])[0]
        t = graph.tensors[node.outputs[0]]
        t.set_data(np.asarray(out), "s8" if np.asarray(out).dtype == np.int8 else t.dtype)
        graph.nodes.remove(node)
        n_done += 1
    return n_done


class _Fuser:
    def __init__(self, graph):
        self.g = graph
        self.prod = graph.producers()
        self.cons = graph.consumers()
        self.act = {}   # s8 activation tensor -> (scale, zp)
        self.count = 0

    # DQ(x_q) -> returns ("act", x_q, scale, zp) | ("const", int array, scale[], zp[], axis) | None
    def dq_source(self, name):
        p = self.prod.get(name)
        if p is None or p.op != "DequantizeLinear":
            return None
        qp = _qp(self.g, p)
        if qp is None:
            return None
        scale, zp, axis = qp
        src = p.inputs[0]
        data = self.g.const(src)
        if data is not None:
            return ("const", np.asarray(data), scale, zp, axis)
        if scale.size != 1 or self.g.tensors[src].dtype != "s8":
            return None
        return ("act", src, float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0]))

    def out_target(self, node):
        """(s8 output tensor, scale, zp, activation, [nodes to drop]) when node's output goes to Q."""
        out = node.outputs[0]
        if out in self.g.outputs:
            return None
        readers = self.cons.get(out, [])
        act, drop = None, []
        if len(readers) == 1 and readers[0].op in ACT_FOLLOWERS:
            f = readers[0]
            kind = _act_kind(self.g, f)
            if kind is None or f.outputs[0] in self.g.outputs:
                return None
            act, drop = kind, [f]
            readers = self.cons.get(f.outputs[0], [])
        if not readers or any(r.op != "QuantizeLinear" for r in readers):
            return None
        params = [_qp(self.g, r) for r in readers]
        if any(p is None or p[0].size != 1 for p in params):
            return None
        keys = {(float(p[0].reshape(-1)[0]), int(p[1].reshape(-1)[0])) for p in params}
        if len(keys) != 1:
            return None
        scale, zp = keys.pop()
        target = readers[0].outputs[0]
        for r in readers[1:]:
            self.g.replace_uses(r.outputs[0], target)
        return target, scale, zp, act, drop + readers

    def finish(self, node, op, inputs, attrs, tgt, multiplier=None, shift=None):
        from ..ir import QuantParams
        target, ys, yz, _, drop = tgt
        node.op = op
        node.inputs = inputs
        node.attrs = attrs
        node.outputs = [target]
        for d in drop:
            if d in self.g.nodes:
                self.g.nodes.remove(d)
        t = self.g.tensors[target]
        t.dtype = "s8"
        t.quant = QuantParams(scale=np.float32(ys), zero_point=np.int32(yz), multiplier=multiplier, shift=shift)
        self.count += 1

    def clamp(self, tgt):
        from ..quant.fixedpoint import activation_range
        _, ys, yz, act, _ = tgt
        return activation_range(act, ys, yz)

    def weight(self, src, out_axis_of_data, transpose):
        """int8 weight [O, ...] and per-channel scale[O] from a DQ'd constant, or None."""
        _, data, scale, zp, axis = src
        if data.dtype != np.int8 or np.any(zp != 0):
            return None
        w = data.T if transpose else data
        o = w.shape[0]
        if scale.size == 1:
            ws = np.full(o, float(scale.reshape(-1)[0]))
        elif scale.size == o and (axis % data.ndim) == out_axis_of_data:
            ws = scale.reshape(-1)
        else:
            return None
        return np.ascontiguousarray(w), ws

    def bias(self, node, name, x_scale, w_scale):
        if not name:
            return np.zeros(w_scale.size, np.int32)
        want = x_scale * w_scale
        src = self.dq_source(name)
        if src is not None and src[0] == "const" and src[1].dtype == np.int32 and np.all(src[3] == 0):
            real = src[1].astype(np.float64) * np.broadcast_to(src[2].reshape(-1), src[1].shape)
            if np.allclose(np.broadcast_to(src[2].reshape(-1), want.shape), want, rtol=1e-6, atol=0):
                return src[1].astype(np.int32).reshape(-1)
        else:
            real = self.g.const(name)
            if real is None:
                return None
        real = np.broadcast_to(np.asarray(real, np.float64).reshape(-1), want.shape)
        return np.round(real / want).astype(np.int32)

    def layer(self, node, x, w_int, w_scale, b_name, tgt, op, extra):
        from ..ir import QuantParams
        from ..quant.fixedpoint import quantize_multiplier
        _, xname, xs, xz = x
        b = self.bias(node, b_name, xs, w_scale)
        if b is None:
            return False
        target, ys, yz, _, _ = tgt
        lo, hi = self.clamp(tgt)
        m, s = quantize_multiplier(xs * w_scale / ys)
        wn = self.g.add_const(self.g.unique_name(node.name + "_w_q"), w_int, "s8",
                              quant=QuantParams(scale=w_scale, zero_point=np.zeros(w_scale.size, np.int32), axis=0))
        bn = self.g.add_const(self.g.unique_name(node.name + "_b_q"), b, "s32",
                              quant=QuantParams(scale=xs * w_scale, zero_point=np.zeros(w_scale.size, np.int32),
                                                axis=0, bits=32))
        self.finish(node, op, [xname, wn.name, bn.name],
                    {**extra, "x_zp": xz, "y_zp": yz, "multiplier": m, "shift": s,
                     "act_min": int(lo), "act_max": int(hi)}, tgt, m, s)
        return True

    def run(self):
        for node in list(self.g.nodes):
            if node not in self.g.nodes or node.op in ("QuantizeLinear", "DequantizeLinear"):
                continue
            fn = getattr(self, "_" + node.op, None)
            if fn is None:
                continue
            tgt = self.out_target(node)
            if tgt is None:
                continue
            fn(node, tgt)
            self.prod = self.g.producers()
            self.cons = self.g.consumers()
        return self.count

    # ---- ops ------------------------------------------------------------------------
    def _Conv(self, node, tgt):
        x, w = self.dq_source(node.inputs[0]), self.dq_source(node.inputs[1])
        if not x or x[0] != "act" or not w or w[0] != "const":
            return
        wq = self.weight(w, 0, False)
        if wq is None:
            return
        keep = {k: v for k, v in node.attrs.items() if k in ("strides", "pads", "dilations", "group",
                                                            "kernel_shape", "auto_pad")}
        self.layer(node, x, wq[0], wq[1], node.inputs[2] if len(node.inputs) > 2 else "", tgt, "QConv", keep)

    def _Gemm(self, node, tgt):
        if node.attrs.get("transA", 0) or float(node.attrs.get("alpha", 1.0)) != 1.0 \
                or float(node.attrs.get("beta", 1.0)) != 1.0:
            return
        x, w = self.dq_source(node.inputs[0]), self.dq_source(node.inputs[1])
        if not x or x[0] != "act" or not w or w[0] != "const":
            return
        trans_b = node.attrs.get("transB", 0)
        wq = self.weight(w, 0 if trans_b else 1, not trans_b)
        if wq is None:
            return
        self.layer(node, x, wq[0], wq[1], node.inputs[2] if len(node.inputs) > 2 else "", tgt, "QGemm", {})

    def _MatMul(self, node, tgt):
        x, w = self.dq_source(node.inputs[0]), self.dq_source(node.inputs[1])
        if not x or x[0] != "act" or not w or w[0] != "const" or w[1].ndim != 2:
            return
        wq = self.weight(w, 1, True)
        if wq is None:
            return
        self.layer(node, x, wq[0], wq[1], "", tgt, "QGemm", {})

    def _Add(self, node, tgt):
        from ..ir import QuantParams
        from ..reference.quantized import qadd_params
        srcs = []
        for i in (0, 1):
            s = self.dq_source(node.inputs[i])
            if s is None:
                return
            if s[0] == "const":
                if s[1].dtype != np.int8 or s[2].size != 1:
                    return
                sc, z = float(s[2].reshape(-1)[0]), int(s[3].reshape(-1)[0])
                c = self.g.add_const(self.g.unique_name(node.name + f"_in{i}_q"), s[1], "s8",
                                     quant=QuantParams(scale=sc, zero_point=z))
                s = ("act", c.name, sc, z)
            srcs.append(s)
        (_, a, sa, za), (_, b, sb, zb) = srcs
        _, ys, yz, _, _ = tgt
        (am, ash), (bm, bsh), (m, s) = qadd_params(sa, sb, ys)
        lo, hi = self.clamp(tgt)
        self.finish(node, "QAdd", [a, b],
                    {"a_zp": za, "b_zp": zb, "y_zp": yz, "a_multiplier": am, "a_shift": ash,
                     "b_multiplier": bm, "b_shift": bsh, "multiplier": m, "shift": s,
                     "act_min": int(lo), "act_max": int(hi)}, tgt, np.array([m]), np.array([s]))

    def _pool(self, node, tgt, op, window, extra):
        from ..quant.fixedpoint import quantize_multiplier
        x = self.dq_source(node.inputs[0])
        if not x or x[0] != "act":
            return
        _, xn, xs, xz = x
        _, ys, yz, _, _ = tgt
        lo, hi = self.clamp(tgt)
        m, s = quantize_multiplier(xs / (ys * window))
        self.finish(node, op, [xn], {**extra, "x_zp": xz, "y_zp": yz, "multiplier": m, "shift": s,
                                     "act_min": int(lo), "act_max": int(hi)}, tgt, m, s)

    def _AveragePool(self, node, tgt):
        from ..ir.opdefs.pool import pool_geometry
        x = self.g.tensors[node.inputs[0]]
        k, strides, pads, dil, _ = pool_geometry(node, x.shape[2:])
        if node.attrs.get("ceil_mode", 0) or any(d != 1 for d in dil) or \
                (any(pads) and not node.attrs.get("count_include_pad", 0)):
            return
        self._pool(node, tgt, "QAvgPool", int(np.prod(k)),
                   {"kernel_shape": list(k), "strides": list(strides), "pads": list(pads), "count_include_pad": 1})

    def _GlobalAveragePool(self, node, tgt):
        x = self.g.tensors[node.inputs[0]]
        self._pool(node, tgt, "QGlobalAvgPool", int(np.prod(x.shape[2:])), {})

    def _shared(self, node, tgt):
        x = self.dq_source(node.inputs[0])
        if not x or x[0] != "act" or tgt[3] is not None:
            return
        _, xn, xs, xz = x
        _, ys, yz, _, _ = tgt
        if not np.isclose(xs, ys, rtol=1e-6) or xz != yz:
            return
        outs = node.outputs[1:]
        if any(o and self.cons.get(o) for o in outs):
            return
        self.finish(node, node.op, [xn] + node.inputs[1:], dict(node.attrs), tgt)

    _MaxPool = _Reshape = _Flatten = _Squeeze = _Unsqueeze = _Transpose = _Identity = _shared


def _act_kind(graph, node):
    from ..quant.prepare import _clip_kind
    return _clip_kind(graph, node)


def _boundaries(graph):
    """Float graph inputs feeding only QuantizeLinear become s8 inputs; DQ'd outputs become s8."""
    from ..ir import QuantParams
    n = 0
    cons = graph.consumers()
    for name in list(graph.inputs):
        readers = cons.get(name, [])
        if not readers or any(r.op != "QuantizeLinear" for r in readers):
            continue
        params = {(float(p[0].reshape(-1)[0]), int(p[1].reshape(-1)[0])) for p in
                  (_qp(graph, r) for r in readers) if p is not None and p[0].size == 1}
        if len(params) != 1 or len(readers) > 1 and len(params) != 1:
            continue
        scale, zp = params.pop()
        q = readers[0].outputs[0]
        if graph.tensors[q].dtype != "s8":
            continue
        for r in readers:
            graph.nodes.remove(r)
            if r.outputs[0] != q:
                graph.replace_uses(r.outputs[0], q)
        del graph.tensors[name]
        _rename(graph, q, name)
        graph.tensors[name].quant = QuantParams(scale=np.float32(scale), zero_point=np.int32(zp))
        n += 1
    prod = graph.producers()
    cons = graph.consumers()
    for name in list(graph.outputs):
        p = prod.get(name)
        if p is None or p.op != "DequantizeLinear":
            continue
        q = p.inputs[0]
        qp = _qp(graph, p)
        if qp is None or qp[0].size != 1 or graph.tensors[q].dtype != "s8" or q in graph.inputs:
            continue
        graph.nodes.remove(p)
        if len(cons.get(q, [])) == 1 and q not in graph.outputs:
            del graph.tensors[name]
            _rename(graph, q, name)
        else:
            graph.outputs = [q if o == name else o for o in graph.outputs]
            name = q
        graph.tensors[name].quant = graph.tensors[name].quant or QuantParams(
            scale=np.float32(qp[0].reshape(-1)[0]), zero_point=np.int32(qp[1].reshape(-1)[0]))
        n += 1
    return n


def _attach_act_params(graph):
    """Every s8 activation written by a QuantizeLinear gets its QuantParams (for codegen)."""
    from ..ir import QuantParams
    for node in graph.nodes:
        if node.op == "QuantizeLinear":
            p = _qp(graph, node)
            t = graph.tensors[node.outputs[0]]
            if p is not None and p[0].size == 1 and t.quant is None:
                t.quant = QuantParams(scale=np.float32(p[0].reshape(-1)[0]), zero_point=np.int32(p[1].reshape(-1)[0]))


def _drop_dead(graph):
    changed = True
    while changed:
        changed = False
        cons = graph.consumers()
        for node in list(graph.nodes):
            if node.op in ("QuantizeLinear", "DequantizeLinear") and \
                    not any(cons.get(o) or o in graph.outputs for o in node.outputs if o):
                graph.nodes.remove(node)
                changed = True
    graph.remove_unused_tensors()


@register_pass("fuse_qdq", order=5)
def fuse_qdq(graph):
    """Fuse DequantizeLinear -> op -> QuantizeLinear into integer ops (QConv, QGemm, QAdd, ...)."""
    if not any(n.op in ("QuantizeLinear", "DequantizeLinear") for n in graph.nodes):
        return 0
    n = _fold_const_quantize(graph)
    _attach_act_params(graph)
    n += _Fuser(graph).run()
    _drop_dead(graph)
    n += _boundaries(graph)
    _drop_dead(graph)
    return n
