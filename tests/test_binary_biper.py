"""BiPer as the paper and the authors' code define it: square wave vs sign, sine and
ApproxSign surrogates against torch autograd, two-stage training, the sine regularizer,
the frequency schedule."""
import math

import numpy as np
import pytest
import torch

from edgesdk.binary import BinaryConv2d, BinaryLinear, FrequencySchedule, binarize, export_graph, train_recipe
from edgesdk.binary.recipe import set_binary_weights
from edgesdk.errors import EdgeError
from edgesdk.zoo import fmnist_cnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _layer_with_weights(w, method="biper", freq=1.0):
    layer = BinaryLinear(len(w), 1, bias=False, method=method, freq=freq)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([w]))
    layer.w_std.fill_(1.0)           # freq in absolute units: half period = pi / freq
    return layer


def test_square_wave_differs_from_sign_beyond_half_a_period():
    # half period pi: |w| in (pi, 2 pi) flips, |w| < pi and |w| in (2 pi, 3 pi) do not
    w = [0.5, -0.5, 3.0, -3.0, 3.5, -3.5, 6.0, -6.0, 7.0, -7.0]
    b = _layer_with_weights(w).binary_weight().detach().numpy()[0]
    want = [1, -1, 1, -1, -1, 1, -1, 1, 1, -1]
    assert b.tolist() == want
    ste = _layer_with_weights(w, "ste").binary_weight().detach().numpy()[0]
    assert ste.tolist() == [1, -1] * 5
    assert (b != ste).sum() == 4


def test_weight_surrogate_gradient_is_sine_derivative_even_past_the_half_period():
    w = torch.linspace(-9, 9, 37).tolist()
    layer = _layer_with_weights(w, freq=1.5)
    g = torch.linspace(-1, 1, 37).reshape(1, -1)
    (layer.binary_weight() * g).sum().backward()
    w2 = torch.tensor([w], requires_grad=True)
    (torch.sin(1.5 * w2) * g).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), w2.grad.numpy(), rtol=1e-5, atol=1e-6)
    # the gradient changes sign with cos: beyond a quarter period it pushes the other way
    assert (layer.weight.grad * g < 0).any() and (layer.weight.grad * g > 0).any()


def _approx_sign(z):
    """Bi-Real Net's ApproxSign, whose derivative is BiPer's activation surrogate."""
    return torch.where(z.abs() < 1, 2 * z - z * z.abs(), torch.sign(z))


def test_activation_surrogate_matches_autograd_of_approxsign_on_normalised_input():
    torch.manual_seed(0)
    layer = BinaryConv2d(3, 4, 3, padding=1, method="biper").train()
    x = (torch.randn(2, 3, 5, 5) * 3).requires_grad_(True)
    layer(x)                                             # first call sets the thresholds
    g = torch.randn(2, 4, 5, 5)
    (layer(x) * g).sum().backward()
    # oracle: the same layer built from differentiable pieces
    x2 = x.detach().clone().requires_grad_(True)
    z = x2 - layer.threshold.detach().view(1, -1, 1, 1)
    z = z / torch.sqrt(z.var((1, 2, 3), keepdim=True, unbiased=False) + 1e-5)
    zb = torch.nn.functional.pad(_approx_sign(z), (1, 1, 1, 1), value=-1.0)
    y = torch.nn.functional.conv2d(zb, layer.binary_weight().detach()) * layer.alpha.detach().view(1, -1, 1, 1)
    (y * g).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-4, atol=1e-5)
    # the normalisation only shapes the gradient: train and eval forwards agree exactly
    with torch.no_grad():
        torch.testing.assert_close(layer(x), layer.eval()(x), rtol=0, atol=0)


def test_ste_activation_keeps_clipped_identity():
    layer = BinaryLinear(4, 1, bias=False, method="ste")
    layer.threshold_ready.fill_(True)
    x = torch.tensor([[-2.0, -0.5, 0.5, 1.5]], requires_grad=True)
    layer(x).sum().backward()
    w = layer.binary_weight().detach()[0] * layer.alpha.detach()[0]
    np.testing.assert_allclose(x.grad.numpy()[0], (w * torch.tensor([0.0, 1.0, 1.0, 0.0])).numpy())


def test_stage_one_uses_the_real_valued_surrogate_and_export_refuses_it():
    torch.manual_seed(1)
    w = [0.2, -1.0, 2.5, 4.0]
    for method, fn in (("biper", lambda t: torch.sin(0.8 * t)), ("ste", lambda t: t.clamp(-1, 1))):
        layer = _layer_with_weights(w, method, freq=0.8)
        layer.threshold_ready.fill_(True)
        layer.binary_weights = False
        torch.testing.assert_close(layer.forward_weight(), fn(torch.tensor([w])))
    m = binarize(fmnist_cnn(), "biper")
    set_binary_weights(m, False)
    with pytest.raises(EdgeError, match="stage 1"):
        export_graph(m.eval(), (1, 1, 28, 28))


