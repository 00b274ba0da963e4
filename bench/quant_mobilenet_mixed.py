"""Mixed precision on MobileNetV2 (ImageNet weights): 2/4/8-bit weights chosen per layer by
the MILP at the size of uniform 4-bit, against uniform 4-bit (both layer-wise calibrated,
int8 activations), by top-1 agreement of the integer graph with float on real photographs.

MobileNetV2 is where a bit allocation matters: 17 depthwise 3x3 convs hold 1 % of the
weights but are fragile at 4 bits, while the 1280x1000 classifier holds 36 % of them.
The Fashion-MNIST CNNs of bench/quant_fmnist.py are nearly lossless at 4 bits, so no plan
can beat uniform there (bench/quant_mixed_enumerate.py shows it by enumeration).

Inputs: the crops of bench/quant_mobilenet.py (calibration and evaluation drawn apart).
Sensitivity: the SDK default (each layer layer-wise calibrated at 2, 4 and 8 bits, its
damage the KL of the class probabilities on held-out calibration crops: 53 x 3 AdaQuant
runs, about 9 minutes on one core) and, for reference, round-to-nearest output MSE.
The goals are judged on the default.

    .venv/bin/python bench/quant_mobilenet_mixed.py [--eval N] [--calib N] [--sens-samples N]
        -> bench/results/quant_mobilenet_mixed.json
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_mobilenet import int_logits, setup  # noqa: E402

import edgesdk.quant as Q  # noqa: E402
from edgesdk.quant.mixed import quantize_to_budget  # noqa: E402
from edgesdk.util.atomic import atomic_path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "quant_mobilenet_mixed.json"


def layer_weight_counts(model):
    return [m.weight.numel() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def agreement(logits, ref):
    """top-1 agreement, float top-1 in top-5, and two graded distances to float: with 48
    crops top-1 moves in steps of 2 %, so KL and logit error tell close plans apart."""
    top1 = float((logits.argmax(1) == ref.argmax(1)).mean())
    top5 = float(np.mean([ref[i].argmax() in np.argsort(-logits[i])[:5] for i in range(len(ref))]))
    lp = torch.log_softmax(torch.from_numpy(ref).double(), 1)
    lq = torch.log_softmax(torch.from_numpy(logits).double(), 1)
    kl = float((lp.exp() * (lp - lq)).sum(1).mean())
    rel = float(((logits - ref) ** 2).mean() / ref.var())
    return {"top1_agreement": round(top1, 4), "float_top1_in_top5": round(top5, 4),
            "kl_to_float": round(kl, 5), "logit_mse_relative": round(rel, 5)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", type=int, default=48)
    ap.add_argument("--calib", type=int, default=24)
    ap.add_argument("--sens-samples", type=int, default=8)
    ap.add_argument("--sensitivity", default="rtn,calibrated",
                    help="sensitivity models to run, comma-separated (rtn, calibrated); goals use the last")
    args = ap.parse_args()
    t0 = time.time()
    model, g, calib, test, ref, names = setup(args.eval, args.calib)
    # The budget is exactly what uniform 4-bit packs to, layer by layer.
    budget = sum((n * 4 + 7) // 8 for n in layer_weight_counts(model))
    rows = []

    t = time.time()
    qg = Q.quantize(g, calib, weight_bits=4, refine_samples=16)
    tq = time.time() - t
    a = agreement(int_logits(qg, test), ref)
    rows.append({"config": "uniform 4-bit weights, layer-wise calibrated", **a,
                 "weight_bytes": Q.weight_bytes(qg), "quantize_s": round(tq, 1),
                 "eval_s": round(time.time() - t - tq, 1)})
    print(f"  uniform 4-bit: {a} ({time.time() - t:.0f} s)", flush=True)

    for method, label in (("rtn", "mixed 2/4/8 (MILP) at the uniform 4-bit size"),
                          ("calibrated", "mixed 2/4/8 (MILP, calibrated KL sensitivity) at the uniform 4-bit size")):
        if method not in args.sensitivity.split(","):
            continue
        t = time.time()
        qm, plan, table = quantize_to_budget(g, calib, budget_bytes=budget, sens_samples=args.sens_samples,
                                             sens_method=method, refine_samples=16)
        tq = time.time() - t
        print(table, flush=True)
        a = agreement(int_logits(qm, test), ref)
        counts = {b: sum(1 for v in plan.values() if v == b) for b in (2, 4, 8)}
        rows.append({"config": label, "sensitivity": method, **a,
                     "weight_bytes": Q.weight_bytes(qm), "quantize_s": round(tq, 1),
                     "eval_s": round(time.time() - t - tq, 1), "layers_per_width": counts, "plan": plan})
        print(f"  {label}: {a} ({time.time() - t:.0f} s)", flush=True)

    # the goals are judged on the SDK's default sensitivity when it was measured
    u, m = rows[0], rows[-1]
    goals = {"mixed_248_beats_uniform_4bit": m["top1_agreement"] > u["top1_agreement"],
             "mixed_248_closer_to_float_kl": m["kl_to_float"] < u["kl_to_float"],
             "mixed_weight_bytes_le_uniform_4bit": m["weight_bytes"] <= u["weight_bytes"]}
    print(f"\n{'config':<48} {'top1 agree':>10} {'top5':>6} {'KL':>8} {'logit err':>9} {'bytes':>9}")
    for r in rows:
        print(f"{r['config']:<48} {r['top1_agreement']:>10.4f} {r['float_top1_in_top5']:>6.3f} "
              f"{r['kl_to_float']:>8.4f} {r['logit_mse_relative']:>9.4f} {r['weight_bytes']:>9}")
    for k, v in goals.items():
        print(f"goal {k}: {'MET' if v else 'NOT MET'}")
    doc = {"model": "MobileNetV2 ImageNet (torchvision weights via edgesdk.zoo)", "budget_bytes": budget,
           "inputs": f"{args.eval} evaluation and {args.calib} calibration 224x224 crops of: {', '.join(names)}",
           "sensitivity": {"rtn": f"round to nearest, output MSE on {args.sens_samples} calibration crops",
                           "calibrated": f"layer-wise calibrated per width, KL of class probabilities on crops "
                                         f"held out of the {args.sens_samples} sensitivity crops"},
           "goals_judged_on": m["config"],
           "activations": "int8 per tensor", "rows": rows, "goals": goals,
           "total_seconds": round(time.time() - t0, 1)}
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
