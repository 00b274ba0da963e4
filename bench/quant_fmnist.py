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


def enumeration_summary(name):
    """What bench/quant_mixed_enumerate.py measured for `name` on the train validation split."""
    from scipy.stats import spearmanr
    path = RESULTS.parent / f"quant_mixed_enumerate_{name}.json"
    if not path.exists():
        return None
    e = json.loads(path.read_text())
    mixed = [r for r in e["rows"] if set(r["plan"]) != {4}]
    best_mixed = max(mixed, key=lambda r: r["accuracy_mean"]) if mixed else None
    return {"file": path.name, "plans_scored": len(e["rows"]), "seeds": e["seeds"],
            "plans_scored_how": e.get("plans_scored", "every maximal plan"),
            "mixed_plans_beat_uniform_on_val": [r["plan"] for r in mixed
                                                if r["accuracy_mean"] > e["uniform_4bit"]["accuracy_mean"]],
            "float_val_accuracy": e.get("float_val_accuracy"),
            "uniform_4bit_val_accuracy": round(e["uniform_4bit"]["accuracy_mean"], 2),
            "best_mixed_plan": best_mixed and best_mixed["plan"],
            "best_mixed_val_accuracy": best_mixed and round(best_mixed["accuracy_mean"], 2),
            "best_mixed_weight_bytes": best_mixed and best_mixed["weight_bytes"],
            "milp_plan_by_sensitivity": {k: v["milp_plan"] for k, v in e["sensitivity_models"].items()},
            # How well each sensitivity model's summed prediction ranks the measured plans
            # (None with fewer than 3 plans: a rank correlation of 2 points is only a sign).
            "spearman_predicted_vs_val_kl": None if len(e["rows"]) < 3 else {k: round(float(spearmanr([r["predicted"][k] for r in e["rows"]],
                                                                      [r["kl_to_float_mean"] for r in e["rows"]])[0]), 2)
                                             for k in e["sensitivity_models"]},
            "spearman_predicted_vs_val_error": None if len(e["rows"]) < 3 else {k: round(float(spearmanr([r["predicted"][k] for r in e["rows"]],
                                                                         [-r["accuracy_mean"] for r in e["rows"]])[0]), 2)
                                                for k in e["sensitivity_models"]}}


def validation_of_plan(name, plan):
    """The test row's exact plan as scored on the train validation split by
    bench/quant_mixed_enumerate.py (same calibration images and seeds 0..k-1), next to
    uniform 4-bit there; None when that plan was not scored."""
    path = RESULTS.parent / f"quant_mixed_enumerate_{name}.json"
    if not path.exists() or not plan:
        return None
    e = json.loads(path.read_text())
    bits = [plan[n] for n in e["layers"]] if set(e["layers"]) == set(plan) else None
    row = next((r for r in e["rows"] if r["plan"] == bits), None)
    if row is None:
        return None
    uni = e["uniform_4bit"]
    return {"seeds": e["seeds"], "mixed_accuracy_mean": round(row["accuracy_mean"], 3),
            "uniform_4bit_accuracy_mean": round(uni["accuracy_mean"], 3),
            "mixed_minus_uniform_points": round(row["accuracy_mean"] - uni["accuracy_mean"], 3),
            "mixed_accuracy_per_seed": [s["accuracy"] for s in row["per_seed"]],
            "uniform_4bit_accuracy_per_seed": [s["accuracy"] for s in uni["per_seed"]],
            "mixed_accuracy_std": round(row["accuracy_std"], 3), "uniform_4bit_accuracy_std": round(uni["accuracy_std"], 3),
            "mixed_kl_to_float_mean": round(row["kl_to_float_mean"], 5),
            "uniform_4bit_kl_to_float_mean": round(uni["kl_to_float_mean"], 5),
            "float_accuracy": e.get("float_val_accuracy")}


def judge(entry):
    """A verdict that does not overclaim: a clear win needs the test mean better by more than
    one seed std (the larger of the two rows') AND the validation split to agree."""
    if entry["plan_is_uniform_4bit"]:
        return "tie (MILP picks uniform 4-bit)"
    margin = entry["mixed_minus_uniform_points"]
    val = entry.get("validation_same_plan")
    std = max(entry.get("mixed_accuracy_std") or 0, entry.get("uniform_4bit_accuracy_std") or 0)
    entry["margin_within_one_std"] = abs(margin) <= std
    entry["validation_agrees"] = None if val is None else (val["mixed_minus_uniform_points"] > 0) == (margin > 0)
    if margin <= 0:
        return "not met"
    if entry["margin_within_one_std"] or not entry["validation_agrees"]:
        return "met on the mean, not a clear win"
    return "clear win"


