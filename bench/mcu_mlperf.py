"""MLPerf Tiny on the emulated Cortex-M boards: whole-model builds, measured under QEMU -icount.

    .venv/bin/python bench/mcu_mlperf.py [--models ic_resnet8,kws_dscnn] [--quick]

For each of the four MLPerf Tiny models (edgesdk.zoo.MLPERF_TINY) the float torch model
(untrained: random init with a fixed seed; weights do not change instruction counts of
these kernels, which have no data-dependent branches in their inner loops) is quantized
with a real calibration set: 32 Fashion-MNIST training images, tiled/cropped to the input
shape (C x H x W; flattened and tiled for the 640-d autoencoder input). Each is then built
with edgesdk.pipeline.build for mps2-an386 (Cortex-M4, DSP) and mps3-an547 (Cortex-M55,
MVE), once with the optimized kernels and once with kernels="ref", in the same run. The
build's self-test runs one Fashion-MNIST test image on the emulator and checks the output
against the reference interpreter bit for bit.

Reported per build: flash, RAM, arena (and its liveness lower bound), instructions per
inference, MACs per instruction, and per-layer MAC/instruction of the costliest layers.
Goals: IC ResNet-8 >= 1.0 MAC/instr on M4 (DSP), >= 2.5 on M55 (MVE); arena within 10 %
of the lower bound.

A last section measures the TVM fallback (codegen/tvm_c.py): a small model whose grouped
conv, ceil-mode max pool, broadcasting add and spatial softmax have no hand kernel, built
the same way; per layer, instructions of the TVM-generated C next to the hand kernels.
Writes bench/results/mcu_mlperf.json.
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

from edgesdk.data import load_fashion_mnist
from edgesdk.frontends import load
from edgesdk.pipeline import build, prepare_graph
from edgesdk.quant import quantize
from edgesdk.util.atomic import write_text
from edgesdk.zoo import MLPERF_TINY

OUT = Path(__file__).resolve().parent / "results" / "mcu_mlperf.json"
BOARDS = [("mps2-an386", "cortex-m4", "dsp"), ("mps3-an547", "cortex-m55", "mve")]
GOALS = {"dsp": 1.0, "mve": 2.5}     # IC ResNet-8 MAC/instruction
ARENA_SLACK = 1.10
N_CALIB = 32


def fmnist_inputs(shape, n, split):
    """Real Fashion-MNIST pixels (0..1) tiled/cropped to `shape` (C, H, W) or flattened to (D,)."""
    x, _ = load_fashion_mnist(split, limit=n)
    if len(shape) == 1:
        return np.ascontiguousarray(np.tile(x.reshape(n, -1), (1, shape[0] // 784 + 1))[:, :shape[0]])
    c, h, w = shape
    reps = (1, c, -(-h // x.shape[2]), -(-w // x.shape[3]))
    return np.ascontiguousarray(np.tile(x, reps)[:, :c, :h, :w])


def quantized_model(name, n_calib=N_CALIB):
    """The zoo model `name`, float graph -> int8 graph calibrated on Fashion-MNIST pixels."""
    ctor, shape = MLPERF_TINY[name]
    torch.manual_seed(0)
    model = ctor().eval()
    calib = fmnist_inputs(shape, n_calib, "train").astype(np.float32)
    g = prepare_graph(load(model, example_inputs=torch.from_numpy(calib[:1])))
    return quantize(g, calib), fmnist_inputs(shape, 1, "test").astype(np.float32)


def layer_rows(manifest):
    rows = []
    for L in manifest["layers"]:
        ins = L.get("instructions") or 0
        rows.append({"name": L["name"], "op": L["op"], "impl": L["impl"], "macs": L["macs"], "instructions": ins,
                     "mac_per_instr": round(L["macs"] / ins, 3) if ins and L["macs"] and
                     L["op"] in ("QConv", "QGemm") else None})
    return rows


def measure(q, sample, board, kernels):
    with tempfile.TemporaryDirectory(prefix="ek_mlperf_") as tmp:
        t0 = time.monotonic()
        r = build(q, "mcu", board, Path(tmp) / "b", calib=sample, kernels=kernels, quiet=True)
        wall = time.monotonic() - t0
    s = r.summary
    layers = layer_rows(r.manifest)
    costly = sorted(layers, key=lambda L: -L["instructions"])[:5]
    return {"board": board, "kernels": r.manifest["kernels"], "flash_bytes": s["flash_bytes"],
            "ram_bytes": s["ram_bytes"], "weight_bytes": s["weight_bytes"], "arena_bytes": s["arena_bytes"],
            "arena_lower_bound": s["arena_lower_bound"],
            "arena_over_bound": round(s["arena_bytes"] / s["arena_lower_bound"], 4),
            "macs": s["macs"], "instructions": s["instructions"], "macs_per_instruction": s["macs_per_instruction"],
            "selftest": s["selftest"], "build_wall_s": round(wall, 1), "costliest_layers": costly,
            "layers": layers, "tvm_layers": [L["name"] for L in layers if L["impl"].startswith("tvm:")]}


class TvmFallbackNet(torch.nn.Module):
    """conv (hand) -> grouped conv (TVM) -> ceil-mode maxpool (TVM) -> x + mean(x) (TVM)
    -> 1x1 conv (hand) -> softmax over W (TVM); input 3 x 32 x 32."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = torch.nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.pool = torch.nn.MaxPool2d(3, 2, ceil_mode=True)
        self.c3 = torch.nn.Conv2d(16, 10, 1)

    def forward(self, x):
        a = self.pool(torch.relu(self.c2(torch.relu(self.c1(x)))))
        a = a + a.mean((2, 3), keepdim=True)
        return torch.softmax(self.c3(a), dim=-1)


