"""QAT: prepare() -> a few training steps -> convert() -> integer graph. Oracle: the torch
fake-quant model itself (what QAT trained) must agree with the integer reference."""
import numpy as np
import pytest
import torch
from torch import nn

import edgesdk.quant as Q
from edgesdk import qat
from edgesdk.data import load_fashion_mnist
from edgesdk.errors import EdgeError
from edgesdk.reference import run
from edgesdk.zoo import fmnist_cnn


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y = torch.relu(self.bn(self.c1(x)))
        y = torch.relu(y + self.c2(y))
        y = nn.functional.max_pool2d(y, 2)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def train_steps(model, x, y, steps=6, lr=1e-3):
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr)
    for i in range(steps):
        j = (i * 32) % len(x)
        loss = nn.functional.cross_entropy(model(torch.from_numpy(x[j:j + 32])), torch.from_numpy(y[j:j + 32]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def max_steps_vs_torch(pm, g, xs):
    o = g.tensors[g.outputs[0]].quant
    worst = 0
    for x in xs:
        t = pm(torch.from_numpy(x[None])).detach().numpy()
        q = run(g, Q.quantize_inputs(g, {g.inputs[0]: x[None]}))[g.outputs[0]]
        worst = max(worst, int(np.abs(q.astype(np.int64) - (np.round(t / o.scale) + o.zero_point)).max()))
    return worst


@pytest.fixture(scope="module")
def data():
    return load_fashion_mnist("train", limit=256)


@pytest.mark.parametrize("make,learn", [(fmnist_cnn, False), (Residual, False), (fmnist_cnn, True)])
def test_qat_converts_to_matching_integer_graph(data, make, learn):
    x, y = data
    torch.manual_seed(0)
    model = train_steps(make(), x, y)  # a BatchNorm with real statistics to fold
    pm = qat.prepare(model, learn_scales=learn)
    scales0 = [p.detach().clone() for n, p in pm.named_parameters() if n.endswith("scale")]
    train_steps(pm, x, y)
    if learn:  # LSQ: the scales themselves are trained
        scales1 = [p.detach() for n, p in pm.named_parameters() if n.endswith("scale")]
        assert any(not torch.equal(a, b) for a, b in zip(scales0, scales1))
    g = qat.convert(pm, torch.zeros(1, 1, 28, 28))
    assert Q.float_ops(g) == []
    ops = {n.op for n in g.nodes}
    assert {"QConv", "QGemm"} <= ops
    if make is Residual:
        assert "QAdd" in ops
    assert g.tensors[g.inputs[0]].dtype == "s8" and g.tensors[g.outputs[0]].dtype == "s8"
    # The trained fake-quant torch model and the integer graph agree to a step or two
    # (torch rescales in float; the integer graph uses fixed-point requantization).
    assert max_steps_vs_torch(pm, g, x[:12]) <= 2


def test_qat_4bit_weights(data):
    x, y = data
    torch.manual_seed(1)
    pm = qat.prepare(fmnist_cnn().eval(), weight_bits=4)
    train_steps(pm, x, y, steps=3)
    g = qat.convert(pm, torch.zeros(1, 1, 28, 28))
    for n in g.nodes:
        if n.op in ("QConv", "QGemm"):
            w = g.tensors[n.inputs[1]]
            assert w.quant.bits == 4 and -8 <= w.data.min() and w.data.max() <= 7
    assert max_steps_vs_torch(pm, g, x[:6]) <= 2


def test_prepare_errors():
    class Dynamic(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                return x
            return -x
    with pytest.raises(EdgeError, match="cannot trace Dynamic"):
        qat.prepare(Dynamic())
    with pytest.raises(EdgeError, match="weight_bits"):
        qat.prepare(fmnist_cnn(), weight_bits=3)
