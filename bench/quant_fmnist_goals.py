"""How bench/quant_fmnist.py judges its goals: the mixed-precision verdict per model (test
seeds, the validation scores of bench/quant_mixed_enumerate.py, met / tie / clear win) and
the top-level goals. Pure functions of the measured blocks and the stored enumeration JSON,
so `quant_fmnist.py --summarize-only` can re-derive them without measuring anything."""
import json
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def enumeration_summary(name):
    """What bench/quant_mixed_enumerate.py measured for `name` on the train validation split."""
    from scipy.stats import spearmanr
    path = RESULTS_DIR / f"quant_mixed_enumerate_{name}.json"
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
    path = RESULTS_DIR / f"quant_mixed_enumerate_{name}.json"
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
