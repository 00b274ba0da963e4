"""Graph-to-graph passes and the registry that orders them.

A pass is `fn(graph) -> int`: it rewrites `graph` in place and returns how many
rewrites it made (0: nothing to do). Register one with

    @register_pass("my_pass", order=25, default=True)
    def my_pass(graph): ...

in any module of this package (every module is imported on first use, as for the op
registry). `order` places it in the default pipeline; `default=False` keeps it out of
the default pipeline but callable by name (`run_passes(g, ["my_pass"])`).

run_passes never touches the caller's graph: it works on a copy, re-infers shapes,
verifies the result after every pass (so a broken pass is named at once) and records
what ran in graph.meta["passes"].
"""
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

from ..errors import EdgeError


@dataclass
class PassDef:
    name: str
    fn: Callable
    order: int
    default: bool
    doc: str


_REGISTRY: dict = {}
_loaded = False


def register_pass(name, order=50, default=True):
    """Decorator: register `fn(graph) -> int` as pass `name` (see the module doc)."""
    def deco(fn):
        _REGISTRY[name] = PassDef(name, fn, order, default, (fn.__doc__ or "").strip().split("\n")[0])
        return fn
    return deco


def _load_all():
    global _loaded
    if not _loaded:
        _loaded = True
        for m in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{m.name}")


def known_passes() -> dict:
    """name -> PassDef for every registered pass."""
    _load_all()
    return dict(_REGISTRY)


def default_passes() -> list:
    """Names of the default pipeline, in order."""
    _load_all()
    return [p.name for p in sorted(_REGISTRY.values(), key=lambda p: (p.order, p.name)) if p.default]


def get_pass(name) -> PassDef:
    _load_all()
    p = _REGISTRY.get(name)
    if p is None:
        raise EdgeError(f"unknown pass {name!r}; known passes: {', '.join(sorted(_REGISTRY))}")
    return p


def run_passes(graph, names=None, verify=True):
    """Run the passes `names` (default: the default pipeline) on a copy of `graph`.

    Every pass runs to a fixed point: a fold can expose another fold of the same kind.
    Returns the new graph; graph.meta["passes"] lists [name, rewrites] for each pass.
    """
    from ..ir import infer_shapes, verify as verify_graph
    names = default_passes() if names is None else list(names)
    defs = [get_pass(n) for n in names]
    g = graph.copy()
    if verify:
        verify_graph(g)  # the input's own faults are the user's, not a pass's
    applied = list(g.meta.get("passes", []))
    for p in defs:
        total = 0
        for _ in range(32):  # a fixed point comes in one or two rounds; the cap stops a buggy pass
            n = p.fn(g)
            total += n
            if not n:
                break
        if total:
            try:
                infer_shapes(g)
                if verify:
                    verify_graph(g)
            except EdgeError as e:
                raise RuntimeError(f"pass {p.name} produced an invalid graph: {e}") from e
        applied.append([p.name, total])
    g.meta["passes"] = applied
    return g


__all__ = ["register_pass", "run_passes", "known_passes", "default_passes", "get_pass", "PassDef"]
