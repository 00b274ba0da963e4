"""BiPer / STE binary layers, DenseShift layers, conversion, export and the binarize CLI."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from edgesdk.binary import (BinaryConv2d, BinaryLinear, DenseShiftConv2d, FrequencySchedule,
                            binarize, denseshift, export_graph, train_recipe, evaluate, weight_bytes)
from edgesdk.errors import EdgeError
from edgesdk.reference import run
from edgesdk.zoo import fmnist_cnn, resnet8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_biper_forward_is_square_wave_backward_is_sine_derivative():
    torch.manual_seed(0)
    layer = BinaryLinear(6, 3, method="biper", freq=2.0)
    w = layer.weight
    f = layer.abs_freq()
    b = layer.binary_weight()
    np.testing.assert_array_equal(b.detach().numpy(), np.where(np.sin(f * w.detach().numpy()) >= 0, 1.0, -1.0))
    # Oracle: autograd through sin(f * w) gives the surrogate gradient.
    g = torch.randn_like(w)
    (b * g).sum().backward()
    w2 = w.detach().clone().requires_grad_(True)
    (torch.sin(f * w2) * g).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), w2.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_ste_sign_and_clipped_gradient():
    layer = BinaryLinear(4, 1, method="ste")
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[-2.0, -0.5, 0.0, 1.5]]))
    b = layer.binary_weight()
    assert b.tolist() == [[-1.0, -1.0, 1.0, 1.0]]
    b.sum().backward()
    assert layer.weight.grad.tolist() == [[0.0, 1.0, 1.0, 0.0]]


def test_binary_conv_forward_equals_pm1_conv_with_minus_one_padding():
    torch.manual_seed(1)
    conv = BinaryConv2d(3, 4, 3, padding=1, method="ste")
    conv.eval()
    x = torch.randn(2, 3, 5, 5)
    xb = torch.where(x - conv.threshold.view(1, -1, 1, 1) >= 0, 1.0, -1.0)
    xb = torch.nn.functional.pad(xb, (1, 1, 1, 1), value=-1.0)
    wb = torch.where(conv.weight >= 0, 1.0, -1.0)
    want = torch.nn.functional.conv2d(xb, wb) * conv.alpha.view(1, -1, 1, 1) + conv.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(conv(x), want)


def test_frequency_schedule_moves_every_biper_layer():
    m = binarize(fmnist_cnn(), "biper")
    s = FrequencySchedule(m, 1.0, 4.0, steps=2, kind="geometric")
    s.step()
    assert all(abs(layer.freq - 2.0) < 1e-9 for layer in s.layers) and len(s.layers) == 2
    s.step()
    assert all(abs(layer.freq - 4.0) < 1e-9 for layer in s.layers)


def test_binarize_keeps_first_and_last_and_weight_bytes_are_32x_smaller():
    m = binarize(fmnist_cnn(), "ste")
    kinds = [type(x).__name__ for x in m.modules() if isinstance(x, (nn.Conv2d, nn.Linear))]
    assert kinds == ["Conv2d", "BinaryConv2d", "BinaryConv2d", "Linear"]
    wb = weight_bytes(m)
    assert wb["low_bit_float_bytes"] == 32 * wb["low_bit_weight_bytes"]
    assert wb["low_bit_weight_bytes"] == (16 * 32 * 9 + 32 * 32 * 9) // 8


@pytest.mark.parametrize("bad,match", [
    (dict(method="xnor"), "method 'xnor'"),
    (dict(freq=0.0), "finite positive"),
    (dict(freq=float("nan")), "finite positive"),
    (dict(freq="fast"), "not a number"),
    (dict(layers=["1"]), "BatchNorm2d, which has no binary form"),
    (dict(layers=["nope"]), "'nope' is not in the model"),
])
def test_binarize_bad_input(bad, match):
    with pytest.raises(EdgeError, match=match):
        binarize(fmnist_cnn(), **bad)


def test_nothing_to_binarize_and_bad_schedule():
    with pytest.raises(EdgeError, match="no Conv2d/Linear layer to convert besides its first and last"):
        binarize(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)))
    with pytest.raises(EdgeError, match="no Conv2d/Linear layer"):
        denseshift(nn.Sequential(nn.ReLU()), keep_first_last=False)
    with pytest.raises(EdgeError, match="bits=5"):
        denseshift(fmnist_cnn(), 5)
    with pytest.raises(EdgeError, match="schedule end"):
        FrequencySchedule(fmnist_cnn(), 1.0, -2.0)


@pytest.mark.parametrize("bits", [3, 4])
def test_denseshift_weights_are_signed_powers_of_two_without_zero(bits):
    torch.manual_seed(2)
    layer = DenseShiftConv2d(4, 5, 3, bits=bits)             # low-variance random init
    w = layer.shift_weight().detach().numpy()
    a = layer.alpha.detach().numpy().reshape(-1, 1, 1, 1)
    ratio = np.abs(w) / a
    p = -np.log2(ratio)
    assert np.all(w != 0)
    np.testing.assert_allclose(p, np.round(p), atol=1e-6)
    assert p.min() >= 0 and p.max() <= 2 ** (bits - 1) - 1
    sign, expo, scale = layer.export_arrays()
    assert set(np.unique(sign)) <= {-1, 1} and expo.min() >= 0 and expo.max() <= 2 ** (bits - 1) - 1
    np.testing.assert_allclose(scale.reshape(-1, 1, 1, 1) * sign * 2.0 ** expo, w, rtol=1e-6)
    # gradients reach both latents (straight-through)
    layer(torch.randn(1, 4, 6, 6)).sum().backward()
    assert layer.sign_latent.grad.abs().sum() > 0 and layer.mag_latent.grad.abs().sum() > 0


def _calibrated(model, shape):
    model.train()
    with torch.no_grad():
        model(torch.randn(*shape))
    return model.eval()


@pytest.mark.parametrize("make", [
    lambda: binarize(fmnist_cnn(), "biper"),
    lambda: binarize(fmnist_cnn(), "ste", keep_first_last=False),
    lambda: denseshift(fmnist_cnn(), 3),
])
def test_export_graph_runs_in_reference_like_torch(make):
    torch.manual_seed(3)
    m = _calibrated(make(), (16, 1, 28, 28))
    x = torch.randn(4, 1, 28, 28)
    g = export_graph(m, (4, 1, 28, 28))
    y = run(g, {"input": x.numpy()})[g.outputs[0]]
    with torch.no_grad():
        np.testing.assert_allclose(y, m(x).numpy(), rtol=1e-4, atol=1e-4)
    for t in g.tensors.values():
        if t.dtype == "b1" and t.is_const:
            assert t.tags["packing"] == {"bits": 1, "word": 32} and set(np.unique(t.data)) <= {0, 1}


def test_export_resnet8_with_residual_adds():
    torch.manual_seed(4)
    m = _calibrated(binarize(resnet8(in_ch=1)), (8, 1, 16, 16))
    x = torch.randn(2, 1, 16, 16)
    g = export_graph(m, (2, 1, 16, 16))
    assert g.op_counts()["BConv"] == 8
    with torch.no_grad():
        np.testing.assert_allclose(run(g, {"input": x.numpy()})[g.outputs[0]], m(x).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_short_training_learns_fashion_mnist():
    """The recipe as users run it: a float model (briefly trained), binarized, then trained."""
    from edgesdk.data import load_fashion_mnist
    torch.manual_seed(0)
    x, y = load_fashion_mnist("train", limit=1500)
    xt, yt = load_fashion_mnist("test", limit=500)
    f = fmnist_cnn(width=8)
    train_recipe(f, x, y, epochs=1, lr=1e-2, batch=32)
    m = binarize(f, "biper")
    before = evaluate(m, xt, yt)
    losses = train_recipe(m, x, y, epochs=2, lr=5e-3, batch=32, freq_start=1.0, freq_end=1.5)
    assert losses[1] < losses[0]
    after = evaluate(m, xt, yt)
    assert after > 40.0 and after > before + 5      # chance is 10 %


def test_binarize_cli(tmp_path):
    from edgesdk.cli import main
    from edgesdk.data import load_fashion_mnist
    from edgesdk.ir import load
    x, y = load_fashion_mnist("train", limit=256)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = tmp_path / "m.edg"
    r = CliRunner().invoke(main, ["binarize", "zoo:fmnist_cnn", "--data", str(tmp_path / "d.npz"), "--test",
                                  str(tmp_path / "d.npz"), "--epochs", "1", "--input-shape", "1,1,28,28",
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "test accuracy" in r.output
    g = load(out)
    assert g.op_counts()["BConv"] == 2 and (tmp_path / "m.edg.pt").exists()
    bad = CliRunner().invoke(main, ["binarize", "zoo:fmnist_cnn", "--data", str(tmp_path / "d.npz"),
                                    "--freq", "-1", "--input-shape", "1,1,28,28", "-o", str(out)])
    assert bad.exit_code == 2 and "--freq: must be a finite positive number" in bad.output
    bad = CliRunner().invoke(main, ["binarize", "zoo:nope", "--data", str(tmp_path / "d.npz"),
                                    "--input-shape", "1,1,28,28", "-o", str(out)])
    assert bad.exit_code == 2 and "no model 'nope'" in bad.output


def test_denseshift_random_low_variance_init():
    torch.manual_seed(10)
    m = denseshift(fmnist_cnn(), 4, init="random")
    layer = m[4]
    assert isinstance(layer, DenseShiftConv2d)
    # low variance: half the usual fan-in std for the latents
    assert layer.sign_latent.std().item() < 0.75 / (16 * 9) ** 0.5
    with pytest.raises(EdgeError, match="init='zeros'"):
        denseshift(fmnist_cnn(), 4, init="zeros")
