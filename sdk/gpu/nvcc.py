"""The nvcc/ptxas driver: compile CUDA sources to cubin and read ptxas resource usage.

No GPU is needed: nvcc and ptxas run on the host. `compile_cubin` returns, per kernel,
the registers, spill bytes, stack, shared and constant memory that ptxas reports
(-Xptxas -v); `occupancy` turns them into resident warps per SM for an architecture.
"""
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import ToolMissingError
from ..paths import kernels_dir

# Per-SM limits by compute capability (CUDA C Programming Guide, "Compute Capabilities").
SM_LIMITS = {
    "sm_80": dict(max_warps=64, max_blocks=32, regs=65536, smem=164 * 1024, smem_block=163 * 1024),
    "sm_86": dict(max_warps=48, max_blocks=16, regs=65536, smem=100 * 1024, smem_block=99 * 1024),
    "sm_87": dict(max_warps=48, max_blocks=16, regs=65536, smem=164 * 1024, smem_block=163 * 1024),
    "sm_89": dict(max_warps=48, max_blocks=24, regs=65536, smem=100 * 1024, smem_block=99 * 1024),
    "sm_90": dict(max_warps=64, max_blocks=32, regs=65536, smem=228 * 1024, smem_block=227 * 1024),
}
REG_ALLOC_UNIT = 256      # registers are allocated per warp in units of 256
SMEM_ALLOC_UNIT = 128     # shared memory per block, rounded up to 128 bytes
SMEM_RESERVED = 1024      # the system reserves 1 KB of shared memory per block (sm_80+)
CUDA_ROOT = Path("/usr/local")   # where toolkits install (cuda-XX.Y/bin/nvcc) when nvcc is not on PATH


def find_nvcc():
    """Path of nvcc, or a one-line ToolMissingError."""
    p = shutil.which("nvcc")
    if p is None:
        for cand in sorted(CUDA_ROOT.glob("cuda*/bin/nvcc")):
            p = str(cand)
            break
    if p is None:
        raise ToolMissingError("nvcc not found: --gpu-api cuda needs the CUDA toolkit (nvcc on PATH)")
    return p


def cuda_include_dir():
    """The toolkit's include dir (cuda.h), for compiling the driver-API host runtime with gcc."""
    nvcc = find_nvcc()
    cands = [Path(nvcc).resolve().parent.parent / "include"]
    # /usr/local/bin/nvcc may be a wrapper script that execs the real one
    try:
        text = Path(nvcc).read_text(errors="ignore")[:4096]
        cands += [Path(m).parent.parent / "include" for m in re.findall(r"(/\S+/bin/nvcc)", text)]
    except OSError:
        pass
    cands += sorted(CUDA_ROOT.glob("cuda*/include"))
    for c in cands:
        if (c / "cuda.h").exists():
            return c
    raise ToolMissingError("cuda.h not found next to nvcc (install the CUDA toolkit headers)")


def cuda_dir():
    return kernels_dir() / "cuda"


_ENTRY = re.compile(r"Compiling entry function '(\w+)' for '(sm_\d+a?)'")
_PROPS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"(\d+) bytes smem")
_CMEM = re.compile(r"(\d+) bytes cmem\[0\]")
_BARRIERS = re.compile(r"used (\d+) barriers")


def parse_ptxas(text):
    """ptxas -v output -> {kernel: {arch, registers, spill_stores, spill_loads, stack, smem, cmem, barriers}}."""
    out, cur = {}, None
    for line in text.splitlines():
        m = _ENTRY.search(line)
        if m:
            cur = out.setdefault(m.group(1), {"arch": m.group(2), "registers": 0, "spill_stores": 0,
                                              "spill_loads": 0, "stack": 0, "smem": 0, "cmem": 0, "barriers": 0})
            continue
        if cur is None:
            continue
        m = _PROPS.search(line)
        if m:
            cur["stack"], cur["spill_stores"], cur["spill_loads"] = (int(v) for v in m.groups())
        m = _USED.search(line)
        if m:
            cur["registers"] = int(m.group(1))
            for rx, key in ((_SMEM, "smem"), (_CMEM, "cmem"), (_BARRIERS, "barriers")):
                mm = rx.search(line)
                if mm:
                    cur[key] = int(mm.group(1))
    return out


def compile_cubin(source, arch, out_path, options=(), timeout=300):
    """nvcc -cubin for one arch; returns {"cubin": path, "kernels": parse_ptxas(...)}.

    `source` is a .cu path; kernels/cuda is on the include path.
    """
    nvcc = find_nvcc()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [nvcc, "-cubin", f"-arch={arch}", "-O3", "-Xptxas", "-v", f"-I{cuda_dir()}", *options,
           str(source), "-o", str(out_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"nvcc failed on {source} for {arch}:\n{r.stderr[-4000:]}")
    return {"cubin": out_path, "kernels": parse_ptxas(r.stdout + r.stderr), "command": cmd}


def occupancy(registers, smem_bytes, threads_per_block, arch):
    """Theoretical occupancy: resident blocks and warps per SM, and the limiting resource."""
    lim = SM_LIMITS[arch]
    warps_per_block = -(-int(threads_per_block) // 32)
    regs_per_warp = -(-max(int(registers), 1) * 32 // REG_ALLOC_UNIT) * REG_ALLOC_UNIT
    by = {
        "warps": lim["max_warps"] // warps_per_block,
        "blocks": lim["max_blocks"],
        "registers": lim["regs"] // (regs_per_warp * warps_per_block),
    }
    if smem_bytes:
        per_block = -(-(int(smem_bytes) + SMEM_RESERVED) // SMEM_ALLOC_UNIT) * SMEM_ALLOC_UNIT
        by["shared_memory"] = lim["smem"] // per_block
    limiter = min(by, key=lambda k: by[k])
    blocks = by[limiter]
    warps = blocks * warps_per_block
    return {"blocks_per_sm": blocks, "warps_per_sm": warps,
            "occupancy": round(warps / lim["max_warps"], 3), "limited_by": limiter}
