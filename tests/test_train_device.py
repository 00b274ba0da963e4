"""On-device training on QEMU (Cortex-M4, mps2-an386): the int8 backbone + FP32 head
firmware trained over the rig, against the same fine-tuning in torch; the
checkpoint / torn-checkpoint / reset / resume path; and bad input, refused with one
clear line and without crashing the device."""
import json
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from edgesdk.data import load_fashion_mnist
from edgesdk.errors import DataError, EdgeError, FitError
from edgesdk.train.build import build_trainable
from edgesdk.train.device import DeviceTrainer, finetune
from edgesdk.train.host import host_finetune
from edgesdk.zoo.train import train_classifier

from conftest import require_tools

pytestmark = require_tools("arm-none-eabi-gcc", "qemu-system-arm")
BOARD = "mps2-an386"


def small_cnn():
    """A backbone of two strided convs and a 2-layer head (Linear-ReLU-Linear)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5))


@pytest.fixture(scope="module")
def trainable(tmp_path_factory):
    x, y = load_fashion_mnist("train", classes=[0, 1, 2, 3, 4], limit=600)
    model = train_classifier(small_cnn(), x, y, epochs=1, batch=32, lr=1e-2)
    out = tmp_path_factory.mktemp("tl") / "build"
    build_trainable(model, BOARD, out, calib=x[:32], last_k=2, example_inputs=torch.from_numpy(x[:1]),
                    measure=False, quiet=True, cache_samples=32)
    xn, yn = load_fashion_mnist("train", classes=[5, 6, 7, 8, 9], limit=40)
    return out, xn, yn


def test_device_finetune_matches_torch_on_the_same_features(trainable):
    out, x, y = trainable
    kw = dict(epochs=1, batch_size=8, lr=0.05, momentum=0.9, weight_decay=1e-3)
    res = finetune(out, x, y, progress=False, bulk="line", use_cache=False, **kw)   # every sample over the UART
    host = host_finetune(out, x, y, **kw)
    assert res.status["sample_transport"] == "serial line"
    assert res.history[0]["loss"] == pytest.approx(host["history"][0]["loss"], rel=1e-4)
    for (w, b), lin in zip(res.weights, [m for m in host["head"] if isinstance(m, nn.Linear)]):
        np.testing.assert_allclose(w, lin.weight.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b, lin.bias.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert res.status["samples_seen"] == len(x)
    assert res.instructions_per_sample > 10_000        # a real count from SysTick under -icount
    m = json.loads((out / "manifest.json").read_text())["train"]
    assert m["train_bytes"] == res.status["train_bytes"]  # the host's memory figure is the device's
    # the fast paths (samples through host files; epoch 2 from the on-device feature cache
    # for 32 of the 40 samples) train bit for bit the same as the serial line
    kw2 = dict(kw, epochs=2)
    slow = finetune(out, x, y, progress=False, use_cache=False, **kw2)
    fast = finetune(out, x, y, progress=False, **kw2)
    assert fast.status["sample_transport"] == "host files"
    for (w, b), (w2, b2) in zip(slow.weights, fast.weights):
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)
    assert slow.instructions_per_cached_sample is None
    assert fast.instructions_per_cached_sample * 5 < fast.instructions_per_sample   # no backbone
    assert m["cache_slots"] == 32
    # with room for the test set too, its features are cached after the first pass: same accuracies
    xt, yt = load_fashion_mnist("test", classes=[5, 6, 7, 8, 9], limit=8)
    a = finetune(out, x[:20], y[:20], x_test=xt, y_test=yt, progress=False, use_cache=False, **kw2)
    b = finetune(out, x[:20], y[:20], x_test=xt, y_test=yt, progress=False, **kw2)
    assert [(h["test_acc"], h["test_loss"]) for h in a.history] == [(h["test_acc"], h["test_loss"]) for h in b.history]
    assert a.before_acc == b.before_acc


def _train_some(tr, x, y):
    for i in range(len(x)):
        tr.sample(x[i:i + 1], int(y[i]))
    tr.apply()


def test_torn_checkpoint_then_reset_restores_the_last_good_one(trainable):
    from edgesdk.hil import open_device
    out, x, y = trainable
    manifest = json.loads((out / "manifest.json").read_text())
    with open_device(out) as dev:
        tr = DeviceTrainer(dev, manifest)
        assert tr._use_files()                                    # samples through semihosting files
        tr.reset_weights()
        tr.configure(0.1, 0.9, 0.0)
        _train_some(tr, x[:8], y[:8])
        good_seq = tr.checkpoint()
        good = tr.weights()
        _train_some(tr, x[8:16], y[8:16])
        moved = tr.weights()
        assert not np.array_equal(moved[0][0], good[0][0])
        assert tr.checkpoint(torn=True) == good_seq + 1           # half written, header claims newer
        assert tr.status()["samples_seen"] == 16
        dev.reset()                                               # EK_HIL_RESET: the device reboots
        st = tr.status()
        assert st["samples_seen"] == 0                            # .bss is fresh: it really rebooted
        assert st["restored_checkpoint"] == good_seq              # never the torn one
        for (w, b), (gw, gb) in zip(tr.weights(), good):
            np.testing.assert_array_equal(w, gw)
            np.testing.assert_array_equal(b, gb)
        # resume: train on from the restored weights, checkpoint, reboot, and get that back
        _train_some(tr, x[16:24], y[16:24])
        seq = tr.checkpoint()
        after = tr.weights()
        dev.reset()
        assert tr.status()["restored_checkpoint"] == seq > good_seq
        np.testing.assert_array_equal(tr.weights()[1][0], after[1][0])


def test_bad_samples_are_refused_and_the_device_keeps_working(trainable):
    from edgesdk.hil import open_device
    out, x, y = trainable
    manifest = json.loads((out / "manifest.json").read_text())
    with open_device(out) as dev:
        tr = DeviceTrainer(dev, manifest)
        with pytest.raises(DataError, match="label 7 is out of range.*5 classes"):
            tr.sample(x[:1], 7)
        # the same, past the host's check: the device itself refuses it
        raw = struct.pack("<BHB", 2, 7, 1) + tr.device_bytes(x[:1])
        with pytest.raises(DataError, match="label out of range"):
            tr._call(raw, "SAMPLE")
        with pytest.raises(DataError, match=r"samples have shape \(1, 14, 14\).*\(1, 28, 28\)"):
            tr.sample(x[:1, :, :14, :14], 0)
        with pytest.raises(DataError, match="sample of the wrong size"):
            tr._call(struct.pack("<BHB", 2, 0, 1) + bytes(100), "SAMPLE")
        loss, pred = tr.sample(x[:1], int(y[0]), train=False)   # still alive and answering
        assert np.isfinite(loss) and 0 <= pred < 5
    with pytest.raises(DataError, match="label 9 is out of range"):
        finetune(out, x[:4], np.array([0, 1, 9, 2]), epochs=1, progress=False)
    with pytest.raises(DataError, match="4 samples but 3 labels"):
        finetune(out, x[:4], y[:3], epochs=1, progress=False)


def test_a_model_without_a_trainable_head_is_refused(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    x = np.random.default_rng(0).random((4, 1, 12, 12), np.float32)
    with pytest.raises(EdgeError, match="no trainable layers"):
        build_trainable(model, BOARD, tmp_path / "b", calib=x, example_inputs=torch.from_numpy(x[:1]), quiet=True)
    assert not (tmp_path / "b").exists()
    # an ordinary (inference-only) build cannot be fine-tuned: said before any device is opened
    from edgesdk.pipeline import build, load_graph
    build(load_graph(model, example_inputs=torch.from_numpy(x[:1])), "mcu", BOARD, tmp_path / "inf", calib=x,
          measure=False, quiet=True)
    with pytest.raises(EdgeError, match=r"inf: this build has no trainable layers \(build it with --train-last K\)"):
        finetune(tmp_path / "inf", x, np.zeros(len(x), np.int64), epochs=1, progress=False)


def test_training_memory_that_does_not_fit_is_a_fit_error_at_build_time(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2048, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 64)).eval()
    x = np.random.default_rng(0).random((4, 1, 4, 4), np.float32)
    with pytest.raises(FitError, match=r"needs \d+ B of training memory but board mps2-an386 has 262144 B"):
        build_trainable(model, BOARD, tmp_path / "b", calib=x, example_inputs=torch.from_numpy(x[:1]), quiet=True)
    # biases only fits: no weight gradients or momentum
    r = build_trainable(model, BOARD, tmp_path / "b", calib=x, example_inputs=torch.from_numpy(x[:1]), mode="bias",
                        measure=False, quiet=True)
    assert r.manifest["train"]["train_bytes"] < 262144


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "edgesdk.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_cli_finetune_errors_are_one_line(trainable, tmp_path):
    out, x, y = trainable
    r = _cli("finetune", out, "--data", tmp_path / "missing.npz")
    assert r.returncode == 2 and "missing.npz: no such file" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=x[:4], y=np.array([0, 1, 2, 11]))
    r = _cli("finetune", out, "--data", bad, "--epochs", "1")
    assert r.returncode == 2 and "label 11 is out of range" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    nolabels = tmp_path / "nolabels.npz"
    np.savez(nolabels, x=x[:4])
    r = _cli("finetune", out, "--data", nolabels)
    assert r.returncode == 2 and "needs arrays named x and y" in r.stderr


@pytest.mark.slow
def test_cli_build_train_last_then_finetune(tmp_path):
    """`edgesdk build --train-last 2` then `edgesdk finetune`: the table, the JSON, exit 0."""
    from edgesdk.frontends import load
    from edgesdk.ir import save
    x, y = load_fashion_mnist("train", classes=[0, 1, 2, 3, 4], limit=40)
    model = small_cnn().eval()
    save(load(model, example_inputs=torch.from_numpy(x[:1])), tmp_path / "m.edg")
    np.save(tmp_path / "calib.npy", x[:16])
    r = _cli("build", tmp_path / "m.edg", "--calib", tmp_path / "calib.npy", "--train-last", "2",
             "--train", "last", "-o", tmp_path / "b", "--no-measure")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "b" / "manifest.json").read_text())["train"]
    assert m["last_k"] == 2 and [L["out"] for L in m["layers"]] == [16, 5] and m["layers"][0]["relu"]
    np.savez(tmp_path / "d.npz", x=x[:24], y=y[:24])
    np.savez(tmp_path / "t.npz", x=x[24:], y=y[24:])
    r = _cli("finetune", tmp_path / "b", "--data", tmp_path / "d.npz", "--test", tmp_path / "t.npz",
             "--epochs", "2", "--batch", "8", "--json", tmp_path / "res.json")
    assert r.returncode == 0, r.stderr
    for want in ("epoch", "train acc", "test acc", "before", "after", "training memory", "full backprop",
                 "instructions/sample"):
        assert want in r.stdout
    res = json.loads((tmp_path / "res.json").read_text())
    assert [h["epoch"] for h in res["history"]] == [1, 2] and res["status"]["samples_seen"] == 48
    assert res["before_acc"] is not None and res["after_acc"] == res["history"][-1]["test_acc"]
    # --train on a non-mcu target is refused in one line
    r = _cli("build", tmp_path / "m.edg", "--target", "riscv", "--train-last", "1", "-o", tmp_path / "rv")
    assert r.returncode == 2 and "on-device training builds target mcu" in r.stderr


def test_a_reboot_mid_run_resumes_from_the_last_checkpoint(trainable):
    """The device is reset (reset button) in the middle of epoch 2: the run resumes from the
    epoch-1 checkpoint, redoes epoch 2 with zero momentum (momentum is not checkpointed),
    and ends where torch ends with the same schedule."""
    from edgesdk.train.host import backbone_features, finetune_features, load_head
    out, x, y = trainable
    x, y = x[:24], y[:24]
    kw = dict(batch_size=8, lr=0.05, momentum=0.9, weight_decay=0.0)
    fired = []

    def press_reset(dev, epoch, done):
        if epoch == 1 and done == 12 and not fired:
            fired.append(done)
            dev.emulator.reset()

    res = finetune(out, x, y, epochs=2, progress=False, callback=press_reset, **kw)
    assert fired and res.resets == 1 and [h["epoch"] for h in res.history] == [1, 2]
    assert res.status["samples_seen"] == 24            # counted since the reboot: epoch 2, once
    rng = np.random.default_rng(0)
    orders = [rng.permutation(len(x)) for _ in range(2)]
    f = backbone_features(out, x)
    head = load_head(out)
    finetune_features(head, f, y, orders=orders[:1], **kw)
    finetune_features(head, f, y, orders=orders[1:], **kw)   # a fresh optimizer: momentum from zero
    for (w, b), lin in zip(res.weights, [m for m in head if isinstance(m, nn.Linear)]):
        np.testing.assert_allclose(w, lin.weight.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b, lin.bias.detach().numpy(), rtol=1e-4, atol=1e-5)
