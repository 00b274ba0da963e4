"""The numpy reference interpreter: the golden model every backend is compared with.

Each op registers one function with `@reference("OpName")`:

    fn(node, inputs: list[np.ndarray | None]) -> list[np.ndarray]   # one per node output

`inputs` holds None for absent optional inputs (""), in the node's input order.
Float ops follow ONNX semantics; quantized ops (sdk/reference/quantized.py,
binary.py) are bit-exact with edgesdk.quant.fixedpoint.

Every module of this package is imported on first use of the registry, so a module
only has to exist to register its ops (as in edgesdk.ir.opdefs).
"""
import importlib
import pkgutil

import numpy as np

from ..errors import DataError, EdgeError, UnsupportedOpsError
from ..errors import UnsupportedModeError  # noqa: F401  (re-exported)

_REGISTRY: dict = {}
_loaded = False


def reference(op_name):
    """Decorator: register `fn(node, inputs) -> list[np.ndarray]` as the reference of `op_name`."""
    def deco(fn):
        _REGISTRY[op_name] = fn
        return fn
    return deco


def _load_all():
    global _loaded
    if _loaded:
        return
    _loaded = True
    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")


def get(op_name):
    """The reference function of an op, or None."""
    _load_all()
    return _REGISTRY.get(op_name)


def supported_ops():
    _load_all()
    return sorted(_REGISTRY)


def _check_feed(graph, name, value):
    from ..ir.dtypes import np_dtype
    t = graph.tensors.get(name)
    arr = np.asarray(value)
    if t is None:
        return arr
    want = np.dtype(np_dtype(t.dtype))
    if arr.dtype != want:
        hint = ""
        if name in graph.meta.get("u8_shifted", {}).get("inputs", []):
            hint = "; it was uint8 in the ONNX model: feed (q - 128) as int8"
        raise DataError(f"input {name!r}: dtype {arr.dtype} but the graph expects {want} ({t.dtype}){hint}")
    if len(arr.shape) != len(t.shape) or any(
            isinstance(d, int) and d >= 0 and d != a for d, a in zip(t.shape, arr.shape)):
        raise DataError(f"input {name!r}: shape {tuple(arr.shape)} but the graph expects {tuple(t.shape)}")
    return arr


def run(graph, feeds, keep_intermediates=False):
    """Execute `graph` on `feeds` {input name: array}.

    Returns {output name: array} for the graph outputs, or every tensor (inputs,
    constants and intermediates) when keep_intermediates is True.
    """
    _load_all()
    missing = [(n.name, n.op) for n in graph.nodes if n.op not in _REGISTRY]
    if missing:
        raise UnsupportedOpsError(missing, source=f"reference interpreter (graph {graph.name})")
    unknown = sorted(set(feeds) - set(graph.inputs))
    if unknown:
        raise DataError(f"feeds name unknown inputs {unknown}; graph inputs are {graph.inputs}")
    env = {t.name: t.data for t in graph.tensors.values() if t.data is not None}
    for name in graph.inputs:
        if name in env:  # an input with a default (initializer); a feed overrides it
            if name in feeds:
                env[name] = _check_feed(graph, name, feeds[name])
            continue
        if name not in feeds:
            raise DataError(f"no feed for graph input {name!r}; graph inputs are {graph.inputs}")
        env[name] = _check_feed(graph, name, feeds[name])

    consumers_left = None
    if not keep_intermediates:
        # Free intermediates once their last reader ran: keeps big models (MobileNetV2) light.
        consumers_left = {}
        for n in graph.nodes:
            for i in n.inputs:
                if i:
                    consumers_left[i] = consumers_left.get(i, 0) + 1
        keep = set(graph.outputs) | set(graph.inputs)

    for node in graph.nodes:
        ins = []
        for i in node.inputs:
            if not i:
                ins.append(None)
            elif i in env:
                ins.append(env[i])
            else:
                raise EdgeError(f"node {node.name} ({node.op}): input {i!r} has no value "
                                f"(not a graph input, constant or earlier output)")
        try:
            outs = _REGISTRY[node.op](node, ins)
        except EdgeError:
            raise
        except Exception as e:
            # Our bug, not the user's: keep the traceback, but say which node it was.
            e.add_note(f"while running node {node.name} ({node.op})")
            raise
        if len(outs) < sum(1 for o in node.outputs if o):
            raise RuntimeError(f"node {node.name} ({node.op}): reference returned {len(outs)} outputs "
                               f"for {len(node.outputs)}")
        for name, val in zip(node.outputs, outs):
            if name:
                env[name] = np.asarray(val)
        if consumers_left is not None:
            for i in node.inputs:
                if i and i in consumers_left:
                    consumers_left[i] -= 1
                    if consumers_left[i] == 0 and i not in keep and not graph.tensors.get(i, _NOCONST).is_const:
                        env.pop(i, None)

    if keep_intermediates:
        return env
    return {o: env[o] for o in graph.outputs}


class _NoConst:
    is_const = False


_NOCONST = _NoConst()


def apply_activation(y, activation):
    """The fused activation a pass may attach to float Conv/Gemm/MatMul/Add (attr `activation`)."""
    if activation is None or activation == "none":
        return y
    if activation == "relu":
        return np.maximum(y, 0).astype(y.dtype, copy=False)
    if activation == "relu6":
        return np.clip(y, 0, 6).astype(y.dtype, copy=False)
    raise ValueError(f"unknown fused activation {activation!r}")


__all__ = ["reference", "get", "supported_ops", "run", "apply_activation", "UnsupportedModeError"]
