"""Build the small C host runtimes of runtime/gpu with gcc, and write their case files.

- ek_ocl_gemm: the OpenCL host runtime (OpenCL API, -lOpenCL) running one QGemm.
- ek_cuda_gemm: the CUDA driver-API host runtime (libcuda opened with dlopen) running
  the dp4a QGemm from a cubin; exits 3 when the machine has no NVIDIA driver/GPU.
"""
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..errors import ToolMissingError
from ..paths import runtime_dir

EXIT_NO_CUDA = 3


def _gcc():
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise ToolMissingError("gcc not found: the GPU host runtimes are built with the host C compiler")
    return cc


def _build(sources, out, include_dirs, libs, timeout=120):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [_gcc(), "-O2", "-Wall", "-Wextra", "-Werror", *[f"-I{d}" for d in include_dirs],
           *[str(s) for s in sources], "-o", str(out), *libs]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"gcc failed building {out.name}:\n{r.stderr[-4000:]}")
    return out


def build_ocl_gemm_driver(out):
    d = runtime_dir() / "gpu"
    return _build([d / "ek_ocl_host.c", d / "ek_ocl_gemm_main.c"], out, [d], ["-lOpenCL"])


def build_cuda_gemm_driver(out):
    from .nvcc import cuda_include_dir
    d = runtime_dir() / "gpu"
    return _build([d / "ek_cuda_host.c", d / "ek_cuda_gemm_main.c"], out, [d, cuda_include_dir()], ["-ldl"])


def write_gemm_case(path, x, w, bias_eff, mult, shift, y_zp, act_min=-128, act_max=127):
    """The case file both drivers read: int32 header N M K y_zp act_min act_max, then the data."""
    x = np.ascontiguousarray(x, np.int8)
    w = np.ascontiguousarray(w, np.int8)
    n, k = x.shape
    m = w.shape[0]
    header = np.array([n, m, k, y_zp, act_min, act_max], np.int32)
    parts = [header, x, w, np.asarray(bias_eff, np.int32).reshape(m), np.asarray(mult, np.int32).reshape(m),
             np.asarray(shift, np.int32).reshape(m)]
    Path(path).write_bytes(b"".join(p.tobytes() for p in parts))
    return Path(path)
