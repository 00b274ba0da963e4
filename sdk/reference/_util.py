"""Helpers shared by the float reference modules (no ops registered here)."""
from ..errors import UnsupportedModeError


def attr_str(node, key, default):
    v = node.attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


def unsupported(node, what):
    raise UnsupportedModeError(f"node {node.name} ({node.op}): {what} is not supported")
