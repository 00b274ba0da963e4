"""LLM.int8 decomposition: outlier features kept in f16 beat plain vector-wise int8 on
activations with outlier columns; the int8 path matches a hand-written oracle."""
import numpy as np

from edgesdk.ir import Graph, Node, Tensor, infer_shapes, verify
from edgesdk.quant.llm_int8 import decomposed_matmul, find_outliers, llm_int8
from edgesdk.reference import run


def _acts(rng, n=16, k=64, cols=(3, 40)):
    x = rng.normal(0, 1, (n, k)).astype(np.float32)
    x[:, list(cols)] *= 30.0  # systematic outlier features, as in transformer activations
    return x


def test_int8_path_matches_oracle():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (5, 12)).astype(np.float32)
    w = rng.normal(0, 0.2, (12, 7)).astype(np.float32)
    sw = np.abs(w).max(0) / 127
    wq = np.clip(np.rint(w / sw), -127, 127).astype(np.int8)
    y = decomposed_matmul(x, wq, sw, np.zeros((0, 7), np.float16), np.array([], int), np.arange(12))
    for r in range(5):
        sx = np.abs(x[r]).max() / 127
        xq = np.clip(np.rint(x[r] / sx), -127, 127).astype(np.int64)
        acc = xq @ wq.astype(np.int64)  # exact int32 dot products
        np.testing.assert_allclose(y[r], acc * sx * sw, rtol=1e-6)


def test_outliers_in_f16_beat_plain_int8():
    rng = np.random.default_rng(1)
    x = _acts(rng)
    w = rng.normal(0, 0.1, (64, 32)).astype(np.float32)
    ref = x @ w
    out = find_outliers(x, 6.0)
    assert set(out.tolist()) == {3, 40}
    inl = np.setdiff1d(np.arange(64), out)

    def q(cols_in, cols_out):
        sw = np.abs(w[cols_in]).max(0) / 127
        wq = np.clip(np.rint(w[cols_in] / sw), -127, 127).astype(np.int8)
        return decomposed_matmul(x, wq, sw, w[cols_out].astype(np.float16), cols_out, cols_in)

    err_mixed = np.abs(q(inl, out) - ref).mean()
    err_plain = np.abs(q(np.arange(64), np.array([], int)) - ref).mean()
    assert err_mixed < err_plain / 3


def test_graph_rewrite_runs_in_reference():
    rng = np.random.default_rng(2)
    g = Graph("mm")
    g.add_tensor(Tensor("x", (8, 64), "f32"))
    g.inputs, g.outputs = ["x"], ["y"]
    w = rng.normal(0, 0.1, (32, 64)).astype(np.float32)
    g.add_const("w", w)
    g.add_const("b", rng.normal(0, 0.1, 32).astype(np.float32))
    g.add_node(Node("fc", "Gemm", ["x", "w", "b"], ["y"], {"transB": 1}))
    infer_shapes(g)
    verify(g)
    calib = [{"x": _acts(rng, 8)} for _ in range(3)]
    g2, report = llm_int8(g, calib)
    assert report == {"fc": 2} and g2.node("fc").op == "QMatMulDecomposed"
    x = _acts(rng, 8)
    ref = run(g, {"x": x})["y"]
    got = run(g2, {"x": x})["y"]
    cos = (ref * got).sum() / np.linalg.norm(ref) / np.linalg.norm(got)
    assert cos > 0.999
