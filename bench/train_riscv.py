"""Transfer learning on RISC-V, measured bare metal (qemu-system-riscv32, rv32gcv_zfh_zvfh,
VLEN 128, -icount shift=0: minstret is exact).

fmnist_cnn (width 16) trained on Fashion-MNIST classes 0-4; its backbone runs in FP16
(or FP32) with the RVV float kernels, its head (Linear 32 -> 5) trains in FP32 with the
same runtime as the MCU (runtime/train), on classes 5-9. The fine-tuning loop runs
inside the program (no RISC-V rig yet: samples linked into the image). Yardstick: the
same SGD in torch on the FP32 backbone's features, same orders and batches.

    .venv/bin/python bench/train_riscv.py [--samples 300] [--epochs 3]
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from edgesdk.data import load_fashion_mnist
from edgesdk.train.riscv import finetune_riscv, host_reference
from edgesdk.util.atomic import write_text
from edgesdk.zoo.train import fmnist_classifier

OUT = Path(__file__).resolve().parent / "results" / "train_riscv.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    model = fmnist_classifier(classes=[0, 1, 2, 3, 4], width=16, epochs=2)
    x, y = load_fashion_mnist("train", classes=[5, 6, 7, 8, 9], limit=args.samples)
    xt, yt = load_fashion_mnist("test", classes=[5, 6, 7, 8, 9], limit=args.test)
    kw = dict(batch_size=16, lr=0.05, momentum=0.9, weight_decay=0.0)
    rows = []
    for dtype in ("f16", "f32"):
        t0 = time.monotonic()
        r = finetune_riscv(model, x, y, xt, yt, epochs=args.epochs, dtype=dtype,
                           example_inputs=torch.from_numpy(x[:1]), **kw)
        wall = time.monotonic() - t0
        h = host_reference(r, x, y, xt, yt, **kw)
        dw = np.abs(r["weights"][0][0] - h["head"][0].weight.detach().numpy()).max()
        rows.append({"dtype": dtype, "vlen": r["vlen"], "train_samples": len(x), "test_samples": len(xt),
                     "epochs": args.epochs, **kw, "before_acc": r["before_acc"], "after_acc": r["after_acc"],
                     "host_after_acc": h["after_acc"], "gap_points": round(100 * abs(r["after_acc"] - h["after_acc"]), 2),
                     "max_weight_diff_vs_host": float(dw),
                     "instructions_per_train_sample": round(r["instructions_per_sample"]),
                     "instructions_backbone_per_sample": round(r["instructions_backbone_per_sample"]),
                     "instructions_head_per_sample": round(r["instructions_head_per_sample"]),
                     "history": [{k: v for k, v in e.items()} for e in r["history"]],
                     "host_history": h["history"], "wall_s": round(wall, 1)})
    print(f"{'backbone':<9} {'before':>7} {'after':>7} {'host':>7} {'gap':>5} {'max dW':>9} {'instr/sample':>13} "
          f"{'backbone':>10} {'head':>7}")
    for r in rows:
        print(f"{r['dtype'] + ' rvv':<9} {100 * r['before_acc']:6.1f}% {100 * r['after_acc']:6.1f}% "
              f"{100 * r['host_after_acc']:6.1f}% {r['gap_points']:5.1f} {r['max_weight_diff_vs_host']:9.2e} "
              f"{r['instructions_per_train_sample']:>13,} {r['instructions_backbone_per_sample']:>10,} "
              f"{r['instructions_head_per_sample']:>7,}")
    write_text(OUT, json.dumps({"bench": "train_riscv", "board": "qemu-rv32-virt (rv32gcv_zfh_zvfh, VLEN 128)",
                                "model": "fmnist_cnn w16, classes 0-4 -> 5-9", "runs": rows}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
