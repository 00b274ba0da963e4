"""Pruning on Fashion-MNIST: accuracy vs MACs and parameters, per method and budget.

Models: edgesdk.zoo.fmnist_cnn (the trained float model of bench/quant_fmnist_model.py)
and edgesdk.zoo.resnet8 (trained here briefly on Fashion-MNIST padded to 32x32 and
tiled to 3 channels). For each MAC reduction (30/50/70 %) and method, the model is
pruned and fine-tuned with the same budget of epochs:
  magnitude   global unstructured magnitude (MACs counted on non-zero weights)
  uniform     structured channel removal, the same rate in every dependency group
  adaptive    structured, per-group rates from the rate-distortion DP (same MAC budget)
(both structured variants re-fit their BatchNorm statistics on the calibration batch)
N:M: 2:4 and 1:4 on every eligible layer, plain (one-shot mask, gradients cut) vs
progressive gradient flow (decaying gradient to pruned weights, groups re-selected).
Goals: 50 % fewer MACs with <= 1 point loss after fine-tuning; layer-adaptive beats
uniform at the same budget; N:M with progressive gradient flow beats plain at 1:4.

    .venv/bin/python bench/prune_fmnist.py [--quick] [--only fmnist|resnet8]
"""
import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_fmnist_model import trained_fmnist_cnn  # noqa: E402

from edgesdk.data import load_fashion_mnist  # noqa: E402
from edgesdk.prune import count_macs, count_params  # noqa: E402
from edgesdk.prune.adaptive import adaptive_prune, uniform_prune  # noqa: E402
from edgesdk.prune.finetune import evaluate, finetune, prune_and_finetune  # noqa: E402
from edgesdk.prune.magnitude import magnitude_prune  # noqa: E402
from edgesdk.prune.masks import remove_masks  # noqa: E402
from edgesdk.util.atomic import write_text  # noqa: E402
from edgesdk.zoo import resnet8  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "prune.json"


def to_32x3(x):
    return np.repeat(np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))), 3, axis=1)


def magnitude_for_macs(model, shape, reduction):
    """Global magnitude pruning at the sparsity that removes `reduction` of the (sparse) MACs."""
    base = count_macs(model, shape)
    lo, hi = 0.0, 0.99
    for _ in range(14):
        mid = (lo + hi) / 2
        m = copy.deepcopy(model)
        magnitude_prune(m, mid)
        if 1 - count_macs(m, shape, sparse=True) / base >= reduction:
            hi = mid
        else:
            lo = mid
    m = copy.deepcopy(model)
    magnitude_prune(m, hi)   # masks stay on for fine-tuning
    return m


