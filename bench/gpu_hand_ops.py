"""OpenCL on PoCL: the hand kernels added for QAdd, the int8 pools and binarized layers,
against what ran those layers before (TVM's kernels), per op kind, in one run.

    .venv/bin/python bench/gpu_hand_ops.py

int8 models (edgesdk PTQ, random weights: speed does not depend on them) are lowered for
the `pocl` board twice: `hand` (what `edgesdk build --target gpu` makes now) and `tvm`
(every layer on TVM). The hand plan here also runs MaxPool on its hand kernel, which
builds do not (it measures slower than TVM's). For each op kind with a new hand kernel (QAdd, MaxPool, QAvgPool,
QGlobalAvgPool) the OpenCL profiling device time of those layers (best of REPEAT) is
summed per plan. A binarized model (edgesdk.binary, untrained) runs its Binarize/BConv/
BGemm/Cast layers on the new kernels (TVM has no lowering for them) and is compared, as
a whole model, with the same architecture in float (f32 Conv/Gemm on TVM). Every plan's
integer layers are checked bit-exact against the reference before timing.
Results: bench/results/gpu_hand_ops.json.
"""
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "gpu_hand_ops.json"
REPEAT = 20
KINDS = ("QAdd", "MaxPool", "QAvgPool", "QGlobalAvgPool")


def _int8_models():
    import torch
    from torch import nn

    from edgesdk.frontends import load
    from edgesdk.passes import run_passes
    from edgesdk.quant import quantize
    from edgesdk.zoo import models as Z

    class PoolNet(nn.Module):   # MaxPool and a padded AvgPool on bigger maps
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 16, 1)

        def forward(self, x):
            a = nn.functional.max_pool2d(torch.relu(self.c1(x)), 3, 2, 1)
            return nn.functional.avg_pool2d(self.c2(a), 3, 2, 1)

    out = []
    for name, make, shape in (("fmnist_cnn", Z.fmnist_cnn, (1, 1, 28, 28)), ("resnet8", Z.resnet8, (1, 3, 32, 32)),
                              ("pool_net", PoolNet, (1, 3, 64, 64))):
        torch.manual_seed(0)
        g = run_passes(load(make().eval(), example_inputs=(torch.randn(*shape),)))
        calib = np.random.default_rng(0).standard_normal((8,) + shape[1:]).astype(np.float32)
        out.append((name, quantize(g, calib, bias_correction=False)))
    return out


def _binary_pair():
    import torch
    from torch import nn

    from edgesdk.binary import binarize, export_graph
    from edgesdk.frontends import load
    from edgesdk.passes import run_passes
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1, stride=2), nn.ReLU(),
                      nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
    fg = run_passes(load(m, example_inputs=(torch.randn(1, 1, 28, 28),)))
    bg = export_graph(binarize(m).eval(), (1, 1, 28, 28))
    return fg, bg


def _runner(graph, dtype, force_tvm):
    from edgesdk.backends_gpu import lower
    from edgesdk.gpu.opencl import Runtime
    from edgesdk.gpu.plan_runner import PlanRunner
    from edgesdk.paths import kernels_dir
    plan, src, consts = lower(graph, "opencl", dtype, force_tvm=force_tvm, device_type="cpu")
    progs = {"tvm": src} if src else {}
    for layer in plan["layers"]:
        for k in layer["launches"]:
            if k["program"] != "tvm":
                progs[k["program"]] = (kernels_dir() / "opencl" / k["program"]).read_text()
    return plan, PlanRunner(plan, progs, consts, rt=Runtime(profiling=True))


def _feed(graph, seed=1):
    rng = np.random.default_rng(seed)
    t = graph.tensors[graph.inputs[0]]
    if t.dtype == "s8":
        return {t.name: rng.integers(-128, 128, t.shape, dtype=np.int8)}
    return {t.name: rng.standard_normal(t.shape).astype(np.float32)}


