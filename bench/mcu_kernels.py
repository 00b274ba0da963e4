"""Cortex-M int8/b1 kernels: exact instruction counts under QEMU -icount (SysTick), per
kernel and variant, on MLPerf-Tiny layer shapes.

    .venv/bin/python bench/mcu_kernels.py

M4 (mps2-an386): _ref vs _dsp; M55 (mps3-an547): _ref vs _mve; all in one run, every
output also checked bit for bit against the Python integer reference.  Writes
bench/results/mcu_kernels.json.  Goals: >= 1.0 MAC/instruction for the ResNet-8 convs on
the M4 with DSP, >= 2.5 on the M55 with MVE.
"""
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from edgesdk import kernelcheck as kc
from edgesdk.kernelcheck import arm as kca
from edgesdk.util.atomic import write_text

OUT = Path(__file__).resolve().parent / "results" / "mcu_kernels.json"
RUNS = [("mps2-an386", "cortex-m4", "ref"), ("mps2-an386", "cortex-m4", "dsp"),
        ("mps3-an547", "cortex-m55", "ref"), ("mps3-an547", "cortex-m55", "mve")]
GOALS = {"dsp": 1.0, "mve": 2.5}   # MAC/instruction on the ResNet-8 convs

# M4 _dsp instructions per layer measured by this script at commit 575aff0, before the
# DSP tile rewrite (naked 1x6 tile with LDM columns, in-register requantization, inline
# im2col, depthwise planes): the "before" of the before/after columns.
M4_DSP_BEFORE = {
    "resnet8.conv0 32x32x3->16 3x3": 1451120, "resnet8.s1 32x32x16->16 3x3": 3147840,
    "resnet8.s2a 32x32x16->32 3x3 s2": 1454160, "resnet8.s2b 16x16x32->32 3x3": 2632040,
    "resnet8.s3a 16x16x32->64 3x3 s2": 1301960, "resnet8.s3b 8x8x64->64 3x3": 2468120,
    "resnet8.sc2 1x1 32x32x16->32 s2": 349120, "resnet8.sc3 1x1 16x16x32->64 s2": 238760,
    "dscnn.pw 1x1 25x5x64->64": 707320, "dscnn.dw 25x5x64 3x3": 668280, "fc 640->128": 128080,
    "fc 128->128": 30160, "fc_sparse 640->128 (25% blocks)": 84280, "avgpool 8x8x64 global": 13640,
    "maxpool 32x32x16 2x2 s2": 93920, "add 16x16x32": 335960, "softmax 1x10": 280,
    "bconv 16x16x64->64 3x3 (b1)": 9870520, "bfc 1024->256 (b1)": 117440,
}


def layers():
    """(name, group, case): MLPerf-Tiny IC ResNet-8, KWS DS-CNN, an FC 640x128, and the rest."""
    rng = np.random.default_rng(2024)
    P1 = (1, 1, 1, 1)
    out = [
        ("resnet8.conv0 32x32x3->16 3x3", "resnet8", kc.conv_case(rng, "conv2d", 32, 32, 3, 16, 3, 3, pads=P1)),
        ("resnet8.s1 32x32x16->16 3x3", "resnet8", kc.conv_case(rng, "conv2d", 32, 32, 16, 16, 3, 3, pads=P1)),
        ("resnet8.s2a 32x32x16->32 3x3 s2", "resnet8",
         kc.conv_case(rng, "conv2d", 32, 32, 16, 32, 3, 3, stride=(2, 2), pads=(0, 0, 1, 1))),
        ("resnet8.s2b 16x16x32->32 3x3", "resnet8", kc.conv_case(rng, "conv2d", 16, 16, 32, 32, 3, 3, pads=P1)),
        ("resnet8.s3a 16x16x32->64 3x3 s2", "resnet8",
         kc.conv_case(rng, "conv2d", 16, 16, 32, 64, 3, 3, stride=(2, 2), pads=(0, 0, 1, 1))),
        ("resnet8.s3b 8x8x64->64 3x3", "resnet8", kc.conv_case(rng, "conv2d", 8, 8, 64, 64, 3, 3, pads=P1)),
        ("resnet8.sc2 1x1 32x32x16->32 s2", "1x1", kc.conv_case(rng, "conv1x1", 32, 32, 16, 32, 1, 1, stride=(2, 2))),
        ("resnet8.sc3 1x1 16x16x32->64 s2", "1x1", kc.conv_case(rng, "conv1x1", 16, 16, 32, 64, 1, 1, stride=(2, 2))),
        ("dscnn.pw 1x1 25x5x64->64", "1x1", kc.conv_case(rng, "conv1x1", 25, 5, 64, 64, 1, 1)),
        ("dscnn.dw 25x5x64 3x3", "depthwise", kc.conv_case(rng, "dwconv2d", 25, 5, 64, 64, 3, 3, pads=P1)),
        ("fc 640->128", "fc", kc.fc_case(rng, 1, 640, 128)),
        ("fc 128->128", "fc", kc.fc_case(rng, 1, 128, 128)),
        ("fc_sparse 640->128 (25% blocks)", "fc", kc.fc_case(rng, 1, 640, 128, sparse_density=0.25)),
        ("avgpool 8x8x64 global", "other", kc.pool_case(rng, "avgpool", 8, 8, 64, (8, 8), (1, 1))),
        ("maxpool 32x32x16 2x2 s2", "other", kc.pool_case(rng, "maxpool", 32, 32, 16, (2, 2), (2, 2))),
        ("add 16x16x32", "other", kc.add_case(rng, 16 * 16 * 32)),
        ("softmax 1x10", "other", kc.softmax_case(rng, 1, 10)),
        ("bconv 16x16x64->64 3x3 (b1)", "binary", kc.bconv_case(rng, 16, 16, 64, 64, 3, 3, pads=P1)),
        ("bfc 1024->256 (b1)", "binary", kc.bfc_case(rng, 1, 1024, 256)),
    ]
    for name, _, c in out:
        c.label = name
    return out


