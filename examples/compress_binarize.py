"""Binarization with BiPer (1-bit weights and activations, a periodic surrogate gradient)
against plain STE, and DenseShift power-of-two weights, trained on Fashion-MNIST;
then the binary model exported to the IR with XNOR-popcount layers.

    .venv/bin/python examples/compress_binarize.py [--epochs 2]
"""
import argparse


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train", type=int, default=20000)
    args = ap.parse_args()

    from edgesdk.binary import binarize, denseshift, evaluate, export_graph, train_recipe, weight_bytes
    from edgesdk.data import load_fashion_mnist
    from edgesdk.zoo.train import fmnist_classifier

    x, y = load_fashion_mnist("train", limit=args.train)
    xt, yt = load_fashion_mnist("test", limit=2000)
    base = fmnist_classifier()
    rows = [("float", evaluate(base, xt, yt), weight_bytes(base, other_bits=32)["total_bytes"])]
    for label, make in (("BiPer binary", lambda: binarize(base, "biper")),
                        ("STE binary", lambda: binarize(base, "ste")),
                        ("DenseShift 4-bit", lambda: denseshift(base, bits=4))):
        m = make()
        train_recipe(m, x, y, epochs=args.epochs)
        rows.append((label, evaluate(m, xt, yt), weight_bytes(m)["total_bytes"]))
        if label == "BiPer binary":
            g = export_graph(m, (1, 1, 28, 28))
            print(f"exported: {g.op_counts()}")
    print(f"{'model':<20} {'accuracy':>9} {'weight bytes':>13}  (first/last layers stay int8)")
    for name, acc, size in rows:
        print(f"{name:<20} {acc:>8.1f}% {size:>13,}")


if __name__ == "__main__":
    main()
