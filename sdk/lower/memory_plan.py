"""Static activation memory plan: one arena, an offset for every activation tensor.

The plan is what an MCU build uses instead of malloc: generated code places each
activation tensor at `arena + offsets[name]`. Constants (weights) are not planned;
they live in flash.

How it works:
1. Liveness over node order. A tensor is live from the node that writes it to the
   last node that reads it (graph inputs from the start, graph outputs to the end;
   a tensor nobody reads is live just while its producer runs).
2. In-place: a node whose op computes element by element (or only relabels the
   shape) may write its output into one input's slot when that input dies at this
   node and the output is no larger. Such tensors form one "buffer".
3. Greedy placement by size: buffers, largest first, each at the lowest aligned
   offset that overlaps no already placed buffer whose lifetime intersects its own.
   Several orderings are tried (size, then lifetime length, then area) and the
   smallest arena wins.
4. A second strategy for chains, where size order is weak (a conv chain wants its
   tensors to ping-pong between the two ends of the arena): buffers in the order they
   are born, each put at the bottom or the top of a free gap under a cap (the lower
   bound), whichever leaves the largest free block for the buffers born next. The
   smaller of the two arenas wins; both are checked to be overlap-free by the tests.

lower_bound is the most bytes (unaligned) that buffers need at the same time: no
placement of those buffers can use less, so arena / lower_bound measures the
packing waste.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import GraphError

# Ops whose output may take the slot of an input that dies at the node. Element-wise
# ops read element i before writing element i, so the overlap is harmless; the shape
# ops (Reshape, Flatten, ...) do not move bytes at all.
ELEMENTWISE_UNARY_OPS = (
    "Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Identity",
    "Neg", "Abs", "Exp", "Sqrt", "Erf", "Gelu", "Elu", "Selu", "Softplus", "Mish",
    "QRelu", "QClip", "QSigmoid", "QTanh", "QHardSwish", "QLeakyRelu",
)
ELEMENTWISE_BINARY_OPS = ("Add", "Sub", "Mul", "Div", "Max", "Min", "QAdd", "QMul")
RESHAPE_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")
DEFAULT_INPLACE_OPS = ELEMENTWISE_UNARY_OPS + ELEMENTWISE_BINARY_OPS + RESHAPE_OPS


@dataclass
class Lifetime:
    first: int  # index of the node that writes it (-1: a graph input)
    last: int   # index of the last node that reads it (len(nodes): a graph output)

    def overlaps(self, other):
        return self.first <= other.last and other.first <= self.last


@dataclass
class MemoryPlan:
    offsets: dict            # tensor name -> byte offset in the arena
    arena_bytes: int         # arena size (a multiple of `align`)
    lower_bound: int         # most bytes live at once
    lifetimes: dict          # tensor name -> Lifetime
    sizes: dict = field(default_factory=dict)          # tensor name -> bytes
    aliases: dict = field(default_factory=dict)        # tensor -> tensor whose slot it reuses
    scratch_offsets: dict = field(default_factory=dict)  # node name -> offset of its scratch
    scratch_sizes: dict = field(default_factory=dict)    # node name -> scratch bytes
    align: int = 16

    @property
    def efficiency(self):
        """lower_bound / arena_bytes: 1.0 is a perfect packing."""
        return self.lower_bound / self.arena_bytes if self.arena_bytes else 1.0

    def to_json(self):
        return {"arena_bytes": self.arena_bytes, "lower_bound": self.lower_bound, "align": self.align,
                "tensors": {n: {"offset": o, "bytes": self.sizes.get(n, 0),
                                "first": self.lifetimes[n].first, "last": self.lifetimes[n].last,
                                **({"alias_of": self.aliases[n]} if n in self.aliases else {})}
                            for n, o in self.offsets.items()},
                "scratch": {n: {"offset": o, "bytes": self.scratch_sizes[n]}
                            for n, o in self.scratch_offsets.items()}}


def _default_size(tensor):
    return tensor.nbytes


def _round_up(x, a):
    return (x + a - 1) // a * a


def compute_lifetimes(graph):
    """tensor name -> Lifetime, for every non-constant tensor the graph reads or writes."""
    end = len(graph.nodes)
    life = {}

    def is_act(name):
        t = graph.tensors.get(name)
        return bool(name) and (t is None or not t.is_const)

    for name in graph.inputs:
        if is_act(name):
            life[name] = Lifetime(-1, -1)
    for i, node in enumerate(graph.nodes):
        for name in node.inputs:
            if not is_act(name):
                continue
            if name not in life:
                raise GraphError(f"memory plan: node {node.name} ({node.op}) reads {name!r} before "
                                 f"any node writes it")
            life[name].last = max(life[name].last, i)
        for name in node.outputs:
            if is_act(name):
                if name in life:
                    raise GraphError(f"memory plan: tensor {name!r} is written twice "
                                     f"(again by node {node.name})")
                life[name] = Lifetime(i, i)
    for name in graph.outputs:
        if name in life:
            life[name].last = end
    return life


def _inplace_aliases(graph, life, sizes, inplace_ops):
    """output -> input whose slot it takes, for the legal in-place nodes."""
    aliases = {}
    outputs = set(graph.outputs)
    for i, node in enumerate(graph.nodes):
        if node.op not in inplace_ops:
            continue
        outs = [o for o in node.outputs if o]
        if len(outs) != 1 or outs[0] not in life:
            continue
        out = outs[0]
        out_t = graph.tensors.get(out)
        for name in node.inputs:
            if name not in life or name in outputs or life[name].last != i:
                continue
            # Same element count: element-wise with no broadcasting into a bigger output.
            in_t = graph.tensors.get(name)
            if in_t is None or out_t is None or _numel(in_t) != _numel(out_t):
                continue
            if sizes[out] > sizes[name]:
                continue
            aliases[out] = name
            break
    return aliases


def _numel(t):
    try:
        return t.numel
    except ValueError:
        return None


def plan_memory(graph, size_of: Callable = _default_size, align: int = 16,
                inplace_ops=DEFAULT_INPLACE_OPS, scratch_of: Optional[Callable] = None,
                strategy: str = "best") -> MemoryPlan:
    """Plan the activation arena of `graph` (nodes must be in topological order).

    size_of(tensor) -> bytes on the device (default: Tensor.nbytes, packed for s4/b1).
    inplace_ops: op names allowed to write their output over a dying input (() disables it).
    scratch_of(node) -> bytes of scratch the node's kernel needs while it runs (or 0);
    scratch is planned like a tensor that lives only during that node.
    strategy: "best" (the smaller arena of the two below), "size" (greedy by size) or
    "two_sided" (birth order, gap ends); the last two exist for tests and comparisons.
    """
    if align < 1:
        raise ValueError("align must be >= 1")
    if strategy not in ("best", "size", "two_sided"):
        raise ValueError(f"unknown strategy {strategy!r}")
    life = compute_lifetimes(graph)
    sizes = {}
    for name in life:
        t = graph.tensors.get(name)
        if t is None:
            raise GraphError(f"memory plan: tensor {name!r} has no declaration (run shape inference)")
        if not t.is_static:
            raise GraphError(f"memory plan: tensor {name!r} has a dynamic shape {t.shape}")
        sizes[name] = int(size_of(t))
        if sizes[name] < 0:
            raise ValueError(f"size_of({name!r}) returned {sizes[name]}")
    aliases = _inplace_aliases(graph, life, sizes, tuple(inplace_ops or ()))

    # Buffers: each alias chain shares one slot, big enough for its largest member and
    # live for the union of the members' lifetimes (contiguous: each member is born
    # exactly where the one before it dies).
    def root(n):
        while n in aliases:
            n = aliases[n]
        return n

    buf_size, buf_life, members = {}, {}, {}
    for name in life:
        r = root(name)
        members.setdefault(r, []).append(name)
        buf_size[r] = max(buf_size.get(r, 0), sizes[name])
        lt = buf_life.get(r)
        buf_life[r] = Lifetime(life[name].first, life[name].last) if lt is None else \
            Lifetime(min(lt.first, life[name].first), max(lt.last, life[name].last))

    scratch_sizes = {}
    if scratch_of is not None:
        for i, node in enumerate(graph.nodes):
            s = int(scratch_of(node) or 0)
            if s > 0:
                key = ("scratch", node.name)
                scratch_sizes[node.name] = s
                buf_size[key] = s
                buf_life[key] = Lifetime(i, i)

    lower = _lower_bound(buf_size, buf_life, len(graph.nodes))
    candidates = []
    if strategy in ("best", "size"):
        candidates += [_place(order, buf_size, buf_life, align) for order in _orderings(buf_size, buf_life)]
    if strategy in ("best", "two_sided"):
        candidates.append(_place_two_sided(buf_size, buf_life, align, _round_up(lower, align)))
    best = None
    for placed in candidates:
        arena = max((_round_up(placed[b] + buf_size[b], align) for b in placed), default=0)
        if best is None or arena < best[0]:
            best = (arena, placed)
    arena, placed = best

    offsets = {}
    for r, names in members.items():
        for n in names:
            offsets[n] = placed[r]
    scratch_offsets = {k[1]: placed[k] for k in placed if isinstance(k, tuple)}
    return MemoryPlan(offsets=offsets, arena_bytes=arena, lower_bound=lower, lifetimes=life,
                      sizes=sizes, aliases=aliases, scratch_offsets=scratch_offsets,
                      scratch_sizes=scratch_sizes, align=align)


def _lower_bound(buf_size, buf_life, n_nodes):
    # Lifetimes are integer intervals over steps -1 .. n_nodes: sweep them.
    delta = [0] * (n_nodes + 3)
    for b, lt in buf_life.items():
        delta[lt.first + 1] += buf_size[b]
        delta[lt.last + 2] -= buf_size[b]
    best = cur = 0
    for d in delta:
        cur += d
        best = max(best, cur)
    return best


def _orderings(buf_size, buf_life):
    keys = list(buf_size)
    by_size = sorted(keys, key=lambda b: (-buf_size[b], buf_life[b].first, str(b)))
    by_span = sorted(keys, key=lambda b: (-(buf_life[b].last - buf_life[b].first), -buf_size[b],
                                          buf_life[b].first, str(b)))
    by_area = sorted(keys, key=lambda b: (-buf_size[b] * (buf_life[b].last - buf_life[b].first + 1),
                                          buf_life[b].first, str(b)))
    return [by_size, by_span, by_area]


def _place(order, buf_size, buf_life, align):
    """Greedy: each buffer at the lowest aligned offset clear of every live placed one."""
    placed = {}
    for b in order:
        size = buf_size[b]
        lt = buf_life[b]
        busy = sorted((placed[o], placed[o] + buf_size[o]) for o in placed
                      if buf_life[o].overlaps(lt) and buf_size[o] > 0)
        off = 0
        for start, stop in busy:
            if size == 0 or off + size <= start:
                break
            off = max(off, _round_up(stop, align))
        placed[b] = off
    return placed


def _busy(placed, buf_size, buf_life, lt):
    return sorted((placed[o], placed[o] + buf_size[o]) for o in placed
                  if buf_life[o].overlaps(lt) and buf_size[o] > 0)


def _largest_hole(intervals, cap):
    """Largest free stretch of [0, cap) around `intervals` (sorted (start, stop))."""
    best, pos = 0, 0
    for start, stop in intervals:
        best = max(best, start - pos)
        pos = max(pos, stop)
    return max(best, cap - pos)


def _place_two_sided(buf_size, buf_life, align, cap):
    """Birth order; each buffer at the bottom or top of a free gap below `cap`, picking the
    spot that leaves the largest free block among the buffers still live just after its
    birth. Falls back to the lowest free offset above everything when nothing fits."""
    order = sorted(buf_size, key=lambda b: (buf_life[b].first, -buf_size[b], str(b)))
    placed = {}
    for b in order:
        size, lt = buf_size[b], buf_life[b]
        busy = _busy(placed, buf_size, buf_life, lt)
        candidates = []
        pos = 0
        for start, stop in busy + [(cap, cap)]:
            lo = _round_up(pos, align)
            hi = (start - size) // align * align
            if start > pos and lo <= hi and hi + size <= cap:
                candidates += [lo] if lo == hi else [lo, hi]
            pos = max(pos, stop)
        if not candidates or size == 0:
            off = 0
            for start, stop in busy:
                if size == 0 or off + size <= start:
                    break
                off = max(off, _round_up(stop, align))
            placed[b] = off
            cap = max(cap, _round_up(off + size, align))
            continue
        # Score each spot by the free space it leaves for the buffers born next: those
        # live at step first+1 (or at `first` for a buffer that dies where it is born).
        t = lt.first + 1 if lt.last > lt.first else lt.first
        at_t = Lifetime(t, t)
        others = [(placed[o], placed[o] + buf_size[o]) for o in placed
                  if buf_life[o].overlaps(at_t) and buf_size[o] > 0]
        best_off, best_score = None, None
        for off in candidates:
            score = _largest_hole(sorted(others + [(off, off + size)]), cap)
            if best_score is None or score > best_score:
                best_off, best_score = off, score
        placed[b] = best_off
    return placed
