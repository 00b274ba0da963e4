"""Per-layer model statistics: shapes, parameters, MACs, activation and weight bytes.

    stats = analyze(graph)            # graph with static shapes (after import / passes)
    stats.layers[0].macs, stats.totals.macs, stats.totals.arena_bytes
    print(format_table(stats))        # what `edgesdk inspect` and the build summary print
    stats.to_json()                   # the same for machines

Counting rules (one MAC = one multiply-accumulate; comparisons count as one):
- Conv-like (Conv, QConv, BConv, ShiftConv): out_elems * (Cin / group) * kh * kw,
  i.e. out_elems * prod(weight.shape[1:]).  ConvTranspose: in_elems * prod(w.shape[1:]).
- Gemm-like (Gemm, MatMul and their Q/B/Shift forms): M * N * K = out_elems * K.
- Pooling: out_elems * kernel area; global pooling: in_elems.
- Data movement (Reshape, Transpose, Concat, Slice, ...): 0.
- Everything else (element-wise, BN, Softmax, normalizations, Q/DQ): output elements.
Bytes are device bytes of the tensor's dtype, packed for s4 (2/byte) and b1 (8/byte).
Params are the elements of a layer's constant inputs that are weights (integer
index/shape constants, s64 and bool, and the scale/zero point of Q/DQ nodes are not
parameters). A constant read by two
layers counts in each layer but once in the totals.
"""
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import GraphError
from .ir.dtypes import storage_bytes

CONV_OPS = {"Conv", "QConv", "BConv", "ShiftConv"}
GEMM_OPS = {"Gemm", "QGemm", "BGemm", "ShiftGemm", "MatMul", "QMatMul", "MatMulInteger"}
POOL_OPS = {"MaxPool", "AveragePool", "QAvgPool", "QMaxPool", "LpPool"}
GLOBAL_POOL_OPS = {"GlobalAveragePool", "GlobalMaxPool", "QGlobalAvgPool", "ReduceMean", "ReduceSum",
                   "ReduceMax", "ReduceMin"}
DATA_MOVEMENT_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split",
                     "Slice", "Gather", "Pad", "Identity", "Shape", "Expand", "Tile", "Dropout",
                     "DepthToSpace", "SpaceToDepth", "Constant", "ConstantOfShape"}
NON_WEIGHT_DTYPES = {"s64", "bool"}
# Ops whose inputs after the first are quantization parameters (scale, zero point), not weights.
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}


@dataclass
class LayerStats:
    name: str
    op: str
    input_shapes: list
    output_shapes: list
    params: int
    macs: int
    weight_bytes: int
    activation_bytes: int  # bytes of the layer's outputs
    input_bytes: int       # bytes of the layer's activation inputs
    activation: str = ""   # fused activation, if any
    dtype: str = ""        # dtype of the first output


@dataclass
class Totals:
    layers: int = 0
    params: int = 0
    macs: int = 0
    weight_bytes: int = 0
    activation_bytes: int = 0     # all activation tensors, graph inputs included
    peak_layer_bytes: int = 0     # the largest (inputs + outputs) of one layer
    arena_bytes: int = 0          # static plan of all activations (edgesdk.lower.memory_plan)
    arena_lower_bound: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    op_counts: dict = field(default_factory=dict)


@dataclass
class ModelStats:
    name: str
    layers: list
    totals: Totals
    inputs: list    # [{"name", "shape", "dtype"}]
    outputs: list

    def to_json(self):
        return {"name": self.name, "inputs": self.inputs, "outputs": self.outputs,
                "layers": [asdict(layer) for layer in self.layers], "totals": asdict(self.totals)}


def _numel(shape):
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def _tensor_bytes(t):
    return storage_bytes(t.dtype, t.numel)


def layer_macs(node, ins, outs):
    """MACs of one node; `ins`/`outs` are Tensors (None for absent optional inputs)."""
    out_elems = sum(_numel(t.shape) for t in outs)
    op = node.op
    if op in CONV_OPS and len(ins) > 1 and ins[1] is not None:
        return out_elems * _numel(ins[1].shape[1:])
    if op == "ConvTranspose" and len(ins) > 1:
        return _numel(ins[0].shape) * _numel(ins[1].shape[1:])
    if op in GEMM_OPS and ins and ins[0] is not None:
        a = ins[0].shape
        k = a[0] if op == "Gemm" and node.attrs.get("transA", 0) else a[-1]
        return out_elems * int(k)
    if op in POOL_OPS:
        return out_elems * _numel(node.attrs.get("kernel_shape") or [1])
    if op in GLOBAL_POOL_OPS and ins and ins[0] is not None:
        return _numel(ins[0].shape)
    if op in DATA_MOVEMENT_OPS:
        return 0
    return out_elems


def _static(graph, name):
    t = graph.tensors.get(name)
    if t is None:
        raise GraphError(f"graph {graph.name}: tensor {name!r} is referenced but not declared")
    if not t.is_static:
        hint = " (give it with --input-shape NAME=1,3,224,224)" if name in graph.inputs else ""
        raise GraphError(f"graph {graph.name}: tensor {name!r} has a dynamic shape {t.shape}{hint}")
    return t