def run_model(name, model, shape, data, test, reductions, ft_epochs, calib_n, nm_epochs):
    x, y = data
    xt, yt = test
    base_acc = evaluate(model, xt, yt)
    base_macs, base_params = count_macs(model, shape), count_params(model)
    print(f"\n{name}: float {base_acc:.2f} %, {base_macs} MACs, {base_params} params", flush=True)
    rows = [{"model": name, "method": "float", "target": 0.0, "accuracy": base_acc, "macs": base_macs,
             "params": base_params}]

    def record(method, target, m, t, extra=None):
        r = {"model": name, "method": method, "target": target, "accuracy": evaluate(m, xt, yt),
             "macs": count_macs(m, shape, sparse=True), "params": count_params(m, sparse=True),
             "seconds": round(time.time() - t, 1)}
        r["mac_reduction"] = 1 - r["macs"] / base_macs
        r["param_reduction"] = 1 - r["params"] / base_params
        r.update(extra or {})
        rows.append(r)
        print(f"  {method:<22} target {target:4.0%}  acc {r['accuracy']:6.2f}  MACs -{r['mac_reduction']:5.1%}  "
              f"params -{r['param_reduction']:5.1%}  ({r['seconds']:.0f} s)", flush=True)

    calib = (x[:calib_n], y[:calib_n])
    for red in reductions:
        t = time.time()
        m = magnitude_for_macs(model, shape, red)
        finetune(m, x, y, ft_epochs, lr=1e-3)
        record("magnitude", red, remove_masks(m), t)

        t = time.time()
        m, info = uniform_prune(model, shape, red, metric="macs", kind="structured", calib=calib)
        acc0 = evaluate(m, xt, yt)
        finetune(m, x, y, ft_epochs, lr=1e-3)
        record("structured-uniform", red, m, t, {"rate": info["rate"], "accuracy_before_finetune": acc0})

        t = time.time()
        m, rep = adaptive_prune(model, shape, calib, red, metric="macs", kind="structured",
                                candidates=tuple(round(0.05 * i, 2) for i in range(19)))
        acc0 = evaluate(m, xt, yt)
        finetune(m, x, y, ft_epochs, lr=1e-3)
        record("structured-adaptive", red, m, t, {"rates": {r["unit"]: r["rate"] for r in rep["layers"]},
                                                  "accuracy_before_finetune": acc0})

    for n_, m_ in ((2, 4), (1, 4)):
        for flow in (False, True):
            t = time.time()
            torch.manual_seed(0)
            m, _ = prune_and_finetune(copy.deepcopy(model), x, y, method="nm", n=n_, m=m_, progressive_flow=flow,
                                      epochs=nm_epochs, lr=1e-3)
            record(f"nm {n_}:{m_}" + (" progressive" if flow else " plain"), 1 - n_ / m_, m, t)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer samples and epochs (smoke run)")
    ap.add_argument("--only", choices=["fmnist", "resnet8"])
    a = ap.parse_args(argv)
    torch.set_num_threads(1)   # shared machine: a spinning thread pool is slower than one thread
    t0 = time.time()
    q = a.quick
    xt, yt = load_fashion_mnist("test", limit=2000 if q else 5000)
    rows = []
    if a.only in (None, "fmnist"):
        x, y = load_fashion_mnist("train", limit=3000 if q else 20000)
        rows += run_model("fmnist_cnn", trained_fmnist_cnn(), (1, 1, 28, 28), (x, y), (xt, yt),
                          (0.5,) if q else (0.3, 0.5, 0.7), 1 if q else 2, 256, 1 if q else 3)
    if a.only in (None, "resnet8"):
        x, y = load_fashion_mnist("train", limit=2000 if q else 8000)
        x3, xt3 = to_32x3(x), to_32x3(xt[:2000])
        torch.manual_seed(0)
        r8 = resnet8()
        finetune(r8, x3, y, 1 if q else 3, lr=3e-3, batch=32)
        rows += run_model("resnet8", r8, (1, 3, 32, 32), (x3, y), (xt3, yt[:2000]), (0.5,), 1, 128,
                          1 if q else 2)

    def find(model, method, target):
        for r in rows:
            if r["model"] == model and r["method"] == method and abs(r["target"] - target) < 1e-9:
                return r
        return None

    goals = {}
    for model in sorted({r["model"] for r in rows}):
        base = find(model, "float", 0.0)["accuracy"]
        best50 = max((r["accuracy"] for r in rows if r["model"] == model and r.get("mac_reduction", 0) >= 0.5
                      and r["method"] in ("magnitude", "structured-uniform", "structured-adaptive")), default=0)
        goals[f"{model}: 50% fewer MACs within 1 point"] = base - best50 <= 1.0
        s50u, s50a = find(model, "structured-uniform", 0.5), find(model, "structured-adaptive", 0.5)
        if s50u and s50a:
            goals[f"{model}: adaptive beats uniform at 50% MACs"] = s50a["accuracy"] > s50u["accuracy"]
        p, pl = find(model, "nm 1:4 progressive", 0.75), find(model, "nm 1:4 plain", 0.75)
        goals[f"{model}: N:M 1:4 progressive beats plain"] = p["accuracy"] > pl["accuracy"]

    print(f"\n{'model':<12}{'method':<24}{'target':>7}{'acc %':>8}{'MACs':>10}{'-MACs':>8}{'params':>9}{'-params':>9}")
    for r in rows:
        print(f"{r['model']:<12}{r['method']:<24}{r['target']:>7.0%}{r['accuracy']:>8.2f}{r['macs']:>10d}"
              f"{r.get('mac_reduction', 0):>8.1%}{r['params']:>9d}{r.get('param_reduction', 0):>9.1%}")
    for k, v in goals.items():
        print(f"goal {k}: {'MET' if v else 'NOT MET'}")
    doc = {"dataset": "Fashion-MNIST (resnet8: padded to 32x32, 3 channels)", "quick": q, "rows": rows,
           "goals": goals, "seconds": round(time.time() - t0, 1), "threads": 1}
    write_text(OUT, json.dumps(doc, indent=2))
    print(f"wrote {OUT} ({doc['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
