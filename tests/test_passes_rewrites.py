"""Graph passes on hand-built graphs: op counts before/after, and unchanged outputs.

Oracles: onnxruntime runs the graph BEFORE the passes (exported with onnx.helper;
IR ops are ONNX ops with ONNX attributes) and, with every fused `activation` attr
spelled out again as a Relu/Clip node, AFTER them; the numpy reference runs both too.
"""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesdk import reference
from edgesdk.errors import EdgeError
from edgesdk.ir import Graph, Node, Tensor, infer_shapes, verify
from edgesdk.passes import default_passes, known_passes, register_pass, run_passes

RNG = np.random.default_rng(0)


def rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(np.float32)


# ---- IR -> ONNX, the oracle's way in ------------------------------------------------
_ONNX_DT = {"f32": TensorProto.FLOAT, "s64": TensorProto.INT64, "s32": TensorProto.INT32, "s8": TensorProto.INT8}


def to_onnx(g: Graph):
    nodes, inits = [], []
    for t in g.tensors.values():
        if t.is_const and t.name not in g.inputs:
            inits.append(numpy_helper.from_array(t.data, t.name))
    for n in g.nodes:
        attrs = {k: v for k, v in n.attrs.items() if k != "activation"}
        act = n.attrs.get("activation", "none")
        outs = list(n.outputs)
        if act != "none":
            outs = [outs[0] + "__preact"]
        nodes.append(helper.make_node(n.op, n.inputs, outs, name=n.name, **attrs))
        if act == "relu":
            nodes.append(helper.make_node("Relu", outs, n.outputs[:1]))
        elif act == "relu6":
            lo, hi = f"{n.name}__lo", f"{n.name}__hi"
            inits += [numpy_helper.from_array(np.array(0, np.float32), lo),
                      numpy_helper.from_array(np.array(6, np.float32), hi)]
            nodes.append(helper.make_node("Clip", [outs[0], lo, hi], n.outputs[:1]))

    def vi(name):
        t = g.tensors[name]
        return helper.make_tensor_value_info(name, _ONNX_DT[t.dtype], list(t.shape))

    model = helper.make_model(
        helper.make_graph(nodes, g.name, [vi(i) for i in g.inputs], [vi(o) for o in g.outputs], inits),
        opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def run_ort(g, feeds):
    # Optimizations off: ORT rewrites DequantizeLinear(weight) + MatMul into a dynamically
    # quantized MatMul that is ~1e-3 off the ONNX semantics; the oracle must be exact.
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), so, providers=["CPUExecutionProvider"])
    return dict(zip(g.outputs, sess.run(g.outputs, feeds)))


def assert_same_outputs(before, after, feeds, rtol=1e-5, atol=1e-5):
    """ORT(before) == ORT(after) == reference(before) == reference(after), output by output."""
    ort_before = run_ort(before, feeds)
    ort_after = run_ort(after, feeds)
    ref_before = reference.run(before, feeds)
    ref_after = reference.run(after, feeds)
    assert list(after.outputs) == list(before.outputs)
    for o in before.outputs:
        for what, got in (("ort after", ort_after[o]), ("reference before", ref_before[o]),
                          ("reference after", ref_after[o])):
            np.testing.assert_allclose(got, ort_before[o], rtol=rtol, atol=atol, err_msg=f"{o}: {what}")


