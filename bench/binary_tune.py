"""Hyper-parameter selection for the binary benchmark, on a validation split of the TRAIN set.

The test set is never touched here. Train images [0, --train) train, images [50000, 60000)
validate; each candidate trains once (seed 0) with the same budget for both methods,
--protocol finetune (default): from the cached TRAINED float fmnist_cnn;
--protocol scratch (the BiPer paper's): from a freshly initialised fmnist_cnn (seed 0),
the whole network trained (grids named scratch_*); and the best validation accuracy per method picks the
setting bench/binary_fmnist.py then reports on the test set with several seeds.
Rows are appended to bench/results/binary_tune.json as they finish (a grid can be
resumed or extended by name).

    .venv/bin/python bench/binary_tune.py GRID [GRID ...] [--train 10000] [--protocol scratch]
        [--model fmnist_vgg|fmnist_bnn_resnet] [--only biper|ste] [--out FILE]

--only / --out: one method's candidates into a file of its own, so that two processes use the
two cores without overwriting each other's rows (merge the rows into binary_tune.json after).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_fmnist_model import trained_fmnist_cnn  # noqa: E402

from edgesdk.binary import binarize, evaluate, train_recipe  # noqa: E402
from edgesdk.data import load_fashion_mnist  # noqa: E402
from edgesdk.zoo import fmnist_cnn  # noqa: E402
from edgesdk.zoo.models import fmnist_bnn_resnet, fmnist_vgg  # noqa: E402
from edgesdk.util.atomic import write_text  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "binary_tune.json"
VAL = (50000, 60000)

# Each grid: a list of (method, settings). Both methods get the same epochs and data.
_S = dict(stage1_epochs=2, epochs=2)
GRIDS = {
    # does the paper's two-stage schedule help, for either method (same total epochs)?
    "stages": [(m, dict(stage1_epochs=s1, epochs=4 - s1, lr=2e-3, freq=0.75)) for m in ("biper", "ste")
               for s1 in (0, 2)],
    # learning rate, both methods
    "lr": [(m, dict(_S, lr=lr, freq=0.75)) for m in ("biper", "ste") for lr in (1e-3, 5e-3)],
    # BiPer frequency (units of 1/std of the initial weights)
    "freq": [("biper", dict(_S, lr=2e-3, freq=f)) for f in (0.5, 1.25, 2.0, 3.0)],
    "freq_hi": [("biper", dict(_S, lr=2e-3, freq=f)) for f in (4.0, 6.0)],
    # lr again around the better settings (STE's best so far was the top of the first grid)
    "lr2": [("biper", dict(_S, lr=lr, freq=3.0)) for lr in (1e-3, 5e-3)] + [("ste", dict(_S, lr=1e-2, freq=0.75))],
    # higher lr for both; single-stage STE at its better lr; BiPer's sine regularizer
    "lr3": [("ste", dict(_S, lr=2e-2, freq=0.75)), ("ste", dict(stage1_epochs=0, epochs=4, lr=1e-2, freq=0.75)),
            ("biper", dict(_S, lr=1e-2, freq=3.0)), ("biper", dict(_S, lr=5e-3, freq=6.0)),
            ("biper", dict(_S, lr=5e-3, freq=3.0, sine_penalty=0.05))],
    # latent init folded into the first half-period (stage 1 starts as the float model)
    "fold": [("biper", dict(_S, lr=5e-3, freq=f, init="fold")) for f in (1.0, 3.0, 6.0)],
    # confirmation of the best candidates of each method on more data (run with --train 50000)
    "confirm": [("biper", dict(_S, lr=5e-3, freq=3.0, sine_penalty=0.05)), ("biper", dict(_S, lr=5e-3, freq=3.0)),
                ("ste", dict(_S, lr=1e-2, freq=0.75)), ("ste", dict(_S, lr=2e-2, freq=0.75)),
                ("ste", dict(stage1_epochs=0, epochs=4, lr=1e-2, freq=0.75))],
    # a third confirmation candidate for BiPer (STE had three): its lr doubled, as STE's best
    "confirm2": [("biper", dict(_S, lr=1e-2, freq=3.0, sine_penalty=0.05))],
    # which part matters: the activation surrogate swapped between the methods
    "act": [("biper", dict(stage1_epochs=s1, epochs=4 - s1, lr=2e-3, freq=0.75, act="clipped")) for s1 in (0, 2)]
    + [("ste", dict(_S, lr=2e-3, freq=0.75, act="approxsign"))],
    # SGD + momentum 0.9 (the BiPer authors' optimizer): Adam divides each gradient by its
    # running magnitude, which may cancel the sine surrogate's w0 cos(w0 w) weighting that
    # distinguishes BiPer from STE; SGD keeps it. Same cosine schedule, both methods.
    "sgd": [("biper", dict(_S, lr=lr, freq=f, optimizer="sgd")) for lr in (0.02, 0.05, 0.1) for f in (1.5, 3.0)]
    + [("ste", dict(_S, lr=lr, freq=0.75, optimizer="sgd")) for lr in (0.02, 0.05, 0.1)],
    # both methods were best at the top of that lr range: extend it upwards, the same for both
    "sgd_hi": [("biper", dict(_S, lr=lr, freq=f, optimizer="sgd")) for lr in (0.2, 0.5) for f in (1.5, 3.0)]
    + [("ste", dict(_S, lr=lr, freq=0.75, optimizer="sgd")) for lr in (0.2, 0.5)],
    # the best SGD setting of each method on more data (run with --train 50000), so that the
    # Adam-vs-SGD choice is made at the same data size as the Adam confirmations
    "sgd_confirm": [("biper", dict(_S, lr=0.1, freq=1.5, optimizer="sgd")),
                    ("ste", dict(_S, lr=0.2, freq=0.75, optimizer="sgd"))],
}

# From scratch (--protocol scratch): 3 + 3 epochs, the final benchmark's budget.
_SS = dict(stage1_epochs=3, epochs=3)
SCRATCH_GRIDS = {
    # learning rate, both methods, the default (copy) latent init
    "scratch_lr": [("ste", dict(_SS, lr=lr, freq=0.75)) for lr in (2e-3, 5e-3, 1e-2, 2e-2)]
    + [("biper", dict(_SS, lr=lr, freq=f)) for lr in (2e-3, 5e-3, 1e-2) for f in (1.5, 3.0)],
    # BiPer: latent init spread linearly over the rising half-period; the sine regularizer
    "scratch_biper": [("biper", dict(_SS, lr=lr, freq=f, init="half_period")) for lr in (2e-3, 5e-3, 1e-2)
                      for f in (1.5, 3.0)]
    + [("biper", dict(_SS, lr=5e-3, freq=f, sine_penalty=0.05)) for f in (1.5, 3.0)],
    # both were best at the top of the lr range: extend it upwards; lower frequency; the
    # regularizer at BiPer's best lr so far
    "scratch_lr_hi": [("ste", dict(_SS, lr=lr, freq=0.75)) for lr in (5e-2, 1e-1)]
    + [("biper", dict(_SS, lr=lr, freq=1.5, init=i)) for i in ("copy", "half_period") for lr in (2e-2, 5e-2)]
    + [("biper", dict(_SS, lr=lr, freq=0.75)) for lr in (1e-2, 2e-2)]
    + [("biper", dict(_SS, lr=1e-2, freq=1.5, init="half_period", sine_penalty=0.05))],
    # BiPer was best at the lowest frequency so far: lower still, its lr upwards, and a
    # schedule that raises the frequency over the binary stage
    "scratch_freq_lo": [("biper", dict(_SS, lr=lr, freq=f)) for f, lr in ((0.5, 2e-2), (0.5, 5e-2), (0.75, 5e-2),
                                                                            (0.375, 2e-2))]
    + [("biper", dict(_SS, lr=2e-2, freq=0.5, freq_start=0.5, freq_end=1.5))],
    # the top two of each method on 10000 images, on 50000 (run with --train 50000)
    "scratch_confirm": [("biper", dict(_SS, lr=2e-2, freq=f)) for f in (0.375, 0.75)]
    + [("ste", dict(_SS, lr=lr, freq=0.75)) for lr in (5e-2, 2e-2)],
    # after the 50000-image confirmation (STE ahead): BiPer's lr around its pick, a lower
    # frequency, and SGD + momentum (the authors' optimizer; Adam's per-parameter
    # normalisation may cancel the sine surrogate's cos weighting) for both methods
    "scratch_more": [("biper", dict(_SS, lr=lr, freq=0.375)) for lr in (1e-2, 3e-2)]
    + [("biper", dict(_SS, lr=2e-2, freq=0.25))]
    + [("ste", dict(_SS, lr=lr, freq=0.75, optimizer="sgd")) for lr in (0.05, 0.1, 0.2)]
    + [("biper", dict(_SS, lr=lr, freq=f, optimizer="sgd")) for f in (0.375, 0.75) for lr in (0.05, 0.1, 0.2)],
    # the activation surrogate swapped, for both methods (BiPer: ApproxSign on the
    # std-normalised input by default, STE: clipped identity): which part decides?
    "scratch_act": [("biper", dict(_SS, lr=2e-2, freq=f, act="clipped")) for f in (0.375, 0.75)]
    + [("ste", dict(_SS, lr=lr, freq=0.75, act="approxsign")) for lr in (2e-2, 5e-2)],
    # second confirmation on 50000 images: each method's best SGD setting, BiPer's next
    # Adam candidates (lr 3e-2; clipped activation surrogate; the half-period init) and
    # STE with ApproxSign activations (the swap BiPer gets, for fairness)
    "scratch_confirm2": [("biper", dict(_SS, lr=0.2, freq=0.75, optimizer="sgd")),
                         ("ste", dict(_SS, lr=0.2, freq=0.75, optimizer="sgd")),
                         ("biper", dict(_SS, lr=3e-2, freq=0.375)),
                         ("biper", dict(_SS, lr=2e-2, freq=0.75, act="clipped")),
                         ("ste", dict(_SS, lr=2e-2, freq=0.75, act="approxsign")),
                         ("biper", dict(_SS, lr=1e-2, freq=1.5, init="half_period"))],
}
# fmnist_vgg from scratch (run with --model fmnist_vgg --train 20000): the inner convs AND
# the hidden FC layer (87 % of the weights) are binarized. Only lr is tuned, around the
# fmnist_cnn scratch picks (BiPer freq 0.375, copy init; both ApproxSign activations).
_VGG_LRS = (1e-2, 2e-2, 3e-2)
VGG_GRIDS = {
    "vgg_scratch_lr": [("biper", dict(_SS, lr=lr, freq=0.375, act="approxsign")) for lr in _VGG_LRS]
    + [("ste", dict(_SS, lr=lr, freq=0.75, act="approxsign")) for lr in _VGG_LRS],
    # BiPer's frequency at its best vgg_scratch_lr lr (lr "best": resolved from the stored rows)
    "vgg_scratch_freq": [("biper", dict(_SS, lr="best", freq=f, act="approxsign")) for f in (0.75, 1.5)],
}
# fmnist_bnn_resnet from scratch (run with --model fmnist_bnn_resnet --train 10000): the
# binary ResNet shape of the BiPer paper (a real shortcut around every binarized conv; 99 %
# of the weights binary). lr for both, BiPer at the authors' frequency (w0 = 20 on
# Kaiming-normal weights is 1.2-2.4 in units of 1/std) and at the fmnist_cnn pick.
RES_GRIDS = {
    "res_scratch_lr": [("ste", dict(_SS, lr=lr, freq=0.75, act="approxsign")) for lr in (5e-3, 1e-2, 2e-2)]
    + [("biper", dict(_SS, lr=lr, freq=1.5, act="approxsign")) for lr in (5e-3, 1e-2, 2e-2)]
    + [("biper", dict(_SS, lr=1e-2, freq=0.375, act="approxsign"))],
    # both were best at or near the low end of that lr range: extend it downwards; BiPer's
    # frequency around the authors' range at its best lr
    "res_scratch_more": [("ste", dict(_SS, lr=2e-3, freq=0.75, act="approxsign"))]
    + [("biper", dict(_SS, lr=2e-3, freq=1.5, act="approxsign"))]
    + [("biper", dict(_SS, lr=5e-3, freq=f, act="approxsign")) for f in (0.75, 3.0)],
    # the authors' stage 2 runs at ~1/6 of stage 1's lr (0.0037 after 0.021): stage 2 starts
    # from a trained real-weight model and only has to settle the signs
    "res_scratch_stage_lr": [(m, dict(_SS, stage1_lr=s1, lr=s2, freq=f, act="approxsign"))
                             for m, f in (("ste", 0.75), ("biper", 1.5)) for s1, s2 in ((1e-2, 2e-3), (5e-3, 1e-3))],
    # BiPer was best with the lower pair (5e-3, 1e-3): around it, the same pairs for both
    "res_scratch_stage_lr2": [(m, dict(_SS, stage1_lr=s1, lr=s2, freq=0.75 if m == "ste" else 1.5,
                                       act="approxsign"))
                              for m in ("ste", "biper") for s1, s2 in ((5e-3, 5e-4), (1e-2, 1e-3))]
    + [("biper", dict(_SS, stage1_lr=5e-3, lr=1e-3, freq=3.0, act="approxsign"))],
    # the top two of each method on 10000 images, on 30000 (run with --train 30000: the final
    # run's size; on fmnist_cnn the 10000-image ranking flipped with more data)
    "res_scratch_confirm": [("ste", dict(_SS, lr=1e-2, freq=0.75, act="approxsign")),
                            ("ste", dict(_SS, stage1_lr=5e-3, lr=1e-3, freq=0.75, act="approxsign"))]
    + [("biper", dict(_SS, stage1_lr=5e-3, lr=1e-3, freq=f, act="approxsign")) for f in (1.5, 3.0)],
    # the paper trains for hundreds of epochs: does the gap move with 10 + 10 epochs instead
    # of 3 + 3 (each method at its best 3 + 3 setting)?
    "res_scratch_long": [("ste", dict(stage1_epochs=10, epochs=10, lr=1e-2, freq=0.75, act="approxsign")),
                         ("biper", dict(stage1_epochs=10, epochs=10, stage1_lr=5e-3, lr=1e-3, freq=1.5,
                                        act="approxsign"))],
    # and with 30 + 30 (the same settings): does the ranking move as training gets longer?
    "res_scratch_longer": [("ste", dict(stage1_epochs=30, epochs=30, lr=1e-2, freq=0.75, act="approxsign")),
                           ("biper", dict(stage1_epochs=30, epochs=30, stage1_lr=5e-3, lr=1e-3, freq=1.5,
                                          act="approxsign"))],
}
MODEL_GRIDS = {"fmnist_vgg": VGG_GRIDS, "fmnist_bnn_resnet": RES_GRIDS}
for _g in MODEL_GRIDS.values():
    SCRATCH_GRIDS.update(_g)
GRIDS.update(SCRATCH_GRIDS)
PROTOCOLS = ("finetune", "scratch")
MODELS = {"fmnist_cnn": fmnist_cnn, "fmnist_vgg": fmnist_vgg, "fmnist_bnn_resnet": fmnist_bnn_resnet}


def base_model(protocol, seed=0, model="fmnist_cnn"):
    """The model binarize() starts from: the trained float CNN, or a fresh seeded one."""
    if protocol == "scratch":
        torch.manual_seed(seed)
        return MODELS[model]()
    return trained_fmnist_cnn()


def _best_lr(rows, method, model, grid):
    mine = [r for r in rows if r.get("model", "fmnist_cnn") == model and r["method"] == method and r["grid"] == grid]
    if not mine:
        raise SystemExit(f"lr 'best' needs the {grid} rows of {method} on {model}: run that grid first")
    return max(mine, key=lambda r: r["val_accuracy"])["lr"]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("grids", nargs="*", help=f"of {sorted(GRIDS)}; none: only re-derive the selection")
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--protocol", choices=PROTOCOLS, default="finetune",
                    help="finetune the trained float model, or train a fresh one from scratch")
    ap.add_argument("--model", choices=sorted(MODELS), default="fmnist_cnn",
                    help="the zoo model (fmnist_vgg / fmnist_bnn_resnet: from scratch only, grids vgg_* / res_*)")
    ap.add_argument("--only", choices=("biper", "ste"), default=None,
                    help="run one method's candidates of the grids (two processes on two cores)")
    ap.add_argument("--out", type=Path, default=OUT, help="the JSON the rows are appended to")
    a = ap.parse_args(argv)
    bad = [g for g in a.grids if g not in GRIDS]
    if bad:
        ap.error(f"unknown grid(s) {bad}; choose from {sorted(GRIDS)}")
    # scratch_* grids are the scratch protocol's (3 + 3 epochs), the others fine-tuning's
    wrong = [g for g in a.grids if (g in SCRATCH_GRIDS) != (a.protocol == "scratch")]
    if wrong:
        ap.error(f"grid(s) {wrong} do not belong to --protocol {a.protocol}")
    mine = MODEL_GRIDS.get(a.model, {})
    others = {g for grids in MODEL_GRIDS.values() for g in grids}
    wrong = [g for g in a.grids if (g in others) != (g in mine)]
    if wrong:
        ap.error(f"grid(s) {wrong} do not belong to --model {a.model} (vgg_* grids are fmnist_vgg's, "
                 f"res_* fmnist_bnn_resnet's)")
    torch.set_num_threads(1)
    x, y = load_fashion_mnist("train")
    xv, yv = x[VAL[0]:VAL[1]], y[VAL[0]:VAL[1]]
    x, y = x[:a.train], y[:a.train]
    doc = json.loads(a.out.read_text()) if a.out.exists() else {"validation": list(VAL), "rows": []}
    for grid in a.grids:
        for method, cfg in GRIDS[grid]:
            if a.only and method != a.only:
                continue
            cfg = dict(cfg)
            freq, act, init = cfg.pop("freq"), cfg.pop("act", None), cfg.pop("init", "copy")
            if cfg.get("lr") == "best":
                cfg["lr"] = _best_lr(doc["rows"], method, a.model, "vgg_scratch_lr")
            base = base_model(a.protocol, seed=0, model=a.model)    # fresh per candidate: the same init for all
            torch.manual_seed(0)
            m = binarize(base, method, freq=freq, act_surrogate=act, latent_init=init)
            t = time.time()
            train_recipe(m, x, y, batch=a.batch, seed=0, **cfg)
            row = {"grid": grid, "protocol": a.protocol, "model": a.model, "method": method, "freq": freq, "act": next(l.act_surrogate for l in m.modules() if hasattr(l, "act_surrogate")),
                   "latent_init": init, "train": a.train, "batch": a.batch, **cfg,
                   "val_accuracy": evaluate(m, xv, yv), "seconds": round(time.time() - t, 1)}
            doc["rows"].append(row)
            _select_all(doc)
            write_text(a.out, json.dumps(doc, indent=1))
            print(json.dumps(row), flush=True)
    _select_all(doc)
    write_text(a.out, json.dumps(doc, indent=1))
    for key in ["selected", "selected_scratch"] + [f"selected_scratch_{m}" for m in MODEL_GRIDS]:
        for method, row in doc.get(key, {}).items():
            print(f"{key} {method}: {row}")
    return 0


def _select_all(doc):
    # "selected" stays the fine-tuning protocol's pick (rows from before the protocol field)
    doc["selected"] = select(doc["rows"], "finetune")
    scratch = select(doc["rows"], "scratch")
    if scratch:
        doc["selected_scratch"] = scratch
    for model in MODEL_GRIDS:
        picked = select(doc["rows"], "scratch", model=model)
        if picked:
            doc[f"selected_scratch_{model}"] = picked


def select(rows, protocol="finetune", model="fmnist_cnn"):
    """Per method, the best validation accuracy among the protocol's runs of the model on
    the most training data (the small-data grids only choose which candidates get the larger
    confirmation run). Rows without a protocol field are fine-tuning ones, rows without a
    model field fmnist_cnn's."""
    out = {}
    rows = [r for r in rows if r.get("protocol", "finetune") == protocol and r.get("model", "fmnist_cnn") == model]
    for method in ("biper", "ste"):
        mine = [r for r in rows if r["method"] == method]
        if mine:
            most = max(r["train"] for r in mine)
            out[method] = max((r for r in mine if r["train"] == most), key=lambda r: r["val_accuracy"])
    return out


if __name__ == "__main__":
    sys.exit(main())
