"""Your model on a Cortex-M: int8 quantization, firmware build, validation on QEMU, report.

    .venv/bin/python examples/mcu_int8.py                         # the zoo's Fashion-MNIST CNN
    .venv/bin/python examples/mcu_int8.py --onnx my.onnx --calib calib.npy --board mps3-an547

With --onnx, give --calib: float inputs (N x the model's input shape) to calibrate on.
"""
import argparse
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", help="an ONNX file (float or QDQ); default: a trained Fashion-MNIST CNN")
    ap.add_argument("--calib", help=".npy of float calibration inputs (needed with --onnx)")
    ap.add_argument("--board", default="mps2-an386", help="mps2-an386 (M4), mps2-an500 (M7), mps3-an547 (M55)")
    ap.add_argument("--out", default="build/example-mcu")
    args = ap.parse_args()

    from edgesdk import frontends
    from edgesdk.hil.validate import summary_table, validate
    from edgesdk.pipeline import build, prepare_graph
    from edgesdk.quant import quantize
    from edgesdk.report import make_report

    if args.onnx:
        if not args.calib:
            ap.error("--onnx needs --calib")
        graph = frontends.load(args.onnx)
        calib = np.load(args.calib).astype(np.float32)
    else:
        import torch

        from edgesdk.data import load_fashion_mnist
        from edgesdk.zoo.train import fmnist_classifier
        calib, _ = load_fashion_mnist("train", limit=256)
        graph = frontends.load(fmnist_classifier(), example_inputs=torch.from_numpy(calib[:1]))
    qgraph = quantize(prepare_graph(graph), calib)           # int8, per-channel, bias-corrected
    result = build(qgraph, "mcu", args.board, args.out, calib=calib[:1])
    print(result.summary_text)
    data = Path(args.out) / "cases.npy"
    np.save(data, calib[:10])
    print(summary_table(validate(args.out, cases=10, data=data)).splitlines()[-1])
    print("report:", make_report(args.out) / "report.html")


if __name__ == "__main__":
    main()
