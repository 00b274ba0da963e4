"""RISC-V training-step instruction counts: FP32 scalar vs FP32 RVV vs FP16 RVV.

Runs targets/riscv/bench/train_step.c bare metal on qemu-system-riscv32 (rv32gcv_zfh_zvfh,
VLEN=128, -icount shift=0) and reads minstret differences per phase for:
  conv2d   one 16->16 3x3 conv on 32x32: forward + weight-grad + input-grad
  resnet8  a full ResNet-8-style step (no BN): forward, loss, all gradients, SGD
  dscnn    a full DS-CNN-style step (no BN)
Goals: FP16 RVV >= 8x fewer instructions than FP32 scalar on the conv2d step;
>= 3 MACs/instruction end-to-end on the ResNet-8 step (FP16 RVV).

    .venv/bin/python bench/riscv_train.py [--vlen 128] [--steps 1]
"""
import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from edgesdk.package.riscv import compile_baremetal, kernel_sources, run_baremetal
from edgesdk.paths import targets_dir
from edgesdk.util.atomic import write_text

VARIANTS = {"f32_scalar": 0, "f32_rvv": 1, "f16_rvv": 2}
_SRC = {"f32_scalar": ("ref",), "f32_rvv": ("rvv",), "f16_rvv": ("rvv",)}
_DT = {"f32_scalar": ("f32",), "f32_rvv": ("f32",), "f16_rvv": ("f16",)}


NETS = {"conv2d": 1, "resnet8": 2, "dscnn": 4}


def build(variant, out_dir, steps=1, nets=("conv2d", "resnet8", "dscnn")):
    src = targets_dir() / "riscv" / "bench" / "train_step.c"
    return compile_baremetal([src, *kernel_sources(*_SRC[variant], dtypes=_DT[variant])],
                             Path(out_dir) / f"train_{variant}.elf",
                             defines={"EK_VARIANT": VARIANTS[variant], "EK_STEPS": steps,
                                      "EK_NETS": sum(NETS[n] for n in nets)})


def parse(text):
    """-> ({net: {phase: (instructions, macs)}}, {net: [loss per step]})"""
    res, losses = {}, {}
    for m in re.finditer(r"^RESULT (\S+) (\S+) (\d+) (\d+)", text, re.M):
        res.setdefault(m[1], {})[m[2]] = (int(m[3]), int(m[4]))
    for m in re.finditer(r"^LOSS (\S+) (\d+) (\d+)", text, re.M):
        losses.setdefault(m[1], []).append(int(m[3]) / 1e6)
    return res, losses


def run_variant(variant, vlen=128, steps=1, timeout=600, nets=("conv2d", "resnet8", "dscnn")):
    with tempfile.TemporaryDirectory() as tmp:
        elf = build(variant, tmp, steps, nets)
        code, text = run_baremetal(elf, timeout=timeout, vlen=vlen)
    if code != 0 or "DONE" not in text:
        raise RuntimeError(f"{variant}: exit {code}: {text[-500:]}")
    return parse(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vlen", type=int, default=128)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "riscv_train.json"))
    a = ap.parse_args(argv)
    runs = {v: run_variant(v, a.vlen, a.steps) for v in VARIANTS}
    rows, table = [], []
    for net in ("conv2d", "resnet8", "dscnn"):
        base = runs["f32_scalar"][0][net]["step"][0]
        for v in VARIANTS:
            ph = runs[v][0][net]
            ins, macs = ph["step"]
            row = {"net": net, "variant": v, "instructions": ins, "macs": macs,
                   "macs_per_instruction": round(macs / ins, 3),
                   "x_fewer_than_f32_scalar": round(base / ins, 2),
                   "phases": {k: {"instructions": c, "macs": m} for k, (c, m) in ph.items() if k != "step"},
                   "loss_per_step": runs[v][1].get(net)}
            rows.append(row)
            table.append(f"{net:8s} {v:11s} {ins:>12,d} {macs:>12,d} {macs / ins:8.2f} {base / ins:8.2f}x  "
                         + " ".join(f"{k}={c:,d}" for k, (c, m) in ph.items() if k != "step"))
    conv16 = next(r for r in rows if r["net"] == "conv2d" and r["variant"] == "f16_rvv")
    res16 = next(r for r in rows if r["net"] == "resnet8" and r["variant"] == "f16_rvv")
    goals = {"conv2d_f16_rvv_vs_f32_scalar": {"goal": 8.0, "reached": conv16["x_fewer_than_f32_scalar"],
                                              "met": conv16["x_fewer_than_f32_scalar"] >= 8.0},
             "resnet8_f16_rvv_macs_per_instruction": {"goal": 3.0, "reached": res16["macs_per_instruction"],
                                                      "met": res16["macs_per_instruction"] >= 3.0}}
    print(f"RISC-V training step, rv32gcv_zfh_zvfh bare metal, VLEN={a.vlen}, minstret under -icount shift=0")
    print(f"{'net':8s} {'variant':11s} {'instructions':>12s} {'MACs':>12s} {'MAC/ins':>8s} {'vs f32':>9s}  phases")
    print("\n".join(table))
    for k, g in goals.items():
        print(f"goal {k}: {g['reached']} (goal {g['goal']}) -> {'MET' if g['met'] else 'NOT MET'}")
    doc = {"bench": "riscv_train", "vlen": a.vlen, "isa": "rv32gcv_zfh_zvfh", "emulator": "qemu-system-riscv32 -icount shift=0",
           "counter": "minstret", "notes": "no batch norm; FP16: weight gradients accumulate in FP32 (EK_ACC32), forward and input gradients in FP16; "
           "loss scale 128; first layer computes no input gradient", "rows": rows, "goals": goals}
    write_text(a.out, json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