def _describe(name, entry):
    """One clause per model for the summary line."""
    v = entry["verdict"]
    if v.startswith("tie"):
        return f"{name}: tie (MILP picks uniform 4-bit, test {entry['uniform_4bit_accuracy_per_seed']})"
    txt = (f"{name}: {v}, test {entry['mixed_minus_uniform_points']:+.2f} points over {len(entry['mixed_accuracy_per_seed'] or [])} "
           f"seeds (mixed {entry['mixed_accuracy_per_seed']} vs uniform {entry['uniform_4bit_accuracy_per_seed']}, "
           f"std {entry['mixed_accuracy_std']}/{entry['uniform_4bit_accuracy_std']})")
    val = entry.get("validation_same_plan")
    if val is None:
        return txt + ", plan not scored on validation"
    return txt + (f", validation {val['mixed_minus_uniform_points']:+.2f} over {val['seeds']} seeds "
                  f"({'agrees' if entry['validation_agrees'] else 'disagrees'})")


def _row(d, prefix):
    return next(r for r in d["rows"] if r["config"].startswith(prefix))


def mixed_goal_summary(per_model):
    """The mixed-precision goal, per model, with the evidence and the reason when it is not met."""
    out = {"goal": "mixed 2/4/8 (MILP) beats uniform 4-bit layer-wise at the same weight bytes "
                   "(mean test accuracy over the same calibration seeds)"}
    for name, d in per_model.items():
        gl, enum = d["goals"], enumeration_summary(name)
        uni, mix = _row(d, "4-bit weights, layer-wise"), _row(d, "mixed 2/4/8")
        entry = {"model": name, "met": gl["mixed_248_beats_uniform_4bit"],
                 "mixed_minus_uniform_points": gl["mixed_248_minus_uniform_4bit_points"],
                 "plan_is_uniform_4bit": gl["mixed_248_plan_is_uniform_4bit"],
                 "outcome": ("met" if gl["mixed_248_beats_uniform_4bit"] else
                             "tie (same graph)" if gl["mixed_248_plan_is_uniform_4bit"] else "not met"),
                 "uniform_4bit_accuracy_per_seed": uni.get("accuracy_per_seed"),
                 "mixed_accuracy_per_seed": mix.get("accuracy_per_seed"),
                 "uniform_4bit_accuracy_std": uni.get("accuracy_std"),
                 "mixed_accuracy_std": mix.get("accuracy_std"),
                 "plan": mix.get("plan"),
                 "uniform_4bit_drop_from_float_points": gl["4bit_layerwise_drop_points"],
                 "validation_enumeration": enum}
        if "kl_to_float_mean" in mix:
            entry["uniform_4bit_test_kl_to_float_per_seed"] = uni["kl_to_float_per_seed"]
            entry["mixed_test_kl_to_float_per_seed"] = mix["kl_to_float_per_seed"]
        if not entry["met"] and entry["plan_is_uniform_4bit"]:
            why = (f"the MILP chose uniform 4-bit (a tie). Uniform 4-bit with layer-wise calibration loses only "
                   f"{gl['4bit_layerwise_drop_points']} test points to float")
            if enum and enum.get("plans_scored_how", "every maximal plan") == "every maximal plan":
                why += (f"; on the validation split every other maximal {{2,4,8}} plan within the budget "
                        f"(no layer can move up a width) is worse "
                        f"(best mixed {enum['best_mixed_plan']}: {enum['best_mixed_val_accuracy']} vs uniform "
                        f"{enum['uniform_4bit_val_accuracy']}, float {enum['float_val_accuracy']}), so uniform is "
                        f"the right pick and no {{2,4,8}} plan can beat it on this model")
            entry["why_not_met"] = why
        elif entry["met"]:
            diffs = [round(m - u, 2) for m, u in zip(mix.get("accuracy_per_seed") or [], uni.get("accuracy_per_seed") or [])]
            caveats = [f"paired per-seed differences {diffs} points"]
            spread = max(mix.get("accuracy_std") or 0, uni.get("accuracy_std") or 0)
            if gl["mixed_248_minus_uniform_4bit_points"] <= 2 * spread:
                caveats.append(f"the margin is within twice the seed-to-seed spread (std {spread})")
            if enum and enum["best_mixed_val_accuracy"] is not None and \
                    enum["best_mixed_val_accuracy"] <= enum["uniform_4bit_val_accuracy"]:
                caveats.append(f"on the validation split ({enum['seeds']} seeds) the same plan scored "
                               f"{enum['best_mixed_val_accuracy']} vs uniform {enum['uniform_4bit_val_accuracy']}, "
                               f"so the accuracy win is not robust")
            if "kl_to_float_mean" in mix:
                caveats.append(f"test KL to float (what the MILP minimises) {mix['kl_to_float_mean']} vs uniform "
                               f"{uni['kl_to_float_mean']}")
            entry["caveats"] = "; ".join(caveats)
        else:
            entry["why_not_met"] = (
                f"the MILP chose a mixed plan, which loses {-gl['mixed_248_minus_uniform_4bit_points']} test points "
                f"to uniform 4-bit (per seed {mix.get('accuracy_per_seed')} vs {uni.get('accuracy_per_seed')}); "
                f"uniform 4-bit is only {gl['4bit_layerwise_drop_points']} points below float, so there is "
                f"little for any plan to win back")
            if enum:
                entry["why_not_met"] += (
                    f"; on the validation split ({enum['seeds']} seeds): mixed {enum['best_mixed_val_accuracy']} vs uniform "
                    f"{enum['uniform_4bit_val_accuracy']} (float {enum['float_val_accuracy']})")
            if "kl_to_float_mean" in mix:
                noise = abs(gl["mixed_248_minus_uniform_4bit_points"]) <= 2 * max(mix.get("accuracy_std") or 0,
                                                                              uni.get("accuracy_std") or 0)
                entry["why_not_met"] += (
                    f"; the mixed plan's test KL to float is {mix['kl_to_float_mean']} vs uniform "
                    f"{uni['kl_to_float_mean']} (what the MILP minimises: "
                    f"{'lower' if mix['kl_to_float_mean'] < uni['kl_to_float_mean'] else 'not lower'})"
                    f"; the accuracy difference is "
                    f"{'within' if noise else 'larger than'} twice the seed-to-seed spread "
                    f"(std {mix.get('accuracy_std')} / {uni.get('accuracy_std')})")
        entry["validation_same_plan"] = None if entry["plan_is_uniform_4bit"] else \
            validation_of_plan(name, entry["plan"])
        entry["seeds"] = d.get("seeds")
        entry["verdict"] = judge(entry)
        out[name] = entry
    out["met_on"] = [m for m in per_model if out[m]["outcome"] == "met"]
    out["tie_on"] = [m for m in per_model if out[m]["outcome"].startswith("tie")]
    out["not_met_on"] = [m for m in per_model if out[m]["outcome"] == "not met"]
    out["met_on_any_model"] = bool(out["met_on"])
    met = [f"{m} (+{out[m]['mixed_minus_uniform_points']} points" + (", see caveats)" if out[m].get("caveats") else ")")
           for m in out["met_on"]]
    out["summary"] = (f"met on {', '.join(met) or 'no model'}; tie (MILP picks uniform 4-bit) on "
                      f"{', '.join(out['tie_on']) or 'no model'}; not met (mixed plan loses) on "
                      f"{', '.join(out['not_met_on']) or 'no model'}")
    out["per_model"] = [_describe(m, out[m]) for m in per_model]
    clear = [m for m in per_model if out[m]["verdict"] == "clear win"]
    weak = [m for m in per_model if out[m]["verdict"].startswith("met on the mean")]
    out["clear_win_on"] = clear
    out["verdict"] = (f"clear win (test margin > 1 std and validation agrees) on {', '.join(clear) or 'no model'}; "
                      f"met on the mean but not a clear win on {', '.join(weak) or 'no model'}; ties on "
                      f"{', '.join(out['tie_on']) or 'no model'}; not met on {', '.join(out['not_met_on']) or 'no model'}")
    if "fmnist_dscnn" in per_model and "fmnist_dscnn_s" in per_model:
        out["hypothesis_half_width_dscnn"] = half_width_hypothesis(out["fmnist_dscnn"], out["fmnist_dscnn_s"])
    return out


