"""TVM-generated GPU kernels (Relax + dlight) launched by edgesdk on PoCL, checked against
the reference interpreter: bit-exact for int8 graphs, float tolerance for f32 graphs.
Also the CUDA source TVM generates for the same layers, compiled with nvcc."""
import shutil

import numpy as np
import pytest

from edgesdk.errors import UnsupportedOpsError
from edgesdk.reference import run as reference_run
from gpu_helpers import requires_opencl
from gpu_models import random_feed, tiny_mobile_graphs


@pytest.fixture(scope="module")
def graphs():
    return tiny_mobile_graphs()


def _runner(graph, force_tvm):
    from edgesdk.backends_gpu import lower
    from edgesdk.gpu.plan_runner import PlanRunner
    plan, src, consts = lower(graph, "opencl", "s8" if graph.tensors[graph.inputs[0]].dtype == "s8" else "f32",
                              force_tvm=force_tvm)
    progs = {"tvm": src} if src else {}
    from edgesdk.paths import kernels_dir
    for l in plan["layers"]:
        for k in l["launches"]:
            if k["program"] != "tvm":
                progs[k["program"]] = (kernels_dir() / "opencl" / k["program"]).read_text()
    return plan, PlanRunner(plan, progs, consts)


@pytest.mark.opencl
@requires_opencl
def test_int8_graph_all_tvm_kernels_bit_exact_every_layer(graphs):
    _, q = graphs
    plan, r = _runner(q, force_tvm=True)
    assert all(l["impl"].startswith("tvm:") for l in plan["layers"])
    ops = {l["op"] for l in plan["layers"]}
    assert {"QConv", "QAdd", "QGlobalAvgPool", "QGemm"} <= ops
    for seed in (1, 2):
        feed = random_feed(q, seed)
        r.run(feed)
        want = reference_run(q, feed, keep_intermediates=True)
        for layer in plan["layers"]:
            for o in layer["outputs"]:
                np.testing.assert_array_equal(r.download(o), want[o], err_msg=f"layer {layer['name']}")


@pytest.mark.opencl
@requires_opencl
def test_int8_graph_hand_plus_tvm_bit_exact(graphs):
    _, q = graphs
    plan, r = _runner(q, force_tvm=False)
    impls = {l["name"]: l["impl"] for l in plan["layers"]}
    assert impls["/dw/Conv"] == "ek_dwconv_s8_ocl" and impls["/c1/Conv"] == "ek_gemm_s8_ocl"
    assert impls["/Add"] == "ek_qadd_s8_ocl"
    feed = random_feed(q, 3)
    want = reference_run(q, feed)
    got = r.run(feed)
    for o in q.outputs:
        np.testing.assert_array_equal(got[o], want[o])
        assert np.unique(want[o]).size > 2


@pytest.mark.opencl
@requires_opencl
def test_float_graph_tvm_matches_reference(graphs):
    g, _ = graphs
    plan, r = _runner(g, force_tvm=True)
    feed = random_feed(g, 4)
    want = reference_run(g, feed)
    got = r.run(feed)
    for o in g.outputs:
        np.testing.assert_allclose(got[o], want[o], rtol=1e-4, atol=1e-5)


def test_launch_sizes_come_from_the_generated_module(graphs):
    """Every TVM kernel covers its output: work-items >= output elements for 1-output layers."""
    from edgesdk.codegen.tvm_gpu import lower_graph
    g, _ = graphs
    plan = lower_graph(g, "opencl")
    assert "__kernel" in plan.source
    for layer in plan.layers:
        assert layer.steps, layer.node
        for step in layer.steps:
            for k in step.launches:
                assert f"__kernel void {k.kernel}(" in plan.source
                assert all(v >= 1 for v in k.grid + k.block)
                assert np.prod(k.block) <= 1024
                assert len(k.args) == plan.source.split(f"void {k.kernel}(")[1].split(")")[0].count("__global")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="not installed: nvcc")
def test_tvm_cuda_source_compiles_with_nvcc(graphs, tmp_path):
    from edgesdk.codegen.tvm_gpu import lower_graph
    from edgesdk.gpu.nvcc import compile_cubin
    _, q = graphs
    plan = lower_graph(q, "cuda", arch="sm_87")
    assert "__global__" in plan.source
    src = tmp_path / "tvm.cu"
    src.write_text(plan.source)
    res = compile_cubin(src, "sm_87", tmp_path / "tvm.cubin")
    launched = {k.kernel for l in plan.layers for s in l.steps for k in s.launches}
    assert launched <= set(res["kernels"]), launched - set(res["kernels"])
    assert all(v["registers"] > 0 for v in res["kernels"].values())