def test_sine_penalty_value_and_gradient():
    w = [0.3, -2.0, 5.0]
    layer = _layer_with_weights(w, freq=1.7)
    p = layer.sine_penalty()
    want = np.mean(np.sin(1.7 * np.array(w)) ** 2)
    assert abs(p.item() - want) < 1e-6
    p.backward()
    np.testing.assert_allclose(layer.weight.grad.numpy()[0], 1.7 * np.sin(2 * 1.7 * np.array(w)) / 3, rtol=1e-5)
    assert _layer_with_weights(w, "ste").sine_penalty().item() == 0.0


def test_frequency_schedule_values():
    m = binarize(fmnist_cnn(), "biper")
    lin = FrequencySchedule(m, 1.0, 3.0, steps=4, kind="linear")
    assert [lin.value()] + [lin.step() for _ in range(5)] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    geo = FrequencySchedule(m, 0.5, 4.0, steps=3, kind="geometric")
    np.testing.assert_allclose([geo.value()] + [geo.step() for _ in range(3)], [0.5, 1.0, 2.0, 4.0])
    layer = m[4]
    assert abs(layer.abs_freq() - 4.0 / float(layer.w_std)) < 1e-9


def test_two_stage_recipe_runs_stage_one_at_the_schedule_start_and_ends_binary():
    torch.manual_seed(2)
    x = torch.randn(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))
    m = binarize(fmnist_cnn(width=4), "biper")
    seen = []
    layer = m[4]
    orig = layer.forward_weight

    def spy():
        seen.append((layer.binary_weights, layer.freq))
        return orig()
    layer.forward_weight = spy
    losses = train_recipe(m, x, y, epochs=2, stage1_epochs=1, batch=32, freq_start=1.0, freq_end=2.0,
                          sine_penalty=0.01)
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert seen[:2] == [(False, 1.0), (False, 1.0)]           # stage 1: 2 batches, real weights
    assert seen[2:4] == [(True, 1.0), (True, 1.0)] and seen[4:] == [(True, 2.0), (True, 2.0)]
    assert layer.binary_weights


@pytest.mark.parametrize("kw,match", [
    (dict(optimizer="rmsprop"), "optimizer 'rmsprop'"),
    (dict(stage1_epochs=-1), "stage1_epochs"),
    (dict(epochs=0, stage1_epochs=0), "at least 1"),
    (dict(lr=0.0), "lr: must be a finite positive"),
    (dict(sine_penalty=float("nan")), "sine_penalty"),
    (dict(stage1_epochs=1, stage1_lr=0.0), "stage1_lr: must be a finite positive"),
    (dict(stage1_epochs=1, stage1_lr=float("inf")), "stage1_lr"),
])
def test_recipe_bad_settings(kw, match):
    with pytest.raises(EdgeError, match=match):
        train_recipe(binarize(fmnist_cnn(width=4), "biper"), np.zeros((4, 1, 28, 28), np.float32),
                     np.zeros(4, np.int64), **kw)


def test_fold_init_keeps_the_float_signs_that_copy_would_flip():
    torch.manual_seed(3)
    f = fmnist_cnn()
    wf = f[4].weight.detach()
    folded = binarize(f, "biper", freq=3.0, latent_init="fold")[4]
    copied = binarize(f, "biper", freq=3.0)[4]
    sign_f = torch.where(wf >= 0, 1.0, -1.0)
    assert torch.equal(folded.binary_weight().detach(), sign_f)
    beyond = wf.abs() * copied.abs_freq() > math.pi       # past half a period
    assert beyond.any()
    assert torch.equal(copied.binary_weight().detach()[beyond], -sign_f[beyond])
    folded.binary_weights = False                            # stage 1 starts as the float weights
    torch.testing.assert_close(folded.forward_weight().detach(), wf / (1.01 * wf.abs().max()), rtol=1e-5, atol=1e-6)


def test_half_period_init_maps_a_random_init_linearly_onto_the_rising_half_period():
    torch.manual_seed(5)
    fresh = fmnist_cnn()                                     # random init: training from scratch
    wf = fresh[4].weight.detach().clone()
    spread = binarize(fresh, "biper", freq=3.0, latent_init="half_period")[4]
    phase = spread.weight.detach() * spread.abs_freq()
    # linear: one positive factor for the whole layer; the largest weight just inside pi/2
    ratio = spread.weight.detach() / wf
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio.flatten()[0])), rtol=1e-5, atol=0)
    assert float(ratio.flatten()[0]) > 0
    assert math.isclose(float(phase.abs().max()), 0.99 * math.pi / 2, rel_tol=1e-5)
    # the square wave keeps the init's signs and the sine surrogate's gradient is alive everywhere
    assert torch.equal(spread.binary_weight().detach(), torch.where(wf >= 0, 1.0, -1.0))
    assert (torch.cos(phase) >= math.cos(0.99 * math.pi / 2) - 1e-6).all()
    # the copied random init would straddle several half-periods: signs scrambled
    copied = binarize(fresh, "biper", freq=3.0)[4]
    assert (copied.binary_weight().detach() != torch.where(wf >= 0, 1.0, -1.0)).float().mean() > 0.2
    # the same frequency (w_std from the init), so a schedule or penalty means the same thing
    assert float(spread.w_std) == float(copied.w_std)


