"""Hand OpenCL kernels for QAdd (same-shape operands), MaxPool on s8, QAvgPool and
QGlobalAvgPool, and their _ref twins: bit-exact against edgesdk.reference on PoCL,
through the same lowering a build uses (edgesdk.gpu.int8_lower)."""
import numpy as np
import pytest

from edgesdk.ir import Graph, Node, Tensor, infer_shapes
from edgesdk.reference import run as reference_run
from edgesdk.reference.quantized import qadd_params
from gpu_helpers import requires_opencl

pytestmark = [pytest.mark.opencl, requires_opencl]


def _graph(op, in_shapes, attrs, const_b=None, n_outputs=1):
    g = Graph(op)
    names = []
    for i, shape in enumerate(in_shapes):
        if i == 1 and const_b is not None:
            g.add_const("b", const_b, "s8")
        else:
            g.add_tensor(Tensor(f"x{i}", tuple(shape), "s8"))
            g.inputs.append(f"x{i}")
        names.append("b" if i == 1 and const_b is not None else f"x{i}")
    outs = ["y"] + [f"y{k}" for k in range(1, n_outputs)]
    for o in outs:
        g.add_tensor(Tensor(o, (), "s8"))
    g.add_node(Node("n", op, names, outs, attrs))
    g.outputs.append("y")
    infer_shapes(g)
    return g


def _run(g, variant, seed):
    """Lower the one node with int8_lower, run it (optimized or _ref twin), compare."""
    from edgesdk.gpu import int8_lower
    from edgesdk.gpu.hand_lower import hand_kernel_for, lower_hand
    from edgesdk.gpu.plan_runner import PlanRunner
    from edgesdk.paths import kernels_dir
    node = g.nodes[0]
    kernel = hand_kernel_for(g, node, "opencl", "s8")
    if node.op == "MaxPool":   # builds keep TVM for it (slower on PoCL); the kernel itself is tested
        assert kernel is None
        kernel = int8_lower.kernel_for(g, node, maxpool=True)
    assert kernel is not None, node.op
    h = lower_hand(g, node, kernel, "opencl")
    buffers = dict(h["buffers"])
    for name in list(g.inputs) + ["y"]:
        buffers[name] = {"shape": list(g.tensors[name].shape), "dtype": "int8"}
    for cname, arr in h["consts"].items():
        buffers[cname] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
    launches = [dict(k, kernel=k["kernel"] + variant) for k in h["launches"]]
    if variant and kernel == "ek_qadd_s8_ocl":   # the twin loops: fewer work-items than outputs
        launches[0]["global"] = [7]
    plan = {"api": "opencl", "inputs": list(g.inputs), "outputs": ["y"], "buffers": buffers,
            "layers": [{"launches": launches}]}
    progs = {k["program"]: (kernels_dir() / "opencl" / k["program"]).read_text() for k in launches}
    rng = np.random.default_rng(seed)
    feeds = {n: rng.integers(-128, 128, g.tensors[n].shape, dtype=np.int8) for n in g.inputs}
    got = PlanRunner(plan, progs, h["consts"]).run(feeds)["y"]
    want = reference_run(g, feeds)["y"]
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(want)) > 3   # outputs really spread: the test can tell kernels apart
    return kernel


def _qadd_attrs(seed, relu=False):
    rng = np.random.default_rng(seed)
    sa, sb, sy = rng.uniform(0.01, 0.1, 3)
    (am, ash), (bm, bsh), (m, s) = qadd_params(sa, sb, sy)
    return {"a_zp": int(rng.integers(-20, 20)), "b_zp": int(rng.integers(-20, 20)), "y_zp": -5,
            "a_multiplier": am, "a_shift": ash, "b_multiplier": bm, "b_shift": bsh, "multiplier": m, "shift": s,
            "act_min": -5 if relu else -128, "act_max": 127}


@pytest.mark.parametrize("variant", ["", "_ref"])
@pytest.mark.parametrize("shape,relu", [((2, 3, 4, 5), False), ((1, 16, 7, 7), True), ((3, 10), False)])
def test_qadd_bit_exact(shape, relu, variant):
    g = _graph("QAdd", (shape, shape), _qadd_attrs(len(shape), relu))
    assert _run(g, variant, seed=shape[0]) == "ek_qadd_s8_ocl"


def test_qadd_with_a_constant_operand():
    const = np.arange(-60, 60, 10, dtype=np.int8).reshape(1, 12)
    g = _graph("QAdd", ((1, 12), (1, 12)), _qadd_attrs(9), const_b=const)
    _run(g, "", seed=4)


@pytest.mark.parametrize("variant", ["", "_ref"])
@pytest.mark.parametrize("attrs,shape", [
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, (1, 4, 9, 9)),
    ({"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, (2, 3, 7, 7)),     # overhang never wins
    ({"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [2, 1, 2, 1]}, (1, 2, 8, 6)),
])
def test_maxpool_s8_bit_exact(attrs, shape, variant):
    g = _graph("MaxPool", (shape,), attrs)
    assert _run(g, variant, seed=shape[2]) == "ek_maxpool_s8_ocl"


def _pool_attrs(c, per_channel, window):
    from edgesdk.quant.fixedpoint import quantize_multiplier
    real = np.linspace(0.8, 1.3, c) / window if per_channel else 1.1 / window
    m, s = quantize_multiplier(real)
    return {"x_zp": 7, "y_zp": -3, "multiplier": m if per_channel else int(m[0]),
            "shift": s if per_channel else int(s[0]), "act_min": -128, "act_max": 127}


@pytest.mark.parametrize("variant", ["", "_ref"])
@pytest.mark.parametrize("op,shape,extra,per_channel", [
    ("QAvgPool", (1, 4, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, False),
    ("QAvgPool", (2, 3, 6, 8), {"kernel_shape": [2, 3], "strides": [2, 1], "pads": [0, 1, 1, 0]}, True),
    ("QGlobalAvgPool", (1, 8, 7, 7), {}, False),
    ("QGlobalAvgPool", (2, 5, 10), {}, True),         # 1-D map
])
def test_avgpools_bit_exact(op, shape, extra, per_channel, variant):
    window = int(np.prod(extra.get("kernel_shape", shape[2:])))
    g = _graph(op, (shape,), {**extra, **_pool_attrs(shape[1], per_channel, window)})
    assert _run(g, variant, seed=shape[1]) == "ek_avgpool_s8_ocl"


def test_uncovered_cases_stay_on_tvm():
    from edgesdk.gpu.hand_lower import hand_kernel_for
    from edgesdk.gpu.int8_lower import kernel_for
    g = _graph("MaxPool", ((1, 2, 6, 6),), {"kernel_shape": [2, 2], "strides": [2, 2]}, n_outputs=2)
    assert kernel_for(g, g.nodes[0], maxpool=True) is None                 # Indices wanted
    g = _graph("QAdd", ((1, 2, 3, 4), (1, 2, 3, 4)), _qadd_attrs(1))
    assert hand_kernel_for(g, g.nodes[0], "cuda", "s8") is None            # OpenCL only
    g = _graph("QAdd", ((1, 2, 3, 4), (1, 2, 1, 1)), _qadd_attrs(1))
    assert hand_kernel_for(g, g.nodes[0], "opencl", "s8") is None          # broadcasting: TVM
