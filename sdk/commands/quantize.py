"""`edgesdk quantize`: post-training quantization of a float model into an integer-only graph."""
import click

from ..errors import DataError, EdgeError


def load_calib(path):
    """A .npy array or a .npz archive (one array per input) -> array | {name: array}."""
    from pathlib import Path

    import numpy as np
    p = Path(path)
    if not p.exists():
        raise DataError(f"--calib {path}: no such file")
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as e:  # not an .npy/.npz, truncated, pickled objects
        raise DataError(f"--calib {path}: not a readable .npy/.npz file ({e})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        if not data.files:
            raise DataError(f"--calib {path}: the .npz archive holds no arrays (empty calibration set)")
        return {k: data[k] for k in data.files}
    return data


@click.command("quantize")
@click.argument("model")
@click.option("--calib", required=True, metavar="DATA.npy|.npz",
              help="Calibration samples: (S, *input shape without batch) float32; .npz: one array per input.")
@click.option("-o", "--output", required=True, help="Where to write the quantized graph (.edg).")
@click.option("--method", type=click.Choice(["minmax", "percentile", "mse"]), default="minmax", show_default=True,
              help="How activation ranges are chosen from the calibration run.")
@click.option("--weight-bits", type=click.Choice(["8", "4", "2"]), default=None,
              help="Uniform weight bit-width (default 8). 4/2 bits use layer-wise calibration.")
@click.option("--budget-bytes", type=int, default=None,
              help="Mixed precision: total packed weight bytes; bits per layer chosen by MILP.")
@click.option("--budget-bits-per-weight", type=float, default=None,
              help="Mixed precision: average bits per weight (e.g. 4.5).")
@click.option("--sensitivity", "sensitivity", type=click.Choice(["calibrated", "rtn"]), default="calibrated",
              show_default=True,
              help="Mixed precision: how each layer's sensitivity per width is measured. calibrated: after the "
                   "layer-wise calibration, by the KL of the class probabilities (output MSE for non-classifiers) "
                   "on held-out calibration samples; rtn: round to nearest, output MSE (faster).")
@click.option("--per-tensor", is_flag=True, help="Per-tensor instead of per-channel weight scales.")
@click.option("--no-bias-correction", is_flag=True, help="Skip the empirical bias correction.")
@click.option("--layerwise-steps", type=int, default=300, show_default=True,
              help="Optimisation steps per layer of the layer-wise calibration (layers below 8 bits).")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D1,D2,...",
              help="Static shape of a graph input (repeatable); needed for dynamic inputs.")
def command(model, calib, output, method, weight_bits, budget_bytes, budget_bits_per_weight, sensitivity,
            per_tensor, no_bias_correction, layerwise_steps, input_shape):
    """Quantize MODEL (ONNX, torch export or float .edg) to int8 ops, calibrated on DATA.

    The result takes int8 inputs and gives int8 outputs (scales and zero points on the
    graph's tensors); only integer ops remain. The file is written atomically.

    \b
    Examples:
      edgesdk quantize model.onnx --calib calib.npy -o model_q.edg
      edgesdk quantize model.onnx --calib calib.npz -o q4.edg --weight-bits 4
      edgesdk quantize model.onnx --calib calib.npy -o mixed.edg --budget-bits-per-weight 4
    """
    from pathlib import Path

    from ..ir import save
    from ..quant import QuantizeError, is_quantized, weight_bytes
    from .convert import load_model_file, parse_input_shapes

    if budget_bytes is not None and budget_bits_per_weight is not None:
        raise EdgeError("give either --budget-bytes or --budget-bits-per-weight, not both")
    budget = budget_bytes is not None or budget_bits_per_weight is not None
    if budget and weight_bits is not None:
        raise EdgeError("--weight-bits and a --budget-* option exclude each other: a budget picks the bits per layer")
    if budget_bytes is not None and budget_bytes <= 0:
        raise QuantizeError(f"--budget-bytes {budget_bytes}: must be positive")
    if Path(output).is_dir():
        raise EdgeError(f"-o {output}: is a directory; give the file to write")
    graph = load_model_file(model, parse_input_shapes(input_shape))
    if is_quantized(graph):
        raise QuantizeError(f"{model}: the model is already quantized (integer or QuantizeLinear/"
                            f"DequantizeLinear ops); nothing to do (QDQ models become integer graphs "
                            f"with `edgesdk convert`)")
    data = load_calib(calib)
    kw = dict(method=method, per_channel=not per_tensor, bias_correction=not no_bias_correction,
              layerwise_steps=layerwise_steps)
    try:
        qg = _run(graph, data, budget, budget_bytes, budget_bits_per_weight, weight_bits, kw, sensitivity)
    except DataError as e:
        raise DataError(f"--calib {calib}: {e}") from None
    try:
        save(qg, output)
    except OSError as e:
        raise EdgeError(f"-o {output}: cannot write ({e.strerror or e})") from None
    ops = ", ".join(f"{op} x{n}" for op, n in sorted(qg.op_counts().items()))
    io = "; ".join(f"{n} {tuple(qg.tensors[n].shape)} s8 scale {float(qg.tensors[n].quant.scale):.6g} "
                   f"zp {int(qg.tensors[n].quant.zero_point)}" for n in qg.inputs + qg.outputs)
    click.echo(f"wrote {output}: {ops}; weights {weight_bytes(qg)} bytes; {io}")


def _run(graph, data, budget, budget_bytes, budget_bits_per_weight, weight_bits, kw, sensitivity="calibrated"):
    from ..quant import quantize
    if budget:
        from ..quant.mixed import quantize_to_budget
        qg, plan, table = quantize_to_budget(graph, data, budget_bytes=budget_bytes,
                                             budget_bits_per_weight=budget_bits_per_weight,
                                             sens_method=sensitivity, **kw)
        click.echo(table)
    else:
        qg = quantize(graph, data, weight_bits=int(weight_bits or 8), **kw)
    return qg
