"""Nodes of the IR: one op application."""
from dataclasses import dataclass, field


@dataclass
class Node:
    """`inputs`/`outputs` are tensor names; "" marks an absent optional input."""

    name: str
    op: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)

    def attr(self, key, default=None):
        return self.attrs.get(key, default)

    def __repr__(self):
        return f"Node({self.name}: {self.op} {self.inputs} -> {self.outputs})"
