"""TVM (Relax -> LLVM, untuned) vs the hand RVV kernels, layer by layer, on RISC-V.

Each layer (ResNet-8 and DS-CNN shapes) is built by TVM for riscv32 and run bare metal on
qemu-system-riscv32 (rv32gcv_zfh_zvfh, VLEN=128, -icount shift=0) next to the hand RVV
kernel and the scalar reference twin, on the same data; minstret counts each.
choose_impl's pick (fewest instructions among implementations that agree) is recorded.

    .venv/bin/python bench/riscv_tvm_layers.py
"""
import json
import sys
import tempfile
from pathlib import Path

from edgesdk.codegen.tvm_riscv import choose_impl
from edgesdk.util.atomic import write_text

LAYERS = [
    ("resnet8 conv 16->16 3x3 @32x32", {"op": "conv2d", "cin": 16, "h": 32, "w": 32, "cout": 16, "k": 3}),
    ("resnet8 conv 16->32 3x3 s2 @32x32", {"op": "conv2d", "cin": 16, "h": 32, "w": 32, "cout": 32, "k": 3,
                                           "stride": 2}),
    ("resnet8 shortcut 1x1 s2 32->64 @16x16", {"op": "conv2d", "cin": 32, "h": 16, "w": 16, "cout": 64, "k": 1,
                                               "stride": 2, "pads": [0, 0, 0, 0]}),
    ("dscnn pointwise 64->64 @25x5", {"op": "conv2d", "cin": 64, "h": 25, "w": 5, "cout": 64, "k": 1,
                                      "pads": [0, 0, 0, 0]}),
    ("resnet8 dense 64->10", {"op": "dense", "batch": 1, "in": 64, "out": 10}),
    ("dscnn dense 64->12", {"op": "dense", "batch": 1, "in": 64, "out": 12}),
]


def main(argv=None):
    out = Path(__file__).resolve().parent / "results" / "riscv_tvm_layers.json"
    rows = []
    print("TVM (untuned LLVM) vs hand RVV kernels, rv32gcv_zfh_zvfh bare metal, VLEN=128, minstret")
    print(f"{'layer':40s} {'dt':3s} {'MACs':>9s} {'tvm':>10s} {'hand':>9s} {'scalar':>10s} "
          f"{'tvm/hand':>8s} {'diff':>8s} pick")
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "choices.json"
        for name, spec in LAYERS:
            for dt in ("f32", "f16"):
                e = choose_impl(dict(spec, dtype=dt), record=rec)
                rows.append({"layer": name, "dtype": dt, "macs": e["macs"], "tvm_instructions": e["tvm_instructions"],
                             "hand_instructions": e["hand_instructions"], "ref_instructions": e["ref_instructions"],
                             "tvm_over_hand": round(e["tvm_instructions"] / e["hand_instructions"], 2),
                             "max_rel_diff": e["max_abs_diff"], "choice": e["choice"], "reason": e["reason"]})
                r = rows[-1]
                print(f"{name:40s} {dt:3s} {r['macs']:>9,d} {r['tvm_instructions']:>10,d} {r['hand_instructions']:>9,d} "
                      f"{r['ref_instructions']:>10,d} {r['tvm_over_hand']:>8.2f} {r['max_rel_diff']:>8.1e} {r['choice']}")
    write_text(out, json.dumps({"bench": "riscv_tvm_layers", "vlen": 128, "isa": "rv32gcv_zfh_zvfh",
                                "tvm": "0.27 Relax -> LLVM riscv32, default (untuned) schedules",
                                "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
