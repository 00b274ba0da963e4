"""`edgesdk build`: compile a model into a firmware/binary folder for a target and board."""
import click

from .convert import SHAPE_HELP, parse_input_shapes


def load_array_file(path, what="--calib"):
    """An .npy file, or the first (or 'x'/'input') array of an .npz."""
    from ..errors import DataError
    from ..util.arrays import open_array_file
    data = open_array_file(path, what)
    if hasattr(data, "files"):
        if not data.files:
            raise DataError(f"{what} {path}: the .npz holds no arrays")
        key = next((k for k in ("x", "input", "images") if k in data.files), data.files[0])
        data = data[key]
    return data


@click.command("build")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(["mcu", "riscv", "gpu"]), default="mcu", show_default=True,
              help="mcu: Cortex-M int8; riscv: RV32/RV64 FP16/FP32 with RVV; gpu: OpenCL/CUDA.")
@click.option("--board", default=None, help="Board name (see targets/*/boards/) or a BOARD.yaml path. "
              "Defaults: mcu mps2-an386, riscv qemu-rv64-linux, gpu pocl.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Build folder to write (replaced atomically). Default: build/<model>-<target>.")
@click.option("--input-shape", "input_shapes", multiple=True, help=SHAPE_HELP)
@click.option("--calib", type=click.Path(dir_okay=False), default=None,
              help="Float calibration inputs (.npy/.npz, N x input shape) to quantize a float model for mcu.")
@click.option("--kernels", type=click.Choice(["auto", "ref", "dsp", "mve"]), default="auto", show_default=True,
              help="mcu: kernel variant; auto picks the best the board's core has.")
@click.option("--dtype", type=click.Choice(["f32", "f16", "s8"]), default=None, help="riscv/gpu: compute type.")
@click.option("--vlen", type=int, default=None, help="riscv: vector length in bits (128, 256, 512, 1024).")
@click.option("--gpu-api", type=click.Choice(["opencl", "cuda"]), default=None, help="gpu: API (default opencl).")
@click.option("--no-measure", is_flag=True, help="Do not run the image on the emulator after building.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON instead of the table.")
@click.option("--train-last", type=int, default=None,
              help="mcu: make the last K fully connected layers trainable on the device (FP32 head; see `edgesdk finetune`).")
@click.option("--train", "train_mode", type=click.Choice(["last", "bias"]), default=None,
              help="mcu on-device training: 'last' trains weights and biases of the head, 'bias' only its biases.")
@click.option("--train-cache", type=int, default=0, show_default=True,
              help="mcu on-device training: keep N samples' backbone features on the device (epochs after the "
                   "first skip the frozen backbone; N x feature bytes of RAM).")
def command(model, target, board, out_dir, input_shapes, calib, kernels, dtype, vlen, gpu_api, no_measure, as_json,
            train_last, train_mode, train_cache):
    """Build MODEL (.onnx, .edg) for a target and board.

    The build folder holds the generated C project (src/), the image, the lowered graph
    (model.edg, the reference for `edgesdk validate`) and manifest.json. On emulated
    boards the image runs once to count instructions and to check its output against
    the reference interpreter.

    \b
    Examples:
      edgesdk build model_int8.edg --target mcu --board mps2-an386 -o build/m4
      edgesdk build model.onnx --calib calib.npy --target mcu --board mps3-an547
      edgesdk build model.onnx --target riscv --board qemu-rv32-virt --dtype f16 --vlen 256
      edgesdk build model.onnx --target gpu --gpu-api opencl --board pocl
    """
    import json
    from pathlib import Path

    from ..pipeline import build

    from .convert import load_model_file
    shapes = parse_input_shapes(input_shapes)
    graph = load_model_file(model, shapes)
    calib_data = load_array_file(calib) if calib else None
    out_dir = out_dir or str(Path("build") / f"{Path(model).stem}-{target}")
    opts = {}
    if target == "riscv":
        opts.update({k: v for k, v in (("dtype", dtype), ("vlen", vlen)) if v is not None})
    elif target == "gpu":
        opts.update({k: v for k, v in (("dtype", dtype), ("gpu_api", gpu_api)) if v is not None})
    elif dtype not in (None, "s8"):
        from ..errors import EdgeError
        raise EdgeError(f"--dtype {dtype}: the mcu target runs int8 (s8) only")
    click.echo(f"edgesdk build: {model} -> {out_dir} ({target}, board {board or 'default'})", err=as_json)
    if train_last is not None or train_mode is not None or train_cache:
        from ..errors import EdgeError
        from ..pipeline import DEFAULT_BOARDS
        from ..train.build import build_trainable
        if target != "mcu":
            raise EdgeError(f"--train-last/--train: on-device training builds target mcu, not {target}")
        result = build_trainable(graph, board or DEFAULT_BOARDS["mcu"], out_dir, calib_data,
                                 last_k=1 if train_last is None else train_last, mode=train_mode or "last",
                                 kernels=kernels, measure=not no_measure, quiet=as_json, cache_samples=train_cache)
    else:
        result = build(graph, target, board, out_dir, calib=calib_data, kernels=kernels, measure=not no_measure,
                       quiet=as_json, **opts)
    if as_json:
        click.echo(json.dumps(result.manifest, indent=2))
    else:
        click.echo("")
        click.echo(result.summary_text)
        click.echo(f"build written to {out_dir}/")
