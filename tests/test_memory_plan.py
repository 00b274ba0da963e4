"""Memory planner: property tests on random DAGs, plus hand-derived exact plans.

The oracle for the random DAGs is a simulated device: every node's result is written
into a numpy arena at the planned offsets, and every later read must still find the
value that a plain dict-of-arrays execution computes. A plan that lets a live tensor
be clobbered fails here, whatever the planner believes about itself.
"""
import random

import numpy as np
import pytest

from edgesdk.errors import GraphError
from edgesdk.ir import Graph, Node, Tensor
from edgesdk.lower.memory_plan import DEFAULT_INPLACE_OPS, plan_memory

F32 = 4


def _size(t):
    return t.numel * F32


def random_dag(rng, n_nodes):
    """A random DAG of 1-D f32 tensors mixing element-wise, reshape and 'mixing' ops."""
    g = Graph("rand")
    avail = []
    for k in range(rng.randint(1, 2)):
        name = f"in{k}"
        g.add_tensor(Tensor(name, (rng.randint(1, 64),)))
        g.inputs.append(name)
        avail.append(name)
    g.add_const("w", np.ones(3, np.float32))
    for i in range(n_nodes):
        kind = rng.choice(["Mix", "Mix", "Relu", "Add", "Reshape"])
        out = f"t{i}"
        a = rng.choice(avail[-6:]) if rng.random() < 0.8 else rng.choice(avail)
        numel = g.tensors[a].numel
        if kind == "Relu":
            ins, shape = [a], (numel,)
        elif kind == "Reshape":
            ins, shape = [a], ((1, numel) if len(g.tensors[a].shape) == 1 else (numel,))
        elif kind == "Add":
            same = [t for t in avail if g.tensors[t].numel == numel and t != a]
            b = rng.choice(same) if same else a
            ins, shape = [a, b], g.tensors[a].shape
        else:
            k = rng.randint(1, 3)
            ins = list({rng.choice(avail) for _ in range(k)}) + ["w"]
            shape = (rng.randint(1, 96),)
        g.add_tensor(Tensor(out, shape))
        g.add_node(Node(f"n{i}", kind, ins, [out]))
        avail.append(out)
    readers = {i for n in g.nodes for i in n.inputs}
    sinks = [t for t in avail if t not in readers and t not in g.inputs]
    g.outputs = sorted(set(sinks[: rng.randint(1, max(1, len(sinks))) or 1] + [avail[-1]]))
    return g


def _compute(node, vals, numel_out):
    if node.op == "Relu":
        return np.maximum(vals[0], 0)
    if node.op == "Reshape":
        return vals[0].copy()
    if node.op == "Add":
        return vals[0] + vals[1]
    s = sum(float(v.sum()) for v in vals)
    return (np.arange(numel_out, dtype=np.float32) * 0.37 + s * 0.01).astype(np.float32)


