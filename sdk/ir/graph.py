"""The Graph: tensors by name, nodes in topological order, graph inputs and outputs."""
import copy as _copy
from collections import defaultdict

import numpy as np

from .node import Node
from .tensor import Tensor


class Graph:
    def __init__(self, name="model"):
        self.name = name
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        # Free-form facts: source file, opset, producer, passes applied, ...
        self.meta: dict = {}

    # ---- construction -------------------------------------------------
    def add_tensor(self, tensor: Tensor) -> Tensor:
        if tensor.name in self.tensors:
            raise ValueError(f"tensor {tensor.name!r} already exists")
        self.tensors[tensor.name] = tensor
        return tensor

    def add_const(self, name, data, dtype=None, **kw) -> Tensor:
        from .dtypes import dtype_of
        data = np.asarray(data)
        dt = dtype or dtype_of(data)
        return self.add_tensor(Tensor(self.unique_name(name), tuple(data.shape), dt, data=data, **kw))

    def add_node(self, node: Node, index=None) -> Node:
        if any(n.name == node.name for n in self.nodes):
            node.name = self.unique_node_name(node.name)
        if index is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(index, node)
        return node

    def unique_name(self, base):
        if base not in self.tensors:
            return base
        i = 1
        while f"{base}_{i}" in self.tensors:
            i += 1
        return f"{base}_{i}"

    def unique_node_name(self, base):
        names = {n.name for n in self.nodes}
        if base not in names:
            return base
        i = 1
        while f"{base}_{i}" in names:
            i += 1
        return f"{base}_{i}"

    # ---- queries --------------------------------------------------------
    def tensor(self, name) -> Tensor:
        return self.tensors[name]

    def node(self, name) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def producers(self) -> dict:
        """tensor name -> node that writes it."""
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict:
        """tensor name -> list of nodes that read it."""
        out = defaultdict(list)
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    out[i].append(n)
        return out

    def const(self, name):
        """The constant array behind a tensor name, or None."""
        t = self.tensors.get(name)
        return None if t is None else t.data

    def initializers(self):
        return [t for t in self.tensors.values() if t.is_const]

    def op_counts(self) -> dict:
        counts = defaultdict(int)
        for n in self.nodes:
            counts[n.op] += 1
        return dict(counts)

    # ---- maintenance ----------------------------------------------------
    def toposort(self):
        """Reorder nodes topologically (stable); raises on a cycle, naming a node in it."""
        prod = self.producers()
        order, state = [], {}

        def visit(n):
            s = state.get(n.name)
            if s == 2:
                return
            if s == 1:
                raise ValueError(f"cycle through node {n.name}")
            state[n.name] = 1
            for i in n.inputs:
                p = prod.get(i)
                if p is not None:
                    visit(p)
            state[n.name] = 2
            order.append(n)

        for n in self.nodes:
            visit(n)
        self.nodes = order

    def remove_unused_tensors(self):
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(x for x in n.inputs if x)
            used.update(x for x in n.outputs if x)
        for name in list(self.tensors):
            if name not in used:
                del self.tensors[name]

    def replace_uses(self, old, new):
        """Make every reader of tensor `old` (and the graph outputs) read `new`."""
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def copy(self) -> "Graph":
        return _copy.deepcopy(self)

    def __repr__(self):
        return f"Graph({self.name}: {len(self.nodes)} nodes, {len(self.tensors)} tensors)"
