"""Quantization on a real model: int8 PTQ, 4-bit with layer-wise (AdaQuant-style) calibration,
and mixed 2/4/8-bit precision chosen by an integer program under a size budget.

    .venv/bin/python examples/compress_quantize.py [--onnx my.onnx --calib calib.npy --test test.npz]
"""
import argparse

import numpy as np


def accuracy(graph, x, y):
    from edgesdk.quant import dequantize_outputs, is_quantized, quantize_inputs
    from edgesdk.reference import run
    name, out = graph.inputs[0], graph.outputs[0]
    hits = 0
    for i in range(len(x)):
        feeds = {name: x[i:i + 1]}
        if is_quantized(graph):
            feeds = quantize_inputs(graph, feeds)
        hits += int(np.argmax(run(graph, feeds)[out]) == y[i])
    return hits / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx")
    ap.add_argument("--calib", help=".npy float calibration inputs (with --onnx)")
    ap.add_argument("--test", help=".npz with x, y to measure accuracy on (with --onnx)")
    ap.add_argument("--n-test", type=int, default=500)
    args = ap.parse_args()

    from edgesdk import frontends
    from edgesdk.pipeline import prepare_graph
    from edgesdk.quant import quantize, quantize_to_budget, weight_bytes

    if args.onnx:
        graph, calib = frontends.load(args.onnx), np.load(args.calib).astype(np.float32)
        t = np.load(args.test)
        xt, yt = t["x"].astype(np.float32)[:args.n_test], t["y"][:args.n_test]
    else:
        import torch

        from edgesdk.data import load_fashion_mnist
        from edgesdk.zoo.train import fmnist_classifier
        calib, _ = load_fashion_mnist("train", limit=256)
        xt, yt = load_fashion_mnist("test", limit=args.n_test)
        graph = frontends.load(fmnist_classifier(), example_inputs=torch.from_numpy(calib[:1]))
    graph = prepare_graph(graph)
    float_bytes = sum(t.data.nbytes for t in graph.initializers() if t.dtype == "f32")
    rows = [("float32", accuracy(graph, xt, yt), float_bytes)]
    q8 = quantize(graph, calib)
    rows.append(("int8 PTQ", accuracy(q8, xt, yt), weight_bytes(q8)))
    q4 = quantize(graph, calib, weight_bits=4)           # layer-wise calibration is on below 8 bits
    rows.append(("4-bit weights, layer-wise", accuracy(q4, xt, yt), weight_bytes(q4)))
    qm, plan, table = quantize_to_budget(graph, calib, budget_bytes=weight_bytes(q4))
    print(table)
    rows.append(("mixed 2/4/8 at the 4-bit size", accuracy(qm, xt, yt), weight_bytes(qm)))
    print(f"\n{'config':<32} {'accuracy':>9} {'weight bytes':>13}")
    for name, acc, size in rows:
        print(f"{name:<32} {acc:>9.1%} {size:>13,}")


if __name__ == "__main__":
    main()
