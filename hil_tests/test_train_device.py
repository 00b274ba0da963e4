"""On-device training on the rig's board (QEMU by default, a real board with --board/--port):
fine-tuning over the rig equals torch on the same int8 features, and a torn checkpoint
followed by a reset brings back the last good one.

    pytest hil_tests/test_train_device.py --board nucleo-f746zg --port /dev/ttyACM0
"""
import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn


@pytest.fixture(scope="module")
def trainable(hil_board, request, tmp_path_factory):
    from edgesdk.boards import load_board
    from edgesdk.data import load_fashion_mnist
    from edgesdk.train.build import build_trainable
    from edgesdk.zoo.train import train_classifier
    if hil_board == "host":
        pytest.skip("on-device training runs on mcu boards (the host rig has no training runtime)")
    b = load_board(hil_board)
    if b.target != "mcu":
        pytest.skip(f"board {b.name}: on-device training builds target mcu, not {b.target}")
    tools = ["arm-none-eabi-gcc"] + ([str(b.emulator["command"][0])] if b.emulated else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    x, y = load_fashion_mnist("train", classes=[0, 1, 2, 3, 4], limit=400)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5))
    model = train_classifier(model, x, y, epochs=1, batch=32, lr=1e-2)
    out = tmp_path_factory.mktemp("train") / "build"
    build_trainable(model, b.name, out, calib=x[:32], last_k=2, example_inputs=torch.from_numpy(x[:1]),
                    measure=False, quiet=True)
    if not b.emulated:
        from edgesdk.hil.flash import flash
        flash(out)
    xn, yn = load_fashion_mnist("train", classes=[5, 6, 7, 8, 9], limit=24)
    return out, xn, yn, request.config.getoption("--port")


def test_finetune_on_board_equals_torch(trainable):
    from edgesdk.train.device import finetune
    from edgesdk.train.host import host_finetune
    out, x, y, port = trainable
    kw = dict(epochs=1, batch_size=8, lr=0.05, momentum=0.9, weight_decay=0.0)
    res = finetune(out, x, y, progress=False, port=port, **kw)
    host = host_finetune(out, x, y, **kw)
    for (w, b), lin in zip(res.weights, [m for m in host["head"] if isinstance(m, nn.Linear)]):
        np.testing.assert_allclose(w, lin.weight.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b, lin.bias.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_torn_checkpoint_and_reset_restore_the_last_good_one(trainable):
    from edgesdk.hil import open_device
    from edgesdk.train.device import DeviceTrainer
    out, x, y, port = trainable
    with open_device(out, port=port) as dev:
        tr = DeviceTrainer(dev, json.loads((out / "manifest.json").read_text()))
        tr.reset_weights()
        tr.configure(0.1, 0.9, 0.0)
        for i in range(8):
            tr.sample(x[i:i + 1], int(y[i]))
        tr.apply()
        seq = tr.checkpoint()
        good = tr.weights()
        for i in range(8, 16):
            tr.sample(x[i:i + 1], int(y[i]))
        tr.apply()
        tr.checkpoint(torn=True)
        dev.reset()
        st = tr.status()
        assert st["samples_seen"] == 0 and st["restored_checkpoint"] == seq
        for (w, b), (gw, gb) in zip(tr.weights(), good):
            np.testing.assert_array_equal(w, gw)
            np.testing.assert_array_equal(b, gb)