def half_width_hypothesis(full, small):
    """The pre-registered test: on the MCU-sized (half width) DS-CNN uniform 4-bit costs more,
    and the MILP plan's lower KL to float turns into a real accuracy win. Its outcome, from the numbers."""
    def val_headroom(e):
        v = e.get("validation_same_plan") or {}
        return v.get("float_accuracy") and round(v["float_accuracy"] - v["uniform_4bit_accuracy_mean"], 2)
    costs_more_test = small["uniform_4bit_drop_from_float_points"] > full["uniform_4bit_drop_from_float_points"]
    return {"hypothesis": "on the half-width fmnist_dscnn_s uniform 4-bit costs more than on fmnist_dscnn, and the "
                          "MILP plan's lower KL to float becomes a real accuracy win (validation and test agree, "
                          "margin > 1 std)",
            "uniform_4bit_drop_test_points": {"fmnist_dscnn": full["uniform_4bit_drop_from_float_points"],
                                              "fmnist_dscnn_s": small["uniform_4bit_drop_from_float_points"]},
            "uniform_4bit_drop_validation_points": {"fmnist_dscnn": val_headroom(full),
                                                    "fmnist_dscnn_s": val_headroom(small)},
            "uniform_4bit_costs_more_on_test": costs_more_test,
            "verdict_fmnist_dscnn_s": small["verdict"],
            "outcome": ("supported" if small["verdict"] == "clear win" and costs_more_test else
                        "not supported: " + ("" if costs_more_test else "uniform 4-bit does not cost more on the "
                                             "test set; ") + f"fmnist_dscnn_s is '{small['verdict']}'")}


def top_level_goals(per_model, main_name):
    """The main model's goals plus the mixed-precision result of every model."""
    goals = dict(per_model[main_name]["goals"])
    goals["mixed_248_beats_uniform_4bit_by_model"] = {m: d["goals"]["mixed_248_beats_uniform_4bit"]
                                                     for m, d in per_model.items()}
    goals["mixed_248_minus_uniform_4bit_points_by_model"] = {
        m: d["goals"]["mixed_248_minus_uniform_4bit_points"] for m, d in per_model.items()}
    return goals


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
