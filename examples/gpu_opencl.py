"""A model on the edge-GPU path: OpenCL kernels (hand-written and TVM-generated) run on
PoCL here, the same build targets Mali/Adreno; outputs are checked against the reference.

    .venv/bin/python examples/gpu_opencl.py [--dtype s8|f32] [--onnx my.onnx --calib calib.npy]
"""
import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx")
    ap.add_argument("--calib")
    ap.add_argument("--dtype", choices=["s8", "f32"], default="s8")
    ap.add_argument("--board", default="pocl")
    ap.add_argument("--out", default="build/example-gpu")
    args = ap.parse_args()

    from edgesdk import frontends
    from edgesdk.pipeline import build

    if args.onnx:
        graph, calib = frontends.load(args.onnx), np.load(args.calib).astype(np.float32)
    else:
        import torch

        from edgesdk.data import load_fashion_mnist
        from edgesdk.zoo.train import fmnist_classifier
        calib, _ = load_fashion_mnist("train", limit=128)
        graph = frontends.load(fmnist_classifier(), example_inputs=torch.from_numpy(calib[:1]))
    result = build(graph, "gpu", args.board, args.out, calib=calib, dtype=args.dtype, gpu_api="opencl")
    print(result.summary_text)
    print(f"build written to {args.out}/ (kernels, launch plan, manifest.json)")


if __name__ == "__main__":
    main()