@pytest.mark.parametrize("kw,match", [
    (dict(latent_init="zeros"), "latent_init 'zeros'"),
    (dict(method="ste", latent_init="fold"), "needs method 'biper'"),
    (dict(method="ste", latent_init="half_period"), "latent_init 'half_period' needs method 'biper'"),
    (dict(act_surrogate="tanh"), "activation surrogate 'tanh'"),
])
def test_binarize_bad_new_settings(kw, match):
    with pytest.raises(EdgeError, match=match):
        binarize(fmnist_cnn(), **kw)


def test_recipe_stage1_lr_drives_stage1_only(monkeypatch):
    made = []
    real_adam = torch.optim.Adam

    def recording_adam(params, lr, **kw):
        made.append(lr)
        return real_adam(params, lr=lr, **kw)

    monkeypatch.setattr(torch.optim, "Adam", recording_adam)
    x, y = np.zeros((8, 1, 28, 28), np.float32), np.zeros(8, np.int64)
    train_recipe(binarize(fmnist_cnn(width=4), "biper"), x, y, epochs=1, stage1_epochs=1, lr=1e-3, stage1_lr=5e-3)
    assert made == [5e-3, 1e-3]
    made.clear()
    train_recipe(binarize(fmnist_cnn(width=4), "biper"), x, y, epochs=1, stage1_epochs=1, lr=1e-3)
    assert made == [1e-3, 1e-3]


def test_binarize_cli_resnet_with_stage_lrs(tmp_path):
    from click.testing import CliRunner
    from edgesdk.cli import main
    from edgesdk.data import load_fashion_mnist
    from edgesdk.ir import load
    x, y = load_fashion_mnist("train", limit=64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    args = ["binarize", "zoo:fmnist_bnn_resnet", "--data", str(tmp_path / "d.npz"), "--input-shape", "1,1,28,28",
            "-o", str(tmp_path / "r.edg"), "--epochs", "1", "--stage1-epochs", "1", "--freq", "3"]
    r = CliRunner().invoke(main, args + ["--stage1-lr", "5e-3", "--lr", "1e-3"])
    assert r.exit_code == 0, r.output
    g = load(tmp_path / "r.edg")
    assert [n.op for n in g.nodes].count("BConv") == 6
    bad = CliRunner().invoke(main, args + ["--stage1-lr", "0", "-o", str(tmp_path / "bad.edg")])
    assert bad.exit_code == 2 and "stage1_lr: must be a finite positive" in bad.output
    assert not (tmp_path / "bad.edg").exists()       # nothing half-written


def test_binarize_cli_two_stages(tmp_path):
    from click.testing import CliRunner
    from edgesdk.cli import main
    from edgesdk.data import load_fashion_mnist
    x, y = load_fashion_mnist("train", limit=128)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    args = ["binarize", "zoo:fmnist_cnn", "--data", str(tmp_path / "d.npz"), "--input-shape", "1,1,28,28",
            "-o", str(tmp_path / "m.edg"), "--epochs", "1"]
    r = CliRunner().invoke(main, args + ["--stage1-epochs", "1", "--sine-penalty", "0.05", "--freq", "3"])
    assert r.exit_code == 0, r.output
    assert "stage 1 (real weights) epoch 1/1" in r.output and "stage 2 (binary) epoch 1/1" in r.output
    bad = CliRunner().invoke(main, args + ["--method", "ste", "--latent-init", "fold"])
    assert bad.exit_code == 2 and "--latent-init fold: only for --method biper" in bad.output
    bad = CliRunner().invoke(main, args + ["--method", "ste", "--latent-init", "half_period"])
    assert bad.exit_code == 2 and "--latent-init half_period: only for --method biper" in bad.output
    bad = CliRunner().invoke(main, args + ["--stage1-epochs", "-1"])
    assert bad.exit_code == 2 and "--stage1-epochs" in bad.output


def test_mcu_build_of_a_binarized_model_says_why_in_one_line():
    from edgesdk.binary import export_graph
    from edgesdk.pipeline import quantize_for_int8
    g = export_graph(binarize(fmnist_cnn(width=4), "ste").eval(), (1, 1, 28, 28))
    calib = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(EdgeError) as e:
        quantize_for_int8(g, calib)          # --calib does not help: say so, not "quantize it first"
    msg = str(e.value)
    assert "\n" not in msg and "binarized model" in msg and "--target gpu" in msg and "quantize it first" not in msg
