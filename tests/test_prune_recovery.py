"""Recovery tools for pruning: distillation fine-tuning, first-order Taylor channel
importance, the adaptive allocation's distortion choices, mask-decay gradient flow and
the iterative schedule's epoch budget."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgesdk.errors import EdgeError
from edgesdk.prune import adaptive_prune, apply_mask, channel_prune, count_macs, nm_prune
from edgesdk.prune.finetune import finetune, kd_loss, nm_gradient_flow_hook, prune_and_finetune
from edgesdk.prune.masks import set_grad_decay
from edgesdk.zoo import fmnist_cnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SHAPE = (1, 1, 12, 12)


def _kl(student, teacher, x):
    student.eval()
    with torch.no_grad():
        return F.kl_div(F.log_softmax(student(x), 1), F.log_softmax(teacher(x), 1), reduction="batchmean",
                        log_target=True).item()


def test_kd_loss_matches_its_definition():
    torch.manual_seed(0)
    s, t, y = torch.randn(8, 5), torch.randn(8, 5), torch.randint(0, 5, (8,))
    T, w = 3.0, 0.4
    ps, pt = F.softmax(s / T, 1), F.softmax(t / T, 1)
    kl = (pt * (pt.log() - ps.log())).sum(1).mean()   # KL(teacher || student), by hand
    want = (1 - w) * F.cross_entropy(s, y) + w * T * T * kl
    torch.testing.assert_close(kd_loss(s, t, y, w, T), want)
    torch.testing.assert_close(kd_loss(s, t, y, 0.0, T), F.cross_entropy(s, y))


def test_distillation_brings_the_pruned_model_closer_to_its_teacher():
    """Same data, steps and seed: fine-tuning with the teacher's soft targets leaves a
    smaller KL to the teacher than plain cross-entropy (labels here are random, so CE
    pulls away from the teacher while KD pulls towards it)."""
    torch.manual_seed(1)
    x, y = torch.randn(256, 1, 12, 12), torch.randint(0, 10, (256,))
    teacher = fmnist_cnn(width=8).eval()
    pruned = channel_prune(teacher, SHAPE, ratio=0.5)
    kl = {}
    for w in (0.0, 0.9):
        m = copy.deepcopy(pruned)
        finetune(m, x, y, epochs=3, batch=32, lr=3e-3, teacher=teacher if w else None, kd_weight=w, T=2.0)
        kl[w] = _kl(m, teacher, x)
    before = _kl(copy.deepcopy(pruned), teacher, x)
    assert kl[0.9] < before
    assert kl[0.9] < 0.5 * kl[0.0]


def test_finetune_bad_distillation_settings():
    m = fmnist_cnn(width=4)
    x, y = torch.randn(4, 1, 12, 12), torch.randint(0, 10, (4,))
    with pytest.raises(EdgeError, match="kd_weight"):
        finetune(m, x, y, teacher=copy.deepcopy(m), kd_weight=1.5)
    with pytest.raises(EdgeError, match="temperature"):
        finetune(m, x, y, teacher=copy.deepcopy(m), T=0)
    with pytest.raises(EdgeError, match="teacher"):
        finetune(m, x, y, teacher="model.pt")


def test_taylor_importance_removes_a_dead_channel_first():
    """A channel that the next conv ignores (its input weights are zero) cannot change
    the loss: its first-order score is exactly 0 and it is pruned first, although its
    filter has by far the largest L1 norm (the weight criterion keeps it)."""
    torch.manual_seed(2)
    m = fmnist_cnn(width=8).eval()
    dead = 5   # a channel of group "4" (16 channels), read by conv m[8]
    with torch.no_grad():
        for b in (m[1], m[5], m[9]):
            b.running_var.uniform_(0.5, 2.0)
        m[4].weight[dead] *= 10.0
        m[8].weight[:, dead] = 0.0
    x, y = torch.randn(64, 1, 12, 12), torch.randint(0, 10, (64,))
    from edgesdk.prune.structured import _Analysis, _taylor_scores
    s = _taylor_scores(m, _Analysis(m, torch.zeros(*SHAPE)), ["4"], (x, y))["4"]
    assert s[dead] == 0 and (s[torch.arange(16) != dead] > 0).all()
    kept = {}
    for imp in ("taylor", "l1bn"):
        p = channel_prune(m, SHAPE, rates={"4": 1 / 16}, importance=imp, calib=(x, y))
        assert p[4].out_channels == 15
        kept[imp] = any(torch.equal(w, m[4].weight[dead]) for w in p[4].weight.detach())
    assert not kept["taylor"] and kept["l1bn"]


def test_taylor_score_is_the_squared_first_order_loss_change():
    """Oracle: torch autograd of the loss w.r.t. a per-channel multiplier g on the BN
    output (at g = 1, dL/dg_c = sum over positions of a * dL/da), squared per sample."""
    torch.manual_seed(3)
    m = fmnist_cnn(width=4).eval()
    x, y = torch.randn(6, 1, 12, 12), torch.randint(0, 10, (6,))
    from edgesdk.prune.structured import _Analysis, _taylor_scores
    s = _taylor_scores(m, _Analysis(m, torch.zeros(*SHAPE)), ["0"], (x, y))["0"]
    want = torch.zeros(4)
    for i in range(6):
        g = torch.ones(4, requires_grad=True)
        h = m[1](m[0](x[i:i + 1])) * g[None, :, None, None]
        for layer in m[2:]:
            h = layer(h)
        F.cross_entropy(h, y[i:i + 1], reduction="sum").backward()
        want += g.grad ** 2
    torch.testing.assert_close(s, want / 6, rtol=1e-4, atol=1e-9)


def test_taylor_and_distortion_bad_input():
    m = fmnist_cnn(width=4)
    x = torch.randn(8, 1, 12, 12)
    with pytest.raises(EdgeError, match="calib=\\(inputs, labels\\)"):
        channel_prune(m, SHAPE, ratio=0.5, importance="taylor")
    with pytest.raises(EdgeError, match="importance 'fisher'"):
        channel_prune(m, SHAPE, ratio=0.5, importance="fisher")
    with pytest.raises(EdgeError, match="distortion 'l2'"):
        adaptive_prune(m, SHAPE, x, 0.3, distortion="l2")
    with pytest.raises(EdgeError, match="needs calib=\\(inputs, labels\\)"):
        adaptive_prune(m, SHAPE, x, 0.3, distortion="ce")


@pytest.mark.parametrize("distortion", ["kl", "ce"])
def test_adaptive_prune_with_task_distortions_meets_the_budget(distortion):
    torch.manual_seed(4)
    m = fmnist_cnn(width=8).eval()
    x, y = torch.randn(64, 1, 12, 12), torch.randint(0, 10, (64,))
    p, rep = adaptive_prune(m, SHAPE, (x, y), 0.4, distortion=distortion, importance="taylor")
    assert count_macs(p, SHAPE) <= 0.6 * count_macs(m, SHAPE)
    assert rep["achieved_reduction"] >= 0.4


def test_mask_decay_flow_blends_the_pruned_weights_in_the_forward():
    torch.manual_seed(5)
    lin = nn.Linear(8, 3)
    w = lin.weight.detach().clone()
    mask = (torch.rand(3, 8) > 0.5).float()
    wm = apply_mask(lin, mask, grad_decay=0.3)
    x = torch.randn(4, 8)
    torch.testing.assert_close(lin(x), F.linear(x, w * mask, lin.bias))          # hard forward by default
    wm.soft = True
    torch.testing.assert_close(lin(x), F.linear(x, w * (mask + 0.3 * (1 - mask)), lin.bias))
    lin(x).sum().backward()   # d/dW of sum(x W'^T) is 1^T x, times the blend factor
    latent = lin.parametrizations.weight.original
    want = torch.ones(4, 3).T @ x * (mask + 0.3 * (1 - mask))
    torch.testing.assert_close(latent.grad, want)


def test_gradient_flow_hook_modes_and_bad_mode():
    torch.manual_seed(6)
    m = fmnist_cnn(width=8)
    nm_prune(m, 1, 4, progressive=True)
    hook = nm_gradient_flow_hook(m, refresh_every=1, mode="mask")
    hook(0, 100)
    wm = m[4].parametrizations.weight[0]
    assert wm.soft and wm.grad_decay == pytest.approx(1.0)
    hook(75, 100)
    assert wm.grad_decay == pytest.approx(0.0)
    set_grad_decay(m, 0.0, soft=False)
    assert not wm.soft
    with pytest.raises(EdgeError, match="flow mode 'soft'"):
        nm_gradient_flow_hook(m, mode="soft")


@pytest.mark.parametrize("epochs,rounds", [(4, 3), (2, 3), (6, 3)])
def test_iterative_schedule_trains_exactly_the_epoch_budget(epochs, rounds):
    torch.manual_seed(7)
    x, y = torch.randn(64, 1, 12, 12), torch.randint(0, 10, (64,))
    p, losses = prune_and_finetune(fmnist_cnn(width=8), x, y, method="channel", schedule="iterative",
                                   ratio=0.5, epochs=epochs, rounds=rounds, batch=32, input_shape=SHAPE)
    assert len(losses) == epochs and np.isfinite(losses).all()
