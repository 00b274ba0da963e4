"""Every maximal {2, 4, 8}-bit plan within the uniform 4-bit weight budget, each finished with the
same layer-wise calibration as the uniform 4-bit row, scored on a validation split carved
from the TRAIN set (never the test set). It tells whether a mixed plan can beat uniform
4-bit at all, and whether the sensitivity model + MILP (edgesdk.quant.mixed) finds it.

    .venv/bin/python bench/quant_mixed_enumerate.py [--model fmnist_cnn|fmnist_vgg|fmnist_dscnn|fmnist_dscnn_s] [--seeds 3]

With many layers (fmnist_dscnn: 12, thousands of maximal plans) only uniform 4-bit and the
plan each sensitivity model's MILP picks are scored (--max-plans).

Writes bench/results/quant_mixed_enumerate_<model>.json.
"""
import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_fmnist_model import MODELS, validation_split  # noqa: E402

import edgesdk.quant as Q  # noqa: E402
from edgesdk.frontends import load  # noqa: E402
from edgesdk.quant.calibrate import widen_batch  # noqa: E402
from edgesdk.quant.mixed import CHOICES, _bytes, _layers  # noqa: E402
from edgesdk.quant.prepare import prepare_float  # noqa: E402
from edgesdk.reference import run  # noqa: E402
from edgesdk.util.atomic import atomic_path  # noqa: E402


def int_logits(qg, x, batch=1000):
    """Dequantized output of the integer graph on float images."""
    inp, out = qg.inputs[0], qg.outputs[0]
    res = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        g = widen_batch(qg, len(xb))
        q = run(g, Q.quantize_inputs(qg, {inp: xb}))
        res.append(Q.dequantize_outputs(qg, q)[out].reshape(len(xb), -1))
    return np.concatenate(res)


def log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def scores(logits, y, float_logits):
    """accuracy %, cross-entropy, KL(float || quantized) on the logits."""
    lq, lf = log_softmax(logits.astype(np.float64)), log_softmax(float_logits.astype(np.float64))
    return {"accuracy": round(float((logits.argmax(1) == y).mean() * 100), 2),
            "cross_entropy": float(-lq[np.arange(len(y)), y].mean()),
            "kl_to_float": float((np.exp(lf) * (lf - lq)).sum(1).mean())}


