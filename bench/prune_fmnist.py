"""Pruning on Fashion-MNIST: accuracy vs MACs and parameters, per method and budget.

Models: edgesdk.zoo.fmnist_cnn (the trained float model of bench/quant_fmnist_model.py)
and edgesdk.zoo.resnet8 (trained here briefly on Fashion-MNIST padded to 32x32 and
tiled to 3 channels). For each MAC reduction (30/50/70 %) and method, the model is
pruned and fine-tuned with the SAME budget (epochs, data, Adam + cosine LR):
  magnitude   global unstructured magnitude (MACs counted on non-zero weights; our
              dense kernels do not skip those zeros, so this row is a reference)
  uniform     structured channel removal, the same rate in every dependency group
  adaptive    structured, per-group rates from the rate-distortion DP, distortion =
              KL from the unpruned model's softmax on the calibration batch after a
              BatchNorm re-fit; its MAC target is max(target, uniform's achieved
              reduction), so it never gets more MACs than uniform
  lapp        structured, per-group rates LEARNED with the task loss (edgesdk.prune.lapp:
              soft gates with a learnable threshold per group, trained with weights for
              LAPP_STEPS steps on the training images under an augmented-Lagrangian MAC
              budget, then rounded to channel counts within the budget); the same matched
              MAC target as adaptive; each seed learns its own plan with that seed, the
              learned weights are discarded and the ORIGINAL weights are pruned, so the
              fine-tuning budget is the same as uniform's (seeded reductions only)
(all structured variants re-fit their BatchNorm statistics on the calibration batch)
N:M: 2:4 and 1:4 on every eligible layer, plain (one-shot mask, gradients cut) vs
progressive gradient flow (straight-through: the forward uses the hard mask, the pruned
weights' gradient and update decay with a cosine 1 -> 0 over 3/4 of fine-tuning while
the N:M groups are re-selected from the latent weights at every step).
Compared methods run with the same seeds (fine-tuning order); "accuracy" is the mean
over seeds, per-seed values and std are in the rows. A "float-finetuned" row gives the
unpruned model the same fine-tuning budget (the float models are briefly trained, so
extra training alone can move accuracy: this shows how much).
Recipe choices (made on a validation split = the last 5000 TRAIN images, never on the
test set): fine-tuning with plain cross-entropy (distillation from the unpruned model,
kd_weight 0.7, T 4, scored lower there: 86.44 vs 86.76 after 2 epochs, 86.98 vs 88.20
after 5), KL distortion for the DP (the MSE
one picked rates that fine-tuned worse), the straight-through gradient flow for N:M (the
mask-decay variant scored lower); bench/prune_select.py re-measures these choices
(bench/results/prune_select.json).
Goals: 50 % fewer MACs with <= 1 point loss after fine-tuning, by STRUCTURED pruning
(channels physically removed); layer-adaptive beats uniform at the same budget (met when the DP OR LAPP beats it on the
mean over the same seeds, with no more MACs; goal_details says which); N:M
with progressive gradient flow beats plain N:M at 1:4 (means over seeds).

    .venv/bin/python bench/prune_fmnist.py [--quick] [--only fmnist|resnet8] [--adaptive-only]
        [--refine joint|none] [--lapp-only [--extra-seeds N]] [--summarize-only]
(--only merges its rows into the existing JSON, replacing that model's rows;
--adaptive-only re-runs just the structured-adaptive rows and replaces those;
--lapp-only runs just the structured-lapp rows at 50 % and merges them in; --extra-seeds N
then fine-tunes uniform and lapp on N more seeds, pooled in lapp_extra_seeds.)
The adaptive rows use adaptive_prune(refine="joint"): the DP plan is refined by a local
search scored by the JOINT distortion of whole pruned networks (calibration batch only).
"""
import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_fmnist_model import trained_fmnist_cnn  # noqa: E402

