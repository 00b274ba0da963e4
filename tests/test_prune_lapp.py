"""lapp_rates / lapp_prune: per-group channel rates learned with the task loss under a MAC
budget (LAPP-style soft gates with learnable thresholds).

Oracles: count_macs recounted on the returned models (the budget), the channel counts
of the pruned modules (the report), and a model built so that one channel group provably
cannot affect the loss (its branch is multiplied by zero): the task loss gives its
threshold no gradient, so the MAC penalty must cut that group, not the useful one."""
import pytest
import torch
from torch import nn

from edgesdk.errors import EdgeError
from edgesdk.prune import count_macs
from edgesdk.prune.lapp import lapp_prune, lapp_rates

SHAPE = (1, 1, 8, 8)


def chain(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


class TwoBranches(nn.Module):
    """Two equally expensive conv branches on the input; the second one's logits are
    multiplied by zero, so its channels never change the output or the loss."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head_a, self.head_b = nn.Linear(8, 4), nn.Linear(8, 4)

    def forward(self, x):
        return self.head_a(self.pool(self.a(x))) + 0.0 * self.head_b(self.pool(self.b(x)))


def data(model, n=256):
    """Inputs and the model's own predictions as labels: every useful channel matters."""
    x = torch.randn(n, *SHAPE[1:], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model.eval()(x).argmax(1)
    return x, y


def test_learned_plan_meets_the_mac_budget_on_the_real_pruned_model():
    torch.set_num_threads(1)
    model = chain()
    x, y = data(model)
    base = count_macs(model, SHAPE)
    pruned, rep = lapp_prune(model, SHAPE, x, y, 0.5, steps=60, batch=32)
    macs = count_macs(pruned, SHAPE)
    assert macs <= 0.5 * base
    assert rep["pruned"] == macs and rep["base"] == base
    assert rep["achieved_reduction"] == pytest.approx(1 - macs / base)
    # the report's kept channels are the pruned modules' real widths
    kept = {l["unit"]: l["kept"] for l in rep["layers"]}
    assert kept == {"0": pruned[0].out_channels, "3": pruned[3].out_channels}
    assert pruned[8].in_features == kept["3"]
    # the give-back step leaves no single channel that could be restored within the budget
    rates, _ = lapp_rates(model, SHAPE, x, y, 0.5, steps=60, batch=32)
    assert {u: r for u, r in rates.items()} == {l["unit"]: l["rate"] for l in rep["layers"] if l["rate"] > 0}
    from edgesdk.prune.structured import channel_prune
    for u in rates:
        looser = dict(rates, **{u: (round(rates[u] * 8) - 1) / 8})
        assert count_macs(channel_prune(model, SHAPE, rates=looser), SHAPE) > 0.5 * base
    with torch.no_grad():   # the pruned model still runs and gives finite outputs
        assert torch.isfinite(pruned(x[:4])).all()


def test_the_group_the_loss_does_not_need_is_pruned_first():
    torch.set_num_threads(1)
    model = TwoBranches()
    x, y = data(model)
    base = count_macs(model, SHAPE)
    rates, rep = lapp_rates(model, SHAPE, x, y, 0.3, steps=80, batch=32, train_weights=False)
    by = {l["unit"]: l for l in rep["layers"]}
    assert set(by) == {"a.0", "b.0"}
    assert by["b.0"]["threshold"] > by["a.0"]["threshold"] + 0.2, by
    # branch b alone pays for the budget; the useful branch keeps every channel
    assert by["a.0"]["kept"] == 8 and by["b.0"]["kept"] < 8
    assert rep["pruned"] <= 0.7 * base


@pytest.mark.parametrize("kw, msg", [
    (dict(target=0.0), "must be > 0"),
    (dict(target=1.0), "target reduction"),
    (dict(target=-0.2), "target reduction"),
    (dict(steps=0), "steps 0"),
    (dict(steps=2.5), "steps 2.5"),
    (dict(lr=-1.0), "lr -1.0"),
    (dict(batch=0), "batch 0"),
    (dict(temperatures=(0.01, 0.1)), "temperatures"),
    (dict(metric="params"), "metric 'params'"),
])
def test_bad_arguments_are_one_line_errors(kw, msg):
    model = chain()
    x, y = data(model, 16)
    args = dict(target=0.5, steps=5)
    args.update(kw)
    with pytest.raises(EdgeError, match=msg) as e:
        lapp_rates(model, SHAPE, x, y, args.pop("target"), **args)
    assert "\n" not in str(e.value)


def test_bad_data_and_unprunable_models_are_errors():
    model = chain()
    x, y = data(model, 16)
    with pytest.raises(EdgeError, match="16 inputs and 15 labels"):
        lapp_rates(model, SHAPE, x, y[:15], 0.5, steps=5)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    with pytest.raises(EdgeError, match="no prunable layers"):
        lapp_rates(flat, SHAPE, x, y, 0.5, steps=5)
    with pytest.raises(EdgeError, match="cannot be reached"):
        lapp_rates(model, SHAPE, x, y, 0.99, steps=5)
