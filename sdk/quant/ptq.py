"""Post-training quantization: float IR graph + calibration data -> integer-only IR graph.

Weights: int8 (or 4/2-bit values in int8) symmetric per output channel. Activations:
asymmetric int8 per tensor, ranges from the float reference run on the calibration
samples (minmax | percentile | mse). Bias: int32 at scale x_scale * w_scale[o].
Requantization constants come from edgesdk.quant.fixedpoint and are written both on
the output tensor's QuantParams (codegen) and in the node attrs (the reference).

Tensor names are kept: the float tensor `t` becomes the s8 tensor `t`, which makes the
float and integer runs directly comparable (bias correction, layer-wise calibration).
"""
from dataclasses import dataclass

import numpy as np

from ..errors import EdgeError, UnsupportedOpsError
from ..ir import QuantParams, infer_shapes, verify
from ..reference.quantized import qadd_params, softmax_table
from .calibrate import act_qparams, choose_range, collect_stats, normalize_calib
from .fixedpoint import activation_range, quantize_multiplier
from .prepare import prepare_float
from .weights import quantize_bias, quantize_weight, weight_scale

# The XNOR ops of a binarized model (edgesdk.binary.export_graph): integer, but such a
# model keeps float activations between them (is_binarized_float).
BINARY_OPS = {"Binarize", "BConv", "BGemm"}
INTEGER_OPS = {"QConv", "QGemm", "QAdd", "QAvgPool", "QGlobalAvgPool", "QSoftmax", "ShiftConv", "ShiftGemm"} | BINARY_OPS
# Data movement: exact on int8, the output shares the input's QuantParams.
SHARED_PARAM_OPS = {"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose",
                    "Dropout", "Concat"}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
LAYER_OPS = {"QConv", "QGemm"}


class QuantizeError(EdgeError):
    """A graph that cannot be quantized as asked (already quantized, bad budget, ...)."""


@dataclass
class Layer:
    """What the refinement steps (bias correction, AdaQuant) need to re-quantize a layer."""
    node: str
    op: str              # Conv | Gemm (float op it came from)
    w_name: str
    b_name: str
    w_float: np.ndarray  # [O, ...] (Gemm: [M, K])
    b_float: np.ndarray  # [O]
    x_scale: float
    x_zp: int
    y_scale: float
    y_zp: int
    bits: int
    activation: str
    per_channel: bool = True


def is_binarized_float(graph):
    """True for a binarized float model: XNOR layers, and no other integer or Q/DQ op and no
    quantized input, so the layers around the binary ones are float (is_quantized() is True
    for it all the same, because its binary ops are integer ones)."""
    ops = {n.op for n in graph.nodes}
    return bool(ops & BINARY_OPS) and not ops & ((INTEGER_OPS | QDQ_OPS) - BINARY_OPS) and \
        not any(graph.tensors[i].quant is not None for i in graph.inputs if i in graph.tensors)


def is_quantized(graph):
    """True when the graph already holds integer ops or Q/DQ nodes (it is not plain float)."""
    return any(n.op in INTEGER_OPS or n.op in QDQ_OPS for n in graph.nodes) or \
        any(graph.tensors[i].quant is not None for i in graph.inputs if i in graph.tensors)


def float_ops(graph):
    """[(node name, op)] of nodes that compute in floating point (not integer ops, and not
    data movement on s8 tensors): what an int8-only target cannot run."""
    out = []
    for n in graph.nodes:
        if n.op in INTEGER_OPS:
            continue
        if n.op in SHARED_PARAM_OPS:
            t = graph.tensors.get(n.inputs[0])
            if t is not None and t.dtype == "s8":
                continue
        out.append((n.name, n.op))
    return out


def quantize_inputs(graph, feeds):
    """{input: float array} -> {input: int8 array} with the inputs' QuantParams (round half to even)."""
    out = {}
    for name, x in feeds.items():
        t = graph.tensors.get(name)
        if t is None or t.quant is None:
            raise EdgeError(f"input {name!r}: not a quantized input of graph {graph.name}")
        q = np.rint(np.asarray(x, np.float64) / float(t.quant.scale.reshape(-1)[0])) + int(t.quant.zero_point.reshape(-1)[0])
        out[name] = np.clip(q, -128, 127).astype(np.int8)
    return out


