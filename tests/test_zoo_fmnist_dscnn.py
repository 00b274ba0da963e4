"""edgesdk.zoo.models.fmnist_dscnn: the depthwise-separable Fashion-MNIST CNN.

Oracles: torch itself (shapes, the layer structure the docstring promises) and
onnxruntime on the exported ONNX vs the frontend's numpy reference graph."""
import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from bn_helpers import randomize_batchnorm  # noqa: E402
from edgesdk import frontends, reference  # noqa: E402
from edgesdk.quant.mixed import _layers  # noqa: E402
from edgesdk.quant.prepare import prepare_float  # noqa: E402
from edgesdk.zoo.models import fmnist_dscnn  # noqa: E402


def randomized(seed=0):
    """The model with non-trivial BatchNorm statistics (fresh ones fold to the identity)."""
    torch.manual_seed(seed)
    return randomize_batchnorm(fmnist_dscnn(), seed)


def test_structure_shapes_and_size():
    m = fmnist_dscnn()
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert fmnist_dscnn(num_classes=4)(torch.zeros(1, 1, 28, 28)).shape == (1, 4)
    convs = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    depthwise = [c for c in convs if c.groups > 1]
    pointwise = [c for c in convs if c.kernel_size == (1, 1)]
    assert len(depthwise) == len(pointwise) == 5 and len(convs) == 11
    assert all(c.groups == c.in_channels == c.out_channels for c in depthwise)
    assert sorted(c.stride[0] for c in depthwise) == [1, 1, 1, 2, 2]
    n = sum(p.numel() for p in m.parameters())
    assert 20_000 <= n <= 60_000, n
    # The pointwise layers hold most of the weights (the per-byte contrast mixed precision uses).
    pw = sum(c.weight.numel() for c in pointwise)
    allw = sum(c.weight.numel() for c in m.modules() if isinstance(c, (torch.nn.Conv2d, torch.nn.Linear)))
    assert pw / allw > 0.8


def test_imports_through_onnx_and_matches_onnxruntime():
    model = randomized()
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["output"])
    proto = onnx.load_model_from_string(buf.getvalue())
    want = ort.InferenceSession(buf.getvalue()).run(None, {"input": x.numpy()})[0]
    g = frontends.load(proto)
    got = reference.run(g, {g.inputs[0]: x.numpy()})[g.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)
    # Every conv / linear is a weight layer the quantizer (and mixed precision) sees.
    assert len(_layers(prepare_float(g))) == 12


def test_torch_frontend_matches_torch():
    model = randomized(2)
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    g = frontends.load(model, example_inputs=torch.zeros(4, 1, 28, 28))
    got = reference.run(g, {g.inputs[0]: x.numpy()})[g.outputs[0]]
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)


def test_half_width_variant():
    """fmnist_dscnn_s: the same layer structure at half the channels, ~10k params."""
    from edgesdk.zoo.models import fmnist_dscnn_s
    small, full = fmnist_dscnn_s(), fmnist_dscnn()
    assert small(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    convs_s = [c for c in small.modules() if isinstance(c, torch.nn.Conv2d)]
    convs_f = [c for c in full.modules() if isinstance(c, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.groups > 1) for c in convs_s] == \
           [(c.kernel_size, c.stride, c.groups > 1) for c in convs_f]
    assert all(2 * cs.out_channels == cf.out_channels for cs, cf in zip(convs_s, convs_f))
    n = sum(p.numel() for p in small.parameters())
    assert 8_000 <= n <= 12_000, n
    g = frontends.load(small.eval(), example_inputs=torch.zeros(1, 1, 28, 28))
    assert len(_layers(prepare_float(g))) == 12
