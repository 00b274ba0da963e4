"""ONNX ModelProto -> edgesdk Graph.

Tensor names stay the ONNX value names and node names the ONNX node names (unique
ones are made up for unnamed nodes), so a user can find any node of their model in
our messages. Default-domain opsets 11 to the installed onnx's newest are read; opset 11/12 specifics (Softmax's
2-D coercion, default axis 1) are normalized to the opset-13 form the IR uses.
"""
import numpy as np

from ..errors import ModelError, UnsupportedOpsError
from ..ir import Graph, Node, Tensor, infer_shapes, verify
from ..ir.ops import known_ops

MIN_OPSET = 11


def max_opset():
    """Newest opset accepted: that of the installed onnx package. Opsets 22+ mostly widen
    type constraints (bfloat16, float8, int4) that the IR rejects by dtype anyway; the ONNX
    backend node cases (edgesdk.frontends.conformance) check each op at those opsets."""
    import onnx
    return onnx.defs.onnx_opset_version()

# ONNX TensorProto element types the IR has a dtype for.
_ELEM = {1: "f32", 2: "u8", 3: "s8", 6: "s32", 7: "s64", 9: "bool", 10: "f16"}
_ELEM_NAMES = {0: "undefined", 4: "uint16", 5: "int16", 8: "string", 11: "double", 12: "uint32",
               13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16", 17: "float8e4m3fn",
               18: "float8e4m3fnuz", 19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4",
               23: "float4e2m1"}


class UnsupportedDtypeError(ModelError):
    """A tensor of an element type the IR does not have (double, string, int16, ...)."""


def elem_dtype(elem, where):
    try:
        return _ELEM[elem]
    except KeyError:
        raise UnsupportedDtypeError(f"{where}: element type {_ELEM_NAMES.get(elem, elem)} is not supported "
                                    f"(supported: float, float16, int8, uint8, int32, int64, bool)") from None


def _to_array(tp, where):
    from onnx import numpy_helper
    elem_dtype(tp.data_type, where)
    arr = numpy_helper.to_array(tp)
    return np.array(arr)  # own, writable


def _attr_value(a, node_name):
    from onnx import AttributeProto, helper
    if a.type == AttributeProto.TENSOR:
        return _to_array(a.t, f"node {node_name}: attribute {a.name}")
    if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS, AttributeProto.SPARSE_TENSOR,
                  AttributeProto.TENSORS, AttributeProto.TYPE_PROTO, AttributeProto.TYPE_PROTOS):
        return _Unsupported(a.name)
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


class _Unsupported:
    def __init__(self, name):
        self.name = name


def _static_dims(vi):
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else "?"
                 for d in t.shape.dim)


def _example_shape(dims):
    ex = []
    for i, d in enumerate(dims):
        ex.append(str(d) if isinstance(d, int) else ("1" if i == 0 else "224"))
    return ",".join(ex)


def _normalize_attrs(node, op, attrs, opset):
    """Bring attributes to the IR's (opset 13+) conventions."""
    if op == "Cast":
        attrs["to"] = elem_dtype(attrs["to"], f"node {node}: Cast 'to'")
    if op == "EyeLike" and "dtype" in attrs:
        attrs["dtype"] = elem_dtype(attrs["dtype"], f"node {node}: EyeLike 'dtype'")
    if op in ("Softmax", "LogSoftmax", "Hardmax") and opset < 13:
        attrs.setdefault("axis", 1)
        attrs["legacy_2d"] = 1  # resolved once the rank is known
    if op == "QuantizeLinear" and "output_dtype" in attrs:
        od = attrs.pop("output_dtype")
        if od:
            attrs["output_dtype_ir"] = elem_dtype(od, f"node {node}: QuantizeLinear output_dtype")
    if op == "Constant":
        if any(k in attrs for k in ("value_string", "value_strings")):
            raise UnsupportedDtypeError(f"node {node}: Constant of strings is not supported")
        for k in ("value_float", "value_int"):
            if k in attrs:
                attrs["value"] = np.array(attrs.pop(k), dtype=np.float32 if k == "value_float" else np.int64)
        for k in ("value_floats", "value_ints"):
            if k in attrs:
                attrs["value"] = np.array(attrs.pop(k), dtype=np.float32 if k == "value_floats" else np.int64)
    return attrs