def tvm_fallback():
    torch.manual_seed(0)
    model = TvmFallbackNet().eval()
    shape = (3, 32, 32)
    calib = fmnist_inputs(shape, N_CALIB, "train").astype(np.float32)
    q = quantize(prepare_graph(load(model, example_inputs=torch.from_numpy(calib[:1]))), calib)
    rows = []
    for board, core, _ in BOARDS:
        m = measure(q, fmnist_inputs(shape, 1, "test").astype(np.float32), board, "auto")
        m.update(model="tvm_fallback_net", core=core)
        rows.append(m)
        print(f"\nTVM fallback on {board} ({'+'.join(m['kernels'])}): {m['instructions']:,} instr, {m['selftest']}")
        for L in m["layers"]:
            mpi = f"{L['mac_per_instr']:.2f}" if L["mac_per_instr"] is not None else "-"
            print(f"    {L['name'][:26]:<26} {L['op']:<10} {L['impl']:<22} {L['macs']:>9,} MACs "
                  f"{L['instructions']:>10,} instr {mpi:>6} MAC/instr")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MLPERF_TINY))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--no-tvm", action="store_true", help="skip the TVM fallback section")
    args = ap.parse_args(argv)
    t_all = time.monotonic()
    results = []
    for name in args.models.split(","):
        q, sample = quantized_model(name)
        for board, core, isa in BOARDS:
            for kernels in ("auto", "ref"):
                m = measure(q, sample, board, kernels)
                m.update(model=name, core=core)
                results.append(m)
                print(f"{name:<20} {board:<11} {'+'.join(m['kernels']):<5} {m['instructions']:>12,} instr "
                      f"{m['macs_per_instruction']:>6} MAC/instr  arena {m['arena_bytes']:>7,} "
                      f"(bound {m['arena_lower_bound']:,})  flash {m['flash_bytes']:>8,}  {m['selftest']}",
                      flush=True)

    print(f"\n{'model':<20} {'board':<11} {'kern':<5} {'flash B':>9} {'RAM B':>8} {'arena B':>8} {'bound B':>8} "
          f"{'arena/bd':>8} {'instr/inf':>12} {'MAC/instr':>9} {'speedup':>7}")
    by_key = {(m["model"], m["board"], tuple(m["kernels"])): m for m in results}
    for m in results:
        ref = by_key.get((m["model"], m["board"], ("ref",)))
        sp = f"{ref['instructions'] / m['instructions']:.2f}x" if ref else ""
        m["speedup_vs_ref"] = round(ref["instructions"] / m["instructions"], 3) if ref else None
        print(f"{m['model']:<20} {m['board']:<11} {'+'.join(m['kernels']):<5} {m['flash_bytes']:>9,} "
              f"{m['ram_bytes']:>8,} {m['arena_bytes']:>8,} {m['arena_lower_bound']:>8,} "
              f"{m['arena_over_bound']:>8.3f} {m['instructions']:>12,} {m['macs_per_instruction']:>9} {sp:>7}")

    print("\nCostliest layers (optimized kernels):")
    for m in results:
        if m["kernels"] == ["ref"]:
            continue
        print(f"  {m['model']} on {m['board']}:")
        for L in m["costliest_layers"]:
            mpi = f"{L['mac_per_instr']:.2f}" if L["mac_per_instr"] is not None else "-"
            print(f"    {L['name'][:34]:<34} {L['impl']:<22} {L['macs']:>10,} MACs {L['instructions']:>11,} instr "
                  f"{mpi:>6} MAC/instr")

    goals = []
    for m in results:
        isa = m["kernels"][0] if len(m["kernels"]) == 1 else None
        if m["model"] == "ic_resnet8" and isa in GOALS:
            goals.append({"goal": f"IC ResNet-8 >= {GOALS[isa]} MAC/instr on {m['core']} ({isa})",
                          "value": m["macs_per_instruction"], "met": m["macs_per_instruction"] >= GOALS[isa]})
        goals.append({"goal": f"{m['model']} {m['board']} {isa}: arena within 10 % of the lower bound",
                      "value": m["arena_over_bound"], "met": m["arena_over_bound"] <= ARENA_SLACK})
    print("\nGoals:")
    for gl in goals:
        print(f"  [{'met' if gl['met'] else 'MISSED'}] {gl['goal']}: {gl['value']}")

    tvm_rows = [] if args.no_tvm else tvm_fallback()
    doc = {"what": "MLPerf Tiny models built for emulated Cortex-M4 (DSP) and M55 (MVE), optimized and ref kernels",
           "calibration": f"{N_CALIB} Fashion-MNIST train images tiled/cropped to each input shape; self-test input: "
                          "Fashion-MNIST test image 0, same transform",
           "weights": "untrained (torch.manual_seed(0) init); instruction counts do not depend on trained weights",
           "counting": "QEMU -icount shift=0, SysTick, whole inference and per layer (firmware selftest.elf)",
           "host": platform.platform(), "python": sys.version.split()[0],
           "wall_s": round(time.monotonic() - t_all, 1), "goals": goals, "results": results,
           "tvm_fallback": tvm_rows}
    write_text(args.out, json.dumps(doc, indent=1))
    print(f"\nwrote {args.out}")
    return doc


if __name__ == "__main__":
    main()
