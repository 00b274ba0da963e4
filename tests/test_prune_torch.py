"""Torch pruning: magnitude (global/per layer), masks with gradient flow, N:M, structured removal,
layer-adaptive allocation, fine-tuning schedules, and the bad-input errors."""
import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgesdk.errors import EdgeError
from edgesdk.prune import (adaptive_prune, allocate_rates, apply_mask, channel_prune, count_macs, count_params,
                           dependency_groups, magnitude_prune, nm_prune, sparsity_report)
from edgesdk.prune.finetune import prune_and_finetune
from edgesdk.prune.nm import refresh_nm_masks
from edgesdk.zoo import fmnist_cnn, resnet8, ds_cnn


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 2, generator=g)
    return model.eval()


def test_per_layer_magnitude_prunes_exactly_the_smallest():
    torch.manual_seed(0)
    m = fmnist_cnn()
    got = magnitude_prune(m, 0.6, scope="layer")
    for name, mod in m.named_modules():
        if name in got:
            w = mod.weight.detach()
            assert (w == 0).sum().item() == round(0.6 * w.numel())
            lat = mod.parametrizations.weight.original.detach().abs()
            assert lat[w == 0].max() <= lat[w != 0].min()


def test_global_magnitude_uses_one_threshold():
    torch.manual_seed(1)
    m = fmnist_cnn()
    magnitude_prune(m, 0.5, scope="global")
    rep = sparsity_report(m)
    assert abs(rep["density"] - 0.5) < 1e-3
    kept, dropped = [], []
    for _, mod in m.named_modules():
        if hasattr(mod, "parametrizations"):
            lat = mod.parametrizations.weight.original.detach().abs()
            kept.append(lat[mod.weight != 0].min())
            dropped.append(lat[mod.weight == 0].max())
    assert max(dropped) <= min(kept)
    assert len({round(r["density"], 2) for r in rep["layers"]}) > 1   # not uniform


def test_mask_gradient_flow_scales_pruned_gradients():
    torch.manual_seed(2)
    lin = nn.Linear(6, 3)
    mask = (torch.rand(3, 6) > 0.5).float()
    apply_mask(lin, mask, grad_decay=0.3)
    x = torch.randn(4, 6)
    lin(x).pow(2).sum().backward()
    # oracle: autograd w.r.t. the effective (masked) weight
    w_eff = (lin.parametrizations.weight.original.detach() * mask).requires_grad_(True)
    F.linear(x, w_eff, lin.bias.detach()).pow(2).sum().backward()
    want = w_eff.grad * (mask + 0.3 * (1 - mask))
    torch.testing.assert_close(lin.parametrizations.weight.original.grad, want)
    assert torch.all(lin.weight[mask == 0] == 0)


def test_nm_masks_and_refresh():
    torch.manual_seed(3)
    m = resnet8()
    names = nm_prune(m, 1, 4, progressive=True)
    assert "stem.0" not in names          # 3 x 3 x 3 = 27 inputs: not a multiple of 4
    mods = dict(m.named_modules())
    w = mods["stage2.conv1"].weight.detach().reshape(32, -1, 4)
    assert ((w != 0).sum(2) <= 1).all()
    lat = mods["stage2.conv1"].parametrizations.weight.original
    with torch.no_grad():
        lat.view(32, -1)[0, :4] = torch.tensor([0.0, 0.0, 0.0, 9.0])   # a weight that grew back
    refresh_nm_masks(m)
    g = mods["stage2.conv1"].weight.detach().reshape(32, -1, 4)
    assert ((g != 0).sum(2) <= 1).all() and g[0, 0].tolist() == [0.0, 0.0, 0.0, 9.0]
    with pytest.raises(EdgeError, match="not a multiple of 4"):
        nm_prune(resnet8(), 2, 4, layers=["stem.0"])


def _zero_channels(model, producers_and_bns, channels):
    with torch.no_grad():
        for name in producers_and_bns:
            mod = dict(model.named_modules())[name]
            if isinstance(mod, nn.Conv2d):
                mod.weight[channels] = 0
                if mod.bias is not None:
                    mod.bias[channels] = 0
            else:
                mod.bias[channels] = 0
                mod.running_mean[channels] = 0


