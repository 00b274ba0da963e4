"""Quantization on three trained Fashion-MNIST CNNs: accuracy and model bytes for float,
int8 PTQ, 4-bit (round-to-nearest and layer-wise calibrated), mixed precision at the
4-bit size budget, and QAT (8-bit and 4-bit weights).

Models (bench/quant_fmnist_model.py trains and caches them):
- fmnist_cnn: 3 convs + GAP + linear head (14k weights, two convs hold 97% of them);
- fmnist_vgg: conv-conv-pool-conv-pool + a hidden FC layer (115k weights, 87% in the
  FC layer), the ordinary CNN shape where layers differ in size and sensitivity;
- fmnist_dscnn: a 3x3 conv + five depthwise-separable blocks + GAP + linear head (35k
  weights, 85% in the 1x1 pointwise convs; tiny depthwise layers), the MobileNet/DS-CNN
  edge shape;
- fmnist_dscnn_s: fmnist_dscnn at half width (11k weights), the MCU-sized variant with
  less redundancy per layer.

Goals (checked here and reported, per model): int8 PTQ loses <= 0.5 points, 4-bit
layer-wise <= 1.5 points, mixed precision beats uniform 4-bit at the same size. The
layer-wise calibration has a seed (its sample subset and minibatches): the 4-bit and the
mixed rows run the same seeds and compare means. Every plan the MILP could pick is
scored on a validation split of the training set in bench/quant_mixed_enumerate.py.

    .venv/bin/python bench/quant_fmnist.py [--test N] [--seeds 3] [--models fmnist_cnn,fmnist_vgg,fmnist_dscnn]
    .venv/bin/python bench/quant_fmnist.py --models fmnist_dscnn --merge
    .venv/bin/python bench/quant_fmnist.py --models fmnist_dscnn_s --merge --seeds 6

Prints tables and writes bench/results/quant_fmnist.json (top-level rows/goals: fmnist_cnn,
as before; "models": every model's rows and goals). --merge measures only --models and
replaces their blocks in the stored JSON, keeping the other models' measurements (each
model's block records its own seed count). mixed_precision_goal.verdict calls a mixed win
"clear" only when the test margin exceeds one seed std and the validation split agrees.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_fmnist_goals import mixed_goal_summary, top_level_goals  # noqa: E402
from quant_fmnist_model import MODELS, evaluate  # noqa: E402

import edgesdk.quant as Q  # noqa: E402
from edgesdk.data import load_fashion_mnist  # noqa: E402
from edgesdk.frontends import load  # noqa: E402
from edgesdk.quant.calibrate import widen_batch  # noqa: E402
from edgesdk.reference import run  # noqa: E402
from edgesdk.util.atomic import atomic_path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "quant_fmnist.json"
DESCRIPTION = {
    "fmnist_cnn": "edgesdk.zoo.fmnist_cnn (3 epochs Adam, all 60000 train images, cached state_dict)",
    "fmnist_vgg": "edgesdk.zoo.models.fmnist_vgg (3 epochs Adam, first 55000 train images, cached state_dict)",
    "fmnist_dscnn": "edgesdk.zoo.models.fmnist_dscnn (3 epochs Adam, first 55000 train images, cached state_dict)",
    "fmnist_dscnn_s": "edgesdk.zoo.models.fmnist_dscnn_s: fmnist_dscnn at half width, 11k params (3 epochs Adam, "
                      "first 55000 train images, cached state_dict)",
}


def int_accuracy(qg, x, y, batch=500):
    """Accuracy of an integer graph on float images (int8 in, argmax of int8 out)."""
    correct = 0
    inp, out = qg.inputs[0], qg.outputs[0]
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        g = widen_batch(qg, len(xb))
        q = run(g, Q.quantize_inputs(qg, {inp: xb}))[out]
        correct += int((q.reshape(len(xb), -1).argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def int_kl_to_float(qg, x, float_logits, batch=500):
    """Mean KL(float || quantized) of the class distributions (dequantized integer logits):
    a finer measure of the distance to float than the accuracy, whose differences at
    these sizes are a few images."""
    inp, out = qg.inputs[0], qg.outputs[0]
    kl = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        g = widen_batch(qg, len(xb))
        q = Q.dequantize_outputs(qg, run(g, Q.quantize_inputs(qg, {inp: xb})))[out].reshape(len(xb), -1)
        lq = torch.log_softmax(torch.as_tensor(q, dtype=torch.float64), 1)
        lf = torch.log_softmax(torch.as_tensor(float_logits[i:i + batch], dtype=torch.float64), 1)
        kl.append(float((lf.exp() * (lf - lq)).sum(1).sum()))
    return sum(kl) / len(x)


def float_bytes(model):
    return 4 * sum(p.numel() for p in model.parameters())


def weight_only_bytes(qg):
    """Packed weight bytes of the quantized layers (the budget's currency; biases apart)."""
    return sum((qg.tensors[n.inputs[1]].data.size * qg.tensors[n.inputs[1]].quant.bits + 7) // 8
               for n in qg.nodes if n.op in ("QConv", "QGemm"))


def same_constants(a, b):
    """True when two integer graphs hold identical constants and requantization attrs (then
    they compute the same outputs: no need to evaluate both)."""
    ca = {n: t.data for n, t in a.tensors.items() if t.is_const}
    cb = {n: t.data for n, t in b.tensors.items() if t.is_const}
    if ca.keys() != cb.keys() or not all(np.array_equal(ca[k], cb[k]) for k in ca):
        return False
    if [(n.name, n.op) for n in a.nodes] != [(n.name, n.op) for n in b.nodes]:
        return False
    keys = ("multiplier", "shift", "x_zp", "y_zp", "act_min", "act_max")
    return all(np.array_equal(np.asarray(na.attrs.get(k, 0)), np.asarray(nb.attrs.get(k, 0)))
               for na, nb in zip(a.nodes, b.nodes) for k in keys)


def qat_finetune(model, x, y, epochs=1, lr=3e-5, seed=0, weight_bits=8):
    from edgesdk import qat
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    pm = qat.prepare(model, weight_bits=weight_bits)
    opt = torch.optim.Adam(pm.parameters(), lr)
    rng = np.random.default_rng(seed)
    pm.train()
    for _ in range(epochs):
        perm = rng.permutation(len(x))
        for i in range(0, len(x) - 127, 128):
            idx = perm[i:i + 128]
            loss = torch.nn.functional.cross_entropy(pm(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    pm.eval()
    return pm, qat.convert(pm, torch.zeros(1, 1, 28, 28))


def bench_model(name, args, xt, yt, calib, xq, yq):
    make = MODELS[name]
    model = make()
    g = load(model, example_inputs=torch.zeros(1, 1, 28, 28))
    seeds = list(range(args.seeds))
    rows = []

    def add(config, acc, qg_or_bytes, secs, **extra):
        if isinstance(qg_or_bytes, int):
            nbytes = wbytes = qg_or_bytes
        else:
            nbytes, wbytes = Q.weight_bytes(qg_or_bytes), weight_only_bytes(qg_or_bytes)
        rows.append({"config": config, "model": name, "accuracy": round(acc * 100, 2), "model_bytes": int(nbytes),
                     "weight_bytes": int(wbytes), "seconds": round(secs, 1), **extra})
        print(f"  [{name}] {config}: {acc * 100:.2f}% ({nbytes} bytes, {secs:.0f} s)", flush=True)

    def kl_fields(kls):
        return {"kl_to_float_per_seed": [round(k, 5) for k in kls], "kl_to_float_mean": round(float(np.mean(kls)), 5)}

    def seeded(per_seed):
        accs = [round(a * 100, 2) for a in per_seed]
        return {"seeds": seeds, "accuracy_per_seed": accs, "accuracy_std": round(float(np.std(accs)), 3)}

    t = time.time()
    add("float32", evaluate(model, xt, yt), float_bytes(model), time.time() - t)
    with torch.no_grad():
        float_logits = model(torch.from_numpy(xt)).numpy()

    t = time.time()
    q8 = Q.quantize(g, calib)
    add("int8 PTQ (minmax, per-channel, bias corr.)", int_accuracy(q8, xt, yt), q8, time.time() - t)

    t = time.time()
    q4r = Q.quantize(g, calib, weight_bits=4, layerwise=False)
    add("4-bit weights, round to nearest", int_accuracy(q4r, xt, yt), q4r, time.time() - t)

    t = time.time()
    uniform, accs4, kls4 = [], [], []
    for s in seeds:
        uniform.append(Q.quantize(g, calib, weight_bits=4, layerwise=True, seed=s))
        accs4.append(int_accuracy(uniform[-1], xt, yt))
        kls4.append(int_kl_to_float(uniform[-1], xt, float_logits))
    add("4-bit weights, layer-wise calibrated", float(np.mean(accs4)), uniform[0], time.time() - t, **seeded(accs4),
        **kl_fields(kls4))

    from edgesdk.quant.mixed import format_plan, layer_sensitivity, plan_mixed_precision, quantize_to_budget
    budget = weight_only_bytes(uniform[0])
    t = time.time()
    # quantize_to_budget's steps, with the (slow) sensitivity analysis and the plan done
    # once (seed 0) and the plan finished with each seed's layer-wise calibration.
    infos = layer_sensitivity(g, calib, seed=0)
    plan = plan_mixed_precision(infos, budget_bytes=budget)
    print(format_plan(infos, plan, metric="kl", budget_bytes=budget))
    plans, accsm, qms, klsm = [], [], [], []
    for s in seeds:
        qm = Q.quantize(g, calib, weight_bits=plan, seed=s)
        plans.append(plan)
        qms.append(qm)
        # The plan may be uniform 4-bit: then the graph is the uniform row's (same seed) bit for bit.
        same = same_constants(qm, uniform[s])
        accsm.append(accs4[s] if same else int_accuracy(qm, xt, yt))
        klsm.append(kls4[s] if same else int_kl_to_float(qm, xt, float_logits))
    add("mixed 2/4/8 (MILP) at the 4-bit budget", float(np.mean(accsm)), qms[0], time.time() - t,
        plan=plan, budget_bytes=budget, sensitivity_values={i.name: i.sens for i in infos},
        plan_table=[{"layer": i.name, "op": i.op, "params": i.params, "bits": plan[i.name]} for i in infos],
        weight_bytes_per_seed=[weight_only_bytes(q) for q in qms],
        sensitivity="layer-wise calibrated, KL on held-out calibration samples (seed 0)", **seeded(accsm),
        **kl_fields(klsm))

    t = time.time()
    fine = (2, 3, 4, 5, 6, 8)
    qm2, plan2, table2 = quantize_to_budget(g, calib, budget_bytes=budget, choices=fine, seed=0)
    print(table2)
    acc2 = accs4[0] if same_constants(qm2, uniform[0]) else int_accuracy(qm2, xt, yt)
    add("mixed 2/3/4/5/6/8 (MILP) at the 4-bit budget", acc2, qm2, time.time() - t, plan=plan2,
        budget_bytes=budget, seeds=[0], uniform_4bit_same_seed_accuracy=round(accs4[0] * 100, 2),
        note="3/5/6-bit weights assume a packer for those widths (kernels know 8/4/2); one seed (0)")

    t = time.time()
    pm, gq = qat_finetune(make(), xq, yq)
    add(f"QAT int8 (1 epoch on {len(xq)} images)", int_accuracy(gq, xt, yt), gq, time.time() - t,
        torch_fake_quant_accuracy=round(evaluate(pm, xt, yt) * 100, 2))

    t = time.time()
    pm4, gq4 = qat_finetune(make(), xq, yq, lr=1e-4, weight_bits=4)
    add(f"QAT 4-bit weights (1 epoch on {len(xq)} images)", int_accuracy(gq4, xt, yt), gq4, time.time() - t,
        torch_fake_quant_accuracy=round(evaluate(pm4, xt, yt) * 100, 2))

    f = rows[0]["accuracy"]
    m_mean, u_mean = float(np.mean(accsm)) * 100, float(np.mean(accs4)) * 100
    goals = {
        "model": name,
        "int8_ptq_drop_points": round(f - rows[1]["accuracy"], 2),
        "int8_ptq_drop_le_0.5": f - rows[1]["accuracy"] <= 0.5,
        "4bit_layerwise_drop_points": round(f - rows[3]["accuracy"], 2),
        "4bit_layerwise_drop_le_1.5": f - rows[3]["accuracy"] <= 1.5,
        "mixed_248_beats_uniform_4bit": m_mean > u_mean,
        "mixed_248_minus_uniform_4bit_points": round(m_mean - u_mean, 3),
        "mixed_248_plan_is_uniform_4bit": all(set(p.values()) == {4} for p in plans),
        "mixed_248_kl_to_float_lower_than_uniform_4bit": float(np.mean(klsm)) < float(np.mean(kls4)),
        "mixed_2to8_beats_uniform_4bit": rows[5]["accuracy"] > round(accs4[0] * 100, 2),
        "mixed_weight_bytes_le_4bit": max(rows[4]["weight_bytes"], rows[5]["weight_bytes"]) <= rows[3]["weight_bytes"],
    }
    print(f"\n{'config':<46} {'acc %':>7} {'bytes':>8} {'weights':>8}   ({name})")
    for r in rows:
        print(f"{r['config']:<46} {r['accuracy']:>7.2f} {r['model_bytes']:>8} {r['weight_bytes']:>8}")
    print("goals:", json.dumps(goals), flush=True)
    return {"model": DESCRIPTION[name], "params": int(sum(p.numel() for p in model.parameters())),
            "seeds": args.seeds, "rows": rows, "goals": goals, "accuracy": {r["config"]: r["accuracy"] for r in rows}}


def merge(measured, args, seconds):
    """Replace the measured models' blocks in the stored JSON; the others stay as measured before."""
    doc = json.loads(RESULTS.read_text())
    if doc["test_images"] != args.test or doc["calibration_images"] != args.calib:
        sys.exit(f"--merge: the stored run used {doc['test_images']} test / {doc['calibration_images']} calibration "
                 f"images; run with the same settings")
    # The seed count may differ per model (each block records its own "seeds"; the 4-bit and
    # mixed rows of one model always share the same seeds): blocks without one used doc["seeds"].
    for block in doc["models"].values():
        block.setdefault("seeds", doc["seeds"])
    doc["models"].update(measured)
    main_name = next(iter(doc["models"]))  # the first stored model keeps the top-level rows/goals
    top = doc["models"][main_name]
    doc.update(rows=top["rows"], accuracy=top["accuracy"], model=top["model"], params=top["params"],
               goals=top_level_goals(doc["models"], main_name),
               mixed_precision_goal=mixed_goal_summary(doc["models"]))
    doc.setdefault("merged_runs", []).append({"models": sorted(measured), "seconds": round(seconds, 1),
                                              "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())})
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    print(json.dumps(doc["mixed_precision_goal"], indent=2))
    print(f"merged {sorted(measured)} into {RESULTS}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--test", type=int, default=10000, help="test images to evaluate on")
    ap.add_argument("--calib", type=int, default=512)
    ap.add_argument("--qat-samples", type=int, default=20000)
    ap.add_argument("--seeds", type=int, default=3, help="layer-wise calibration seeds (4-bit and mixed rows)")
    ap.add_argument("--models", default="fmnist_cnn,fmnist_vgg")
    ap.add_argument("--merge", action="store_true",
                    help="measure only --models and replace their blocks in the stored JSON (the top-level "
                         "rows/goals stay the stored main model's unless it is re-measured)")
    ap.add_argument("--summarize-only", action="store_true",
                    help="measure nothing: recompute the mixed-precision goal summary of the existing JSON "
                         "(after bench/quant_mixed_enumerate.py ran)")
    args = ap.parse_args()
    if args.summarize_only:
        doc = json.loads(RESULTS.read_text())
        doc["mixed_precision_goal"] = mixed_goal_summary(doc["models"])
        with atomic_path(RESULTS) as tmp:
            tmp.write_text(json.dumps(doc, indent=2))
        print(json.dumps(doc["mixed_precision_goal"], indent=2))
        return
    torch.set_num_threads(1)
    t0 = time.time()
    xt, yt = load_fashion_mnist("test", limit=args.test)
    xtr, ytr = load_fashion_mnist("train")
    calib = xtr[:args.calib]
    xq, yq = xtr[:args.qat_samples], ytr[:args.qat_samples]
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        sys.exit(f"--models: unknown {unknown}; expected some of {sorted(MODELS)}")
    measured = {m: bench_model(m, args, xt, yt, calib, xq, yq) for m in names}
    if args.merge:
        merge(measured, args, time.time() - t0)
        return
    per_model = measured
    main_name = names[0]
    top = per_model[main_name]
    goals = top_level_goals(per_model, main_name)
    doc = {"model": top["model"], "params": top["params"], "test_images": len(xt), "calibration_images": len(calib),
           "seeds": args.seeds, "rows": top["rows"], "goals": goals, "accuracy": top["accuracy"],
           "models": per_model, "mixed_precision_goal": mixed_goal_summary(per_model),
           "total_seconds": round(time.time() - t0, 1),
           "note": "model_bytes = packed weights + int32 biases (float: 4 bytes per parameter); "
                   "weight_bytes = packed weights only (the mixed-precision budget). Top-level rows/goals: "
                   f"{main_name}; 'models' holds every model. Plans scored on a train validation split: "
                   "bench/results/quant_mixed_enumerate_<model>.json."}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
