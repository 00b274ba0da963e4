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
from edgesdk.zoo.models import fmnist_vgg  # noqa: E402
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
SCRATCH_GRIDS.update(VGG_GRIDS)
GRIDS.update(SCRATCH_GRIDS)
PROTOCOLS = ("finetune", "scratch")
MODELS = {"fmnist_cnn": fmnist_cnn, "fmnist_vgg": fmnist_vgg}


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
                    help="the zoo model (from scratch only for fmnist_vgg; its grids are vgg_*)")
    a = ap.parse_args(argv)
    bad = [g for g in a.grids if g not in GRIDS]
    if bad:
        ap.error(f"unknown grid(s) {bad}; choose from {sorted(GRIDS)}")
    # scratch_* grids are the scratch protocol's (3 + 3 epochs), the others fine-tuning's
    wrong = [g for g in a.grids if (g in SCRATCH_GRIDS) != (a.protocol == "scratch")]
    if wrong:
        ap.error(f"grid(s) {wrong} do not belong to --protocol {a.protocol}")
    wrong = [g for g in a.grids if (g in VGG_GRIDS) != (a.model == "fmnist_vgg")]
    if wrong:
        ap.error(f"grid(s) {wrong} do not belong to --model {a.model} (vgg_* grids are fmnist_vgg's)")
    torch.set_num_threads(1)
    x, y = load_fashion_mnist("train")
    xv, yv = x[VAL[0]:VAL[1]], y[VAL[0]:VAL[1]]
    x, y = x[:a.train], y[:a.train]
    doc = json.loads(OUT.read_text()) if OUT.exists() else {"validation": list(VAL), "rows": []}
    for grid in a.grids:
        for method, cfg in GRIDS[grid]:
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
            write_text(OUT, json.dumps(doc, indent=1))
            print(json.dumps(row), flush=True)
    _select_all(doc)
    write_text(OUT, json.dumps(doc, indent=1))
    for key in ("selected", "selected_scratch", "selected_scratch_fmnist_vgg"):
        for method, row in doc.get(key, {}).items():
            print(f"{key} {method}: {row}")
    return 0


def _select_all(doc):
    # "selected" stays the fine-tuning protocol's pick (rows from before the protocol field)
    doc["selected"] = select(doc["rows"], "finetune")
    scratch = select(doc["rows"], "scratch")
    if scratch:
        doc["selected_scratch"] = scratch
    vgg = select(doc["rows"], "scratch", model="fmnist_vgg")
    if vgg:
        doc["selected_scratch_fmnist_vgg"] = vgg


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