# ---- graph builders -----------------------------------------------------------------
class Builder:
    def __init__(self, name):
        self.g = Graph(name)
        self.k = 0

    def input(self, name, shape):
        self.g.add_tensor(Tensor(name, shape))
        self.g.inputs.append(name)
        return name

    def const(self, base, arr):
        return self.g.add_const(base, arr).name

    def node(self, op, inputs, n_out=1, **attrs):
        self.k += 1
        outs = [f"{op.lower()}{self.k}_out{j}" if n_out > 1 else f"{op.lower()}{self.k}" for j in range(n_out)]
        self.g.add_node(Node(f"{op.lower()}{self.k}", op, list(inputs), outs, attrs))
        return outs[0] if n_out == 1 else outs

    def bn(self, x, c):
        return self.node("BatchNormalization", [x, self.const("gamma", rand(c, lo=0.5, hi=1.5)),
                                                self.const("beta", rand(c)), self.const("mean", rand(c)),
                                                self.const("var", rand(c, lo=0.2, hi=2.0))], epsilon=1e-3)

    def done(self, *outputs):
        self.g.outputs = list(outputs)
        infer_shapes(self.g)
        verify(self.g)
        return self.g


def conv_graph():
    """Conv+BN+Relu, Conv(no bias)+BN+ReLU6, a depthwise Conv+BN, a Conv read twice (no fold),
    and a dead branch."""
    b = Builder("convs")
    x = b.input("x", (2, 3, 9, 9))
    y = b.node("Conv", [x, b.const("w1", rand(8, 3, 3, 3)), b.const("b1", rand(8))], pads=[1, 1, 1, 1])
    y = b.node("Relu", [b.bn(y, 8)])
    y = b.node("Conv", [y, b.const("w2", rand(8, 8, 1, 1))], strides=[2, 2])
    y = b.bn(y, 8)
    lo, hi = b.const("lo", np.array(0, np.float32)), b.const("hi", np.array(6, np.float32))
    y = b.node("Clip", [y, lo, hi])
    dw = b.node("Conv", [y, b.const("wdw", rand(8, 1, 3, 3)), b.const("bdw", rand(8))], group=8,
                pads=[1, 1, 1, 1])
    y = b.node("Relu", [b.bn(dw, 8)])
    shared = b.node("Conv", [y, b.const("w4", rand(4, 8, 1, 1)), b.const("b4", rand(4))])
    z = b.bn(shared, 4)                      # `shared` is also read by the Add: BN must stay
    out = b.node("Add", [z, shared])
    b.node("Sigmoid", [y])                   # dead: nobody reads it
    return b.done(out)


def linear_graph():
    """Gemm(transB, alpha, beta)+BN+Relu; MatMul+Add+BN; bare MatMul+BN; Add+ReLU6."""
    b = Builder("linear")
    x = b.input("x", (4, 10))
    y = b.node("Gemm", [x, b.const("wg", rand(6, 10)), b.const("cg", rand(6))], transB=1, alpha=0.5, beta=2.0)
    y = b.node("Relu", [b.bn(y, 6)])
    y = b.node("MatMul", [y, b.const("wm", rand(6, 5))])
    y = b.node("Add", [b.const("bm", rand(5)), y])
    y = b.bn(y, 5)
    y = b.node("MatMul", [y, b.const("wm2", rand(5, 3))])
    y = b.bn(y, 3)
    y = b.node("Add", [y, b.const("bias", rand(3))])
    lo, hi = b.const("lo", np.array(0, np.float32)), b.const("hi", np.array(6, np.float32))
    y = b.node("Clip", [y, lo, hi])
    return b.done(y)


def const_graph():
    """Weights and bias computed from constants (Transpose, Mul, Neg of a Sub)."""
    b = Builder("consts")
    x = b.input("x", (2, 12))
    w = b.node("Transpose", [b.const("w_t", rand(4, 12))], perm=[1, 0])
    w = b.node("Mul", [w, b.const("two", np.array(2.0, np.float32))])
    y = b.node("MatMul", [x, w])
    bias = b.node("Neg", [b.node("Sub", [b.const("ba", rand(4)), b.const("bb", rand(4))])])
    y = b.node("Add", [y, bias])
    y = b.node("Relu", [y])
    return b.done(y)


