"""Recipe selection for bench/prune_fmnist.py, on a VALIDATION split (never the test set).

fmnist_cnn, fine-tuned on the first 55000 training images, scored on the last 5000
(the float model saw those in its own training, so its score there is optimistic; the
choices below are compared against each other on the same images):
  1. fine-tuning loss for structured 50 %-MAC pruning: cross-entropy vs distillation
     from the unpruned model (kd_weight 0.7, T 4), same epochs;
  2. distortion of the rate-distortion DP: "mse" of the logits vs "kl" to the unpruned
     model's softmax (both after a BatchNorm re-fit), each fine-tuned like uniform;
  3. N:M 1:4 progressive gradient flow: plain vs "gradient" (groups re-selected every 8
     steps, or every step) vs "mask", seeds 0-2.

    .venv/bin/python bench/prune_select.py [--quick]     (about 15 minutes on one thread)
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
from edgesdk.prune import count_macs  # noqa: E402
from edgesdk.prune.adaptive import adaptive_prune, uniform_prune  # noqa: E402
from edgesdk.prune.finetune import evaluate, finetune, prune_and_finetune  # noqa: E402
from edgesdk.util.atomic import write_text  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "prune_select.json"
SHAPE = (1, 1, 28, 28)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    x, y = load_fashion_mnist("train")
    xv, yv, x, y = x[55000:], y[55000:], x[:55000], y[:55000]
    if a.quick:
        x, y, xv, yv = x[:2000], y[:2000], xv[:1000], yv[:1000]
    base = trained_fmnist_cnn()
    calib = (x[:256], y[:256])
    epochs = 1 if a.quick else 2
    out = {"validation": "last 5000 training images", "float_validation_accuracy": evaluate(base, xv, yv)}

    m, _ = uniform_prune(base, SHAPE, 0.5, calib=calib)
    kd = {}
    for name, kw in (("cross-entropy", {}), ("distillation kd_weight 0.7 T 4", dict(teacher=base, kd_weight=0.7))):
        mm = copy.deepcopy(m)
        finetune(mm, x, y, epochs, lr=1e-3, **kw)
        kd[name] = evaluate(mm, xv, yv)
        print(f"fine-tuning loss {name:<32} val {kd[name]:.2f}", flush=True)
    out["finetune_loss"] = {"epochs": epochs, "structured-uniform 50% MACs": kd}

    dist = {}
    for d in ("mse", "kl"):
        mm, rep = adaptive_prune(base, SHAPE, calib, 0.5, distortion=d,
                                 candidates=tuple(round(0.05 * i, 2) for i in range(19)))
        finetune(mm, x, y, epochs, lr=1e-3)
        dist[d] = {"rates": {r["unit"]: r["rate"] for r in rep["layers"]}, "val": evaluate(mm, xv, yv),
                   "mac_reduction": 1 - count_macs(mm, SHAPE) / count_macs(base, SHAPE)}
        print(f"DP distortion {d:<4} rates {dist[d]['rates']} val {dist[d]['val']:.2f}", flush=True)
    out["dp_distortion"] = {"epochs": epochs, "results": dist}

    flows = {}
    xn, yn = x[:20000], y[:20000]
    for seed in ((0,) if a.quick else (0, 1, 2)):
        for name, kw in (("plain", {}), ("gradient", dict(progressive_flow=True, flow_mode="gradient")),
                         ("gradient every step", dict(progressive_flow=True, flow_mode="gradient", every=1)),
                         ("mask", dict(progressive_flow=True, flow_mode="mask"))):
            mm, _ = prune_and_finetune(copy.deepcopy(base), xn, yn, method="nm", n=1, m=4, epochs=epochs + 1,
                                       lr=1e-3, seed=seed, **kw)
            flows.setdefault(name, []).append(evaluate(mm, xv, yv))
            print(f"N:M 1:4 {name:<20} seed {seed} val {flows[name][-1]:.2f}", flush=True)
    out["nm_flow"] = {k: {"per_seed": v, "mean": float(np.mean(v)), "std": float(np.std(v))}
                      for k, v in flows.items()}
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, indent=2))
    if not a.quick:
        write_text(OUT, json.dumps(out, indent=2))
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
