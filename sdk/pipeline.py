"""The one place that knows the order of the stages:

    frontends -> passes -> (quantize) -> lower -> codegen -> package -> run on the board

`build()` is what `edgesdk build` and the Python API call. Each target's stages live in
their own modules; this file only sequences them, reports progress, and writes the
build folder (docs/build-format.md) atomically.
"""
import json
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import EdgeError
from .util.atomic import atomic_dir

TARGETS = ("mcu", "riscv", "gpu")
DEFAULT_BOARDS = {"mcu": "mps2-an386", "riscv": "qemu-rv64-linux", "gpu": "pocl"}


@dataclass
class BuildResult:
    out_dir: Path
    manifest: dict
    summary_text: str = ""
    program: object = None
    timings: dict = field(default_factory=dict)

    @property
    def summary(self):
        return self.manifest["summary"]


class Progress:
    """Prints one line per finished stage (`name ... result (time)`); silent when quiet."""

    def __init__(self, quiet=False):
        self.quiet = quiet
        self.t0 = time.monotonic()
        self.times = {}

    def stage(self, name):
        return _Stage(self, name)


class _Stage:
    def __init__(self, progress, name):
        self.p, self.name, self.result = progress, name, ""

    def __enter__(self):
        self.t = time.monotonic()
        if not self.p.quiet:
            print(f"  {self.name:<22}", end="", flush=True)
        return self

    def __exit__(self, exc_type, exc, tb):
        dt = time.monotonic() - self.t
        self.p.times[self.name] = round(dt, 3)
        if not self.p.quiet:
            print(("failed" if exc_type else self.result) + f"  ({dt:.1f}s)", flush=True)
        return False


def load_graph(model, input_shapes=None, example_inputs=None):
    """A model path (.onnx / .edg), an onnx ModelProto, a torch module or a Graph -> Graph."""
    from .ir import Graph
    if isinstance(model, Graph):
        return model.copy()
    from . import frontends
    return frontends.load(model, input_shapes=input_shapes, example_inputs=example_inputs)


def prepare_graph(graph):
    """The target-independent passes (BN folding, activation fusion, constant folding, DCE)."""
    from .passes import run_passes
    return run_passes(graph)


def quantize_for_int8(graph, calib):
    """The int8 (mcu) target's graph: as is if already integer, quantized with `calib`
    otherwise, and without calib the "float ops left" error naming every float node."""
    from .quant import BINARY_OPS, is_binarized_float, is_quantized, quantize
    if is_binarized_float(graph):
        # the int8 quantizer does not map the float layers around the XNOR ones, and
        # --calib would not change that
        binary = sorted({n.op for n in graph.nodes if n.op in BINARY_OPS})
        other = next((f" such as {n.name} ({n.op})" for n in graph.nodes if n.op not in BINARY_OPS), "")
        raise EdgeError(f"{graph.name}: a binarized model ({', '.join(binary)} from edgesdk binarize, float "
                        f"layers around them{other}) does not build for the int8 "
                        f"mcu target yet; build it with --target gpu (XNOR kernels), or run it with the reference")
    if is_quantized(graph):
        return graph
    if calib is None:
        from .lower.mcu import check_integer_only
        check_integer_only(graph)
        return graph
    return quantize(graph, calib)


def model_hash(path):
    return zlib.crc32(Path(path).read_bytes()) & 0xFFFFFFFF


def build(model, target="mcu", board=None, out_dir="build", *, input_shapes=None, example_inputs=None,
          calib=None, kernels="auto", measure=True, quiet=False, **target_options):
    """Build `model` for `target` on `board` into `out_dir`; returns a BuildResult.

    calib: float calibration inputs (array, or {input name: array}) used to quantize a
    float model for the int8 mcu target. measure: run the image once on the emulator to
    count instructions and check its output against the reference.
    """
    from .boards import load_board
    if target not in TARGETS:
        raise EdgeError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    board = load_board(board or DEFAULT_BOARDS[target])
    if board.target != target:
        raise EdgeError(f"board {board.name} ({board.path}) is a {board.target} board, not a {target} board")
    prog = Progress(quiet)
    with prog.stage("import") as s:
        graph = load_graph(model, input_shapes, example_inputs)
        s.result = f"{len(graph.nodes)} nodes"
    with prog.stage("passes") as s:
        graph = prepare_graph(graph)
        s.result = f"{len(graph.nodes)} nodes"
    if target == "mcu":
        with prog.stage("quantize") as s:
            graph = quantize_for_int8(graph, calib)
            s.result = "int8"
        from .backends_mcu import build_mcu
        return build_mcu(graph, board, Path(out_dir), kernels=kernels, measure=measure, progress=prog,
                         selftest_input=_first_sample(calib, graph), **target_options)
    if target == "riscv":
        from .backends_riscv import build as build_riscv
        with prog.stage("build riscv") as s:
            summary = build_riscv(graph, board, Path(out_dir), selftest_input=_first_sample(calib, graph),
                                  **target_options)
            s.result = "ok"
    else:
        from .backends_gpu import build as build_gpu
        with prog.stage("build gpu") as s:
            summary = build_gpu(graph, board, Path(out_dir), calib=calib, check=measure, **target_options)
            s.result = "ok"
    manifest = json.loads((Path(out_dir) / "manifest.json").read_text())
    return BuildResult(Path(out_dir), manifest, summary_text=str(summary), timings=prog.times)


def _first_sample(calib, graph):
    """One real input for the build's self-test (quantized later), or None."""
    if calib is None:
        return None
    if isinstance(calib, dict):
        calib = calib[graph.inputs[0]] if graph.inputs[0] in calib else next(iter(calib.values()))
    arr = np.asarray(calib)
    return arr[:1] if arr.ndim else None


def write_build(out_dir, files: dict, manifest: dict):
    """Write a whole build folder atomically: files {relative path: bytes|str|Path}."""
    import shutil
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for rel, content in files.items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copy2(content, dest)
            elif isinstance(content, bytes):
                dest.write_bytes(content)
            else:
                dest.write_text(content)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out_dir