def dequantize_outputs(graph, outputs):
    """{output: int8 array} -> {output: float32 array} with the outputs' QuantParams."""
    out = {}
    for name, q in outputs.items():
        t = graph.tensors.get(name)
        if t is None or t.quant is None:
            out[name] = np.asarray(q)
            continue
        out[name] = ((np.asarray(q, np.float32) - t.quant.zero_point.astype(np.float32).reshape(-1)[0])
                     * t.quant.scale.reshape(-1)[0]).astype(np.float32)
    return out


def _scalar_const(graph, name):
    if not name:
        return None
    d = graph.const(name)
    return None if d is None else np.asarray(d)


def set_layer_weights(graph, layer: Layer, w_float=None, b_float=None, w_scale=None):
    """(Re)quantize a QConv/QGemm's weight, bias and output stage in `graph` from floats."""
    node = graph.node(layer.node)
    w = layer.w_float if w_float is None else w_float
    b = layer.b_float if b_float is None else b_float
    if w_scale is None:
        w_scale = weight_scale(w, layer.bits, per_channel=layer.per_channel,
                               search="mse" if layer.bits < 8 else None)
    wq = quantize_weight(w, w_scale, layer.bits)
    bq = quantize_bias(b, layer.x_scale, w_scale, what=f"node {layer.node} bias")
    wt = graph.tensors[layer.w_name]
    wt.set_data(wq, "s8")
    wt.quant = QuantParams(scale=w_scale, zero_point=np.zeros(w_scale.size, np.int32), axis=0, bits=layer.bits)
    if layer.bits < 8:
        wt.tags["packing"] = {"bits": layer.bits}
    else:
        wt.tags.pop("packing", None)
    bt = graph.tensors[layer.b_name]
    bt.set_data(bq, "s32")
    bt.quant = QuantParams(scale=(np.float64(layer.x_scale) * w_scale.astype(np.float64)).astype(np.float32),
                           zero_point=np.zeros(w_scale.size, np.int32), axis=0, bits=32)
    real = np.float64(layer.x_scale) * w_scale.astype(np.float64) / np.float64(layer.y_scale)
    m, s = quantize_multiplier(real)
    node.attrs["multiplier"] = m
    node.attrs["shift"] = s
    yt = graph.tensors[node.outputs[0]]
    yt.quant = QuantParams(scale=np.float32(layer.y_scale), zero_point=np.int32(layer.y_zp),
                           multiplier=m, shift=s)
    return wq, bq, w_scale


