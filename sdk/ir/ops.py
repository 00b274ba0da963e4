"""The op registry: for each op, its attribute defaults and its shape/dtype function.

Reference (numpy) implementations live in edgesdk.reference and register there; the
IR only knows what an op looks like, not what it computes.

A shape function takes (node, input_tensors) and returns a list of (shape, dtype)
for the node's outputs. `input_tensors` holds None for absent optional inputs.
"""
from dataclasses import dataclass, field
from typing import Callable

_REGISTRY: dict = {}


@dataclass
class OpDef:
    name: str
    infer: Callable
    defaults: dict = field(default_factory=dict)
    doc: str = ""


def register_op(name, defaults=None, doc=""):
    def deco(fn):
        _REGISTRY[name] = OpDef(name, fn, dict(defaults or {}), doc or (fn.__doc__ or "").strip())
        return fn
    return deco


def op_def(name) -> OpDef:
    _load_builtin()
    return _REGISTRY.get(name)


def known_ops():
    _load_builtin()
    return sorted(_REGISTRY)


_loaded = False


def _load_builtin():
    # Op definitions live in edgesdk.ir.opdefs.*; importing the package registers them.
    global _loaded
    if not _loaded:
        _loaded = True
        from . import opdefs  # noqa: F401
