"""The rig on RISC-V: the Fashion-MNIST CNN (edgesdk.zoo.train.fmnist_classifier) built
FP32 and FP16 for bare-metal RV32 (qemu-rv32-virt) and FP16 for RV64 Linux user mode
(qemu-rv64-linux), run through edgesdk.hil on real test images.

    .venv/bin/python bench/hil_riscv.py [--images 50]

Per build: `edgesdk validate --cases 5` in a fresh process (what CI runs; its wall
seconds), then over N test images through one open device: the worst error against the
FP32 reference interpreter as kernels/include/ek_float.h measures it (max|err|/max|ref|,
FP16 goal 5e-3 * sqrt(K/150) for the longest reduction K > 150), top-1 agreement with the reference, accuracy against the labels, the
count per inference (minstret instructions on bare metal, ns under qemu-user) and wall
seconds per case (input up, run, output down). Writes bench/results/hil_riscv.json.
"""
import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgesdk import reference
from edgesdk.data import load_fashion_mnist
from edgesdk.hil import open_device
from edgesdk.hil.validate import f16_tolerance
from edgesdk.ir import load
from edgesdk.pipeline import build
from edgesdk.util.atomic import write_text
from edgesdk.zoo.train import fmnist_classifier

OUT = Path(__file__).resolve().parent / "results" / "hil_riscv.json"
CONFIGS = [("qemu-rv32-virt", "f32"), ("qemu-rv32-virt", "f16"), ("qemu-rv64-linux", "f16")]


def rel_to_max(dev, ref):
    ref = np.asarray(ref, np.float64).reshape(-1)
    return float(np.abs(np.asarray(dev, np.float64).reshape(-1) - ref).max() / np.abs(ref).max())


def one(model, board, dtype, x, y, tmp):
    import torch
    out = Path(tmp) / f"{board}-{dtype}"
    t0 = time.monotonic()
    build(model, "riscv", board, out, dtype=dtype, example_inputs=torch.zeros(1, 1, 28, 28), quiet=True)
    build_s = time.monotonic() - t0
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "edgesdk", "validate", str(out), "--cases", "5"],
                       capture_output=True, text=True, timeout=600)
    validate_s = time.monotonic() - t0
    g = load(out / "model.edg")
    goal = 1e-5 if dtype == "f32" else f16_tolerance(g)   # FP16: ek_float.h's bound for this graph's K
    worst, agree, correct, counts, case_s = 0.0, 0, 0, [], []
    with open_device(out) as dev:
        unit = dev.info.counter_unit
        for k in range(len(x)):
            xk = x[k:k + 1].astype(np.float16 if dtype == "f16" else np.float32)
            t = time.monotonic()
            res = dev.infer([xk])
            case_s.append(time.monotonic() - t)
            ref = reference.run(g, {g.inputs[0]: xk.astype(np.float32)})[g.outputs[0]]
            worst = max(worst, rel_to_max(res.outputs[0], ref))
            agree += int(np.argmax(res.outputs[0]) == np.argmax(ref))
            correct += int(np.argmax(res.outputs[0]) == y[k])
            counts.append(res.count)
    return {"board": board, "dtype": dtype, "build_s": round(build_s, 1), "validate_rc": p.returncode,
            "validate_line": next((s for s in p.stdout.splitlines() if s.startswith("validate:")), p.stderr[-200:]),
            "validate_wall_s": round(validate_s, 2), "images": len(x), "max_rel_err": worst,
            "goal_rel_err": goal, "within_goal": worst <= goal,
            "top1_agree_with_reference": agree / len(x), "accuracy": correct / len(x),
            "count_per_inference": int(np.median(counts)), "unit": unit,
            "seconds_per_case": round(float(np.median(case_s)), 4)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=50)
    args = ap.parse_args(argv)
    model = fmnist_classifier().eval()
    x, y = load_fashion_mnist("test", limit=args.images)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for board, dtype in CONFIGS:
            rows.append(one(model, board, dtype, x, y, tmp))
            r = rows[-1]
            print(f"{board:16s} {dtype}: {r['validate_line']}", flush=True)
    print(f"\n{'board':16s} {'dtype':5s} {'max rel err':>11s} {'goal':>7s} {'top1=ref':>8s} {'acc':>5s} "
          f"{'count/inference':>22s} {'s/case':>7s} {'validate s':>10s} {'build s':>7s}")
    for r in rows:
        print(f"{r['board']:16s} {r['dtype']:5s} {r['max_rel_err']:11.2e} {r['goal_rel_err']:7.1e} "
              f"{r['top1_agree_with_reference']:8.2f} {r['accuracy']:5.2f} "
              f"{r['count_per_inference']:>10,d} {r['unit']:<11s} {r['seconds_per_case']:7.3f} "
              f"{r['validate_wall_s']:10.2f} {r['build_s']:7.1f}")
    ok = all(r["validate_rc"] == 0 and r["within_goal"] for r in rows)
    write_text(OUT, json.dumps({"bench": "hil_riscv", "machine": platform.machine(), "images": args.images,
                                "rows": rows, "all_ok": ok}, indent=2) + "\n")
    print(f"wrote {OUT}; all validations passed and within goal: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