def test_channel_removal_matches_zeroed_channels_fmnist():
    torch.manual_seed(4)
    m = _randomize_bn(fmnist_cnn())
    _zero_channels(m, ["4", "5"], [1, 5, 7, 20, 30, 31, 2, 9, 11, 12, 13, 14, 15, 16, 17, 18])
    p = channel_prune(m, (1, 1, 28, 28), rates={"4": 0.5})
    assert p[4].out_channels == 16 and p[5].num_features == 16 and p[8].in_channels == 16
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(p(x), m(x), rtol=1e-5, atol=1e-5)
    # hand-derived MACs at 50 % of every group: 8/16/16 channels
    q = channel_prune(fmnist_cnn(), (1, 1, 28, 28), ratio=0.5)
    assert count_macs(q, (1, 1, 28, 28)) == 28 * 28 * 8 * 9 + 14 * 14 * 16 * 8 * 9 + 7 * 7 * 16 * 16 * 9 + 16 * 10


def test_channel_removal_through_residual_adds_resnet8():
    torch.manual_seed(5)
    m = _randomize_bn(resnet8())
    groups = {g["name"]: g for g in dependency_groups(m, (1, 3, 32, 32))}
    # the stem's channels are shared with stage1's residual output: one group
    assert set(groups["stem.0"]["producers"]) == {"stem.0", "stage1.conv2"}
    assert not groups["fc"]["prunable"]
    ch = [0, 3, 4, 8, 9, 10, 11, 15]
    _zero_channels(m, ["stem.0", "stem.1", "stage1.conv2", "stage1.bn2"], ch)
    p = channel_prune(m, (1, 3, 32, 32), rates={"stem.0": 0.5})
    assert p.stem[0].out_channels == 8 and p.stage1.conv1.in_channels == 8 and p.stage2.conv1.in_channels == 8
    assert p.stage2.short[0].in_channels == 8
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(p(x), m(x), rtol=1e-5, atol=1e-5)
    assert count_macs(p, (1, 3, 32, 32)) < count_macs(m, (1, 3, 32, 32))


class _CatDw(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 6, 1)
        self.dw = nn.Conv2d(14, 14, 3, padding=1, groups=14)
        self.bn = nn.BatchNorm2d(14)
        self.head = nn.Linear(14 * 4 * 4, 5)

    def forward(self, x):
        y = torch.cat([self.a(x), torch.relu(self.b(x))], 1)
        y = F.max_pool2d(torch.relu(self.bn(self.dw(y))), 2)
        return self.head(torch.flatten(y, 1))


def test_channel_removal_through_concat_depthwise_and_flatten():
    torch.manual_seed(6)
    m = _randomize_bn(_CatDw())
    with torch.no_grad():
        m.a.weight[[1, 6]] = 0
        m.a.bias[[1, 6]] = 0
        m.b.weight[[0, 2, 4]] = 0
        m.b.bias[[0, 2, 4]] = 0
        for c in [1, 6, 8, 10, 12]:          # concat offsets: b's channels start at 8
            m.bn.bias[c] = 0
            m.bn.running_mean[c] = 0
            m.dw.bias[c] = 0
    p = channel_prune(m, (1, 3, 8, 8), rates={"a": 0.25, "b": 0.5})
    assert p.dw.groups == p.dw.in_channels == 9 and p.head.in_features == 9 * 16
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(p(x), m(x), rtol=1e-5, atol=1e-5)
    d = channel_prune(ds_cnn(), (1, 1, 49, 10), ratio=0.5)
    assert d(torch.randn(1, 1, 49, 10)).shape == (1, 12)


@pytest.mark.parametrize("ratio", [1.0, -0.1, float("nan"), "half"])
def test_bad_ratio(ratio):
    with pytest.raises(EdgeError, match="ratio"):
        magnitude_prune(fmnist_cnn(), ratio)
    with pytest.raises(EdgeError, match="ratio"):
        channel_prune(fmnist_cnn(), (1, 1, 28, 28), ratio=ratio)


def test_structural_bad_input():
    with pytest.raises(EdgeError, match="would lose all its 16 channels"):
        channel_prune(fmnist_cnn(), (1, 1, 28, 28), rates={"0": 0.97})
    grouped = nn.Sequential(nn.Conv2d(4, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2), nn.ReLU())
    with pytest.raises(EdgeError, match="incompatible groups"):
        channel_prune(grouped, (1, 4, 5, 5), rates={"0": 0.5})
    with pytest.raises(EdgeError, match="no prunable layers"):
        magnitude_prune(nn.Sequential(nn.ReLU()), 0.5)
    with pytest.raises(EdgeError, match="no prunable layers"):
        channel_prune(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (1, 4), ratio=0.5)
    with pytest.raises(EdgeError, match="not a Conv/Linear"):
        channel_prune(fmnist_cnn(), (1, 1, 28, 28), rates={"1": 0.5})