# ---- the passes one by one -----------------------------------------------------------
def test_registry_lists_the_default_pipeline_in_order():
    names = default_passes()
    for p in ("fold_constants", "fold_batchnorm", "fold_bias_add", "fuse_activation", "remove_dead"):
        assert p in known_passes() and p in names
    assert names.index("fold_constants") < names.index("fold_batchnorm") < names.index("fold_bias_add") \
        < names.index("fuse_activation") < names.index("remove_dead")


def test_fold_batchnorm_conv():
    g = conv_graph()
    x = {"x": rand(2, 3, 9, 9)}
    after = run_passes(g, ["fold_batchnorm"])
    assert g.op_counts()["BatchNormalization"] == 4
    assert after.op_counts().get("BatchNormalization", 0) == 1   # the one after the shared conv stays
    assert after.op_counts()["Conv"] == g.op_counts()["Conv"]
    # the original graph is untouched
    assert g.op_counts()["BatchNormalization"] == 4
    assert_same_outputs(g, after, x)
    # the BN parameters of folded BNs are gone from the tensors
    assert sum(1 for t in after.tensors if t.startswith("gamma")) == 1


def test_fold_batchnorm_gemm_and_matmul():
    g = linear_graph()
    after = run_passes(g, ["fold_batchnorm"])
    assert g.op_counts()["BatchNormalization"] == 3
    assert "BatchNormalization" not in after.op_counts()
    # Gemm and MatMul+Add fold away; the bare MatMul's BN becomes an Add of the shift.
    assert after.op_counts()["Add"] == g.op_counts()["Add"] + 1
    gemm = next(n for n in after.nodes if n.op == "Gemm")
    assert gemm.attrs["beta"] == 1.0 and gemm.attrs["alpha"] == 0.5
    assert_same_outputs(g, after, {"x": rand(4, 10)})


def test_fold_batchnorm_keeps_shared_weights_intact():
    b = Builder("sharedw")
    x = b.input("x", (1, 2, 4, 4))
    w = b.const("w", rand(2, 2, 1, 1))
    y1 = b.bn(b.node("Conv", [x, w]), 2)
    y2 = b.node("Conv", [x, w])          # same weight, no BN: must still see the unscaled w
    g = b.done(b.node("Add", [y1, y2]))
    after = run_passes(g, ["fold_batchnorm"])
    assert "BatchNormalization" not in after.op_counts()
    assert_same_outputs(g, after, {"x": rand(1, 2, 4, 4)})


def test_fold_bias_add():
    b = Builder("biasadd")
    x = b.input("x", (2, 3, 5, 5))
    y = b.node("Conv", [x, b.const("w1", rand(4, 3, 3, 3))], pads=[1, 1, 1, 1])
    y = b.node("Add", [b.const("c1", rand(1, 4, 1, 1)), y])            # folds (bias-free conv)
    y = b.node("Conv", [y, b.const("w2", rand(4, 4, 1, 1)), b.const("b2", rand(4))])
    y = b.node("Add", [y, b.const("c2", rand(4, 1, 1))])               # folds into the existing bias
    y = b.node("Add", [y, b.const("c3", np.array(0.25, np.float32))])  # a scalar: folds too
    y = b.node("Conv", [y, b.const("w3", rand(4, 4, 1, 1))])
    y = b.node("Add", [y, b.const("c4", rand(1, 1, 5, 5))])            # varies over space: stays
    y = b.node("GlobalAveragePool", [y])
    y = b.node("Flatten", [y])
    y = b.node("Gemm", [y, b.const("wg", rand(4, 6)), b.const("cg", rand(1, 6))], beta=2.0)
    y = b.node("Add", [y, b.const("c5", rand(6))])                     # folds into C (beta -> 1)
    y = b.node("MatMul", [y, b.const("wm", rand(6, 3))])
    y = b.node("Add", [y, b.const("c6", rand(1, 3))])                  # MatMul + Add -> Gemm
    m3 = b.node("MatMul", [b.node("Reshape", [y, b.const("shp", np.array([2, 1, 3], np.int64))]),
                           b.const("wm3", rand(3, 2))])
    y3 = b.node("Add", [m3, b.const("c7", rand(2))])                   # 3-D MatMul: stays
    big = b.node("Add", [b.node("Conv", [x, b.const("w4", rand(1, 3, 1, 1))]),
                         b.const("c8", rand(1, 4, 1, 1))])             # broadcasts 1 -> 4 channels: stays
    g = b.done(y3, big)
    after = run_passes(g, ["fold_bias_add"])
    assert g.op_counts()["Add"] == 8
    assert after.op_counts()["Add"] == 3
    assert after.op_counts()["Gemm"] == 2 and after.op_counts()["MatMul"] == 1
    assert all(n.attrs["beta"] == 1.0 for n in after.nodes if n.op == "Gemm")
    assert_same_outputs(g, after, {"x": rand(2, 3, 5, 5)})


