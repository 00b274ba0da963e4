"""The default passes on real imported models (edgesdk.zoo through ONNX and the frontend).

Exported WITHOUT torch's own constant folding, so the ONNX still holds every
BatchNormalization, Relu and constant Identity for our passes to remove. Oracles: torch
itself, onnxruntime on the exported ONNX, and the numpy reference before the passes.
"""
import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from bn_helpers import randomize_batchnorm  # noqa: E402
from edgesdk import frontends, reference, zoo  # noqa: E402
from edgesdk.passes import run_passes  # noqa: E402

MODELS = {
    "fmnist_cnn": (zoo.fmnist_cnn, (1, 28, 28)),
    "resnet8": (zoo.resnet8, (3, 32, 32)),
    "ds_cnn": (zoo.ds_cnn, (1, 49, 10)),
    "mobilenet_v1_025": (zoo.mobilenet_v1_025, (3, 96, 96)),
    "ad_autoencoder": (zoo.ad_autoencoder, (640,)),
    "imu_cnn1d": (zoo.imu_cnn1d, (6, 1, 64)),
}


def randomized(ctor, seed=0):
    """The model with non-trivial BatchNorm statistics (fresh ones fold to the identity)."""
    torch.manual_seed(seed)
    return randomize_batchnorm(ctor(), seed)


def export_unfolded(model, x):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, opset_version=17, dynamo=False, do_constant_folding=False,
                          input_names=["input"], output_names=["output"])
    return onnx.load_model_from_string(buf.getvalue())


@pytest.mark.parametrize("name", list(MODELS))
def test_default_passes_on_zoo_model(name):
    ctor, shape = MODELS[name]
    model = randomized(ctor)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    proto = export_unfolded(model, x)
    g = frontends.load(proto)
    before = g.op_counts()
    n_bn = sum(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in model.modules())
    assert before.get("BatchNormalization", 0) == n_bn > 0

    after = run_passes(g)
    counts = after.op_counts()
    # Every BN follows a Conv/Linear that nothing else reads, and every ReLU follows a
    # Conv/Linear/Add: both kinds disappear, nothing else changes count.
    assert "BatchNormalization" not in counts and "Relu" not in counts
    assert len(after.nodes) == len(g.nodes) - n_bn - before.get("Relu", 0) - before.get("Identity", 0)
    for op in ("Conv", "Gemm", "Add", "MatMul"):
        assert counts.get(op, 0) == before.get(op, 0), op
    fused = sum(1 for n in after.nodes if n.attrs.get("activation") == "relu")
    assert fused == before.get("Relu", 0)

    feeds = {g.inputs[0]: x.numpy()}
    want_torch = model(x).detach().numpy()
    want_ort = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()})[0]
    got_before = reference.run(g, feeds)[g.outputs[0]]
    got_after = reference.run(after, feeds)[after.outputs[0]]
    np.testing.assert_allclose(want_ort, want_torch, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_before, want_ort, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_after, want_ort, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_after, got_before, rtol=1e-4, atol=1e-4)