class _Rewriter:
    """Rewrites a prepared float graph, in place, into integer ops."""

    def __init__(self, graph, ranges, weight_bits, per_channel):
        self.g = graph
        self.ranges = ranges          # tensor -> (lo, hi)
        self.params = {}              # tensor -> (scale, zp)
        self.weight_bits = weight_bits
        self.per_channel = per_channel
        self.layers = {}
        self.cons = graph.consumers()

    def bits_for(self, node):
        wb = self.weight_bits
        return int(wb.get(node.name, 8)) if isinstance(wb, dict) else int(wb)

    def act(self, name):
        """(scale, zp) of an activation tensor: from calibration unless already fixed."""
        if name not in self.params:
            lo, hi = self.ranges[name]
            self.params[name] = act_qparams(lo, hi)
        return self.params[name]

    def mark(self, name, scale, zp, multiplier=None, shift=None):
        t = self.g.tensors[name]
        t.dtype = "s8"
        t.quant = QuantParams(scale=np.float32(scale), zero_point=np.int32(zp),
                              multiplier=multiplier, shift=shift)
        self.params[name] = (np.float32(scale), int(zp))

    def run(self):
        unsupported = []
        for name in self.g.inputs:
            if not self.g.tensors[name].is_const:
                s, z = self.act(name)
                self.mark(name, s, z)
        for node in list(self.g.nodes):
            fn = getattr(self, "_" + node.op, None)
            if fn is None:
                unsupported.append((node.name, node.op))
                continue
            try:
                fn(node)
            except _Unsupported as e:
                unsupported.append((node.name, f"{node.op}: {e}"))
        if unsupported:
            raise UnsupportedOpsError(unsupported, source=f"the quantizer (graph {self.g.name})")
        return self.layers

    # ---- helpers ----------------------------------------------------------
    def _x(self, node, i=0):
        name = node.inputs[i]
        if self.g.tensors[name].is_const:
            raise _Unsupported(f"input {i} ({name}) is a constant where an activation is expected")
        if name not in self.params:
            raise _Unsupported(f"input {name} has no quantization parameters")
        return name, self.params[name]

    def _out_range(self, node, activation):
        y = node.outputs[0]
        ys, yz = self.act(y)
        lo, hi = activation_range(activation if activation not in (None, "none") else None, ys, yz)
        return y, ys, yz, lo, hi

    def _layer(self, node, x_name, w_float, b_float, op):
        (xs, xz) = self.params[x_name]
        act = node.attrs.get("activation")
        y, ys, yz, lo, hi = self._out_range(node, act)
        w_name = self.g.unique_name(node.inputs[1] + "_q") if len(node.inputs) > 1 else node.name + "_w"
        b_name = self.g.unique_name((node.inputs[2] if len(node.inputs) > 2 and node.inputs[2]
                                     else node.name + "_b") + "_q")
        self.g.add_const(w_name, np.zeros(w_float.shape, np.int8), "s8")
        self.g.add_const(b_name, np.zeros(w_float.shape[0], np.int32), "s32")
        layer = Layer(node.name, op, w_name, b_name, np.asarray(w_float, np.float32),
                      np.asarray(b_float, np.float32), float(xs), int(xz), float(ys), int(yz),
                      self.bits_for(node), act or "none", self.per_channel)
        node.inputs = [x_name, w_name, b_name]
        node.attrs.update({"x_zp": int(xz), "y_zp": int(yz), "act_min": int(lo), "act_max": int(hi)})
        node.attrs.pop("activation", None)
        self.mark(y, ys, yz)
        set_layer_weights(self.g, layer)
        self.layers[node.name] = layer

    # ---- ops ------------------------------------------------------------------
    def _Conv(self, node):
        x, _ = self._x(node)
        w = _scalar_const(self.g, node.inputs[1])
        if w is None:
            raise _Unsupported("the weight is not a constant")
        b = _scalar_const(self.g, node.inputs[2] if len(node.inputs) > 2 else "")
        b = np.zeros(w.shape[0], np.float32) if b is None else b.reshape(-1)
        node.op = "QConv"
        self._layer(node, x, w, b, "Conv")

    def _Gemm(self, node):
        if node.attrs.get("transA", 0):
            raise _Unsupported("transA=1")
        x, _ = self._x(node)
        w = _scalar_const(self.g, node.inputs[1])
        if w is None:
            raise _Unsupported("the weight (B) is not a constant")
        if len(self.g.tensors[x].shape) != 2:
            raise _Unsupported("A is not 2D")
        w = w if node.attrs.get("transB", 0) else w.T
        w = w * float(node.attrs.get("alpha", 1.0))
        c = _scalar_const(self.g, node.inputs[2] if len(node.inputs) > 2 else "")
        m = w.shape[0]
        if c is None:
            b = np.zeros(m, np.float32)
        else:
            if c.size not in (1, m) or (c.ndim == 2 and c.shape[0] != 1):
                raise _Unsupported(f"bias C of shape {c.shape} is not a per-output vector")
            b = np.broadcast_to(c.reshape(-1), (m,)) * float(node.attrs.get("beta", 1.0))
        node.op = "QGemm"
        for k in ("alpha", "beta", "transA", "transB"):
            node.attrs.pop(k, None)
        self._layer(node, x, w, b, "Gemm")

    def _MatMul(self, node):
        x, _ = self._x(node)
        w = _scalar_const(self.g, node.inputs[1])
        if w is None or w.ndim != 2:
            raise _Unsupported("the second input is not a constant 2D weight")
        node.op = "QGemm"
        node.inputs = node.inputs[:2]
        self._layer(node, x, w.T, np.zeros(w.shape[1], np.float32), "Gemm")

    def _Add(self, node):
        names = []
        for i in (0, 1):
            nm = node.inputs[i]
            t = self.g.tensors[nm]
            if t.is_const:
                # A constant operand: quantize it per tensor on its own range.
                d = np.asarray(t.data, np.float32)
                s, z = act_qparams(min(float(d.min()), 0.0), max(float(d.max()), 0.0) or 1e-8)
                q = np.clip(np.rint(d / s) + z, -128, 127).astype(np.int8)
                cn = self.g.unique_name(nm + "_q")
                self.g.add_const(cn, q, "s8", quant=QuantParams(scale=s, zero_point=z))
                self.params[cn] = (s, z)
                names.append(cn)
            else:
                names.append(self._x(node, i)[0])
        (sa, za), (sb, zb) = self.params[names[0]], self.params[names[1]]
        act = node.attrs.get("activation")
        y, ys, yz, lo, hi = self._out_range(node, act)
        (am, ash), (bm, bsh), (m, s) = qadd_params(sa, sb, ys)
        node.op = "QAdd"
        node.inputs = names
        node.attrs = {"a_zp": int(za), "b_zp": int(zb), "y_zp": int(yz), "a_multiplier": am, "a_shift": ash,
                      "b_multiplier": bm, "b_shift": bsh, "multiplier": m, "shift": s,
                      "act_min": int(lo), "act_max": int(hi)}
        self.mark(y, ys, yz, np.array([m]), np.array([s]))

    def _pool_stage(self, node, window, op, extra):
        x, (xs, xz) = self._x(node)
        y, ys, yz, lo, hi = self._out_range(node, None)
        m, s = quantize_multiplier(float(xs) / (float(ys) * window))
        node.op = op
        node.attrs = {**extra, "x_zp": int(xz), "y_zp": int(yz), "multiplier": m, "shift": s,
                      "act_min": int(lo), "act_max": int(hi)}
        self.mark(y, ys, yz, m, s)

    def _AveragePool(self, node):
        from ..ir.opdefs.pool import pool_geometry
        k, strides, pads, dil, _ = pool_geometry(node, self.g.tensors[node.inputs[0]].shape[2:])
        if node.attrs.get("ceil_mode", 0):
            raise _Unsupported("ceil_mode=1")
        if any(pads) and not node.attrs.get("count_include_pad", 0):
            raise _Unsupported("padding with count_include_pad=0 (the window size varies)")
        if any(d != 1 for d in dil):
            raise _Unsupported("dilations")
        self._pool_stage(node, int(np.prod(k)), "QAvgPool",
                         {"kernel_shape": list(k), "strides": list(strides), "pads": list(pads),
                          "count_include_pad": 1})

    def _GlobalAveragePool(self, node):
        shp = self.g.tensors[node.inputs[0]].shape
        self._pool_stage(node, int(np.prod(shp[2:])), "QGlobalAvgPool", {})

    def _ReduceMean(self, node):
        shp = self.g.tensors[node.inputs[0]].shape
        axes = node.attrs.get("axes")
        if len(node.inputs) > 1 and node.inputs[1]:
            axes = [int(a) for a in _scalar_const(self.g, node.inputs[1]).reshape(-1)]
        axes = sorted(int(a) % len(shp) for a in (axes or []))
        if axes != list(range(2, len(shp))) or not node.attrs.get("keepdims", 1):
            raise _Unsupported("only a mean over all spatial axes with keepdims=1 (a global average pool)")
        node.inputs = node.inputs[:1]
        self._GlobalAveragePool(node)

    def _Softmax(self, node):
        x, (xs, xz) = self._x(node)
        rank = len(self.g.tensors[x].shape)
        axis = node.attrs.get("axis", -1)
        if axis % rank != rank - 1:
            raise _Unsupported(f"axis {axis} is not the last axis")
        node.op = "QSoftmax"
        node.attrs = {"axis": -1, "table": softmax_table(xs)}
        self.mark(node.outputs[0], 1.0 / 256.0, -128)

    def _shared(self, node):
        x, (xs, xz) = self._x(node)
        for o in node.outputs[:1]:
            self.mark(o, xs, xz)
        if node.op == "MaxPool" and len(node.outputs) > 1 and node.outputs[1]:
            if self.cons.get(node.outputs[1]):
                raise _Unsupported("the indices output is used")
            node.outputs = node.outputs[:1]

    _MaxPool = _shared
    _Reshape = _shared
    _Flatten = _shared
    _Squeeze = _shared
    _Unsqueeze = _shared
    _Transpose = _shared
    _Identity = _shared
    _Dropout = _shared

    def _Concat(self, node):
        ps = {self._x(node, i)[1] for i in range(len(node.inputs))}
        if len(ps) != 1:
            raise _Unsupported("inputs with different quantization parameters")
        self._shared(node)

    def _Relu(self, node):
        raise _Unsupported("a Relu that follows no Conv/Gemm/MatMul/Add cannot be folded into a clamp")

    _Clip = _Relu


