"""edgesdk.zoo.models.fmnist_bnn_resnet: the binary-friendly ResNet, and its binarized
export to the IR.

Oracles: torch itself (the block's arithmetic written out independently, shapes, which
layers binarize() picks) and the torch forward pass of the binarized model against the
numpy reference run of the exported graph (XNOR-popcount BConv, Clip, Pad, Add)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from bn_helpers import randomize_batchnorm  # noqa: E402
from edgesdk.binary import binarize, export_graph  # noqa: E402
from edgesdk.errors import EdgeError  # noqa: E402
from edgesdk.reference import run  # noqa: E402
from edgesdk.zoo.models import fmnist_bnn_resnet  # noqa: E402


def test_shapes_size_and_the_binarized_layers():
    torch.manual_seed(0)
    m = fmnist_bnn_resnet()
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    convs = {n: c for n, c in m.named_modules() if isinstance(c, torch.nn.Conv2d)}
    block_w = sum(c.weight.numel() for n, c in convs.items() if n.startswith("blocks."))
    all_w = sum(p.numel() for n, p in m.named_parameters() if n.endswith("weight")
                and isinstance(dict(m.named_modules())[n.rsplit(".", 1)[0]], (torch.nn.Conv2d, torch.nn.Linear)))
    assert block_w == 2 * 16 * 16 * 9 + (16 * 32 + 32 * 32 + 32 * 64 + 64 * 64) * 9
    assert block_w / all_w > 0.95
    b = binarize(m, "biper")
    picked = sorted(n for n, mod in b.named_modules() if type(mod).__name__ == "BinaryConv2d")
    assert picked == sorted(n for n in convs if n.startswith("blocks."))    # stem and head stay real


def test_block_arithmetic_matches_a_hand_written_forward():
    torch.manual_seed(1)
    m = randomize_batchnorm(fmnist_bnn_resnet())
    x = torch.randn(3, 1, 28, 28)

    def bn(mod, t):
        return F.batch_norm(t, mod.running_mean, mod.running_var, mod.weight, mod.bias, False, 0.0, mod.eps)

    with torch.no_grad():
        h = F.hardtanh(bn(m.stem[1], F.conv2d(x, m.stem[0].weight, padding=1)))
        for blk in m.blocks:
            c1, c2 = blk.conv1, blk.conv2
            s = h
            if c1.stride[0] != 1:
                s = F.avg_pool2d(s, 2)
            if c1.out_channels != c1.in_channels:
                s = torch.cat([s, torch.zeros(s.shape[0], c1.out_channels - c1.in_channels, *s.shape[2:])], 1)
            y = F.hardtanh(bn(blk.bn1, F.conv2d(h, c1.weight, stride=c1.stride, padding=1)) + s)
            h = F.hardtanh(bn(blk.bn2, F.conv2d(y, c2.weight, padding=1)) + y)
        want = F.linear(bn(m.bn, h.mean((2, 3))), m.fc.weight, m.fc.bias)
        np.testing.assert_allclose(m(x).numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["biper", "ste"])
def test_binarized_export_runs_like_torch_in_the_reference(method):
    torch.manual_seed(2)
    m = binarize(fmnist_bnn_resnet(), method, freq=1.5)
    x = torch.randn(6, 1, 28, 28)
    m.train()
    m(x)                      # the activation thresholds take the first batch's means
    m = randomize_batchnorm(m, seed=3)
    with torch.no_grad():
        want = m(x).numpy()
    g = export_graph(m, (6, 1, 28, 28))
    ops = [n.op for n in g.nodes]
    assert ops.count("BConv") == 6 and "Pad" in ops and "Clip" in ops
    got = run(g, {"input": x.numpy()})[g.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert (got.argmax(1) == want.argmax(1)).all()


def test_export_rejects_a_non_constant_pad():
    class Reflect(torch.nn.Module):
        def forward(self, x):
            return F.pad(x, (1, 1, 1, 1), mode="reflect")

    with pytest.raises(EdgeError, match="reflect"):
        export_graph(Reflect(), (1, 1, 4, 4))


def test_export_pads_a_rank_2_tensor_from_its_last_axis():
    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(6, 4)

        def forward(self, x):
            return F.pad(self.fc(torch.flatten(x, 1)), (2, 1), value=0.5)   # features only

    torch.manual_seed(0)
    m = Head().eval()
    x = torch.randn(3, 1, 2, 3)
    g = export_graph(m, (3, 1, 2, 3))
    got = run(g, {"input": x.numpy()})[g.outputs[0]]
    with torch.no_grad():
        np.testing.assert_allclose(got, m(x).numpy(), rtol=1e-6, atol=1e-6)
    assert got.shape == (3, 7)