def main():
    items = layers()
    cases = [c for _, _, c in items]
    counts = {}
    t0 = time.time()
    for board, core, isa in RUNS:
        res = kca.run_cases(cases, isa, board)
        bad = kca.mismatches(cases, res)
        if bad:
            sys.exit(f"{isa} on {board}: {len(bad)} cases NOT bit-exact: {bad[:3]}")
        counts[(core, isa)] = [n for n, _ in res]
    wall = time.time() - t0

    rows = []
    for i, (name, group, c) in enumerate(items):
        r = {"layer": name, "group": group, "op": c.op, "macs": c.macs}
        for (core, isa), ns in counts.items():
            r[f"{core}.{isa}.instructions"] = ns[i]
            r[f"{core}.{isa}.macs_per_instruction"] = round(c.macs / ns[i], 3)
        r["cortex-m4.dsp_speedup"] = round(r["cortex-m4.ref.instructions"] / r["cortex-m4.dsp.instructions"], 2)
        if name in M4_DSP_BEFORE:
            before = M4_DSP_BEFORE[name]
            r["cortex-m4.dsp.instructions_before"] = before
            r["cortex-m4.dsp.macs_per_instruction_before"] = round(c.macs / before, 3)
            r["cortex-m4.dsp.gain_vs_before"] = round(before / r["cortex-m4.dsp.instructions"], 2)
        r["cortex-m55.mve_speedup"] = round(r["cortex-m55.ref.instructions"] / r["cortex-m55.mve.instructions"], 2)
        rows.append(r)

    hdr = f"{'layer':34s} {'MACs':>8s} | {'M4 ref':>9s} {'M4 dsp':>9s} {'MAC/i':>6s} {'x':>5s} | " \
          f"{'M55 ref':>9s} {'M55 mve':>9s} {'MAC/i':>6s} {'x':>5s}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['layer']:34s} {r['macs']:8d} | {r['cortex-m4.ref.instructions']:9d} "
              f"{r['cortex-m4.dsp.instructions']:9d} {r['cortex-m4.dsp.macs_per_instruction']:6.2f} "
              f"{r['cortex-m4.dsp_speedup']:5.1f} | {r['cortex-m55.ref.instructions']:9d} "
              f"{r['cortex-m55.mve.instructions']:9d} {r['cortex-m55.mve.macs_per_instruction']:6.2f} "
              f"{r['cortex-m55.mve_speedup']:5.1f}")

    print()
    print(f"{'M4 dsp, before -> after':34s} {'before':>9s} {'after':>9s} {'MAC/i':>13s} {'gain':>5s}")
    for r in rows:
        if "cortex-m4.dsp.instructions_before" in r:
            print(f"{r['layer']:34s} {r['cortex-m4.dsp.instructions_before']:9d} "
                  f"{r['cortex-m4.dsp.instructions']:9d} {r['cortex-m4.dsp.macs_per_instruction_before']:5.3f} -> "
                  f"{r['cortex-m4.dsp.macs_per_instruction']:5.3f} {r['cortex-m4.dsp.gain_vs_before']:5.2f}")

    def group_rate(core, isa, group):
        sel = [r for r in rows if r["group"] == group]
        return round(sum(r["macs"] for r in sel) / sum(r[f"{core}.{isa}.instructions"] for r in sel), 3)

    summary = {
        "resnet8_convs_macs_per_instruction": {
            "cortex-m4.ref": group_rate("cortex-m4", "ref", "resnet8"),
            "cortex-m4.dsp": group_rate("cortex-m4", "dsp", "resnet8"),
            "cortex-m55.ref": group_rate("cortex-m55", "ref", "resnet8"),
            "cortex-m55.mve": group_rate("cortex-m55", "mve", "resnet8"),
        },
    }
    sel = [r for r in rows if r["group"] == "resnet8"]
    summary["resnet8_convs_macs_per_instruction"]["cortex-m4.dsp_before"] = round(
        sum(r["macs"] for r in sel) / sum(r["cortex-m4.dsp.instructions_before"] for r in sel), 3)
    m4 = summary["resnet8_convs_macs_per_instruction"]["cortex-m4.dsp"]
    m55 = summary["resnet8_convs_macs_per_instruction"]["cortex-m55.mve"]
    summary["goals"] = {
        "cortex-m4.dsp >= 1.0": {"reached": m4, "met": m4 >= GOALS["dsp"]},
        "cortex-m55.mve >= 2.5": {"reached": m55, "met": m55 >= GOALS["mve"]},
    }
    print()
    print(f"ResNet-8 convs, MACs per instruction (all 6 layers together): "
          + ", ".join(f"{k} {v}" for k, v in summary["resnet8_convs_macs_per_instruction"].items()))
    for k, v in summary["goals"].items():
        print(f"goal {k}: reached {v['reached']} -> {'met' if v['met'] else 'NOT met'}")
    doc = {
        "what": "instructions per kernel call, QEMU 7.2 -icount shift=0, SysTick-derived "
                "(resolution 40 instructions on the M4 at 25 MHz, 31.25 on the M55 at 32 MHz)",
        "compiler": "arm-none-eabi-gcc 12.2 -O2",
        "host": platform.node(),
        "all_outputs_bit_exact": True,
        "wall_s": round(wall, 1),
        "layers": rows,
        "summary": summary,
    }
    write_text(OUT, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
