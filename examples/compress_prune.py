"""Pruning a torch model: structured channel removal (MACs really drop), unstructured
magnitude, and 1:4 N:M with progressive gradient flow, each fine-tuned briefly.

    .venv/bin/python examples/compress_prune.py [--ratio 0.5]
"""
import argparse


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--train", type=int, default=12000, help="fine-tuning images")
    args = ap.parse_args()

    import copy

    from edgesdk.data import load_fashion_mnist
    from edgesdk.prune import count_macs, count_params, prune_and_finetune
    from edgesdk.zoo.train import accuracy, fmnist_classifier

    x, y = load_fashion_mnist("train", limit=args.train)
    xt, yt = load_fashion_mnist("test", limit=2000)
    model = fmnist_classifier()
    shape = (1, 1, 28, 28)
    rows = [("float", accuracy(model, xt, yt), count_macs(model, shape), count_params(model))]
    for label, kw in ((f"channels {args.ratio:.0%}", dict(method="channel", ratio=args.ratio, input_shape=shape)),
                      (f"magnitude {args.ratio:.0%}", dict(method="magnitude", ratio=args.ratio)),
                      ("1:4 N:M + gradient flow", dict(method="nm", n=1, m=4, progressive_flow=True))):
        pruned, _ = prune_and_finetune(copy.deepcopy(model), x, y, epochs=1, **kw)
        pruned.eval()
        rows.append((label, accuracy(pruned, xt, yt), count_macs(pruned, shape, sparse=True),
                     count_params(pruned, sparse=True)))
    print(f"{'method':<26} {'accuracy':>9} {'MACs':>11} {'params':>9}")
    for name, acc, macs, params in rows:
        print(f"{name:<26} {acc:>9.1%} {macs:>11,} {params:>9,}")


if __name__ == "__main__":
    main()