def maximal_plans(params, budget, choices=CHOICES):
    """Plans within the budget where no single layer can move up a width without breaking it.

    A plan with room left is dominated by the plan that spends the room (more bits on a
    layer never costs accuracy in expectation), so only these few need measuring."""
    size = lambda combo: sum(_bytes(p, b) for p, b in zip(params, combo))  # noqa: E731
    for combo in itertools.product(choices, repeat=len(params)):
        if size(combo) > budget:
            continue
        ups = [combo[:i] + (choices[choices.index(b) + 1],) + combo[i + 1:]
               for i, b in enumerate(combo) if b != choices[-1]]
        if all(size(u) > budget for u in ups):
            yield combo


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="fmnist_cnn", choices=sorted(MODELS))
    ap.add_argument("--seeds", type=int, default=3, help="layer-wise calibration seeds per plan")
    ap.add_argument("--calib", type=int, default=512)
    ap.add_argument("--val", type=int, default=5000)
    ap.add_argument("--max-plans", type=int, default=40,
                    help="score every maximal plan only up to this many; else uniform 4-bit and the MILP plans")
    ap.add_argument("--max-layers-to-enumerate", type=int, default=8,
                    help="above this many layers the 3^L plans are not even listed")
    ap.add_argument("--context", action="store_true",
                    help="also the sensitivity measured with the other layers at 4 bits (calibrated/kl@4)")
    ap.add_argument("--reuse-scores", action="store_true",
                    help="keep the measured plan scores of the existing JSON (same plans and data; with more "
                         "--seeds only the new seeds are measured) and recompute the sensitivity models' predictions")
    args = ap.parse_args()
    out = Path(__file__).resolve().parent / "results" / f"quant_mixed_enumerate_{args.model}.json"
    old = json.loads(out.read_text()) if args.reuse_scores and out.exists() else None
    torch.set_num_threads(1)
    t0 = time.time()
    model = MODELS[args.model]()
    xc, _, xv, yv = validation_split(args.model, calib=args.calib, val=args.val)
    g = load(model, example_inputs=torch.zeros(1, 1, 28, 28))
    fg = prepare_float(g)
    names = [n.name for n in _layers(fg)]
    params = [int(fg.const(n.inputs[1]).size) for n in _layers(fg)]
    budget = sum(_bytes(p, 4) for p in params)
    with torch.no_grad():
        float_logits = model(torch.from_numpy(xv)).numpy()
    float_acc = round(float((float_logits.argmax(1) == yv).mean() * 100), 2)
    rows = []
    # What each sensitivity model predicts, and the plan its MILP picks.
    from edgesdk.quant.mixed import layer_sensitivity, plan_mixed_precision
    predicted, sens_infos = {}, {}
    # calibrated/*: fitted on half the calibration samples, damage measured on the other half.
    # calibrated/kl@4: each layer measured with the other layers at 4 bits (the budget's mean
    # width) instead of float (edgesdk.quant.sensitivity, context_bits).
    models = [("rtn", None, None), ("calibrated", "mse", None), ("calibrated", "kl", None)]
    if args.context:
        models.append(("calibrated", "kl", 4))
    for method, metric, context in models:
        t = time.time()
        infos = layer_sensitivity(g, xc, method=method, metric=metric, context_bits=context)
        plan = plan_mixed_precision(infos, budget_bytes=budget)
        key = f"{method}/{metric or 'mse'}" + (f"@{context}" if context else "")
        sens_infos[key] = infos
        predicted[key] = {"sens": {i.name: i.sens for i in infos}, "milp_plan": [plan[n] for n in names],
                          "seconds": round(time.time() - t, 1)}
        print(f"  sensitivity {key}: MILP plan {predicted[key]['milp_plan']} ({time.time() - t:.0f} s)", flush=True)
    plans = list(maximal_plans(params, budget)) if len(params) <= args.max_layers_to_enumerate else []
    enumerated = 0 < len(plans) <= args.max_plans
    if not enumerated:
        # Too many to score: uniform 4-bit and every sensitivity model's MILP plan.
        plans = list(dict.fromkeys([(4,) * len(params)] + [tuple(p["milp_plan"]) for p in predicted.values()]))
    print(f"{args.model}: layers {dict(zip(names, params))}, budget {budget} bytes, {len(plans)} plans "
          f"({'every maximal plan' if enumerated else 'uniform 4-bit and the MILP plans'})", flush=True)
    for combo in plans:
        plan = dict(zip(names, combo))
        per_seed = []
        prev = [r for r in (old or {}).get("rows", []) if tuple(r["plan"]) == combo]
        # Seeds 0..k-1 are the same runs whatever --seeds is: keep them, measure the rest.
        if prev and old["validation"].startswith(f"{len(xv)} "):
            per_seed = prev[0]["per_seed"][:args.seeds]
        for seed in range(len(per_seed), args.seeds):
            qg = Q.quantize(g, xc, weight_bits=plan, seed=seed)
            per_seed.append(scores(int_logits(qg, xv), yv, float_logits))
        row = {"plan": list(combo), "weight_bytes": sum(_bytes(p, b) for p, b in zip(params, combo)),
               "per_seed": per_seed}
        for k in ("accuracy", "cross_entropy", "kl_to_float"):
            v = [s[k] for s in per_seed]
            row[k + "_mean"], row[k + "_std"] = float(np.mean(v)), float(np.std(v))
        rows.append(row)
        print(f"  {combo}: {row['weight_bytes']:>7} B  val acc {row['accuracy_mean']:.2f} +- "
              f"{row['accuracy_std']:.2f}  KL {row['kl_to_float_mean']:.4f}  CE {row['cross_entropy_mean']:.4f}",
              flush=True)
    for key, infos in sens_infos.items():
        for r in rows:
            r.setdefault("predicted", {})[key] = sum(i.sens[b] for i, b in zip(infos, r["plan"]))
    uniform = next(r for r in rows if set(r["plan"]) == {4})
    best = max(rows, key=lambda r: r["accuracy_mean"])
    best_kl = min(rows, key=lambda r: r["kl_to_float_mean"])
    doc = {"model": args.model, "layers": names, "params": params, "budget_bytes": budget,
           "validation": f"{len(xv)} TRAIN images held out of calibration", "seeds": args.seeds,
           "plans_scored": "every maximal plan" if enumerated else "uniform 4-bit and the MILP plans only",
           "float_val_accuracy": float_acc,
           "headroom_over_uniform_4bit_points": round(float_acc - uniform["accuracy_mean"], 2),
           "uniform_4bit": uniform, "best_by_val_accuracy": best, "best_by_val_kl": best_kl,
           "a_mixed_plan_beats_uniform_on_val": best["accuracy_mean"] > uniform["accuracy_mean"],
           "sensitivity_models": predicted,
           "rows": rows, "total_seconds": round(time.time() - t0, 1)}
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))
    print(f"float {float_acc:.2f}; best by val accuracy {best['plan']} {best['accuracy_mean']:.2f}; by KL "
          f"{best_kl['plan']}; uniform 4 {uniform['accuracy_mean']:.2f}; wrote {out}")


if __name__ == "__main__":
    main()
