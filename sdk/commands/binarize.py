"""`edgesdk binarize`: binarize (BiPer / STE) or DenseShift a torch model, train it, save the IR.

Binarization needs training, so this command is a training recipe: it converts the
eligible layers (first and last stay for int8 unless --all-layers), trains on
--data (an .npz with arrays x and y), reports test accuracy and weight bytes, and
writes the exported graph (.edg) plus the trained torch module (.pt next to it).
"""
import click

from ..errors import DataError, EdgeError, ModelError

EXAMPLE = """\b
Example:
  edgesdk binarize zoo:fmnist_cnn --data train.npz --test test.npz --method biper \\
      --epochs 3 --input-shape 1,1,28,28 -o fmnist_bin.edg
  edgesdk binarize zoo:fmnist_bnn_resnet --data train.npz --test test.npz --method biper \\
      --freq 3 --stage1-epochs 3 --stage1-lr 5e-3 --epochs 3 --lr 1e-3 \\
      --input-shape 1,1,28,28 -o resnet_bin.edg

Measured on Fashion-MNIST from scratch (README, bench/results/binary*.json), --method ste
ends 0.5-0.8 points ahead of biper on three networks; both are 1 bit, 32x smaller.
"""


def load_torch_model(spec):
    """'zoo:NAME' (a fresh edgesdk.zoo model) or a file saved with torch.save(module)."""
    import torch
    from pathlib import Path
    if spec.startswith("zoo:"):
        from .. import zoo
        name = spec[4:]
        fn = getattr(zoo, name, None)
        if fn is None or not callable(fn) or name.startswith("_") or name == "MLPERF_TINY":
            raise ModelError(f"{spec}: no model {name!r} in edgesdk.zoo")
        return fn()
    path = Path(spec)
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ModelError(f"{path}: not a torch model file ({type(e).__name__}: {e})") from None
    if not isinstance(obj, torch.nn.Module):
        raise ModelError(f"{path}: holds a {type(obj).__name__}, not a torch.nn.Module "
                         f"(save the module with torch.save(model, path))")
    return obj


def load_xy(path, what):
    import numpy as np
    from pathlib import Path
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} {path}: no such file")
    try:
        with np.load(path) as z:
            if "x" not in z.files or "y" not in z.files:
                raise DataError(f"{what} {path}: needs arrays 'x' and 'y', has {z.files}")
            return z["x"].astype(np.float32), z["y"].astype(np.int64)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{what} {path}: not an .npz file ({e})") from None


@click.command("binarize", help=__doc__.split("\n\n")[0].split(": ", 1)[1] + "\n\n" + EXAMPLE)
@click.argument("model")
@click.option("--data", "data", required=True, help="Training data: .npz with x (N, ...) float and y (N,) int.")
@click.option("--test", "test", default=None, help="Test data (.npz x, y) for the accuracy report.")
@click.option("--method", type=click.Choice(["biper", "ste", "denseshift"]), default="biper", show_default=True)
@click.option("--bits", type=click.Choice(["3", "4"]), default="4", show_default=True, help="DenseShift width.")
@click.option("--freq", type=float, default=0.75, show_default=True,
              help="BiPer square-wave frequency, in units of 1/std(weights) (period 2*pi/freq).")
@click.option("--freq-end", type=float, default=None, help="BiPer frequency at the last epoch (schedule).")
@click.option("--latent-init", type=click.Choice(["copy", "fold", "half_period"]), default="copy", show_default=True,
              help="BiPer latent weights: copy the float ones, fold trained weights into the first "
                   "half-period, or (training from scratch) scale a random init onto the rising half-period.")
@click.option("--sine-penalty", type=float, default=0.0, show_default=True,
              help="BiPer regularizer tau * mean(sin^2(freq w)) per layer.")
@click.option("--stage1-epochs", type=int, default=0, show_default=True,
              help="Epochs with real-valued weights and binary activations before --epochs binary ones (BiPer paper).")
@click.option("--epochs", type=int, default=3, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--stage1-lr", type=float, default=None,
              help="Stage 1's learning rate when it differs from --lr (the BiPer authors run stage 2 at ~1/6 of "
                   "stage 1's). Default: --lr.")
@click.option("--all-layers", is_flag=True, help="Also convert the first and last layers.")
@click.option("--input-shape", "input_shape", required=True, help="Model input shape D1,D2,... (batch first).")
@click.option("-o", "--output", required=True, help="Output graph (.edg); the torch module goes to OUTPUT.pt.")
def command(model, data, test, method, bits, freq, freq_end, latent_init, sine_penalty, stage1_epochs, epochs, lr,
            stage1_lr, all_layers, input_shape, output):
    import torch
    from ..binary import binarize, denseshift, evaluate, export_graph, train_recipe, weight_bytes
    from ..binary.layers import check_frequency
    from ..ir import save
    from ..util.atomic import atomic_path

    check_frequency(freq, "--freq")
    if freq_end is not None:
        check_frequency(freq_end, "--freq-end")
    if epochs < 1:
        raise EdgeError(f"--epochs: must be at least 1, got {epochs}")
    if stage1_epochs < 0:
        raise EdgeError(f"--stage1-epochs: must be 0 or more, got {stage1_epochs}")
    if not sine_penalty >= 0 or sine_penalty == float("inf"):
        raise EdgeError(f"--sine-penalty: must be a finite non-negative number, got {sine_penalty}")
    if latent_init != "copy" and method != "biper":
        raise EdgeError(f"--latent-init {latent_init}: only for --method biper (a period), not {method}")
    try:
        shape = tuple(int(d) for d in input_shape.split(","))
        if any(d <= 0 for d in shape):
            raise ValueError
    except ValueError:
        raise EdgeError(f"--input-shape {input_shape!r}: expected D1,D2,... positive integers") from None
    net = load_torch_model(model)
    x, y = load_xy(data, "--data")
    if tuple(x.shape[1:]) != shape[1:]:
        raise DataError(f"--data {data}: samples have shape {x.shape[1:]}, the model input is {shape[1:]}")
    if method == "denseshift":
        net = denseshift(net, int(bits), keep_first_last=not all_layers)
    else:
        net = binarize(net, method, freq, keep_first_last=not all_layers, latent_init=latent_init)
    train_recipe(net, x, y, epochs=epochs, lr=lr, freq_start=freq if freq_end is not None else None,
                 freq_end=freq_end, stage1_epochs=stage1_epochs, stage1_lr=stage1_lr, sine_penalty=sine_penalty,
                 log=lambda s: click.echo(s))
    if test:
        xt, yt = load_xy(test, "--test")
        click.echo(f"test accuracy: {evaluate(net, xt, yt):.2f} %")
    wb = weight_bytes(net)
    click.echo(f"weight bytes: {wb['total_bytes']} (low-bit layers {wb['low_bit_weight_bytes']} "
               f"vs {wb['low_bit_float_bytes']} as float)")
    graph = export_graph(net, shape, name=model.replace("zoo:", ""))
    graph.meta["compression"] = {"method": method, "bits": 1 if method != "denseshift" else int(bits)}
    save(graph, output)
    with atomic_path(str(output) + ".pt") as tmp:
        torch.save(net, tmp)
    click.echo(f"wrote {output} ({len(graph.nodes)} nodes) and {output}.pt")