def test_allocate_rates_matches_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(5):
        sav = [np.sort(rng.uniform(0, 10, 4)) for _ in range(4)]
        for s in sav:
            s[0] = 0
        dist = [np.sort(rng.uniform(0, 1, 4)) ** 2 for _ in range(4)]
        target = rng.uniform(5, 25)
        picks = allocate_rates(sav, dist, target, bins=2000)
        best = min((sum(d[j] for d, j in zip(dist, c)), c) for c in itertools.product(range(4), repeat=4)
                   if sum(s[j] for s, j in zip(sav, c)) >= target)
        got = sum(d[j] for d, j in zip(dist, picks))
        assert sum(s[j] for s, j in zip(sav, picks)) >= target - 1e-6
        assert got <= best[0] + 1e-3   # optimal up to the savings grid


def test_adaptive_prune_meets_the_mac_budget_with_a_report():
    torch.manual_seed(8)
    m = _randomize_bn(fmnist_cnn())
    x = torch.randn(64, 1, 28, 28)
    p, rep = adaptive_prune(m, (1, 1, 28, 28), x, 0.5, metric="macs", kind="structured",
                            candidates=(0.0, 0.25, 0.5, 0.75))
    assert count_macs(p, (1, 1, 28, 28)) <= 0.5 * count_macs(m, (1, 1, 28, 28))
    assert rep["achieved_reduction"] >= 0.5 and {r["unit"] for r in rep["layers"]} == {"0", "4", "8"}
    pu, repu = adaptive_prune(m, (1, 1, 28, 28), x, 0.4, metric="params", kind="unstructured",
                              candidates=(0.0, 0.3, 0.6, 0.9))
    assert count_params(pu, sparse=True) <= 0.6 * count_params(m) + 1


@pytest.mark.parametrize("kw", [
    dict(method="magnitude", schedule="oneshot"), dict(method="magnitude", schedule="iterative"),
    dict(method="magnitude", schedule="progressive"), dict(method="channel", schedule="iterative"),
    dict(method="nm", n=1, m=4, progressive_flow=True),
])
def test_finetune_schedules_reach_the_target(kw):
    torch.manual_seed(9)
    x = torch.randn(96, 1, 12, 12)
    y = torch.randint(0, 10, (96,))
    m = fmnist_cnn(width=8)
    p, losses = prune_and_finetune(m, x, y, ratio=0.5, epochs=3, rounds=3, batch=32, input_shape=(1, 1, 12, 12),
                                   every=2, **kw)
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert not any(hasattr(mod, "parametrizations") for mod in p.modules())   # masks baked
    if kw["method"] == "magnitude":
        assert abs(sparsity_report(p)["density"] - 0.5) < 0.01
    elif kw["method"] == "channel":
        assert count_macs(p, (1, 1, 12, 12)) < 0.5 * count_macs(fmnist_cnn(width=8), (1, 1, 12, 12))
    else:
        w = p[4].weight.detach().reshape(16, -1, 4)
        assert ((w != 0).sum(2) <= 1).all()


def test_partial_gradient_flow_scales_the_update_under_adam():
    """Adam ignores gradient scale, so the decay must also scale the pruned weights' updates."""
    from edgesdk.prune.finetune import finetune
    torch.manual_seed(11)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    base = nn.Sequential(nn.Linear(6, 3))
    mask = (torch.rand(3, 6) > 0.5).float()
    deltas = {}
    for decay in (1.0, 0.25):
        m = copy.deepcopy(base)
        apply_mask(m[0], mask, grad_decay=decay)
        before = m[0].parametrizations.weight.original.detach().clone()
        finetune(m, x, y, epochs=1, batch=32, lr=1e-2)
        deltas[decay] = m[0].parametrizations.weight.original.detach() - before
    pruned = mask == 0
    torch.testing.assert_close(deltas[0.25][pruned], 0.25 * deltas[1.0][pruned], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(deltas[0.25][~pruned], deltas[1.0][~pruned])