def test_fuse_activation():
    g = run_passes(conv_graph(), ["fold_batchnorm"])
    after = run_passes(g, ["fuse_activation"])
    acts = {n.name: n.attrs.get("activation") for n in after.nodes if n.op == "Conv"}
    assert sorted(a for a in acts.values() if a) == ["relu", "relu", "relu6"]
    assert "Relu" not in after.op_counts() and "Clip" not in after.op_counts()
    assert len(after.nodes) == len(g.nodes) - 3
    assert_same_outputs(g, after, {"x": rand(2, 3, 9, 9)})

    lin = run_passes(linear_graph(), ["fold_batchnorm"])
    after = run_passes(lin, ["fuse_activation"])
    assert [n.attrs.get("activation") for n in after.nodes if n.op in ("Gemm", "Add")][-1] == "relu6"
    assert "Relu" not in after.op_counts() and "Clip" not in after.op_counts()
    assert_same_outputs(lin, after, {"x": rand(4, 10)})


def test_fuse_activation_into_matmul():
    b = Builder("mm")
    x = b.input("x", (2, 3, 4))
    y = b.node("Relu", [b.node("MatMul", [x, b.const("w", rand(4, 5))])])
    lo, hi = b.const("lo", np.array(0, np.float32)), b.const("hi", np.array(6, np.float32))
    y = b.node("Clip", [b.node("MatMul", [y, b.const("w2", rand(5, 2, lo=-4, hi=4))]), lo, hi])
    g = b.done(y)
    after = run_passes(g, ["fuse_activation"])
    assert after.op_counts() == {"MatMul": 2}
    assert [n.attrs["activation"] for n in after.nodes] == ["relu", "relu6"]
    assert_same_outputs(g, after, {"x": rand(2, 3, 4, lo=-3, hi=3)})


def test_fuse_activation_leaves_what_it_must():
    b = Builder("nofuse")
    x = b.input("x", (1, 2, 5, 5))
    c = b.node("Conv", [x, b.const("w", rand(2, 2, 1, 1))])
    r = b.node("Relu", [c])                       # c is also a graph output: no fusion
    lo, hi = b.const("lo", np.array(-1, np.float32)), b.const("hi", np.array(6, np.float32))
    c2 = b.node("Conv", [r, b.const("w2", rand(2, 2, 1, 1))])
    k = b.node("Clip", [c2, lo, hi])              # Clip(-1, 6) is not a ReLU6
    s = b.node("Sigmoid", [k])
    r2 = b.node("Relu", [s])                      # Sigmoid is not a fusable producer
    g = b.done(c, r2)
    after = run_passes(g, ["fuse_activation"])
    assert after.op_counts() == g.op_counts()
    assert all("activation" not in n.attrs for n in after.nodes)


