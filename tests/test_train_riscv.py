"""Transfer learning on RISC-V (bare metal rv32gcv, qemu -icount): the backbone in FP16 or
FP32 with the RVV float kernels, the FP32 head trained by runtime/train inside the
program, against the same SGD in torch on the FP32 backbone's features."""
import numpy as np
import pytest
import torch
from torch import nn

from edgesdk.data import load_fashion_mnist
from edgesdk.errors import DataError, EdgeError
from edgesdk.train.riscv import finetune_riscv, host_reference

from conftest import require_tools

pytestmark = require_tools("clang-19", "ld.lld-19", "qemu-system-riscv32")
KW = dict(epochs=1, batch_size=4, lr=0.2, momentum=0.9, weight_decay=1e-3)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 3)).eval()
    with torch.no_grad():   # a BatchNorm with real statistics, folded by the pipeline
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[1].running_var.uniform_(0.5, 2.0)
    x, y = load_fashion_mnist("train", classes=[0, 1, 2], limit=16)
    xt, yt = load_fashion_mnist("test", classes=[0, 1, 2], limit=8)
    return model, x, y, xt, yt


@pytest.mark.parametrize("dtype,rel", [("f32", 1e-4), ("f16", 0.05)])
def test_riscv_finetune_matches_torch(setup, dtype, rel):
    """The weight updates (trained - deployed) agree with torch's to `rel` of their size:
    FP32 to rounding; FP16 within the error its backbone features carry."""
    model, x, y, xt, yt = setup
    res = finetune_riscv(model, x, y, xt, yt, last_k=2, dtype=dtype, example_inputs=torch.from_numpy(x[:1]), **KW)
    ref = host_reference(res, x, y, xt, yt, **{k: v for k, v in KW.items() if k != "epochs"})
    assert res["history"][0]["loss"] == pytest.approx(ref["history"][0]["loss"], rel=1e-5 if dtype == "f32" else 2e-3)
    lins = [m for m in ref["head"] if isinstance(m, nn.Linear)]
    for (w, b), lin, L in zip(res["weights"], lins, res["head"]):
        for got, want, start in ((w, lin.weight, L.w), (b, lin.bias, L.b)):
            d_ref = want.detach().numpy() - start
            assert np.abs(d_ref).max() > 1e-3                      # training really moved it
            assert np.abs((got - start) - d_ref).max() <= rel * np.abs(d_ref).max()
    assert res["before_acc"] == ref["before_acc"]
    assert res["instructions_backbone_per_sample"] > 10_000 and res["instructions_head_per_sample"] > 500


def test_riscv_finetune_bad_input(setup):
    model, x, y, xt, yt = setup
    ex = torch.from_numpy(x[:1])
    with pytest.raises(DataError, match="label 3 is out of range"):
        finetune_riscv(model, x[:4], np.array([0, 1, 3, 2]), xt, yt, example_inputs=ex, **KW)
    sig = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sigmoid(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with pytest.raises(EdgeError, match=r"node .*: op Sigmoid is not supported in a RISC-V fine-tuning backbone"):
        finetune_riscv(sig.eval(), x[:4], y[:4], xt, yt, example_inputs=ex, **KW)
