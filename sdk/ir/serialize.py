"""Save and load a Graph as one versioned file (.edg): a zip of graph.json + tensors.npz.

Writes are atomic (temporary file, then rename). A file from a newer format version
is refused with a clear message rather than misread.
"""
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..util.atomic import atomic_path
from .graph import Graph
from .node import Node
from .tensor import QuantParams, Tensor

FORMAT_VERSION = 1
MAGIC = "edgesdk-graph"


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return {"__nd__": v.tolist(), "dtype": str(v.dtype)}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def _unjson(v):
    if isinstance(v, dict) and "__nd__" in v:
        return np.array(v["__nd__"], dtype=v["dtype"])
    if isinstance(v, dict):
        return {k: _unjson(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unjson(x) for x in v]
    return v


def save(graph: Graph, path):
    arrays = {}
    tensors = []
    for i, t in enumerate(graph.tensors.values()):
        entry = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "layout": t.layout,
                 "tags": _jsonable(t.tags)}
        if t.quant is not None:
            entry["quant"] = t.quant.to_json()
        if t.data is not None:
            key = f"t{i}"
            arrays[key] = t.data
            entry["data"] = key
        tensors.append(entry)
    doc = {
        "magic": MAGIC, "version": FORMAT_VERSION, "name": graph.name,
        "inputs": graph.inputs, "outputs": graph.outputs, "meta": _jsonable(graph.meta),
        "tensors": tensors,
        "nodes": [{"name": n.name, "op": n.op, "inputs": n.inputs, "outputs": n.outputs,
                   "attrs": _jsonable(n.attrs)} for n in graph.nodes],
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("graph.json", json.dumps(doc))
            z.writestr("tensors.npz", buf.getvalue())
    return Path(path)


def load(path) -> Graph:
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as z:
            doc = json.loads(z.read("graph.json"))
            arrays = np.load(io.BytesIO(z.read("tensors.npz")))
            arrays = {k: arrays[k] for k in arrays.files}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise ModelError(f"{path}: not an edgesdk graph file ({e})") from None
    if doc.get("magic") != MAGIC:
        raise ModelError(f"{path}: not an edgesdk graph file")
    if doc.get("version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path}: graph format version {doc['version']} is newer than this edgesdk "
                         f"understands ({FORMAT_VERSION}); upgrade edgesdk")
    g = Graph(doc["name"])
    g.inputs, g.outputs, g.meta = doc["inputs"], doc["outputs"], _unjson(doc.get("meta", {}))
    for e in doc["tensors"]:
        data = arrays[e["data"]] if "data" in e else None
        q = QuantParams.from_json(e["quant"]) if "quant" in e else None
        g.tensors[e["name"]] = Tensor(e["name"], tuple(e["shape"]), e["dtype"], e.get("layout", ""),
                                      data=data, quant=q, tags=_unjson(e.get("tags", {})))
    for e in doc["nodes"]:
        g.nodes.append(Node(e["name"], e["op"], e["inputs"], e["outputs"], _unjson(e["attrs"])))
    return g