from edgesdk.data import load_fashion_mnist  # noqa: E402
from edgesdk.prune import count_macs, count_params  # noqa: E402
from edgesdk.prune.adaptive import adaptive_prune, uniform_prune  # noqa: E402
from edgesdk.prune.finetune import evaluate, finetune, prune_and_finetune  # noqa: E402
from edgesdk.prune.lapp import lapp_prune  # noqa: E402
from edgesdk.prune.magnitude import magnitude_prune  # noqa: E402
from edgesdk.prune.masks import remove_masks  # noqa: E402
from edgesdk.util.atomic import write_text  # noqa: E402
from edgesdk.zoo import resnet8  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "prune.json"
# Why the adaptive rows look as they do (evidence: adaptive_refine in the JSON and the
# grid enumeration quoted here, all on the 256-image calibration batch, never test data).
ADAPTIVE_NOTE = ("The adaptive rows use adaptive_prune(refine='joint'): the DP plan (additive per-group KL) "
                 "is refined by a local search over per-group rates (one step up/down, budget-restoring trades) "
                 "scored by the JOINT KL of whole pruned networks after the BatchNorm re-fit on the calibration "
                 "batch, within the same MAC budget (details: adaptive_refine). resnet8 50%: the search moved the "
                 "plan (joint KL 0.557 -> 0.458, 150 evaluations), 86.68 +- 0.10 vs the plain DP plan's "
                 "86.65 +- 0.43 (same 3 seeds) and vs uniform 86.45 +- 0.23: goal met. fmnist_cnn 50%: the DP "
                 "plan (14, 16, 31 channels) is already the joint-KL local optimum, and a grid enumeration of "
                 "budget-meeting plans (first group 6..16 step 2, middle 12..32 step 2, last group as wide as the "
                 "budget allows) ranks it best (KL 0.518; uniform's 11, 22, 22 has 2.07; the best plan with a "
                 "middle group >= 20 channels 1.25), so the rows are unchanged: 87.42 +- 0.04 vs uniform "
                 "87.58 +- 0.03, goal NOT met. The proxy is not the problem of additivity: it is that "
                 "calibration distortion does not predict accuracy after 4 epochs of fine-tuning here. Even "
                 "after 200 distillation steps on 1024 calibration images, the DP plan keeps the lower held-out "
                 "KL (0.084 vs uniform 0.120), while full fine-tuning (60k images, labels) favours uniform's wider "
                 "middle layer. fmnist_cnn 70% (1 seed): the search moved one step, 85.36 -> 85.82, uniform 86.42.")
LAPP_STEPS = 300    # threshold-learning steps (batch 64) of lapp_prune; see LAPP_NOTE
# What the structured-lapp rows showed (3 seeds each, same seeds and fine-tuning as uniform).
LAPP_NOTE = ("The structured-lapp rows learn per-group rates with the task loss (edgesdk.prune.lapp: soft "
             "gates sigmoid((rank - t_g)/T), thresholds trained jointly with the weights for 300 steps of 64 "
             "TRAINING images under an augmented-Lagrangian MAC budget; the learned weights are discarded and "
             "the original ones pruned + BN re-fit, then fine-tuned exactly like uniform). Each seed learns its "
             "own plan (lapp_plans). Its hyper-parameters (lr 0.02, T 0.1 -> 0.01, rho 10, 300 steps) were set "
             "a priori and not tuned on accuracy; an earlier variant gave the same fmnist_cnn plan at 300 and "
             "1000 steps. fmnist_cnn 50%: LAPP keeps the middle group wider than the DP and the last group "
             "full (kept 11/19/32, 12/18/31, 12/17/32 vs DP 14/16/31, uniform 11/22/22): 87.66 +- 0.07 "
             "(87.76, 87.60, 87.62) vs uniform 87.58 +- 0.03 (87.58, 87.62, 87.54), with fewer MACs on every "
             "seed, so the goal is met on the mean (by LAPP, not the DP); the margin (+0.08, paired "
             "differences +0.18, -0.02, +0.08) is about one std, i.e. small. Two more seeds (--extra-seeds 2, seeds "
             "3-4, uniform AND lapp; lapp_extra_seeds) shrink it: pooled over 5 seeds LAPP 87.64 +- 0.07 vs "
             "uniform 87.61 +- 0.06 (paired +0.18, -0.02, +0.08, -0.18, +0.08): the mean is still higher, "
             "with fewer MACs, but the difference is well inside the seed noise, so on fmnist_cnn LAPP TIES "
             "uniform rather than clearly beating it (it does beat the DP, 87.42). resnet8 50%: LAPP 86.37 +- 0.23 "
             "vs uniform 86.45 +- 0.23: LAPP does NOT beat uniform there; the DP (86.68) does, so that goal "
             "stays met by the DP.")
