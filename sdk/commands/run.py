"""`edgesdk run`: run a build once on its board or emulator; print outputs and the count."""
import click


def _load_inputs(path, specs):
    from ..hil.validate import load_cases
    return load_cases(path, specs, 1)[0]


@click.command("run", epilog="""\b
Example:
  edgesdk run build/ --input x.npy
  edgesdk run build/ --board nucleo-f746zg --port /dev/ttyACM0 -o out.npz
""")
@click.argument("build", type=click.Path(file_okay=False))
@click.option("--input", "input_path", type=click.Path(dir_okay=False),
              help=".npy (one input) or .npz (one array per input name); float data is quantized. "
                   "Default: random data within each input's range (seed 0)")
@click.option("--board", help="board name or BOARD.yaml (default: the build's board)")
@click.option("--port", help="serial port of a real board (default: the board yaml's)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="save the outputs to this .npz")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="seconds allowed for the run")
def command(build, input_path, board, port, output, timeout):
    """Run BUILD once on the device; print its outputs and instruction count."""
    import io

    import numpy as np

    from ..hil import open_device
    from ..hil.buildinfo import read_manifest
    from ..hil.validate import random_case
    from ..util.atomic import write_bytes

    manifest = read_manifest(build)
    specs = manifest["inputs"]
    inputs = _load_inputs(input_path, specs) if input_path else random_case(specs, np.random.default_rng(0))
    if manifest.get("target") == "gpu":   # a plan for an OpenCL/CUDA device, not rig firmware
        from ..gpu.device import open_gpu_device as open_device
    with open_device(build, board=board, port=port, run_timeout=timeout) as dev:
        res = dev.infer(inputs)
        timing = dev.timing() if dev.info.has_layer_timing else None
        name = dev.name
    click.echo(f"ran {manifest.get('build_id', build)} on {name}")
    with np.printoptions(threshold=64, edgeitems=4, linewidth=100):
        for spec, y in zip(manifest["outputs"], res.outputs):
            click.echo(f"{spec.get('name', 'output')} {spec['dtype']} {list(y.shape)}:\n{y}")
    click.echo(f"{res.unit or 'count'}: {res.count}")
    if timing and timing.layers:
        names = [layer.get("name", f"layer{i}") for i, layer in enumerate(manifest.get("layers", []))]
        for i, n in enumerate(timing.layers):
            click.echo(f"  {names[i] if i < len(names) else f'layer{i}':<24} {n:>12} {timing.unit}")
    if output:
        buf = io.BytesIO()
        np.savez(buf, **{s.get("name", f"output{i}"): y for i, (s, y) in enumerate(zip(manifest["outputs"], res.outputs))})
        write_bytes(output, buf.getvalue())
        click.echo(f"wrote {output}")
