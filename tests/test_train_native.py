"""The device training runtime (runtime/train + the float kernels + generated
train_head.c), compiled natively, against torch autograd: forward loss, weight / bias /
input gradients, one torch-SGD step with momentum and weight decay, bias-only mode, the
ReLU bit-mask path, checkpoints, and the HIL entry point's argument checks."""
import struct

import numpy as np
import pytest
import torch

from edgesdk.train.head import HeadLayer, training_memory
from edgesdk.train.native import NativeHead, pack_sample

pytestmark = pytest.mark.skipif(__import__("shutil").which("gcc") is None, reason="gcc is not installed")


def make_head(sizes, seed=0):
    rng = np.random.default_rng(seed)
    head = []
    for i, (n, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (rng.standard_normal((o, n)) / np.sqrt(n)).astype(np.float32)
        b = (0.1 * rng.standard_normal(o)).astype(np.float32)
        head.append(HeadLayer(f"fc{i}", w, b, relu=i < len(sizes) - 2))
    return head


def torch_head(head):
    layers = []
    for L in head:
        lin = torch.nn.Linear(L.w.shape[1], L.w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(L.w))
            lin.bias.copy_(torch.from_numpy(L.b))
        layers.append(lin)
    return layers


def torch_forward(layers, x, keep=None):
    h = x
    for i, lin in enumerate(layers):
        h = lin(h)
        if keep is not None:
            h.retain_grad()
            keep.append(h)
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


@pytest.fixture(scope="module")
def two_layer():
    head = make_head([24, 16, 5])
    nh = NativeHead(head)
    yield head, nh
    nh.close()


def test_forward_and_all_gradients_match_torch(two_layer):
    head, nh = two_layer
    rng = np.random.default_rng(1)
    x = rng.standard_normal(24).astype(np.float32)
    label = 3
    nh.lib.ek_train_boot()  # zero the accumulators
    loss, pred = nh.sample(x, label)

    layers = torch_head(head)
    pre = []
    logits = torch_forward(layers, torch.from_numpy(x)[None], keep=pre)
    ref = torch.nn.functional.cross_entropy(logits, torch.tensor([label]))
    ref.backward()
    assert loss == pytest.approx(float(ref.detach()), rel=1e-6, abs=1e-6)
    assert pred == int(logits.argmax())
    # ReLU must really cut some units off here, or the mask path would be untested
    hidden = pre[0].detach().numpy()[0]
    assert (hidden < 0).any() and (hidden > 0).any()
    for (gw, gb), lin in zip(nh.grads(), layers):
        np.testing.assert_allclose(gw, lin.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gb, lin.bias.grad.numpy(), rtol=1e-5, atol=1e-6)
    # input gradient of the last layer, through the ReLU bit mask = d loss / d pre-activation
    dx = nh.input_grads()[1]
    np.testing.assert_allclose(dx, pre[0].grad.numpy()[0], rtol=1e-5, atol=1e-6)
    assert (dx[hidden <= 0] == 0).all()


def test_sgd_momentum_weight_decay_matches_torch_optimizer(two_layer):
    head, nh = two_layer
    nh.lib.ek_train_boot()
    # start from the deployed weights again (a previous test may have trained)
    assert nh.step(bytes([7]))[0] == 0
    lr, mom, wd = 0.1, 0.9, 0.01
    nh.configure(lr, mom, wd)
    layers = torch_head(head)
    params = [p for lin in layers for p in (lin.weight, lin.bias)]
    opt = torch.optim.SGD(params, lr=lr, momentum=mom, weight_decay=wd)
    rng = np.random.default_rng(2)
    for step in range(3):                        # 3 steps: momentum buffers matter after the first
        xb = rng.standard_normal((4, 24)).astype(np.float32)
        yb = rng.integers(0, 5, 4)
        for x, y in zip(xb, yb):
            nh.sample(x, int(y))
        nh.apply(len(xb))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(torch_forward(layers, torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
        opt.step()
    for (w, b), lin in zip(nh.params(), layers):
        np.testing.assert_allclose(w, lin.weight.detach().numpy(), rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(b, lin.bias.detach().numpy(), rtol=1e-5, atol=2e-6)
    # and the step really moved the weights (a no-op would match nothing above, but be explicit)
    assert not np.allclose(nh.params()[0][0], head[0].w)


@pytest.mark.parametrize("build_mode,configure_bias_only", [("bias", False), ("last", True)])
def test_bias_only_mode_trains_biases_and_leaves_weights(build_mode, configure_bias_only):
    """A bias build (weights const, never written even if CONFIG asks for full training)
    and a full build configured at run time to train biases only."""
    head = make_head([12, 8, 4], seed=3)
    nh = NativeHead(head, mode=build_mode)
    try:
        lr, mom = 0.2, 0.5
        nh.configure(lr, mom, 0.0, bias_only=configure_bias_only)
        layers = torch_head(head)
        for lin in layers:
            lin.weight.requires_grad_(False)
        opt = torch.optim.SGD([lin.bias for lin in layers], lr=lr, momentum=mom)
        rng = np.random.default_rng(4)
        for _ in range(2):
            xb = rng.standard_normal((3, 12)).astype(np.float32)
            yb = rng.integers(0, 4, 3)
            for x, y in zip(xb, yb):
                nh.sample(x, int(y))
            if build_mode == "bias":
                assert all(gw is None for gw, _ in nh.grads())   # no weight-gradient buffers at all
            nh.apply(3)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(torch_forward(layers, torch.from_numpy(xb)),
                                              torch.from_numpy(yb)).backward()
            opt.step()
        for (w, b), lin, L in zip(nh.params(), layers, head):
            np.testing.assert_array_equal(w, L.w)
            np.testing.assert_allclose(b, lin.bias.detach().numpy(), rtol=1e-5, atol=2e-6)
            assert not np.allclose(b, L.b)
        assert nh.train_bytes() == training_memory(head, build_mode)
        if build_mode == "bias":
            # no weight gradients, momentum, RAM copy or checkpoint of the weights: far less memory
            assert training_memory(head, "bias") * 4 < training_memory(head, "last")
            # its checkpoints hold the biases alone and restore them
            trained = [b.copy() for _, b in nh.params()]
            seq = nh.checkpoint()
            assert nh.step(bytes([7]))[0] == 0                     # back to the deployed weights
            np.testing.assert_array_equal(nh.params()[0][1], head[0].b)
            assert nh.boot() == seq
            for (w, b), t, L in zip(nh.params(), trained, head):
                np.testing.assert_array_equal(b, t)
                np.testing.assert_array_equal(w, L.w)
            assert nh.lib.ek_train_set_weights(0, b"\0" * 8, 8) == -1   # weights are const: refused
    finally:
        nh.close()


def test_three_layer_relu_chain_input_gradients():
    head = make_head([10, 9, 7, 3], seed=5)
    nh = NativeHead(head)
    try:
        x = np.random.default_rng(6).standard_normal(10).astype(np.float32)
        nh.sample(x, 2)
        layers = torch_head(head)
        pre = []
        torch.nn.functional.cross_entropy(torch_forward(layers, torch.from_numpy(x)[None], keep=pre),
                                          torch.tensor([2])).backward()
        g = nh.input_grads()
        np.testing.assert_allclose(g[2], pre[1].grad.numpy()[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(g[1], pre[0].grad.numpy()[0], rtol=1e-5, atol=1e-6)
        for (gw, gb), lin in zip(nh.grads(), layers):
            np.testing.assert_allclose(gw, lin.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    finally:
        nh.close()


def test_hil_entry_point_dequantizes_features_and_refuses_bad_arguments():
    head = make_head([8, 3], seed=7)
    scale, zp = 0.05, -3
    nh = NativeHead(head, feature_scale=scale, feature_zp=zp)
    try:
        q = np.arange(-4, 4, dtype=np.int8) * 9
        r = nh.step(pack_sample(1, q, train=False))
        assert r[0] == 0
        loss, pred, _cost = struct.unpack_from("<fBI", r, 1)
        feat = torch.from_numpy(scale * (q.astype(np.float32) - zp))[None]
        logits = torch_forward(torch_head(head), feat)
        assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, torch.tensor([1])).detach()), rel=1e-5)
        assert pred == int(logits.argmax())
        assert nh.step(pack_sample(3, q)) == bytes([1])              # label out of range (3 classes)
        assert nh.step(pack_sample(0, q[:5])) == bytes([2])          # sample of the wrong size
        assert nh.step(bytes([2, 0])) == bytes([3])                  # truncated arguments
        assert nh.step(bytes([99])) == bytes([4])                    # unknown sub-command
        assert nh.step(bytes([3])) == bytes([6])                     # APPLY with nothing accumulated
        assert nh.step(struct.pack("<BfffB", 1, 0.1, 0.0, 0.0, 0))[0] == 0
    finally:
        nh.close()


def test_checkpoint_restores_newest_good_slot_and_rejects_a_torn_one():
    head = make_head([6, 4], seed=8)
    nh = NativeHead(head)
    try:
        nh.configure(0.5)
        x = np.ones(6, np.float32)
        nh.sample(x, 1)
        nh.apply(1)
        seq1 = nh.checkpoint()
        good = [(w.copy(), b.copy()) for w, b in nh.params()]
        nh.sample(x, 2)
        nh.apply(1)
        torn = nh.step(bytes([8]))                                    # EK_TRAIN_TORN_CHECKPOINT
        assert torn[0] == 0 and struct.unpack_from("<I", torn, 1)[0] == seq1 + 1
        assert nh.boot() == seq1                                      # the torn slot fails its CRC
        for (w, b), (gw, gb) in zip(nh.params(), good):
            np.testing.assert_array_equal(w, gw)
            np.testing.assert_array_equal(b, gb)
        # a good checkpoint after that wins over the older one
        nh.sample(x, 0)
        nh.apply(1)
        seq3 = nh.checkpoint()
        assert seq3 > seq1 and nh.boot() == seq3
    finally:
        nh.close()


def test_feature_cache_stores_and_replays_backbone_features():
    head = make_head([8, 3], seed=9)
    nh = NativeHead(head, feature_scale=0.1, feature_zp=2, cache_slots=4)
    try:
        q = (np.arange(8, dtype=np.int8) - 3) * 7
        direct = nh.step(pack_sample(2, q, train=False))
        assert nh.step(pack_sample(2, q, train=False, store=3))[:6] == direct[:6]
        # overwrite the input buffer with another sample: the cached slot keeps the first
        nh.step(pack_sample(0, -q, train=False))
        assert nh.step(pack_sample(2, train=False, cached=3))[:6] == direct[:6]   # same loss and prediction
        assert nh.step(pack_sample(0, q, store=4)) == bytes([7])                  # slot out of range
        bad = pack_sample(0, q, cached=1)                                          # CACHED with an input
        assert nh.step(bad) == bytes([3])
        assert nh.train_bytes() == training_memory(head, "last", 4) == training_memory(head, "last") + 4 * 8
    finally:
        nh.close()
