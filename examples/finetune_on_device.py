"""Keep learning on the device: an int8 backbone + an FP32 head that trains on a Cortex-M.

    .venv/bin/python examples/finetune_on_device.py [--samples 300] [--epochs 3]

The backbone learns Fashion-MNIST classes 0-4 on the host; the device then learns the new
classes 5-9 from samples streamed over its UART, and the host runs the same fine-tuning in
torch to show the device's updates are the same.
"""
import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train", choices=["last", "bias"], default="last", help="train the head, or only its biases")
    ap.add_argument("--out", default="build/example-train")
    args = ap.parse_args()

    import torch

    from edgesdk.data import load_fashion_mnist
    from edgesdk.train.build import build_trainable
    from edgesdk.train.device import finetune
    from edgesdk.train.host import host_finetune
    from edgesdk.zoo.train import fmnist_classifier

    model = fmnist_classifier(classes=[0, 1, 2, 3, 4])
    calib, _ = load_fashion_mnist("train", classes=[0, 1, 2, 3, 4], limit=128)
    b = build_trainable(model, args.board, args.out, calib=calib, mode=args.train,
                        example_inputs=torch.from_numpy(calib[:1]))
    t = b.manifest["train"]
    print(f"training memory {t['train_bytes']} B (full backprop would keep {t['full_backprop_bytes']} B)")
    x, y = load_fashion_mnist("train", classes=[5, 6, 7, 8, 9], limit=args.samples)
    xt, yt = load_fashion_mnist("test", classes=[5, 6, 7, 8, 9], limit=200)
    hp = dict(epochs=args.epochs, batch_size=16, lr=0.05, momentum=0.9)
    dev = finetune(args.out, x, y, x_test=xt, y_test=yt, **hp)
    host = host_finetune(args.out, x, y, x_test=xt, y_test=yt, **hp)
    print(f"device: {dev.before_acc:.1%} -> {dev.after_acc:.1%}; torch on host: {host['after_acc']:.1%}; "
          f"{dev.instructions_per_sample:,.0f} instructions per training sample")
    w_dev = dev.weights[-1][0]
    w_host = host["head"][-1].weight.detach().numpy()
    print(f"max |device - torch| over the last layer's weights: {np.abs(w_dev - w_host).max():.2e}")


if __name__ == "__main__":
    main()