FLOW = "gradient"   # N:M progressive gradient flow mode (chosen on the validation split)


def to_32x3(x):
    return np.repeat(np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))), 3, axis=1)


def magnitude_for_macs(model, shape, reduction):
    """Global magnitude pruning at the sparsity that removes `reduction` of the (sparse) MACs."""
    base = count_macs(model, shape)
    lo, hi = 0.0, 0.99
    for _ in range(14):
        mid = (lo + hi) / 2
        m = copy.deepcopy(model)
        magnitude_prune(m, mid)
        if 1 - count_macs(m, shape, sparse=True) / base >= reduction:
            hi = mid
        else:
            lo = mid
    m = copy.deepcopy(model)
    magnitude_prune(m, hi)   # masks stay on for fine-tuning
    return m


def run_model(name, model, shape, data, test, reductions, ft_epochs, calib_n, nm_data, nm_epochs, seeds,
              seeded_reductions=(0.5,), grid=0.05, refine="joint", adaptive_only=False, lapp_only=False,
              lapp_steps=LAPP_STEPS, extra_seeds=0):
    """grid: step of the adaptive DP's candidate rates (finer = MACs matched more closely);
    refine: adaptive_prune's joint refinement of the DP plan; adaptive_only: only the
    structured-adaptive rows (uniform is pruned, not fine-tuned, to set the matched budget);
    lapp_only: only the structured-lapp rows (at the seeded reductions), likewise;
    extra_seeds: with lapp_only, also fine-tune uniform AND lapp on that many more seeds
    (stored in EXTRA, not in the rows, whose seeds stay those of the other methods)."""
    x, y = data
    xt, yt = test
    base_acc = evaluate(model, xt, yt)
    base_macs, base_params = count_macs(model, shape), count_params(model)
    print(f"\n{name}: float {base_acc:.2f} %, {base_macs} MACs, {base_params} params", flush=True)
    rows = [{"model": name, "method": "float", "target": 0.0, "accuracy": base_acc, "macs": base_macs,
             "params": base_params}]
    ft = dict(lr=1e-3)

    def record(method, target, runs, t, extra=None):
        """runs: [(seed, fine-tuned model)]; the architecture is the same for every seed."""
        accs = [evaluate(m, xt, yt) for _, m in runs]
        # the largest network of the runs (they differ only where each seed learns its own plan)
        m = max((m for _, m in runs), key=lambda m: count_macs(m, shape, sparse=True))
        r = {"model": name, "method": method, "target": target, "accuracy": round(float(np.mean(accs)), 3),
             "macs": count_macs(m, shape, sparse=True), "params": count_params(m, sparse=True),
             "seconds": round(time.time() - t, 1)}
        r["mac_reduction"] = 1 - r["macs"] / base_macs
        r["param_reduction"] = 1 - r["params"] / base_params
        r["seeds"] = [s for s, _ in runs]
        r["accuracy_per_seed"] = accs
        r["accuracy_std"] = round(float(np.std(accs)), 3)
        r["finetune_epochs"] = ft_epochs if not method.startswith("nm") else nm_epochs
        r.update(extra or {})
        rows.append(r)
        print(f"  {method:<22} target {target:4.0%}  acc {r['accuracy']:6.2f} +- {r['accuracy_std']:.2f} "
              f"(n={len(accs)})  MACs -{r['mac_reduction']:5.1%}  params -{r['param_reduction']:5.1%}  "
              f"({r['seconds']:.0f} s)", flush=True)
        return r

    def tuned(m, seed, data=(x, y), epochs=ft_epochs):
        finetune(m, *data, epochs, seed=seed, **ft)
        return m

    def run_adaptive(red, goal, sd, t):
        m, rep = adaptive_prune(model, shape, (x[:calib_n], y[:calib_n]), goal, metric="macs", kind="structured", distortion="kl",
                                candidates=tuple(round(grid * i, 4) for i in range(int(0.9 / grid + 1e-9) + 1)),
                                refine=refine)
        acc0 = evaluate(m, xt, yt)
        extra = {"rates": {r["unit"]: r["rate"] for r in rep["layers"]}, "accuracy_before_finetune": acc0,
                 "budget_reduction": goal, "distortion": "kl", "candidate_step": grid, "refine": refine}
        if "refine" in rep:
            extra["refine_log"] = {k: v for k, v in rep["refine"].items() if k != "method"}
        record("structured-adaptive", red, [(s, tuned(copy.deepcopy(m), s)) for s in sd], t, extra)

    t = time.time()
    if not (adaptive_only or lapp_only):
        record("float-finetuned", 0.0, [(seeds[0], tuned(copy.deepcopy(model), seeds[0]))], t)
    calib = (x[:calib_n], y[:calib_n])
    for red in reductions:
        sd = seeds if red in seeded_reductions else seeds[:1]
        if lapp_only and red not in seeded_reductions:
            continue
        t = time.time()
        if not (adaptive_only or lapp_only):
            m = magnitude_for_macs(model, shape, red)
            record("magnitude", red, [(sd[0], remove_masks(tuned(m, sd[0])))], t)

        t = time.time()
        m, info = uniform_prune(model, shape, red, metric="macs", kind="structured", calib=calib)
        m_uniform = m
        if adaptive_only or lapp_only:
            uniform_red = 1 - count_macs(m, shape, sparse=True) / base_macs
        else:
            acc0 = evaluate(m, xt, yt)
            uniform_red = record("structured-uniform", red, [(s, tuned(copy.deepcopy(m), s)) for s in sd], t,
                                 {"rate": info["rate"], "accuracy_before_finetune": acc0})["mac_reduction"]

        goal = max(red, uniform_red)   # matched budget: never more MACs than uniform
        t = time.time()
        if not lapp_only:
            run_adaptive(red, goal, sd, t)
        def lapp_run(s):
            m, rep = lapp_prune(model, shape, x, y, goal, steps=lapp_steps, seed=s, calib=calib[0])
            plan = {"seed": s, "rates": {r["unit"]: r["rate"] for r in rep["layers"]},
                    "kept": {r["unit"]: r["kept"] for r in rep["layers"]},
                    "thresholds": {r["unit"]: round(r["threshold"], 4) for r in rep["layers"]},
                    "macs": count_macs(m, shape, sparse=True), "accuracy_before_finetune": evaluate(m, xt, yt)}
            return tuned(m, s), plan

        if not adaptive_only:
            # LAPP: each seed learns its own plan (thresholds on the TRAINING data, with that
            # seed's sampling) and fine-tunes it with the same seed and budget as uniform.
            t, runs, plans = time.time(), [], []
            for s in sd:
                m, plan = lapp_run(s)
                plans.append(plan)
                runs.append((s, m))
            record("structured-lapp", red, runs, t,
                   {"budget_reduction": goal, "lapp_steps": lapp_steps, "lapp_plans": plans,
                    "rates": plans[0]["rates"], "accuracy_before_finetune": plans[0]["accuracy_before_finetune"]})
        if lapp_only and extra_seeds and red in seeded_reductions:
            more = list(range(len(seeds), len(seeds) + extra_seeds))
            u = [evaluate(tuned(copy.deepcopy(m_uniform), s), xt, yt) for s in more]
            lr_ = [lapp_run(s) for s in more]
            EXTRA[f"{name} {red:.0%}"] = {
                "seeds": more, "uniform": u, "lapp": [evaluate(m, xt, yt) for m, _ in lr_],
                "lapp_macs": [p["macs"] for _, p in lr_], "uniform_macs": count_macs(m_uniform, shape, sparse=True),
                "lapp_kept": [p["kept"] for _, p in lr_]}
            print(f"  extra seeds {more}: uniform {u}  lapp {EXTRA[f'{name} {red:.0%}']['lapp']}", flush=True)

    for n_, m_ in (() if (adaptive_only or lapp_only) else ((2, 4), (1, 4))):
        sd = seeds if (n_, m_) == (1, 4) else seeds[:1]
        for flow in (False, True):
            t = time.time()
            runs = []
            for s in sd:
                m, _ = prune_and_finetune(copy.deepcopy(model), *nm_data, method="nm", n=n_, m=m_,
                                          progressive_flow=flow, flow_mode=FLOW, every=1, epochs=nm_epochs, seed=s,
                                          **ft)
                runs.append((s, m))
            record(f"nm {n_}:{m_}" + (" progressive" if flow else " plain"), 1 - n_ / m_, runs, t,
                   {"flow_mode": FLOW, "refresh_every": 1} if flow else None)
    return rows


