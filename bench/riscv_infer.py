"""RISC-V inference: whole models built by edgesdk.backends_riscv, counted bare metal.

ResNet-8, DS-CNN and MobileNetV1-0.25 (zoo, random weights: counts do not depend on
them) built for qemu-rv32-virt in FP32 and FP16 at VLEN 128; every build checks its
layers against edgesdk.reference; minstret under -icount shift=0 gives the instructions.

    .venv/bin/python bench/riscv_infer.py
"""
import json
import sys
import tempfile
from pathlib import Path

import torch

from edgesdk import zoo
from edgesdk.backends_riscv import build
from edgesdk.pipeline import load_graph, prepare_graph
from edgesdk.util.atomic import write_text

MODELS = [("resnet8", zoo.resnet8, (1, 3, 32, 32)), ("ds_cnn", zoo.ds_cnn, (1, 1, 49, 10)),
          ("mobilenet_v1_025", zoo.mobilenet_v1_025, (1, 3, 96, 96))]


def main(argv=None):
    rows = []
    print("RISC-V inference, qemu-rv32-virt (rv32gcv_zfh_zvfh), VLEN=128, minstret under -icount shift=0")
    print(f"{'model':18s} {'dtype':5s} {'MACs':>11s} {'instructions':>13s} {'MAC/ins':>8s} {'max err':>9s} "
          f"{'weights':>9s} {'arena':>9s}")
    for name, fn, shape in MODELS:
        torch.manual_seed(0)
        g = prepare_graph(load_graph(fn().eval(), example_inputs=(torch.randn(*shape),)))
        for dt in ("f32", "f16"):
            with tempfile.TemporaryDirectory() as tmp:
                s = build(g, "qemu-rv32-virt", Path(tmp) / "b", dtype=dt, vlen=128)
            row = {"model": name, "dtype": dt, "macs": s["macs"], "instructions": s["instructions"],
                   "macs_per_instruction": s["macs_per_instruction"], "max_rel_err": s["max_rel_err"],
                   "weight_bytes": s["weight_bytes"], "arena_bytes": s["arena_bytes"],
                   "image_bytes": s["flash_bytes"],
                   "layers": [{k: l_[k] for k in ("name", "op", "impl", "macs", "instructions")} for l_ in s["layers"]]}
            rows.append(row)
            print(f"{name:18s} {dt:5s} {row['macs']:>11,d} {row['instructions']:>13,d} "
                  f"{row['macs_per_instruction']:>8.2f} {row['max_rel_err']:>9.1e} {row['weight_bytes']:>9,d} "
                  f"{row['arena_bytes']:>9,d}")
    write_text(Path(__file__).resolve().parent / "results" / "riscv_infer.json",
               json.dumps({"bench": "riscv_infer", "board": "qemu-rv32-virt", "vlen": 128, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