def simulate(g, plan, feeds):
    """Run the graph twice: on a dict of arrays, and through an arena laid out by `plan`."""
    env = dict(feeds)
    arena = np.full(plan.arena_bytes // F32 + 1, np.nan, np.float32)

    def slot(name):
        off = plan.offsets[name]
        assert off % F32 == 0
        return slice(off // F32, off // F32 + g.tensors[name].numel)

    for name, v in feeds.items():
        arena[slot(name)] = v
    for node in g.nodes:
        n_out = g.tensors[node.outputs[0]].numel
        direct = _compute(node, [env[i] if i in env else g.tensors[i].data for i in node.inputs], n_out)
        via_arena = _compute(node, [arena[slot(i)].copy() if not g.tensors[i].is_const else g.tensors[i].data
                                    for i in node.inputs], n_out)
        np.testing.assert_array_equal(via_arena, direct, err_msg=f"node {node.name} read a clobbered input")
        env[node.outputs[0]] = direct
        arena[slot(node.outputs[0])] = via_arena
    for o in g.outputs:
        np.testing.assert_array_equal(arena[slot(o)], env[o], err_msg=f"output {o} clobbered")


def check_invariants(g, plan, align):
    names = list(plan.offsets)
    assert set(names) == {t for t in g.tensors if not g.tensors[t].is_const
                          and (t in g.inputs or any(t in n.outputs for n in g.nodes))}
    for n in names:
        assert plan.offsets[n] % align == 0, n
        assert plan.offsets[n] + plan.sizes[n] <= plan.arena_bytes, n
    assert plan.arena_bytes % align == 0
    assert plan.arena_bytes >= plan.lower_bound
    prod = {o: i for i, node in enumerate(g.nodes) for o in node.outputs}
    for a_i, a in enumerate(names):
        for b in names[a_i + 1:]:
            la, lb = plan.lifetimes[a], plan.lifetimes[b]
            if not la.overlaps(lb) or plan.sizes[a] == 0 or plan.sizes[b] == 0:
                continue
            oa, ob = plan.offsets[a], plan.offsets[b]
            if oa < ob + plan.sizes[b] and ob < oa + plan.sizes[a]:
                # Only a legal in-place pair may share bytes while both are live.
                out, inp = (a, b) if plan.aliases.get(a) == b else (b, a)
                assert plan.aliases.get(out) == inp, f"{a} and {b} overlap while both live"
                node = g.nodes[prod[out]]
                assert node.op in DEFAULT_INPLACE_OPS and inp in node.inputs
                assert plan.lifetimes[inp].last == prod[out] and oa == ob


@pytest.mark.parametrize("strategy", ["best", "size", "two_sided"])
@pytest.mark.parametrize("seed", range(30))
def test_random_dags_never_clobber_live_tensors(seed, strategy):
    rng = random.Random(seed)
    g = random_dag(rng, rng.randint(2, 40))
    align = rng.choice([4, 8, 16, 64])
    plan = plan_memory(g, size_of=_size, align=align, strategy=strategy)
    check_invariants(g, plan, align)
    feeds = {name: np.random.default_rng(seed).standard_normal(g.tensors[name].numel).astype(np.float32)
             for name in g.inputs}
    simulate(g, plan, feeds)


@pytest.mark.parametrize("seed", range(10))
def test_random_dags_without_inplace(seed):
    rng = random.Random(1000 + seed)
    g = random_dag(rng, 30)
    plan = plan_memory(g, size_of=_size, align=16, inplace_ops=())
    assert plan.aliases == {}
    check_invariants(g, plan, 16)
    simulate(g, plan, {n: np.ones(g.tensors[n].numel, np.float32) for n in g.inputs})


def _chain(ops_sizes):
    """in -> op0 -> t0 -> op1 -> t1 ... with 1-D f32 tensors of the given element counts."""
    g = Graph("chain")
    g.add_tensor(Tensor("x", (ops_sizes[0][1],)))
    g.inputs = ["x"]
    prev = "x"
    for i, (op, numel) in enumerate(ops_sizes[1:]):
        g.add_tensor(Tensor(f"t{i}", (numel,)))
        g.add_node(Node(f"n{i}", op, [prev], [f"t{i}"]))
        prev = f"t{i}"
    g.outputs = [prev]
    return g


def test_best_is_never_worse_than_either_strategy():
    for seed in range(20):
        g = random_dag(random.Random(500 + seed), 30)
        best = plan_memory(g, size_of=_size).arena_bytes
        assert best <= plan_memory(g, size_of=_size, strategy="size").arena_bytes
        assert best <= plan_memory(g, size_of=_size, strategy="two_sided").arena_bytes


def test_conv_chain_reaches_the_lower_bound_where_size_order_does_not():
    # MobileNet's opening: 27648 -> 18432 -> 18432 -> 36864 -> 9216 elements. Largest first
    # puts the 36864 at 0 and strands the two 18432s (64512); ping-pong fits the bound 55296.
    g = _chain([(None, 27648), ("Conv", 18432), ("Conv", 18432), ("Conv", 36864), ("Conv", 9216)])
    one = lambda t: t.numel  # noqa: E731  (int8)
    assert plan_memory(g, size_of=one, strategy="size").arena_bytes == 64512
    plan = plan_memory(g, size_of=one)
    assert plan.lower_bound == 55296 and plan.arena_bytes == 55296


def test_chain_ping_pongs_two_slots_exactly():
    # x(100) -> Conv -> t0(50) -> Conv -> t1(100) -> Conv -> t2(50): at most two live at once,
    # the biggest pair is 100+50 elements, so the arena is exactly 150 floats = 600 bytes.
    g = _chain([(None, 100), ("Conv", 50), ("Conv", 100), ("Conv", 50)])
    plan = plan_memory(g, size_of=_size, align=4)
    assert plan.lower_bound == 600
    assert plan.arena_bytes == 600
    assert plan.lifetimes["x"].first == -1 and plan.lifetimes["t2"].last == 3


def test_relu_and_reshape_work_in_place():
    g = _chain([(None, 64), ("Conv", 64), ("Relu", 64), ("Reshape", 64), ("Conv", 10)])
    plan = plan_memory(g, size_of=_size, align=16)
    assert plan.aliases == {"t1": "t0", "t2": "t1"}
    assert plan.offsets["t0"] == plan.offsets["t1"] == plan.offsets["t2"]
    assert plan.arena_bytes == 512  # x and t0 both live while the first Conv runs
    # Without in-place the tail still fits in two 256-byte slots that alternate, but it takes
    # five buffers instead of three.
    no_inplace = plan_memory(g, size_of=_size, align=16, inplace_ops=())
    assert no_inplace.aliases == {}
    assert no_inplace.arena_bytes == 512
    assert len(set(no_inplace.offsets.values())) == 2


def test_no_inplace_when_input_is_still_read_later():
    g = Graph("branch")
    g.add_tensor(Tensor("x", (8,)))
    g.inputs = ["x"]
    for n in ("a", "r", "y"):
        g.add_tensor(Tensor(n, (8,)))
    g.add_node(Node("conv", "Conv", ["x"], ["a"]))
    g.add_node(Node("relu", "Relu", ["a"], ["r"]))   # `a` is read again by the Add below
    g.add_node(Node("add", "Add", ["a", "r"], ["y"]))
    g.outputs = ["y"]
    plan = plan_memory(g, size_of=_size, align=4)
    assert "r" not in plan.aliases
    assert plan.aliases.get("y") in ("a", "r")
    assert plan.offsets["r"] != plan.offsets["a"]


def test_graph_output_is_never_overwritten_in_place():
    g = _chain([(None, 16), ("Conv", 16), ("Relu", 16)])
    g.outputs = ["t0", "t1"]
    plan = plan_memory(g, size_of=_size, align=4)
    assert plan.aliases == {}
    assert plan.offsets["t0"] != plan.offsets["t1"]


def test_scratch_is_planned_for_its_node_only():
    g = _chain([(None, 16), ("Conv", 16), ("Conv", 16)])
    plan = plan_memory(g, size_of=_size, align=4, scratch_of=lambda n: 32 if n.name == "n0" else 0)
    assert plan.scratch_sizes == {"n0": 32}
    # At n0: x(64) + t0(64) + scratch(32) live; at n1: t0 + t1.
    assert plan.lower_bound == 160 and plan.arena_bytes == 160
    s = plan.scratch_offsets["n0"]
    for t in ("x", "t0"):
        assert s + 32 <= plan.offsets[t] or plan.offsets[t] + 64 <= s


def test_int8_and_packed_sizes_use_tensor_nbytes():
    g = Graph("q")
    g.add_tensor(Tensor("x", (1, 3, 5, 5), "s8"))
    g.add_tensor(Tensor("y", (1, 3, 5, 5), "s4"))
    g.add_tensor(Tensor("z", (1, 10), "b1"))
    g.inputs, g.outputs = ["x"], ["z"]
    g.add_node(Node("a", "QConv", ["x"], ["y"]))
    g.add_node(Node("b", "QGemm", ["y"], ["z"]))
    plan = plan_memory(g, align=1)
    assert plan.sizes == {"x": 75, "y": 38, "z": 2}
    assert plan.lower_bound == 113 and plan.arena_bytes == 113


def test_dynamic_shape_and_bad_order_are_clear_errors():
    g = _chain([(None, 4), ("Conv", 4)])
    g.tensors["t0"].shape = ("N", 4)
    with pytest.raises(GraphError, match="t0.*dynamic"):
        plan_memory(g)
    g = _chain([(None, 4), ("Conv", 4), ("Conv", 4)])
    g.nodes.reverse()
    with pytest.raises(GraphError, match="n1.*t0"):
        plan_memory(g)
