"""Turn uint8 QDQ into int8, exactly: q_s8 = q_u8 - 128 and zp_s8 = zp_u8 - 128.

scale * (q - zp) is unchanged, so every real value the model computes stays the same;
only the stored integers move. The shift is carried through ops that only move or
select values (Reshape, Transpose, MaxPool, ...), where it commutes. Graph inputs and
outputs that change are listed in graph.meta["u8_shifted"] so a caller can convert.
"""
import numpy as np

from ..errors import UnsupportedModeError

# Ops through which a -128 shift commutes: they copy, select or compare values only.
SHIFT_SAFE = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Concat",
              "Slice", "Split", "Gather", "MaxPool", "GlobalMaxPool", "Expand", "Tile",
              "DepthToSpace", "SpaceToDepth"}


def _shift_const(t):
    t.set_data((t.data.astype(np.int16) - 128).astype(np.int8), dtype="s8")


def convert_u8_qdq(graph):
    producers, consumers = graph.producers(), graph.consumers()
    todo = []
    for n in graph.nodes:
        if n.op == "QuantizeLinear":
            zp = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else None
            if zp is None and n.attrs.get("output_dtype_ir", "u8") == "u8":
                # ONNX default output type without a zero point is uint8 with zp 0.
                n.inputs = list(n.inputs[:2]) + [graph.add_const(f"{n.name}_zero_point", np.int8(-128)).name]
                n.attrs.pop("output_dtype_ir", None)
                todo.append(n.outputs[0])
            elif zp is not None and graph.tensors[zp].dtype == "u8":
                todo.append(zp)
                todo.append(n.outputs[0])
        elif n.op == "DequantizeLinear" and graph.tensors.get(n.inputs[0]) is not None \
                and graph.tensors[n.inputs[0]].dtype == "u8":
            todo.append(n.inputs[0])
    done = set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        t = graph.tensors.get(name)
        if t is not None and t.is_const:
            _shift_const(t)
        elif t is not None and t.dtype == "u8":
            t.dtype = "s8"
        p = producers.get(name)
        if p is not None and p.op not in SHIFT_SAFE and p.op != "QuantizeLinear":
            raise UnsupportedModeError(f"node {p.name} ({p.op}): computes the uint8 quantized tensor {name!r}; "
                                       f"uint8 arithmetic outside QDQ (Quantize/DequantizeLinear) is not supported")
        if p is not None and p.op in SHIFT_SAFE:
            todo.extend(i for i in p.inputs[:1] if i)
        elif p is not None and p.op == "QuantizeLinear" and len(p.inputs) > 2:
            todo.append(p.inputs[2])
        for c in consumers.get(name, []):
            if c.op in SHIFT_SAFE:
                if c.inputs[0] == name or c.op == "Concat":
                    todo.extend(o for o in c.outputs[:1 if c.op == "MaxPool" else None] if o)
                    if c.op == "Concat":
                        todo.extend(i for i in c.inputs if i)
            elif c.op == "DequantizeLinear":
                if c.inputs[0] == name and len(c.inputs) > 2 and c.inputs[2]:
                    todo.append(c.inputs[2])
            elif c.op == "QuantizeLinear":
                continue  # the shifted tensor is Q's zero point: already handled
            else:
                raise UnsupportedModeError(f"node {c.name} ({c.op}): computes on uint8 quantized tensor {name!r}; "
                                           f"uint8 arithmetic outside QDQ (Quantize/DequantizeLinear) is not supported")
    shifted_in = [i for i in graph.inputs if i in done]
    shifted_out = [o for o in graph.outputs if o in done]
    if done:
        graph.meta["u8_shifted"] = {"inputs": shifted_in, "outputs": shifted_out,
                                    "note": "uint8 QDQ stored as int8: q_s8 = q_u8 - 128"}
    return graph