def import_onnx(model, input_shapes=None, source="<onnx model>"):
    from .. import reference
    from .fold import fold_and_infer
    from .qdq_u8 import convert_u8_qdq

    if not model.HasField("graph") or not model.opset_import:
        raise ModelError(f"{source}: not an ONNX model (no graph or no opset)")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    og = model.graph
    # Operators first: an unsupported-op error must list them all, before anything else.
    supported = set(known_ops()) & set(reference.supported_ops())
    bad = []
    for i, n in enumerate(og.node):
        name = n.name or f"{n.op_type}_{i}"
        if n.domain not in ("", "ai.onnx") or n.op_type not in supported:
            bad.append((name, n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"))
    if bad:
        raise UnsupportedOpsError(bad, opset=opset, source=source)

    if opset is None or not MIN_OPSET <= opset <= max_opset():
        raise ModelError(f"{source}: ONNX opset {opset} is not supported (supported: {MIN_OPSET}-{max_opset()}); "
                         f"re-export the model with a supported opset")
    g = Graph(og.name or "model")
    g.meta.update({"source": source, "opset": int(opset),
                   "producer": f"{model.producer_name} {model.producer_version}".strip(),
                   "ir_version": int(model.ir_version)})

    for init in og.initializer:
        g.add_tensor(Tensor(init.name, tuple(init.dims), elem_dtype(init.data_type, f"initializer {init.name}"),
                            data=_to_array(init, f"initializer {init.name}")))

    shapes = dict(input_shapes or {})
    real_inputs = [vi for vi in og.input if vi.name not in g.tensors]
    names = [vi.name for vi in real_inputs]
    for k in shapes:
        if k not in names:
            raise ModelError(f"{source}: input_shapes names {k!r}, which is not a model input "
                             f"(inputs: {', '.join(names) or 'none'})")
    for vi in real_inputs:
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedDtypeError(f"{source}: input {vi.name!r} is not a tensor "
                                        f"(sequences/maps/optionals are not supported)")
        dt = elem_dtype(vi.type.tensor_type.elem_type, f"input {vi.name!r}")
        dims = _static_dims(vi)
        if vi.name in shapes:
            given = tuple(int(s) for s in shapes[vi.name])
            if dims is not None and len(dims) != len(given):
                raise ModelError(f"{source}: input_shapes gives {vi.name!r} rank {len(given)} {given}, "
                                 f"the model declares rank {len(dims)} {dims}")
            if dims is not None:
                for ax, (d, s) in enumerate(zip(dims, given)):
                    if isinstance(d, int) and d != s:
                        raise ModelError(f"{source}: input_shapes gives {vi.name!r} size {s} on axis {ax}, "
                                         f"where the model fixes {d}")
            dims = given
        if dims is None or any(not isinstance(d, int) for d in dims):
            shown = "unknown rank" if dims is None else "(" + ", ".join(str(d) for d in dims) + ")"
            ex = "1,3,224,224" if dims is None else _example_shape(dims)
            raise ModelError(f"{source}: input {vi.name!r} has dynamic dimensions {shown}; give a static shape, "
                             f"e.g. --input-shape {vi.name}={ex} (input_shapes={{'{vi.name}': ({ex.replace(',', ', ')})}})")
        g.add_tensor(Tensor(vi.name, dims, dt))
        g.inputs.append(vi.name)
    # Initializers listed as graph inputs (old exporters) stay constants, not inputs.

    used_names = set()
    for i, n in enumerate(og.node):
        name = n.name or f"{n.op_type}_{i}"
        while name in used_names:
            name = f"{name}_{i}"
        used_names.add(name)
        attrs = {a.name: _attr_value(a, name) for a in n.attribute}
        odd = [k for k, v in attrs.items() if isinstance(v, _Unsupported)]
        if odd:
            raise UnsupportedOpsError([(name, f"{n.op_type} with subgraph/sparse attribute {odd[0]}")],
                                      opset=opset, source=source)
        attrs = _normalize_attrs(name, n.op_type, attrs, opset)
        g.nodes.append(Node(name, n.op_type, list(n.input), list(n.output), attrs))
    g.outputs = [o.name for o in og.output]

    fold_and_infer(g)
    convert_u8_qdq(g)  # after inference: zero points may be computed tensors with inferred dtypes
    _resolve_legacy(g)
    infer_shapes(g)
    verify(g)
    return g


def _resolve_legacy(g):
    for n in g.nodes:
        if n.attrs.pop("legacy_2d", None):
            rank = len(g.tensors[n.inputs[0]].shape)
            if n.attrs["axis"] % rank != rank - 1:
                n.attrs["coerce_2d"] = 1
