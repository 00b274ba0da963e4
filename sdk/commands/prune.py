"""`edgesdk prune`: one-shot magnitude pruning of a model file, corrected on calibration data.

No training code needed: weights are pruned by magnitude (or whole filters with
--structured), then biases and BatchNorms are corrected so that each layer's output
statistics on the calibration samples match the original model's.
"""
import click

from ..errors import DataError, EdgeError

EXAMPLE = """\b
Example:
  edgesdk prune model.onnx --ratio 0.5 --calib calib.npy -o model_pruned.edg
  edgesdk prune model.onnx --ratio 0.3 --structured --calib calib.npy -o model_small.edg
  edgesdk prune model.edg --ratio 0.75 --pattern block --calib calib.npz -o fc_sparse.edg
"""


def load_calib(path, limit):
    import numpy as np
    from pathlib import Path
    p = Path(path)
    if not p.exists():
        raise DataError(f"--calib {p}: no such file")
    try:
        if p.suffix == ".npz":
            with np.load(p) as z:
                key = "x" if "x" in z.files else (z.files[0] if len(z.files) == 1 else None)
                if key is None:
                    raise DataError(f"--calib {p}: an .npz needs an array 'x' (has {z.files})")
                x = z[key]
        else:
            x = np.load(p, allow_pickle=False)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"--calib {p}: not a numpy .npy/.npz file ({e})") from None
    if not np.issubdtype(x.dtype, np.number) or x.ndim < 1 or len(x) == 0:
        raise DataError(f"--calib {p}: needs a non-empty numeric array of samples, got {x.dtype} {x.shape}")
    return x[:limit].astype(np.float32)


@click.command("prune", help=__doc__.split("\n\n")[0].split(": ", 1)[1] + "\n\n" + EXAMPLE)
@click.argument("model")
@click.option("--ratio", required=True, type=str, help="Fraction of weights (or filters) to remove, in [0, 1).")
@click.option("--structured", is_flag=True, help="Remove whole conv filters (the model gets smaller and faster).")
@click.option("--pattern", type=click.Choice(["unstructured", "block", "2:4", "1:4"]), default="unstructured",
              show_default=True, help="Sparsity pattern: block = 1x4 blocks of FC weights (MCU block-sparse).")
@click.option("--calib", required=True, help="Calibration inputs: .npy (N, ...) or .npz with x.")
@click.option("--calib-limit", type=int, default=64, show_default=True, help="Use at most this many samples.")
@click.option("--correction", type=click.Choice(["full", "bias", "none"]), default="full", show_default=True,
              help="full: BatchNorm re-fit / bias + per-channel scale; bias: mean only; none.")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D1,D2,...",
              help="Static shape of a graph input (for dynamic ONNX inputs).")
@click.option("-o", "--output", required=True, help="Output graph (.edg).")
def command(model, ratio, structured, pattern, calib, calib_limit, correction, input_shape, output):
    from ..ir import save
    from ..prune.graph import prune_graph
    from ..prune.magnitude import check_ratio
    from .convert import load_model_file, parse_input_shapes

    r = check_ratio(ratio, "--ratio")
    if calib_limit < 1:
        raise EdgeError(f"--calib-limit: must be at least 1, got {calib_limit}")
    x = load_calib(calib, calib_limit)
    graph = load_model_file(model, parse_input_shapes(input_shape))
    mode = {"full": True, "bias": "bias", "none": False}[correction]
    pruned, rep = prune_graph(graph, r, structured=structured, calib=x, pattern=pattern, correct=mode)
    save(pruned, output)
    for row in rep["layers"]:
        if "filters" in row:
            click.echo(f"  {row['layer']}: {row['kept']}/{row['filters']} filters" +
                       (f" ({row['note']})" if "note" in row else ""))
        else:
            click.echo(f"  {row['layer']}: density {row['density']:.3f}" + (f" ({row['note']})" if "note" in row else ""))
    click.echo(f"corrected {len(rep.get('corrections', []))} layers on {len(x)} calibration samples")
    click.echo(f"wrote {output}")
