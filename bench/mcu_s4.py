"""4-bit weights on Cortex-M (packed two per byte, kernels/include/ek_s4.h) vs int8:
flash, weight bytes and exact instructions per inference (QEMU -icount, SysTick) of the
Fashion-MNIST CNN (edgesdk.zoo.train.fmnist_classifier) on the M4 (mps2-an386, _dsp
kernels) and the M55 (mps3-an547, _mve kernels), plus accuracy of each integer graph
(integer reference interpreter) on 1000 test images.

    .venv/bin/python bench/mcu_s4.py [--test N]

Configs: int8 PTQ; 4-bit weights (edgesdk.quant.quantize(weight_bits=4), layer-wise
calibrated); mixed 2/4/8 precision (quantize_to_budget at 3 bits per weight: some layers
2-bit, shipped in the s4 format).  Every build runs its self-test (optimized kernels on
the emulated core == the reference).  Writes
bench/results/mcu_s4.json.  Goal: the 4-bit weight arrays about half the int8 ones
(<= 0.52x: each row rounds up to a whole byte).
"""
import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import edgesdk.quant as Q
from edgesdk.data import load_fashion_mnist
from edgesdk.frontends import load
from edgesdk.pipeline import build, prepare_graph
from edgesdk.quant.calibrate import widen_batch
from edgesdk.reference import run
from edgesdk.util.atomic import write_text
from edgesdk.zoo.train import fmnist_classifier

OUT = Path(__file__).resolve().parent / "results" / "mcu_s4.json"
BOARDS = [("mps2-an386", "cortex-m4"), ("mps3-an547", "cortex-m55")]


def int_accuracy(qg, x, y, batch=500):
    correct = 0
    inp, out = qg.inputs[0], qg.outputs[0]
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        q = run(widen_batch(qg, len(xb)), Q.quantize_inputs(qg, {inp: xb}))[out]
        correct += int((q.reshape(len(xb), -1).argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--calib", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    model = fmnist_classifier().eval()   # width 16, all 10 classes (cached after the first run)
    xt, yt = load_fashion_mnist("test", limit=args.test)
    xtr, _ = load_fashion_mnist("train", limit=args.calib)
    g = prepare_graph(load(model, example_inputs=torch.from_numpy(xtr[:1])))

    configs = {"int8": Q.quantize(g, xtr), "4-bit": Q.quantize(g, xtr, weight_bits=4)}
    qm, plan, table = Q.quantize_to_budget(g, xtr, budget_bits_per_weight=3.0)
    configs["mixed 2/4/8"] = qm
    print(table)

    rows = []
    for name, qg in configs.items():
        acc = int_accuracy(qg, xt, yt)
        row = {"config": name, "accuracy": round(acc * 100, 2)}
        for board, core in BOARDS:
            with tempfile.TemporaryDirectory(prefix="ek_s4_bench_") as tmp:
                r = build(qg, "mcu", board, Path(tmp) / "b", calib=xt[:1], quiet=True)
            s = r.summary
            if s["selftest"] != "bit-exact":
                raise SystemExit(f"{name} on {board}: self-test {s['selftest']}")
            w_arrays = sum(int(L.consts["w"].nbytes) for L in r.program.layers if "w" in L.consts) \
                if hasattr(r, "program") else None
            row[core] = {"board": board, "flash_bytes": s["flash_bytes"], "weight_bytes": s["weight_bytes"],
                         "weight_array_bytes": w_arrays, "instructions": s["instructions"],
                         "macs_per_instruction": s["macs_per_instruction"],
                         "kernels": sorted({L["impl"] for L in r.manifest["layers"]}),
                         "layers": {L["name"]: {"impl": L["impl"], "bits": L.get("weight_bits", 8),
                                                "weight_bytes": L["weight_bytes"], "instructions": L["instructions"]}
                                    for L in r.manifest["layers"]}}
        rows.append(row)
        print(f"  {name}: {acc * 100:.2f}%", flush=True)

    base = rows[0]
    print(f"\n{'config':<14} {'acc %':>6} {'weights B':>10} {'w arrays B':>10} {'M4 flash B':>11} {'M4 instr':>11} "
          f"{'M55 flash B':>11} {'M55 instr':>11}")
    for r in rows:
        m4, m55 = r["cortex-m4"], r["cortex-m55"]
        print(f"{r['config']:<14} {r['accuracy']:>6.2f} {m4['weight_bytes']:>10,} {m4['weight_array_bytes'] or 0:>10,} "
              f"{m4['flash_bytes']:>11,} {m4['instructions']:>11,} {m55['flash_bytes']:>11,} {m55['instructions']:>11,}")
    q4 = rows[1]
    ratio_arrays = q4["cortex-m4"]["weight_array_bytes"] / base["cortex-m4"]["weight_array_bytes"]
    ratio_consts = q4["cortex-m4"]["weight_bytes"] / base["cortex-m4"]["weight_bytes"]
    summary = {
        "weight_array_ratio_4bit_vs_int8": round(ratio_arrays, 3),
        "weight_bytes_ratio_4bit_vs_int8 (incl. bias/multiplier/shift)": round(ratio_consts, 3),
        "flash_saved_bytes_4bit_m4": base["cortex-m4"]["flash_bytes"] - q4["cortex-m4"]["flash_bytes"],
        "instructions_ratio_4bit_vs_int8_m4": round(q4["cortex-m4"]["instructions"] / base["cortex-m4"]["instructions"], 3),
        "instructions_ratio_4bit_vs_int8_m55": round(q4["cortex-m55"]["instructions"] / base["cortex-m55"]["instructions"], 3),
        "accuracy_drop_4bit_points": round(base["accuracy"] - q4["accuracy"], 2),
        "goal_weight_arrays_le_0.52x": ratio_arrays <= 0.52,
    }
    for k, v in summary.items():
        print(f"{k}: {v}")
    result = {"bench": "mcu_s4", "model": "fmnist_cnn width 16 (edgesdk.zoo.train.fmnist_classifier)",
              "test_images": len(xt), "mixed_plan": plan, "rows": rows, "summary": summary,
              "host": platform.platform(), "python": sys.version.split()[0],
              "total_seconds": round(time.time() - t0, 1)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_text(OUT, json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