def _is_weight(graph, name):
    t = graph.tensors.get(name)
    return t is not None and t.is_const and name not in graph.inputs and t.dtype not in NON_WEIGHT_DTYPES


def analyze(graph, plan_arena=True) -> ModelStats:
    """Statistics of every node of `graph` and their totals (see the module doc for the rules)."""
    for name in graph.inputs:
        _static(graph, name)
    layers = []
    seen_weights, seen_acts = set(), set()
    totals = Totals(layers=len(graph.nodes), op_counts=graph.op_counts())
    for node in graph.nodes:
        ins = [_static(graph, i) if i else None for i in node.inputs]
        outs = [_static(graph, o) for o in node.outputs if o]
        weights = [t for k, (i, t) in enumerate(zip(node.inputs, ins))
                   if i and _is_weight(graph, i) and not (node.op in QDQ_OPS and k > 0)]
        acts = [t for i, t in zip(node.inputs, ins) if i and t is not None and not t.is_const]
        layer = LayerStats(
            name=node.name, op=node.op,
            input_shapes=[list(t.shape) for t in acts],
            output_shapes=[list(t.shape) for t in outs],
            params=sum(t.numel for t in weights),
            macs=int(layer_macs(node, ins, outs)),
            weight_bytes=sum(_tensor_bytes(t) for t in weights),
            activation_bytes=sum(_tensor_bytes(t) for t in outs),
            input_bytes=sum(_tensor_bytes(t) for t in acts),
            activation=node.attrs.get("activation", "") if node.attrs.get("activation") != "none" else "",
            dtype=outs[0].dtype if outs else "")
        layers.append(layer)
        totals.macs += layer.macs
        for t in weights:
            if t.name not in seen_weights:
                seen_weights.add(t.name)
                totals.params += t.numel
                totals.weight_bytes += _tensor_bytes(t)
        for t in acts + [t for t in outs if not t.is_const]:
            if t.name not in seen_acts:
                seen_acts.add(t.name)
                totals.activation_bytes += _tensor_bytes(t)
        totals.peak_layer_bytes = max(totals.peak_layer_bytes, layer.input_bytes + layer.activation_bytes)

    def io(names):
        return [{"name": n, "shape": list(graph.tensors[n].shape), "dtype": graph.tensors[n].dtype}
                for n in names if n in graph.tensors]

    totals.input_bytes = sum(_tensor_bytes(graph.tensors[n]) for n in graph.inputs
                             if not graph.tensors[n].is_const)
    totals.output_bytes = sum(_tensor_bytes(_static(graph, n)) for n in graph.outputs)
    if plan_arena:
        from .lower.memory_plan import plan_memory
        plan = plan_memory(graph)
        totals.arena_bytes, totals.arena_lower_bound = plan.arena_bytes, plan.lower_bound
    return ModelStats(graph.name, layers, totals, io(graph.inputs), io(graph.outputs))


def _si(n):
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(int(n))


def _kib(n):
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def format_table(stats: ModelStats) -> str:
    """A fixed-width table: one row per layer, then the totals."""
    def shapes(ss):
        return " ".join("x".join(str(d) for d in s) for s in ss)

    head = ["#", "layer", "op", "input", "output", "params", "MACs", "act bytes", "weight bytes"]
    rows = []
    for i, l in enumerate(stats.layers):
        op = l.op + (f"+{l.activation}" if l.activation else "")
        rows.append([str(i), l.name, op, shapes(l.input_shapes), shapes(l.output_shapes),
                     f"{l.params:,}", f"{l.macs:,}", f"{l.activation_bytes:,}", f"{l.weight_bytes:,}"])
    widths = [max(len(r[c]) for r in [head] + rows) for c in range(len(head))]
    widths[1] = min(widths[1], 40)
    right = {0, 5, 6, 7, 8}

    def fmt(r):
        cells = []
        for c, (cell, w) in enumerate(zip(r, widths)):
            if len(cell) > w:
                cell = "…" + cell[-(w - 1):]
            cells.append(cell.rjust(w) if c in right else cell.ljust(w))
        return "  ".join(cells).rstrip()

    t = stats.totals
    lines = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    ins = ", ".join(f"{d['name']} {'x'.join(map(str, d['shape']))} {d['dtype']}" for d in stats.inputs)
    outs = ", ".join(f"{d['name']} {'x'.join(map(str, d['shape']))} {d['dtype']}" for d in stats.outputs)
    lines += [
        "",
        f"model {stats.name}: {t.layers} layers; inputs: {ins}; outputs: {outs}",
        f"params {t.params:,} ({_kib(t.weight_bytes)} of weights)   MACs {t.macs:,} ({_si(t.macs)})",
        f"activations {_kib(t.activation_bytes)} in all; largest layer {_kib(t.peak_layer_bytes)}; "
        f"planned arena {_kib(t.arena_bytes)} (lower bound {_kib(t.arena_lower_bound)})",
    ]
    return "\n".join(lines)


__all__ = ["analyze", "format_table", "layer_macs", "ModelStats", "LayerStats", "Totals"]