class _Unsupported(Exception):
    pass


def activation_tensors(graph):
    names = [i for i in graph.inputs if not graph.tensors[i].is_const]
    for n in graph.nodes:
        names += [o for o in n.outputs if o]
    return names


def quantize(graph, calib, method="minmax", per_channel=True, bias_correction=True, weight_bits=8,
             layerwise=None, layerwise_steps=300, refine_samples=256, seed=0):
    """Quantize a float IR graph to integer ops (see the module doc).

    calib: array (S, *input_shape[1:]) for a single-input model, or {input: array}, or an
    NpzFile. weight_bits: 8 | 4 | 2, or {node name: bits} for mixed precision (unlisted
    layers: 8). layerwise: AdaQuant-style per-layer optimisation of the weights and
    scales; default on for layers below 8 bits. Returns a new graph; `graph` is untouched.
    """
    if method not in ("minmax", "percentile", "mse"):
        raise QuantizeError(f"method: unknown calibration method {method!r} (minmax, percentile, mse)")
    bits_set = set(weight_bits.values()) if isinstance(weight_bits, dict) else {weight_bits}
    # 8/4/2 are the packed formats the kernels know; 3/5/6/7 (mixed-precision studies) are
    # exact in int8 storage but need a packer of their own on the codegen side.
    allowed = (8, 4, 2) if not isinstance(weight_bits, dict) else (2, 3, 4, 5, 6, 7, 8)
    bad = sorted(int(b) for b in bits_set if int(b) not in allowed)
    if bad:
        raise QuantizeError(f"weight_bits: {bad} not supported ({', '.join(map(str, allowed))})")
    if is_quantized(graph):
        raise QuantizeError(f"model {graph.meta.get('source', graph.name)} is already quantized (it has integer or "
                            f"QuantizeLinear/DequantizeLinear ops); QDQ models import as integer "
                            f"graphs through the fuse_qdq pass")
    fg = prepare_float(graph)
    calib = normalize_calib(fg, calib)
    tensors = activation_tensors(fg)
    stats = collect_stats(fg, calib, tensors, keep_sample=(method != "minmax"))
    ranges = {t: choose_range(stats[t], method) for t in tensors}

    qg = fg.copy()
    qg.name = graph.name
    layers = _Rewriter(qg, ranges, weight_bits, per_channel).run()
    qg.remove_unused_tensors()
    infer_shapes(qg)
    verify(qg)
    if layerwise is None:
        layerwise = any(lay.bits < 8 for lay in layers.values())
    if bias_correction or layerwise:
        from .refine import refine_layers
        refine_layers(fg, qg, layers, calib, bias_correction=bias_correction, layerwise=layerwise,
                      steps=layerwise_steps, samples=refine_samples, seed=seed)
    qg.meta["quantization"] = {
        "method": method, "per_channel": bool(per_channel), "bias_correction": bool(bias_correction),
        "layerwise": bool(layerwise),
        "weight_bits": {n: lay.bits for n, lay in layers.items()},
        "calibration_samples": int(next(iter(calib.values())).shape[0]),
    }
    verify(qg)
    return qg


def weight_bytes(graph):
    """Bytes of the quantized layer weights, packed at their bit-width (+ int32 biases)."""
    total = 0
    for t in graph.tensors.values():
        if t.is_const and t.quant is not None and t.quant.axis == 0:
            total += (t.data.size * int(t.quant.bits) + 7) // 8
    return total