def _check_int_layers(graph, plan, runner, feed):
    from edgesdk.reference import run as reference_run
    runner.run(feed)
    want = reference_run(graph, feed, keep_intermediates=True)
    ok = True
    for layer in plan["layers"]:
        for o in layer["outputs"]:
            got = runner.download(o)
            if got.dtype.kind in "iu":
                ok &= bool(np.array_equal(got, np.asarray(want[o]).reshape(got.shape)))
    return ok


def main():
    from edgesdk.gpu import int8_lower
    int8_lower.HAND_MAXPOOL = True   # measure the hand MaxPool too (builds keep TVM's: see the table)
    rows = []
    for name, q in _int8_models():
        times, exact = {}, {}
        for variant in ("hand", "tvm"):
            plan, r = _runner(q, "s8", variant == "tvm")
            exact[variant] = _check_int_layers(q, plan, r, _feed(q))
            times[variant] = (plan, r.profile_layers(REPEAT))
        for kind in KINDS:
            idx = [i for i, l in enumerate(times["hand"][0]["layers"]) if l["op"] == kind]
            if not idx:
                continue
            hand_us = sum(times["hand"][1][i] for i in idx) * 1e6
            tvm_us = sum(times["tvm"][1][i] for i in idx) * 1e6
            impls = sorted({times["hand"][0]["layers"][i]["impl"] for i in idx})
            rows.append({"model": name, "op": kind, "layers": len(idx), "hand_kernel": ",".join(impls),
                         "hand_us": round(hand_us, 1), "tvm_us": round(tvm_us, 1),
                         "tvm_over_hand": round(tvm_us / hand_us, 2) if hand_us else None,
                         "bit_exact": exact["hand"] and exact["tvm"]})
    print(f"{'model':11s} {'op':15s} {'n':>2s} {'hand kernel':18s} {'hand us':>9s} {'tvm us':>9s} {'tvm/hand':>9s} exact")
    for r in rows:
        print(f"{r['model']:11s} {r['op']:15s} {r['layers']:>2d} {r['hand_kernel']:18s} {r['hand_us']:>9.1f} "
              f"{r['tvm_us']:>9.1f} {r['tvm_over_hand']:>9.2f} {r['bit_exact']}")

    fg, bg = _binary_pair()
    fplan, fr = _runner(fg, "f32", False)
    bplan, br = _runner(bg, "f32", False)
    bexact = _check_int_layers(bg, bplan, br, _feed(bg))
    ft, bt = fr.profile_layers(REPEAT), br.profile_layers(REPEAT)
    by_kind = {}
    for l, t in zip(bplan["layers"], bt):
        by_kind[l["op"]] = by_kind.get(l["op"], 0.0) + t * 1e6
    binary = {"float_model_us": round(sum(ft) * 1e6, 1), "binary_model_us": round(sum(bt) * 1e6, 1),
              "binary_layers_us_by_op": {k: round(v, 1) for k, v in by_kind.items()},
              "float_conv_gemm_us": round(sum(t for l, t in zip(fplan["layers"], ft) if l["op"] in ("Conv", "Gemm"))
                                          * 1e6, 1),
              "binary_int_layers_bit_exact": bexact}
    print(f"\nbinarized CNN (28x28, 32-64-64 ch, fc 3136->128): whole model device time "
          f"float (TVM) {binary['float_model_us']:.1f} us, binary {binary['binary_model_us']:.1f} us; "
          f"binary int layers bit-exact: {bexact}")
    print("  binary plan by op (us): " + ", ".join(f"{k} {v:.1f}" for k, v in binary["binary_layers_us_by_op"].items()))
    from edgesdk.gpu.opencl import device_facts
    from edgesdk.util.atomic import write_text
    write_text(OUT, json.dumps({"device": device_facts(), "repeat": REPEAT, "int8_ops": rows, "binary": binary},
                               indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
