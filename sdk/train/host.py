"""The same fine-tuning on the host, in torch: the yardstick for the device.

Features come from the build's own int8 backbone run by the reference interpreter
(bit-exact with the device), the head starts from the same weights, and SGD sees the
same samples in the same order and batches. Any gap to the device is then the device's
arithmetic, nothing else.
"""
import json
from pathlib import Path

import numpy as np


def backbone_features(build_dir, x):
    """Dequantized int8 backbone outputs for float samples x (the head's inputs)."""
    from ..ir import load
    from ..quant import dequantize_outputs, quantize_inputs
    from ..reference import run
    g = load(Path(build_dir) / "model.edg")
    name, out = g.inputs[0], g.outputs[0]
    feats = []
    for i in range(len(x)):
        q = quantize_inputs(g, {name: np.asarray(x[i:i + 1], np.float32)})
        feats.append(dequantize_outputs(g, run(g, q))[out].reshape(-1))
    return np.stack(feats).astype(np.float32)


def load_head(build_dir):
    import torch
    d = np.load(Path(build_dir) / "train_head.npz")
    n = len(d["relu"])
    layers = []
    for i in range(n):
        w, b = d[f"w{i}"], d[f"b{i}"]
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if d["relu"][i]:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_head(head):
    """[HeadLayer] -> torch.nn.Sequential with the same weights (ReLU where marked)."""
    import torch
    layers = []
    for L in head:
        lin = torch.nn.Linear(L.w.shape[1], L.w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.asarray(L.w, np.float32)))
            lin.bias.copy_(torch.from_numpy(np.asarray(L.b, np.float32)))
        layers.append(lin)
        if L.relu:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def finetune_features(head, f_train, y, f_test=None, y_test=None, orders=(), *, batch_size=16, lr=0.05,
                      momentum=0.9, weight_decay=0.0, bias_only=False):
    """torch SGD on precomputed features, one epoch per permutation in `orders`, in
    batches of `batch_size` (the device's schedule). `head` is a torch module."""
    import torch
    params = [p for n, p in head.named_parameters() if (not bias_only or n.endswith("bias"))]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    f_train = torch.from_numpy(np.asarray(f_train, np.float32))
    f_test = torch.from_numpy(np.asarray(f_test, np.float32)) if f_test is not None else None
    yt = torch.from_numpy(np.asarray(y, np.int64))

    def acc():
        if f_test is None:
            return None
        with torch.no_grad():
            return float((head(f_test).argmax(1).numpy() == np.asarray(y_test)).mean())

    out = {"before_acc": acc(), "history": []}
    for ep, order in enumerate(orders):
        losses = []
        for i in range(0, len(order), batch_size):
            idx = torch.from_numpy(np.asarray(order[i:i + batch_size]))
            loss = torch.nn.functional.cross_entropy(head(f_train[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        out["history"].append({"epoch": ep + 1, "loss": float(np.mean(losses)), "test_acc": acc()})
    out["after_acc"] = acc()
    out["head"] = head
    return out


def host_finetune(build_dir, x, y, *, epochs=3, batch_size=16, lr=0.05, momentum=0.9, weight_decay=0.0,
                  x_test=None, y_test=None, seed=0):
    """Returns {"before_acc", "after_acc", "history", "head"} for the torch run."""
    manifest = json.loads((Path(build_dir) / "manifest.json").read_text())
    f_train = backbone_features(build_dir, x)
    f_test = backbone_features(build_dir, x_test) if x_test is not None else None
    rng = np.random.default_rng(seed)      # the same permutations as the device run
    orders = [rng.permutation(len(x)) for _ in range(epochs)]
    return finetune_features(load_head(build_dir), f_train, y, f_test, y_test, orders, batch_size=batch_size, lr=lr,
                             momentum=momentum, weight_decay=weight_decay,
                             bias_only=manifest["train"]["mode"] == "bias")
