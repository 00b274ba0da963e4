"""Graph-level one-shot pruning (edgesdk prune): magnitude, structured removal, block/N:M tags,
bias and BatchNorm correction against the reference and torch."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from edgesdk.errors import EdgeError
from edgesdk.frontends import load
from edgesdk.ir import Graph, Node, Tensor, infer_shapes, save
from edgesdk.prune.formats import block_sparse_matmul, from_block_sparse, to_block_sparse
from edgesdk.prune.graph import prune_graph
from edgesdk.reference import run


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()


def _graph(model=None, shape=(1, 2, 6, 6)):
    model = model or _net()
    return model, load(model, example_inputs=(torch.zeros(*shape),))


def _run_all(g, x):
    return np.concatenate([run(g, {g.inputs[0]: x[i:i + 1]})[g.outputs[0]] for i in range(len(x))])


def _weights(g):
    return [g.tensors[n.inputs[1]].data for n in g.nodes if n.op in ("Conv", "Gemm")]


def test_unstructured_prunes_smallest_and_matches_torch_with_masked_weights():
    model, g = _graph()
    p, rep = prune_graph(g, 0.5, correct=False)
    for w0, w1 in zip(_weights(g), _weights(p)):
        assert np.count_nonzero(w1 == 0) == round(0.5 * w0.size)
        assert np.abs(w0[w1 == 0]).max() <= np.abs(w0[w1 != 0]).min()
    # oracle: torch with the same masked weights
    with torch.no_grad():
        for mod, w in zip([m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))], _weights(p)):
            mod.weight.copy_(torch.tensor(w))
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(_run_all(p, x), model(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert p.tensors[[n for n in p.nodes if n.op == "Conv"][0].inputs[1]].tags["sparsity"]["kind"] == "unstructured"


def test_bias_correction_restores_output_means():
    _, g = _graph()
    x = np.random.default_rng(1).standard_normal((16, 2, 6, 6)).astype(np.float32)
    p, rep = prune_graph(g, 0.6, calib=x, correct="bias")
    assert [c["kind"] for c in rep["corrections"]] and all(c["kind"] == "bias" for c in rep["corrections"])
    # the last layer is corrected last: its mean over the calibration set matches exactly
    np.testing.assert_allclose(_run_all(p, x).mean(0), _run_all(g, x).mean(0), atol=1e-4)
    pf, _ = prune_graph(g, 0.6, calib=x, correct=True)
    yo, yf = _run_all(g, x), _run_all(pf, x)
    np.testing.assert_allclose(yf.mean(0), yo.mean(0), atol=1e-4)


def _bn_graph():
    rng = np.random.default_rng(2)
    g = Graph("bn")
    g.add_tensor(Tensor("x", (1, 3, 5, 5), "f32"))
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_const("w", rng.standard_normal((6, 3, 3, 3)).astype(np.float32))
    g.add_const("b", rng.standard_normal(6).astype(np.float32))
    for k, v in {"s": rng.uniform(0.5, 2, 6), "B": rng.standard_normal(6), "m": rng.standard_normal(6),
                 "v": rng.uniform(0.5, 2, 6)}.items():
        g.add_const(k, v.astype(np.float32))
    g.add_const("fw", rng.standard_normal((4, 6)).astype(np.float32))
    g.add_node(Node("conv", "Conv", ["x", "w", "b"], ["c"], {"pads": [1, 1, 1, 1]}))
    g.add_node(Node("bn", "BatchNormalization", ["c", "s", "B", "m", "v"], ["n"]))
    g.add_node(Node("relu", "Relu", ["n"], ["r"]))
    g.add_node(Node("gap", "GlobalAveragePool", ["r"], ["p"]))
    g.add_node(Node("flat", "Flatten", ["p"], ["f"], {"axis": 1}))
    g.add_node(Node("fc", "Gemm", ["f", "fw"], ["y"], {"transB": 1}))
    return infer_shapes(g)


def test_batchnorm_correction_matches_bn_output_statistics():
    g = _bn_graph()
    x = np.random.default_rng(3).standard_normal((24, 3, 5, 5)).astype(np.float32)
    p, rep = prune_graph(g, 0.7, calib=x, correct=True)
    assert rep["corrections"][0] == {"layer": "conv", "kind": "batchnorm", "node": "bn"}

    def bn_out(gr):
        return np.concatenate([run(gr, {"x": x[i:i + 1]}, keep_intermediates=True)["n"] for i in range(len(x))])
    a, b = bn_out(g), bn_out(p)
    np.testing.assert_allclose(b.mean((0, 2, 3)), a.mean((0, 2, 3)), atol=1e-4)
    np.testing.assert_allclose(b.var((0, 2, 3)), a.var((0, 2, 3)), rtol=1e-3)


def test_structured_removes_filters_and_equals_zeroed_filters():
    _, g = _graph()
    p, rep = prune_graph(g, 0.5, structured=True, correct=False)
    convs = [n for n in p.nodes if n.op == "Conv"]
    assert p.tensors[convs[0].inputs[1]].shape == (4, 2, 3, 3)
    assert p.tensors[convs[1].inputs[1]].shape == (4, 4, 3, 3)
    gemm = [n for n in p.nodes if n.op == "Gemm"][0]
    assert p.tensors[gemm.inputs[1]].shape == (5, 4)
    # oracle: the original graph with the removed filters zeroed (weights and bias)
    z = g.copy()
    for n0, n1 in zip([n for n in z.nodes if n.op == "Conv"], convs):
        w0, w1 = z.tensors[n0.inputs[1]].data, p.tensors[n1.inputs[1]].data
        l1 = np.abs(w0).reshape(w0.shape[0], -1).sum(1)
        drop = np.sort(np.argsort(-l1, kind="stable")[4:])
        w0 = w0.copy()
        w0[drop] = 0
        z.tensors[n0.inputs[1]].set_data(w0)
        b = z.tensors[n0.inputs[2]].data.copy()
        b[drop] = 0
        z.tensors[n0.inputs[2]].set_data(b)
    x = np.random.default_rng(4).standard_normal((2, 2, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(_run_all(p, x), _run_all(z, x), rtol=1e-5, atol=1e-5)


def test_block_pattern_tags_csr_and_reference_equals_block_sparse_matmul():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 12), nn.ReLU(), nn.Linear(12, 3)).eval()
    _, g = _graph(model, (1, 20))
    p, _ = prune_graph(g, 0.5, pattern="block", correct=False)
    gemm = [n for n in p.nodes if n.op == "Gemm"][0]
    w = p.tensors[gemm.inputs[1]]
    tag = w.tags["sparsity"]
    assert tag["kind"] == "block" and tag["block"] == [1, 4] and len(tag["col_idx"]) == 12 * 5 // 2
    np.testing.assert_array_equal(from_block_sparse(tag["row_ptr"], tag["col_idx"], tag["values"], w.shape), w.data)
    x = np.random.default_rng(5).standard_normal((1, 20)).astype(np.float32)
    env = run(p, {p.inputs[0]: x}, keep_intermediates=True)
    want = block_sparse_matmul(env[gemm.inputs[0]], *to_block_sparse(w.data)) + p.tensors[gemm.inputs[2]].data
    np.testing.assert_allclose(env[gemm.outputs[0]], want, rtol=1e-5, atol=1e-5)


def test_nm_pattern():
    _, g = _graph()
    p, rep = prune_graph(g, 0.0, pattern="2:4", correct=False)
    notes = [r for r in rep["layers"] if "note" in r]
    assert len(notes) == 1            # the first conv has 2*3*3 = 18 inputs per filter
    conv2 = [n for n in p.nodes if n.op == "Conv"][1]
    w = p.tensors[conv2.inputs[1]].data.reshape(8, -1, 4)
    assert ((w != 0).sum(2) <= 2).all() and p.tensors[conv2.inputs[1]].tags["sparsity"]["kind"] == "nm"


def test_graph_bad_input():
    _, g = _graph()
    with pytest.raises(EdgeError, match=r"--ratio: must be in \[0, 1\)"):
        prune_graph(g, 1.0, correct=False)
    with pytest.raises(EdgeError, match="would remove all its 8 filters"):
        prune_graph(g, 0.95, structured=True, correct=False)
    with pytest.raises(EdgeError, match="calibration data"):
        prune_graph(g, 0.5)
    with pytest.raises(EdgeError, match="samples have shape"):
        prune_graph(g, 0.5, calib=np.zeros((4, 3, 6, 6), np.float32))
    r = Graph("relu")
    r.add_tensor(Tensor("x", (1, 4), "f32"))
    r.inputs, r.outputs = ["x"], ["y"]
    r.add_node(Node("r", "Relu", ["x"], ["y"]))
    infer_shapes(r)
    with pytest.raises(EdgeError, match="no prunable layers"):
        prune_graph(r, 0.5, correct=False)


def test_prune_cli(tmp_path):
    from edgesdk.cli import main
    _, g = _graph()
    save(g, tmp_path / "m.edg")
    np.save(tmp_path / "c.npy", np.random.default_rng(6).standard_normal((8, 2, 6, 6)).astype(np.float32))
    out = tmp_path / "p.edg"
    r = CliRunner().invoke(main, ["prune", str(tmp_path / "m.edg"), "--ratio", "0.5", "--structured",
                                  "--calib", str(tmp_path / "c.npy"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "4/8 filters" in r.output and out.exists()
    for args, msg in [(["--ratio", "1.5"], "--ratio: must be in [0, 1)"),
                      (["--ratio", "abc"], "--ratio: 'abc' is not a number"),
                      (["--ratio", "0.5", "--calib", str(tmp_path / "none.npy")], "no such file")]:
        if "--calib" not in args:
            args = args + ["--calib", str(tmp_path / "c.npy")]
        bad = CliRunner().invoke(main, ["prune", str(tmp_path / "m.edg"), *args, "-o", str(tmp_path / "q.edg")])
        assert bad.exit_code == 2 and msg in bad.output, bad.output
    assert not (tmp_path / "q.edg").exists()


def test_annotate_sparsity_of_a_torch_pruned_model():
    from edgesdk.prune import nm_prune, remove_masks
    from edgesdk.prune.graph import annotate_sparsity
    model = _net()
    nm_prune(model, 1, 4)          # the first conv (18 inputs) is skipped
    remove_masks(model)
    with torch.no_grad():          # the classifier: whole 1x4 blocks pruned
        model[6].weight[:, 4:] = 0
    _, g = _graph(model)
    kinds = annotate_sparsity(g)
    by_op = {n.op: g.tensors[n.inputs[1]].tags.get("sparsity", {}).get("kind") for n in g.nodes if n.inputs[1:]}
    assert list(kinds.values()).count("nm") >= 1 and by_op["Gemm"] in ("nm", "block")
    conv2 = [n for n in g.nodes if n.op == "Conv"][1]
    tag = g.tensors[conv2.inputs[1]].tags["sparsity"]
    assert tag == {**tag, "kind": "nm", "n": 1, "m": 4}
