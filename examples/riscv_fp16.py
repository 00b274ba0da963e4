"""A float model on RISC-V with FP16 vectors (RVV 1.0 + Zvfh): every layer is checked
against the FP32 reference within the documented FP16 tolerance, and on the bare-metal
board the build counts instructions per layer with minstret under QEMU -icount.

    .venv/bin/python examples/riscv_fp16.py [--board qemu-rv32-virt|qemu-rv64-linux] [--dtype f16|f32] [--vlen 256]
"""
import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx")
    ap.add_argument("--board", default="qemu-rv32-virt")
    ap.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    ap.add_argument("--vlen", type=int, default=128, help="128, 256, 512 or 1024")
    ap.add_argument("--out", default="build/example-riscv")
    args = ap.parse_args()

    from edgesdk import frontends
    from edgesdk.pipeline import build

    if args.onnx:
        graph = frontends.load(args.onnx)
        sample = None
    else:
        import torch

        from edgesdk.data import load_fashion_mnist
        from edgesdk.zoo.train import fmnist_classifier
        x, _ = load_fashion_mnist("test", limit=1)
        graph = frontends.load(fmnist_classifier(), example_inputs=torch.from_numpy(x))
        sample = x.astype(np.float32)
    result = build(graph, "riscv", args.board, args.out, calib=sample, dtype=args.dtype, vlen=args.vlen)
    print(result.summary_text)


if __name__ == "__main__":
    main()
