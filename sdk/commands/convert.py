"""`edgesdk convert`: import a model (ONNX, torch export, .edg), run graph passes, save the IR.

Also home of the model-loading helpers other commands share: `--input-shape` parsing
(parse_input_shapes), loading any model file into a Graph (load_model_file) and the
`--passes` choice (apply_passes_option).
"""
import click

from ..errors import EdgeError, ModelError

SHAPE_HELP = "Static shape of a graph input, as NAME=D1,D2,... (repeatable). Needed for dynamic inputs."
PASSES_HELP = ("Graph passes: 'default' (QDQ fusion, constant folding, BatchNorm and bias-Add "
               "folding, activation fusion, dead-code removal), 'none', or a comma-separated "
               "list of pass names.")


def parse_input_shapes(specs):
    """('x=1,3,224,224', ...) -> {'x': (1, 3, 224, 224)}; a malformed spec is an EdgeError."""
    shapes = {}
    for spec in specs or ():
        name, sep, dims = spec.rpartition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            shape = tuple(int(d) for d in dims.split(","))
            if not shape or any(d <= 0 for d in shape):
                raise ValueError
        except ValueError:
            raise EdgeError(f"--input-shape {spec!r}: expected NAME=D1,D2,... with positive integer "
                            f"dimensions, e.g. input=1,3,224,224") from None
        if name.strip() in shapes:
            raise EdgeError(f"--input-shape: input {name.strip()!r} is given twice")
        shapes[name.strip()] = shape
    return shapes


def _is_edg(path):
    import zipfile
    if path.suffix == ".edg":
        return True
    try:
        with zipfile.ZipFile(path) as z:
            return "graph.json" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def load_model_file(path, input_shapes=None):
    """Any model file -> Graph with static shapes. Every failure is one EdgeError line."""
    from pathlib import Path
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not a model file")
    input_shapes = dict(input_shapes or {})
    if _is_edg(path):
        from ..ir import load
        graph = load(path)
        for name, shape in input_shapes.items():
            t = graph.tensors.get(name) if name in graph.inputs else None
            if t is None:
                raise EdgeError(f"--input-shape {name}: {path} has no input {name!r}; its inputs are "
                                f"{', '.join(graph.inputs)}")
            if t.is_static and tuple(t.shape) != tuple(shape):
                raise EdgeError(f"--input-shape {name}: {path} is already built for {t.shape}")
    else:
        from .. import frontends
        graph = frontends.load(str(path), input_shapes=input_shapes or None)
    unknown = sorted(set(input_shapes) - set(graph.inputs))
    if unknown:
        raise EdgeError(f"--input-shape: {path} has no input {unknown[0]!r}; its inputs are "
                        f"{', '.join(graph.inputs)}")
    for name in graph.inputs:
        t = graph.tensors[name]
        if not t.is_static:
            raise EdgeError(f"{path}: input {name!r} has a dynamic shape {tuple(t.shape)}; give it with "
                            f"--input-shape {name}=" + ",".join(str(d) if isinstance(d, int) and d > 0
                                                                 else "N" for d in t.shape))
    graph.meta.setdefault("source", str(path))
    return graph


def apply_passes_option(graph, passes):
    """Run the passes named by a --passes value ('default', 'none' or 'a,b,c')."""
    from ..passes import run_passes
    passes = (passes or "default").strip()
    if passes == "none":
        return graph
    if passes == "default":
        return run_passes(graph)
    return run_passes(graph, [p.strip() for p in passes.split(",") if p.strip()])


@click.command("convert")
@click.argument("model")
@click.option("-o", "--output", required=True, help="Where to write the graph (.edg).")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D1,D2,...", help=SHAPE_HELP)
@click.option("--passes", default="default", show_default=True, metavar="default|none|P1,P2", help=PASSES_HELP)
def command(model, output, input_shape, passes):
    """Convert MODEL (ONNX, torch export or .edg) into the edgesdk graph IR (.edg).

    The file is written atomically: a failed conversion never leaves a partial file.

    \b
    Example:
      edgesdk convert mobilenet.onnx -o mobilenet.edg --input-shape input=1,3,224,224
      edgesdk convert model.onnx -o raw.edg --passes none       # exactly as imported
    """
    from pathlib import Path

    from ..ir import save
    if Path(output).is_dir():
        raise EdgeError(f"-o {output}: is a directory; give the file to write, e.g. {Path(output) / 'model.edg'}")
    shapes = parse_input_shapes(input_shape)
    graph = load_model_file(model, shapes)
    n_before = len(graph.nodes)
    graph = apply_passes_option(graph, passes)
    try:
        save(graph, output)
    except OSError as e:
        raise EdgeError(f"-o {output}: cannot write ({e.strerror or e})") from None
    ran = ", ".join(f"{p} ({n})" for p, n in graph.meta.get("passes", [])) or "none"
    click.echo(f"wrote {output}: {len(graph.nodes)} nodes ({n_before} as imported); "
               f"inputs {', '.join(f'{i} {tuple(graph.tensors[i].shape)}' for i in graph.inputs)}; "
               f"passes: {ran}")
