"""`edgesdk finetune`: train a build's head on the device (board or emulator) with
labelled samples streamed over the rig."""
import click


@click.command("finetune", epilog="""\b
Example:
  edgesdk build model.onnx --calib calib.npy --train-last 1 --train-cache 300 -o build/tl
  edgesdk finetune build/tl --data new_classes.npz --test new_test.npz --epochs 3
DATA.npz holds x (samples, N x input shape, float) and y (class indices, N).
""")
@click.argument("build", type=click.Path(file_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="training samples (.npz with x and y)")
@click.option("--test", "test", type=click.Path(dir_okay=False), help="test samples (.npz with x and y)")
@click.option("--epochs", type=int, default=3, show_default=True)
@click.option("--board", help="board name or BOARD.yaml (default: the build's board)")
@click.option("--batch", type=int, default=16, show_default=True, help="samples per SGD step")
@click.option("--lr", type=float, default=0.05, show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the sample order")
@click.option("--no-cache", is_flag=True, help="send every sample every epoch even if the build has a feature cache")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="also write the results as JSON here")
def command(build, data, test, epochs, board, batch, lr, momentum, weight_decay, seed, no_cache, json_out):
    """Fine-tune the trainable head of BUILD on the device."""
    import json
    from pathlib import Path

    from ..errors import DataError
    from ..train.data import load_labelled
    from ..train.device import finetune
    from ..train.report import finetune_table
    from ..util.atomic import write_text

    if epochs < 1:
        raise DataError(f"--epochs must be at least 1, got {epochs}")
    if batch < 1:
        raise DataError(f"--batch must be at least 1, got {batch}")
    x, y = load_labelled(data, "--data")
    xt, yt = load_labelled(test, "--test") if test else (None, None)
    manifest = json.loads((Path(build) / "manifest.json").read_text()) if (Path(build) / "manifest.json").is_file() \
        else None
    if manifest is None:
        raise DataError(f"{build}: not a build folder (no manifest.json)")
    res = finetune(build, x, y, epochs=epochs, batch_size=batch, lr=lr, momentum=momentum,
                   weight_decay=weight_decay, x_test=xt, y_test=yt, board=board, seed=seed, progress=True,
                   use_cache=not no_cache)
    click.echo(finetune_table(res, manifest["train"]))
    if json_out:
        write_text(json_out, json.dumps(res.to_json(), indent=2))
        click.echo(f"wrote {json_out}")