EXTRA = {}   # --extra-seeds results: "model target" -> per-seed accuracies


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer samples and epochs (smoke run)")
    ap.add_argument("--only", choices=["fmnist", "resnet8", "none"])
    ap.add_argument("--seeds", type=int, default=3, help="seeds for the compared methods (>= 3 for the goals)")
    ap.add_argument("--adaptive-only", action="store_true",
                    help="re-run only the structured-adaptive rows (merged into the JSON, other rows kept)")
    ap.add_argument("--lapp-only", action="store_true",
                    help="run only the structured-lapp rows at 50%% (merged into the JSON, other rows kept)")
    ap.add_argument("--extra-seeds", type=int, default=0,
                    help="with --lapp-only: fine-tune uniform and lapp on this many more seeds (lapp_extra_seeds)")
    ap.add_argument("--summarize-only", action="store_true", help="re-derive goals and notes from prune.json")
    ap.add_argument("--refine", choices=["joint", "none"], default="joint",
                    help="adaptive_prune refinement of the DP plan by joint distortion")
    a = ap.parse_args(argv)
    refine = None if a.refine == "none" else a.refine
    ao = a.adaptive_only
    lo = a.lapp_only
    if a.summarize_only:   # recompute goals/notes from the stored rows (no pruning, no training)
        a.only, q = "none", False
    torch.set_num_threads(1)   # shared machine: a spinning thread pool is slower than one thread
    t0 = time.time()
    q = a.quick
    seeds = list(range(1 if q else a.seeds))
    xt, yt = load_fashion_mnist("test", limit=2000 if q else 5000)
    rows = []
    if a.only in (None, "fmnist"):
        x, y = load_fashion_mnist("train", limit=3000 if q else None)
        rows += run_model("fmnist_cnn", trained_fmnist_cnn(), (1, 1, 28, 28), (x, y), (xt, yt),
                          (0.5,) if q else (0.3, 0.5, 0.7), 1 if q else 4, 256,
                          (x[:3000], y[:3000]) if q else (x[:20000], y[:20000]), 1 if q else 3, seeds,
                          grid=1 / 32, refine=refine, adaptive_only=ao,
                          lapp_only=lo, extra_seeds=a.extra_seeds)   # channel resolution of its 32-wide groups
    if a.only in (None, "resnet8"):
        x, y = load_fashion_mnist("train", limit=2000 if q else 8000)
        x3, xt3 = to_32x3(x), to_32x3(xt[:2000])
        torch.manual_seed(0)
        r8 = resnet8()
        finetune(r8, x3, y, 1 if q else 3, lr=3e-3, batch=32)
        rows += run_model("resnet8", r8, (1, 3, 32, 32), (x3, y), (xt3, yt[:2000]), (0.5,), 1 if q else 2, 128,
                          (x3, y), 1 if q else 2, seeds, refine=refine, adaptive_only=ao,
                          lapp_only=lo, extra_seeds=a.extra_seeds)
    if a.only == "none":
        rows = json.loads(OUT.read_text())["rows"]
    elif (ao or lo) and OUT.exists() and not q:
        # replace only the re-run rows, in place; every other row (float included) is kept;
        # a row new to the file goes right after the last row of its model and target
        new = {(r["model"], r["method"], r["target"]): r for r in rows if r["method"] != "float"}
        old_rows = json.loads(OUT.read_text())["rows"]
        rows = [new.pop((r["model"], r["method"], r["target"]), r) for r in old_rows]
        for key, r in new.items():   # after its model's structured rows at that target
            same = [i for i, o in enumerate(rows) if o["model"] == key[0] and abs(o["target"] - key[2]) < 1e-9]
            at = max((i for i in same if rows[i]["method"].startswith("structured")), default=max(
                same, default=max((i for i, o in enumerate(rows) if o["model"] == key[0]), default=len(rows) - 1)))
            rows.insert(at + 1, r)
    elif a.only is not None and OUT.exists() and not q:
        done = {r["model"] for r in rows}
        rows = [r for r in json.loads(OUT.read_text())["rows"] if r["model"] not in done] + rows

    def find(model, method, target):
        for r in rows:
            if r["model"] == model and r["method"] == method and abs(r["target"] - target) < 1e-9:
                return r
        return None

    goals, detail = {}, {}
    structured = ("structured-uniform", "structured-adaptive", "structured-lapp")
    for model in sorted({r["model"] for r in rows}):
        base = find(model, "float", 0.0)["accuracy"]
        best = max((r for r in rows if r["model"] == model and r.get("mac_reduction", 0) >= 0.5
                    and r["method"] in structured), key=lambda r: r["accuracy"], default=None)
        goals[f"{model}: 50% fewer MACs within 1 point"] = best is not None and base - best["accuracy"] <= 1.0
        if best is not None:
            detail[f"{model}: 50% fewer MACs within 1 point"] = {
                "float": base, "best_structured": best["method"], "accuracy": best["accuracy"],
                "loss_points": round(base - best["accuracy"], 3), "mac_reduction": best["mac_reduction"]}
        s50u, s50a = find(model, "structured-uniform", 0.5), find(model, "structured-adaptive", 0.5)
        s50l = find(model, "structured-lapp", 0.5)
        if s50u and (s50a or s50l):
            # met when EITHER layer-adaptive method (the DP or LAPP) beats uniform on the
            # mean over the same seeds, with no more MACs
            wins = {meth: r["accuracy"] > s50u["accuracy"] and r["macs"] <= s50u["macs"]
                    for meth, r in (("dp", s50a), ("lapp", s50l)) if r}
            goals[f"{model}: adaptive beats uniform at 50% MACs"] = any(wins.values())
            d = {"uniform": s50u.get("accuracy_per_seed"), "macs": {"uniform": s50u["macs"]},
                 "met_by": [meth for meth, w in wins.items() if w]}
            if s50a:
                d.update(adaptive=s50a.get("accuracy_per_seed"),
                         mean_difference=round(s50a["accuracy"] - s50u["accuracy"], 3))
                d["macs"]["adaptive"] = s50a["macs"]
            if s50l:
                d.update(lapp=s50l.get("accuracy_per_seed"),
                         lapp_mean_difference=round(s50l["accuracy"] - s50u["accuracy"], 3))
                d["macs"]["lapp"] = s50l["macs"]
            detail[f"{model}: adaptive beats uniform at 50% MACs"] = d
        p, pl = find(model, "nm 1:4 progressive", 0.75), find(model, "nm 1:4 plain", 0.75)
        if p is None or pl is None:   # a partial (--quick --adaptive-only) run
            continue
        goals[f"{model}: N:M 1:4 progressive beats plain"] = p["accuracy"] > pl["accuracy"]
        detail[f"{model}: N:M 1:4 progressive beats plain"] = {
            "progressive": p.get("accuracy_per_seed"), "plain": pl.get("accuracy_per_seed"),
            "mean_difference": round(p["accuracy"] - pl["accuracy"], 3)}

    print(f"\n{'model':<12}{'method':<24}{'target':>7}{'acc %':>8}{'std':>6}{'MACs':>10}{'-MACs':>8}"
          f"{'params':>9}{'-params':>9}")
    for r in rows:
        print(f"{r['model']:<12}{r['method']:<24}{r['target']:>7.0%}{r['accuracy']:>8.2f}"
              f"{r.get('accuracy_std', 0):>6.2f}{r['macs']:>10d}"
              f"{r.get('mac_reduction', 0):>8.1%}{r['params']:>9d}{r.get('param_reduction', 0):>9.1%}")
    for k, v in goals.items():
        print(f"goal {k}: {'MET' if v else 'NOT MET'}  {detail.get(k, '')}")
    refine_summary = {}
    for r in rows:
        if r["method"] == "structured-adaptive" and "refine_log" in r:
            lg = r["refine_log"]
            refine_summary[f"{r['model']} {r['target']:.0%}"] = {
                "dp_rates": lg["dp_rates"], "refined_rates": r["rates"], "plan_changed": lg["dp_rates"] != r["rates"],
                "dp_joint_kl": lg["start_distortion"], "refined_joint_kl": lg["distortion"],
                "evaluations": lg["evaluations"], "stopped": lg["stopped"]}
    old = json.loads(OUT.read_text()) if OUT.exists() and (ao or lo or a.only == "none") else {}
    doc = {"dataset": "Fashion-MNIST (resnet8: padded to 32x32, 3 channels)", "quick": q, "rows": rows,
           "goals": goals, "goal_details": detail,
           "goal_notes": "means over the seeds in each row; the 50% goal counts structured pruning only "
                         "(channels removed); adaptive must also have no more MACs than uniform; 'adaptive beats uniform' "
                         "counts met when either layer-adaptive method (the DP rows 'structured-adaptive' or the "
                         "LAPP rows 'structured-lapp') has the higher mean (goal_details.met_by). " + ADAPTIVE_NOTE
                         + " " + LAPP_NOTE,
           "adaptive_refine": refine_summary,
           "seconds": old.get("seconds", round(time.time() - t0, 1)) if (ao or lo or a.only == "none")
           else round(time.time() - t0, 1),
           "seconds_last_run": round(time.time() - t0, 1) if a.only != "none" else old.get("seconds_last_run"),
           "threads": 1}
    extra = dict(old.get("lapp_extra_seeds", {}))
    for key, e in EXTRA.items():   # pooled with the rows' seeds: uniform vs lapp on every seed run
        model, tgt = key.rsplit(" ", 1)
        u, lp = find(model, "structured-uniform", 0.5), find(model, "structured-lapp", 0.5)
        if u and lp:
            pu, pl = u["accuracy_per_seed"] + e["uniform"], lp["accuracy_per_seed"] + e["lapp"]
            e = dict(e, pooled={"seeds": u["seeds"] + e["seeds"], "uniform": pu, "lapp": pl,
                                "uniform_mean": round(float(np.mean(pu)), 3), "uniform_std": round(float(np.std(pu)), 3),
                                "lapp_mean": round(float(np.mean(pl)), 3), "lapp_std": round(float(np.std(pl)), 3),
                                "paired_differences": [round(b - c, 3) for b, c in zip(pl, pu)]})
        extra[key] = e
    if extra:
        doc["lapp_extra_seeds"] = extra
    if "seconds_note" in old:
        doc["seconds_note"] = old["seconds_note"]
    if not q:
        write_text(OUT, json.dumps(doc, indent=2))
        print(f"wrote {OUT} ({round(time.time() - t0):.0f} s)")
    else:
        print(f"quick run: {OUT} left unchanged ({doc['seconds_last_run']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
