"""The edgesdk demo: one model's whole journey onto an emulated Cortex-M4, and learning there.

    make demo            (or: .venv/bin/python examples/demo.py [--out demo_out] [--board mps2-an386])

1. train a small CNN on Fashion-MNIST classes 0-4 (T-shirt, trouser, pullover, dress, coat)
2. prune it: remove a share of its channels for real, then fine-tune
3. quantize it to int8 (per-channel weights, calibrated activations, bias correction)
4. build firmware for the board (hand-written DSP kernels, static arena, weights in flash)
5. run it on QEMU through the host-in-the-loop rig and validate it against the reference
6. fine-tune it ON THE DEVICE on new classes 5-9 (sandal, shirt, sneaker, bag, ankle boot),
   streaming a few hundred samples over the UART, and compare with the same in torch
7. print the final table (accuracy at each stage, flash, RAM, instructions, training memory)

Everything is real: real data, real toolchain, real emulator, exact instruction counts.
"""
import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", category=UserWarning)


def step(i, n, title):
    print(f"\n[{i}/{n}] {title}", flush=True)


def done(msg, t0):
    print(f"      -> {msg}  ({time.monotonic() - t0:.1f}s)", flush=True)


def int8_accuracy(graph, x, y, desc):
    """Accuracy of an integer graph on float samples, run by the integer reference."""
    from tqdm import tqdm

    from edgesdk.quant import quantize_inputs
    from edgesdk.reference import run
    name, out = graph.inputs[0], graph.outputs[0]
    correct = 0
    for i in tqdm(range(len(x)), desc=desc, unit="img", leave=False):
        q = quantize_inputs(graph, {name: x[i:i + 1]})
        correct += int(np.argmax(run(graph, q)[out]) == y[i])
    return correct / len(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="demo_out", help="folder for builds, data and results")
    ap.add_argument("--board", default="mps2-an386", help="emulated mcu board")
    ap.add_argument("--prune", type=float, default=0.4, help="share of channels to remove")
    ap.add_argument("--finetune-samples", type=int, default=300)
    ap.add_argument("--finetune-epochs", type=int, default=3)
    ap.add_argument("--eval", type=int, default=1000, help="test images per accuracy figure")
    args = ap.parse_args(argv)

    import torch

    from edgesdk.data import load_fashion_mnist
    from edgesdk.frontends import load
    from edgesdk.hil.validate import summary_table, validate
    from edgesdk.pipeline import build, prepare_graph
    from edgesdk.prune import channel_prune, count_macs, count_params
    from edgesdk.prune.finetune import finetune as prune_finetune
    from edgesdk.quant import quantize
    from edgesdk.train.build import build_trainable
    from edgesdk.train.device import finetune
    from edgesdk.train.host import host_finetune
    from edgesdk.zoo.train import accuracy, fmnist_classifier

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    old, new = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
    x_tr, y_tr = load_fashion_mnist("train", classes=old)
    x_te, y_te = load_fashion_mnist("test", classes=old, limit=args.eval)
    results = {"board": args.board}
    n = 7
    print(f"edgesdk demo: Fashion-MNIST on an emulated {args.board}, output in {out}/")

    step(1, n, "train a CNN on Fashion-MNIST classes 0-4")
    t0 = time.monotonic()
    model = fmnist_classifier(classes=old, width=16, epochs=2, progress=True)
    results["float_acc"] = accuracy(model, x_te, y_te)
    shape = (1, 1, 28, 28)
    results["float_macs"], results["float_params"] = count_macs(model, shape), count_params(model)
    done(f"test accuracy {results['float_acc']:.1%}, {results['float_macs']:,} MACs, "
         f"{results['float_params']:,} params", t0)

    step(2, n, f"prune {args.prune:.0%} of the channels (structured: they are removed) and fine-tune")
    t0 = time.monotonic()
    pruned = channel_prune(model, shape, ratio=args.prune)
    from tqdm import tqdm
    bar = tqdm(desc="fine-tune pruned", unit="step", leave=False)

    def tick(step, total):
        bar.total = total
        bar.update(1)
    prune_finetune(pruned, x_tr, y_tr, epochs=2, lr=1e-3, step_hook=tick)
    bar.close()
    pruned.eval()
    results["pruned_acc"] = accuracy(pruned, x_te, y_te)
    results["pruned_macs"], results["pruned_params"] = count_macs(pruned, shape), count_params(pruned)
    done(f"test accuracy {results['pruned_acc']:.1%}, MACs {results['float_macs']:,} -> "
         f"{results['pruned_macs']:,} ({1 - results['pruned_macs'] / results['float_macs']:.0%} fewer)", t0)

    step(3, n, "quantize to int8 (per-channel weights, 128 calibration images, bias correction)")
    t0 = time.monotonic()
    graph = prepare_graph(load(pruned, example_inputs=torch.from_numpy(x_tr[:1])))
    qgraph = quantize(graph, x_tr[:128])
    results["int8_acc"] = int8_accuracy(qgraph, x_te, y_te, "int8 accuracy")
    done(f"test accuracy {results['int8_acc']:.1%} (integer reference, bit-exact with the device)", t0)

    step(4, n, f"build firmware for {args.board}")
    t0 = time.monotonic()
    b = build(qgraph, "mcu", args.board, out / "build", calib=x_te[:1])
    print(b.summary_text)
    results["build"] = b.summary
    done(f"flash {b.summary['flash_bytes']:,} B, RAM {b.summary['ram_bytes']:,} B, "
         f"{b.summary['instructions']:,} instructions per inference", t0)

    step(5, n, "validate on the emulated board through the host-in-the-loop rig")
    t0 = time.monotonic()
    np.save(out / "test_images.npy", x_te[:20])
    rep = validate(out / "build", cases=20, data=out / "test_images.npy")
    print(summary_table(rep).splitlines()[-1])
    results["validate"] = {"passed": rep.n_passed, "cases": len(rep.cases) + rep.not_run}
    if not rep.passed:
        print("validation failed:\n" + summary_table(rep), file=sys.stderr)
        return 1
    done(f"{rep.n_passed}/{len(rep.cases)} real test images bit-exact with the reference", t0)

    step(6, n, "fine-tune on the device on NEW classes 5-9 (int8 backbone, FP32 head)")
    t0 = time.monotonic()
    x_new, y_new = load_fashion_mnist("train", classes=new, limit=args.finetune_samples)
    x_nt, y_nt = load_fashion_mnist("test", classes=new, limit=200)
    tb = build_trainable(pruned, args.board, out / "build_train", calib=x_tr[:128],
                         example_inputs=torch.from_numpy(x_tr[:1]), quiet=True)
    hp = dict(epochs=args.finetune_epochs, batch_size=16, lr=0.05, momentum=0.9, weight_decay=0.0)
    dev = finetune(out / "build_train", x_new, y_new, x_test=x_nt, y_test=y_nt, **hp)
    host = host_finetune(out / "build_train", x_new, y_new, x_test=x_nt, y_test=y_nt, **hp)
    t = tb.manifest["train"]
    results["finetune"] = {"before_acc": dev.before_acc, "after_acc": dev.after_acc,
                           "host_after_acc": host["after_acc"], "history": dev.history,
                           "train_bytes": t["train_bytes"], "full_backprop_bytes": t["full_backprop_bytes"],
                           "instructions_per_sample": dev.instructions_per_sample}
    for h in dev.history:
        print(f"      epoch {h['epoch']}: loss {h['loss']:.3f}, train acc {h['train_acc']:.1%}, "
              f"test acc {h['test_acc']:.1%} ({h['seconds']:.0f}s)")
    done(f"new-class accuracy {dev.before_acc:.1%} -> {dev.after_acc:.1%} on the device "
         f"(same fine-tuning in torch: {host['after_acc']:.1%})", t0)

    step(7, n, "summary")
    s = results["build"]
    f = results["finetune"]
    rows = [
        ("float CNN (classes 0-4)", f"{results['float_acc']:.1%}", f"{results['float_macs']:,} MACs"),
        (f"pruned {args.prune:.0%} channels", f"{results['pruned_acc']:.1%}", f"{results['pruned_macs']:,} MACs"),
        ("int8 (reference = device)", f"{results['int8_acc']:.1%}", f"{s['weight_bytes']:,} B weights"),
        ("validated on QEMU", f"{results['validate']['passed']}/{results['validate']['cases']} bit-exact", ""),
        ("new classes 5-9, before", f"{f['before_acc']:.1%}", ""),
        ("new classes 5-9, fine-tuned on device", f"{f['after_acc']:.1%}", f"torch on host: {f['host_after_acc']:.1%}"),
    ]
    print(f"\n  {'stage':<40} {'accuracy':>16}  notes")
    for r in rows:
        print(f"  {r[0]:<40} {r[1]:>16}  {r[2]}")
    print(f"\n  flash {s['flash_bytes']:,} B | RAM {s['ram_bytes']:,} B (arena {s['arena_bytes']:,} B) | "
          f"{s['instructions']:,} instructions/inference ({s['macs_per_instruction']} MAC/instr)")
    print(f"  training memory {f['train_bytes']:,} B vs full backprop {f['full_backprop_bytes']:,} B "
          f"({f['full_backprop_bytes'] / f['train_bytes']:.0f}x less) | "
          f"{f['instructions_per_sample']:,.0f} instructions per training sample")
    (out / "demo.json").write_text(json.dumps(results, indent=2, default=float))
    print(f"\nresults in {out}/demo.json; builds in {out}/build and {out}/build_train")
    return 0


if __name__ == "__main__":
    sys.exit(main())
