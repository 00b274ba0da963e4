"""One test over every hand-written kernel variant (DEVELOPERS.md: every optimized kernel
has a _ref twin with the same signature, and one test runs every variant).

1. Every optimized variant has its _ref twin: a ek_<op>_<dtype>_ref.c file for the CPU
   kernels; a kernel named <name>_ref with the same parameter list inside the same
   OpenCL/CUDA source for the GPU kernels.
2. Twins define the same functions: each pair is compiled for its core and the defined
   symbols, with the isa suffix removed, must be the same set. (Signatures are pinned by
   the shared declaration macros in kernels/include: a definition that differs from its
   declaration does not compile.)
3. Every Cortex-M variant (ref natively, dsp on the M4, mve on the M55) is bit-exact with
   the integer reference on random cases. The RVV, OpenCL and CUDA variants run in
   test_riscv_kernels.py, test_gpu_opencl_kernels.py and test_gpu_cuda_compile.py.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgesdk.paths import kernels_dir

CPU_NAME = re.compile(r"^ek_(?P<op>\w+?)_(?P<dtype>s8|s4|b1|f16|f32)_(?P<isa>ref|dsp|mve|rvv)\.c$")
ARM_CFLAGS = {"dsp": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
              "mve": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"]}
RV_CFLAGS = ["--target=riscv64-linux-gnu", "-march=rv64gcv_zfh_zvfh"]


def cpu_variants():
    out = []
    for p in sorted(kernels_dir().glob("ek_*.c")):
        m = CPU_NAME.match(p.name)
        assert m, f"{p.name}: kernel files are named ek_<op>_<dtype>_<isa>.c"
        if m["isa"] != "ref":
            out.append((p, m))
    return out


def gpu_sources():
    return sorted([*kernels_dir().glob("opencl/ek_*.cl"), *kernels_dir().glob("cuda/ek_*.cu")])


def _params(src, name):
    m = re.search(rf"\b{name}\s*\(([^)]*)\)", src)
    return None if m is None else re.sub(r"\s+", " ", m.group(1)).strip()


@pytest.mark.parametrize("path,m", cpu_variants(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_cpu_variant_has_ref_twin(path, m):
    twin = path.with_name(f"ek_{m['op']}_{m['dtype']}_ref.c")
    assert twin.is_file(), f"{path.name} has no _ref twin {twin.name}"


# GPU data-movement helpers (im2col) are not compute kernels: they have no twin and are
# checked through the convolution outputs they feed (test_gpu_opencl_kernels.py).
GPU_DATA_MOVEMENT = {"ek_im2col_s8_ocl", "ek_im2col_s8_cuda"}
GPU_KERNEL = re.compile(r"(?:__kernel|__global__)[^;{}]*?\b(ek_\w+)\s*\(", re.S)


@pytest.mark.parametrize("path", gpu_sources(), ids=lambda p: p.name)
def test_gpu_kernels_have_ref_twins(path):
    src = path.read_text()
    kernels = GPU_KERNEL.findall(src)
    assert kernels, f"{path.name}: no kernels found"
    for k in kernels:
        if k.endswith("_ref") or k in GPU_DATA_MOVEMENT:
            continue
        # ek_gemm_s8_ocl_vec -> ek_gemm_s8_ocl_ref; ek_gemm_s8_cuda -> ek_gemm_s8_cuda_ref
        candidates = [f"{k}_ref", f"{k.rsplit('_', 1)[0]}_ref"]
        twin = next((c for c in candidates if c in kernels), None)
        assert twin is not None, f"{path.name}: kernel {k} has no _ref twin ({' or '.join(candidates)})"
        assert _params(src, k) == _params(src, twin), f"{path.name}: {k} and {twin} take different parameters"


def _symbols(cmd, obj):
    subprocess.run(cmd, check=True, capture_output=True)
    nm = subprocess.run(["nm", "--defined-only", "-g", str(obj)], check=True, capture_output=True, text=True).stdout
    return {line.split()[-1] for line in nm.splitlines() if line.split()}


def _compile_cmd(path, isa, obj):
    inc = f"-I{kernels_dir() / 'include'}"
    if isa == "rvv":
        return ["clang-19", *RV_CFLAGS, "-O1", inc, "-c", str(path), "-o", str(obj)]
    if isa in ARM_CFLAGS:
        return ["arm-none-eabi-gcc", *ARM_CFLAGS[isa], "-O1", inc, "-c", str(path), "-o", str(obj)]
    raise AssertionError(isa)


@pytest.mark.parametrize("path,m", cpu_variants(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_twins_define_the_same_functions(path, m, tmp_path):
    isa = m["isa"]
    tool = "clang-19" if isa == "rvv" else "arm-none-eabi-gcc"
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    twin = path.with_name(f"ek_{m['op']}_{m['dtype']}_ref.c")
    # The _ref twin is compiled for the same core, so the comparison is like for like.
    opt = _symbols(_compile_cmd(path, isa, tmp_path / "opt.o"), tmp_path / "opt.o")
    ref = _symbols(_compile_cmd(twin, isa, tmp_path / "ref.o"), tmp_path / "ref.o")
    strip = lambda names, sfx: {n[: -len(sfx)] for n in names if n.endswith(sfx)}  # noqa: E731
    assert strip(opt, f"_{isa}") == strip(ref, "_ref"), \
        f"{path.name} and {twin.name} define different functions"
    assert strip(opt, f"_{isa}"), f"{path.name} defines no ek_*_{isa} function"


ARM_VARIANTS = sorted({*kernels_dir().glob("ek_*_s8_*.c"), *kernels_dir().glob("ek_*_b1_*.c"),
                       *kernels_dir().glob("ek_*_s4_*.c")})


@pytest.mark.qemu
@pytest.mark.parametrize("path", ARM_VARIANTS, ids=lambda p: p.name)
def test_every_cortex_m_variant_is_bit_exact(path):
    need = ["gcc"] if path.stem.endswith("_ref") else ["arm-none-eabi-gcc", "qemu-system-arm"]
    missing = [t for t in need if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    from edgesdk.kernelcheck.arm import check_variant
    assert check_variant(path, cases=12, seed=7)