def test_op_without_gpu_lowering_is_named():
    from edgesdk.codegen.tvm_gpu import lower_graph
    from edgesdk.ir import Graph, Node, Tensor
    g = Graph("erfnet")
    g.add_tensor(Tensor("x", (1, 4), "f32"))
    g.add_tensor(Tensor("y", (1, 4), "f32"))
    g.add_tensor(Tensor("z", (1, 4), "f32"))
    g.add_node(Node("my_erf", "Erf", ["x"], ["y"]))
    g.add_node(Node("my_relu", "Relu", ["y"], ["z"]))
    g.inputs, g.outputs = ["x"], ["z"]
    with pytest.raises(UnsupportedOpsError, match=r"my_erf \[Erf\]") as e:
        lower_graph(g, "opencl")
    assert "my_relu" not in str(e.value)


def _pool_concat_softmax_graphs():
    import torch
    from torch import nn

    from edgesdk.frontends import load
    from edgesdk.passes import run_passes
    from edgesdk.quant import quantize

    class F(nn.Module):   # float: maxpool, sigmoid, avgpool, hardswish, concat, softmax
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.fc = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(3, 4, 1), nn.Linear(160, 7)

        def forward(self, x):
            a = nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
            b = nn.functional.avg_pool2d(torch.sigmoid(self.c2(x)), 2)
            return torch.softmax(self.fc(torch.flatten(torch.cat([a, nn.functional.hardswish(b)], 1), 1)), -1)

    class Q(nn.Module):   # int8: MaxPool on s8, QAvgPool with padding, QSoftmax
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.fc = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 4, 1), nn.Linear(36, 7)

        def forward(self, x):
            a = nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
            return torch.softmax(self.fc(torch.flatten(nn.functional.avg_pool2d(self.c2(a), 2, padding=1), 1)), -1)

    torch.manual_seed(0)
    g = run_passes(load(F().eval(), example_inputs=(torch.randn(1, 3, 8, 8),)))
    gq = run_passes(load(Q().eval(), example_inputs=(torch.randn(1, 3, 8, 8),)))
    calib = np.random.default_rng(0).standard_normal((8, 3, 8, 8)).astype(np.float32)
    return g, quantize(gq, calib, bias_correction=False)


@pytest.mark.opencl
@requires_opencl
def test_pools_concat_softmax_every_layer():
    from edgesdk.backends_gpu import lower
    from edgesdk.gpu.plan_runner import PlanRunner
    g, q = _pool_concat_softmax_graphs()
    assert {"QAvgPool", "QSoftmax", "MaxPool"} <= {n.op for n in q.nodes}
    assert {"Concat", "HardSwish", "Sigmoid", "AveragePool", "Softmax"} <= {n.op for n in g.nodes}
    for graph, dtype in ((g, "f32"), (q, "s8")):
        plan, src, consts = lower(graph, "opencl", dtype, force_tvm=True)
        r = PlanRunner(plan, {"tvm": src}, consts)
        feed = random_feed(graph, 5)
        r.run(feed)
        want = reference_run(graph, feed, keep_intermediates=True)
        for layer in plan["layers"]:
            o = layer["outputs"][0]
            if dtype == "s8":
                np.testing.assert_array_equal(r.download(o), want[o], err_msg=layer["name"])
            else:
                np.testing.assert_allclose(r.download(o), want[o], rtol=1e-5, atol=1e-6, err_msg=layer["name"])


@pytest.mark.opencl
@requires_opencl
def test_tensor_names_that_are_not_identifiers():
    """ONNX names like "0" or "/a/b:0" still give valid OpenCL kernel parameters."""
    from edgesdk.backends_gpu import lower
    from edgesdk.gpu.plan_runner import PlanRunner
    from edgesdk.ir import Graph, Node, Tensor
    g = Graph("names")
    for n in ("0", "/a/b:0", "1"):
        g.add_tensor(Tensor(n, (2, 3), "f32"))
    g.add_node(Node("/relu", "Relu", ["0"], ["/a/b:0"]))
    g.add_node(Node("/sig", "Sigmoid", ["/a/b:0"], ["1"]))
    g.inputs, g.outputs = ["0"], ["1"]
    plan, src, consts = lower(g, "opencl", "f32")
    x = np.array([[-1, 0, 1], [2, -3, 4]], np.float32)
    got = PlanRunner(plan, {"tvm": src}, consts).run({"0": x})["1"]
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-np.maximum(x, 0))), rtol=1e-6)
