"""Run generated model code natively on the host (gcc + ctypes), with the _ref kernels.

The same model.c that goes into the firmware is compiled as a shared library, so code
generation and memory planning are checked bit for bit against the reference in
milliseconds, with no emulator. (The optimized dsp/mve variants are checked under
QEMU by the kernel tests and by the build's self-test.)
"""
import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..errors import ToolMissingError
from ..paths import kernels_dir, runtime_dir


def compile_host_model(model_c, out_so, extra_sources=(), include_dirs=()):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise ToolMissingError("gcc not found: install it with `apt-get install gcc`")
    model_c = Path(model_c)
    srcs = [model_c, *sorted(kernels_dir().glob("ek_*_s8_ref.c")), *sorted(kernels_dir().glob("ek_*_b1_ref.c")), *sorted(kernels_dir().glob("ek_*_s4_ref.c")),
            *extra_sources]
    incs = [model_c.parent, model_c.parent / "include", kernels_dir() / "include", runtime_dir() / "include",
            *include_dirs]
    cmd = [cc, "-shared", "-fPIC", "-O2", "-std=gnu11", "-o", str(out_so), *map(str, srcs),
           *[f"-I{d}" for d in incs], "-lm"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"host compile of {model_c} failed:\n{p.stderr[-4000:]}")
    return Path(out_so)


class HostModel:
    """ctypes view of a compiled model: set inputs, run, read outputs (ek_model_api.h)."""

    def __init__(self, so_path):
        self.lib = ctypes.CDLL(str(so_path))
        L = self.lib
        L.ek_model_input.restype = ctypes.POINTER(ctypes.c_uint8)
        L.ek_model_output.restype = ctypes.POINTER(ctypes.c_uint8)
        L.ek_model_input_bytes.restype = ctypes.c_uint32
        L.ek_model_output_bytes.restype = ctypes.c_uint32
        for f in (L.ek_model_input, L.ek_model_output, L.ek_model_input_bytes, L.ek_model_output_bytes):
            f.argtypes = [ctypes.c_uint32]

    def run(self, inputs, n_outputs=1):
        """inputs: list of int8 arrays already in device layout; returns output byte arrays."""
        for i, arr in enumerate(inputs):
            buf = np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
            n = self.lib.ek_model_input_bytes(i)
            if buf.size != n:
                raise ValueError(f"input {i}: {buf.size} bytes, model wants {n}")
            ctypes.memmove(self.lib.ek_model_input(i), buf.ctypes.data, n)
        rc = self.lib.ek_model_run()
        if rc != 0:
            raise RuntimeError(f"ek_model_run returned {rc}")
        outs = []
        for j in range(n_outputs):
            n = self.lib.ek_model_output_bytes(j)
            outs.append(np.ctypeslib.as_array(self.lib.ek_model_output(j), (n,)).copy().view(np.int8))
        return outs


def compile_program(prog, workdir, build_id="host", model_hash=0):
    """Emit an McuProgram's model.c into `workdir` and compile it for the host -> HostModel."""
    from ..codegen.mcu import emit_model
    workdir = Path(workdir)
    (workdir / "include").mkdir(parents=True, exist_ok=True)
    c, h = emit_model(prog, build_id, model_hash)
    (workdir / "model.c").write_text(c)
    (workdir / "include" / "model.h").write_text(h)
    return HostModel(compile_host_model(workdir / "model.c", workdir / "model.so"))


def run_program(prog, host_model, graph, x):
    """One float sample [1, ...] through the host-compiled program -> int8 output in the
    graph's own (NCHW) layout, ready to compare with the reference interpreter."""
    from ..backends_mcu import from_device_layout, to_device_layout
    from ..quant import quantize_inputs
    name = graph.inputs[0]
    q = quantize_inputs(graph, {name: x})[name]
    dev = host_model.run([to_device_layout(q, prog.inputs[0][3])])[0]
    _, _, shape, layout, _ = prog.outputs[0]
    return from_device_layout(dev, shape, layout)