def test_fold_constants():
    g = const_graph()
    after = run_passes(g, ["fold_constants"])
    assert g.op_counts() == {"Transpose": 1, "Mul": 1, "MatMul": 1, "Sub": 1, "Neg": 1, "Add": 1, "Relu": 1}
    assert after.op_counts() == {"MatMul": 1, "Add": 1, "Relu": 1}
    mm = next(n for n in after.nodes if n.op == "MatMul")
    np.testing.assert_array_equal(after.tensors[mm.inputs[1]].data, g.tensors["w_t"].data.T * 2)
    assert_same_outputs(g, after, {"x": rand(2, 12)})


def test_fold_constants_keeps_quantized_weights_quantized():
    b = Builder("dqweight")
    x = b.input("x", (2, 6))
    wq = b.const("wq", RNG.integers(-127, 128, (6, 3)).astype(np.int8))
    w = b.node("DequantizeLinear", [wq, b.const("ws", np.array(0.05, np.float32)),
                                    b.const("wz", np.array(0, np.int8))])
    g = b.done(b.node("MatMul", [x, w]))
    after = run_passes(g, ["fold_constants"])
    assert after.op_counts() == {"DequantizeLinear": 1, "MatMul": 1}
    assert after.tensors["wq"].dtype == "s8"
    assert_same_outputs(g, after, {"x": rand(2, 6)})


def test_fold_constants_leaves_graph_inputs_with_defaults_alone():
    b = Builder("defaults")
    x = b.input("x", (3,))
    b.g.tensors["x"].set_data(np.ones(3, np.float32))   # an input with an initializer
    g = b.done(b.node("Relu", [x]))
    after = run_passes(g, ["fold_constants"])
    assert after.op_counts() == {"Relu": 1}
    np.testing.assert_array_equal(reference.run(after, {"x": -np.ones(3, np.float32)})[g.outputs[0]], 0)


def test_remove_dead():
    g = conv_graph()
    after = run_passes(g, ["remove_dead"])
    assert g.op_counts()["Sigmoid"] == 1
    assert "Sigmoid" not in after.op_counts()
    assert len(after.nodes) == len(g.nodes) - 1
    assert len(after.tensors) == len(g.tensors) - 1
    assert_same_outputs(g, after, {"x": rand(2, 3, 9, 9)})
    # dead chains go in one run, constants they read too
    b = Builder("deadchain")
    x = b.input("x", (4,))
    d = b.node("Mul", [x, b.const("k", rand(4))])
    d = b.node("Relu", [b.node("Neg", [d])])
    g2 = b.done(b.node("Sigmoid", [x]))
    after2 = run_passes(g2, ["remove_dead"])
    assert after2.op_counts() == {"Sigmoid": 1}
    assert set(after2.tensors) == {"x", g2.outputs[0]}


def test_default_pipeline_end_to_end():
    for g, shape in ((conv_graph(), (2, 3, 9, 9)), (linear_graph(), (4, 10)), (const_graph(), (2, 12))):
        after = run_passes(g)
        assert [p for p, _ in after.meta["passes"]] == default_passes()
        assert len(after.nodes) < len(g.nodes)
        assert_same_outputs(g, after, {"x": rand(*shape)})
    after = run_passes(conv_graph())
    assert after.op_counts() == {"Conv": 4, "BatchNormalization": 1, "Add": 1}


def test_unknown_pass_and_bad_graph_are_user_errors():
    with pytest.raises(EdgeError, match="unknown pass 'nope'"):
        run_passes(conv_graph(), ["nope"])
    g = conv_graph()
    g.nodes.reverse()
    with pytest.raises(EdgeError, match="read before it is written"):
        run_passes(g, ["remove_dead"])


def test_a_broken_pass_is_named():
    @register_pass("test_breaks_graph", default=False)
    def breaks(graph):
        graph.nodes[0].inputs[0] = "nonexistent"
        return 1

    with pytest.raises(RuntimeError, match="test_breaks_graph"):
        run_passes(conv_graph(), ["test_breaks_graph"])
    assert "test_breaks_graph" not in default_passes()
