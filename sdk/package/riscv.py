"""RISC-V images: build with clang-19 and run under QEMU, in two flavours.

Linux user mode (rv64, qemu-riscv64): quick to start, has files and stdio, any VLEN.

    exe = compile_linux(["drv.c", *kernel_sources("rvv")], "build/drv")
    res = run_linux(exe, ["in.bin", "out.bin"], vlen=256)

Bare metal (rv32 or rv64 on `qemu-system-riscv* -M virt`): crt0, 16550 UART, exit through
the test finisher, and minstret, which counts retired instructions exactly under
`-icount shift=0` (one vector instruction counts 1, whatever VLEN).

    elf = compile_baremetal(["bench.c", *kernel_sources("rvv")], "build/bench.elf")
    code, text = run_baremetal(elf, timeout=60, vlen=128)

Sources named *_ref.c are compiled with -fno-vectorize -fno-slp-vectorize: the scalar
twins must stay scalar (otherwise clang vectorizes them, with other rounding).
Objects are cached by content (source, headers, flags), so rebuilding is cheap.
"""
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, DeviceError, EdgeError, ToolMissingError
from ..paths import kernels_dir, targets_dir
from ..util.atomic import atomic_path

CLANG = "clang-19"
LLD = "ld.lld-19"
QEMU_USER = "qemu-riscv64"
QEMU_SYS = {32: "qemu-system-riscv32", 64: "qemu-system-riscv64"}
_APT = {CLANG: "clang-19", LLD: "lld-19", QEMU_USER: "qemu-user",
        "qemu-system-riscv32": "qemu-system-misc", "qemu-system-riscv64": "qemu-system-misc"}
SUPPORTED_VLEN = (128, 256, 512, 1024)   # QEMU 7.2: a power of two in [128, 1024]
LINUX_MARCH = "rv64gcv_zfh_zvfh"
BAREMETAL = {32: ("rv32gcv_zfh_zvfh", "ilp32d"), 64: ("rv64gcv_zfh_zvfh", "lp64d")}
DEFAULT_RAM = 64 * 1024 * 1024


@dataclass
class LinuxResult:
    exit_code: int
    stdout: str
    stderr: str
    wall_s: float


def require_tool(name):
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"{name} not found: install it with `apt-get install {_APT.get(name, name)}`")
    return path


def check_vlen(vlen):
    if vlen not in SUPPORTED_VLEN:
        raise EdgeError(f"vlen={vlen!r} is not supported: QEMU emulates VLEN "
                        f"{', '.join(map(str, SUPPORTED_VLEN))} (a power of two from 128 to 1024)")
    return int(vlen)


def kernel_sources(*isas, dtypes=("f32", "f16")):
    """The float kernel files ek_*_<dtype>_<isa>.c (e.g. kernel_sources("ref", "rvv"))."""
    out = []
    for dt in dtypes:
        for isa in isas:
            out += sorted(kernels_dir().glob(f"ek_*_{dt}_{isa}.c"))
    return out


def _include_dirs(extra):
    return [kernels_dir() / "include", targets_dir() / "riscv" / "include", *map(Path, extra or [])]


def _cache_dir():
    d = Path(os.environ.get("EDGESDK_CACHE", Path.home() / ".cache" / "edgesdk")) / "riscv-obj"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _headers_digest(inc_dirs):
    h = hashlib.sha256()
    for d in inc_dirs:
        for p in sorted(Path(d).glob("*.h")) + sorted(Path(d).glob("*.inc")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _compile_objects(sources, flags, inc_dirs, tmp):
    """Compile each source to an object (content-addressed cache); returns object paths."""
    require_tool(CLANG)
    inc_flags = [f"-I{d}" for d in inc_dirs]
    hdr = _headers_digest(inc_dirs)
    objs = []
    for src in map(Path, sources):
        if not src.exists():
            raise DataError(f"{src}: no such source file")
        fl = list(flags) + inc_flags
        if src.name.endswith("_ref.c"):
            fl += ["-fno-vectorize", "-fno-slp-vectorize"]
        # sources that #include a sibling .c (the FP16 twins) depend on it too
        siblings = b"".join(p.read_bytes() for p in sorted(src.parent.glob("*.c"))
                            if p != src and f'"{p.name}"'.encode() in src.read_bytes())
        key = hashlib.sha256("\0".join(fl).encode() + src.read_bytes() + siblings + hdr.encode()).hexdigest()[:24]
        obj = _cache_dir() / f"{src.stem}-{key}.o"
        if not obj.exists():
            with atomic_path(obj) as t:
                r = subprocess.run([CLANG, *fl, "-c", str(src), "-o", str(t)], capture_output=True, text=True)
                if r.returncode != 0:
                    raise EdgeError(f"{src}: compile failed: {_first_error(r.stderr)}")
        objs.append(obj)
    return objs


def _first_error(text):
    for line in text.splitlines():
        if "error" in line:
            return line.strip()
    return text.strip().splitlines()[-1] if text.strip() else "(no message)"


def compile_linux(sources, out, march=LINUX_MARCH, defines=None, include_dirs=None, opt="-O2",
                  extra_flags=(), extra_objects=()):
    """Build a static rv64 Linux executable (sources + prebuilt objects); returns its path."""
    require_tool(LLD)
    flags = ["--target=riscv64-linux-gnu", f"-march={march}", opt, "-Wall"] + list(extra_flags)
    flags += [f"-D{k}={v}" if v is not None else f"-D{k}" for k, v in (defines or {}).items()]
    inc = _include_dirs(include_dirs)
    with tempfile.TemporaryDirectory() as tmp:
        objs = _compile_objects(sources, flags, inc, tmp) + [Path(o) for o in extra_objects]
        out = Path(out)
        with atomic_path(out) as t:
            r = subprocess.run([CLANG, "--target=riscv64-linux-gnu", f"-march={march}", "-fuse-ld=lld",
                                "-static", *map(str, objs), "-lm", "-o", str(t)], capture_output=True, text=True)
            if r.returncode != 0:
                raise EdgeError(f"{out}: link failed: {_first_error(r.stderr)}")
        out.chmod(0o755)
    return out


def qemu_user_cpu(vlen):
    return f"rv64,v=true,vext_spec=v1.0,vlen={check_vlen(vlen)},elen=64,Zfh=true"


def run_linux(binary, args=(), vlen=128, timeout=120, stdin=None):
    """Run an rv64 Linux executable under qemu-riscv64 with the given VLEN."""
    cpu = qemu_user_cpu(vlen)
    qemu = require_tool(QEMU_USER)
    if not Path(binary).exists():
        raise DataError(f"{binary}: no such executable")
    cmd = [qemu, "-cpu", cpu, "-L", "/usr/riscv64-linux-gnu", str(binary), *map(str, args)]
    t0 = time.time()
    try:
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{binary}: still running after {timeout} s under qemu-riscv64 (killed)") from None
    return LinuxResult(r.returncode, r.stdout, r.stderr, time.time() - t0)


def compile_baremetal(sources, out, xlen=32, defines=None, include_dirs=None, opt="-O2",
                      ram_bytes=DEFAULT_RAM, stack_bytes=256 * 1024, extra_flags=(), extra_objects=()):
    """Build a bare-metal ELF for QEMU virt (crt0 + platform + sources + prebuilt objects,
    e.g. a TVM LLVM object); returns its path."""
    if xlen not in BAREMETAL:
        raise EdgeError(f"xlen={xlen!r}: bare-metal RISC-V builds are rv32 or rv64")
    require_tool(LLD)
    march, mabi = BAREMETAL[xlen]
    flags = [f"--target=riscv{xlen}-unknown-elf", f"-march={march}", f"-mabi={mabi}", "-ffreestanding",
             "-nostdlib", "-mcmodel=medany", opt, "-Wall"] + list(extra_flags)
    flags += [f"-D{k}={v}" if v is not None else f"-D{k}" for k, v in (defines or {}).items()]
    rv = targets_dir() / "riscv"
    srcs = [rv / "crt0.S", rv / "platform.c", *map(Path, sources)]
    inc = _include_dirs(include_dirs)
    with tempfile.TemporaryDirectory() as tmp:
        objs = _compile_objects(srcs, flags, inc, tmp) + [Path(o) for o in extra_objects]
        out = Path(out)
        with atomic_path(out) as t:
            r = subprocess.run([require_tool(LLD), "-T", str(rv / "link.ld"), f"--defsym=__ram_size={ram_bytes}",
                                f"--defsym=__stack_size={stack_bytes}", *map(str, objs), "-o", str(t)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise EdgeError(f"{out}: link failed: {_first_error(r.stderr)}")
    return out


def qemu_system_cmd(elf, xlen=32, vlen=128, icount=True, ram_mb=128):
    cpu = f"rv{xlen},v=true,vext_spec=v1.0,vlen={check_vlen(vlen)},elen=64,Zfh=true"
    cmd = [require_tool(QEMU_SYS[xlen]), "-M", "virt", "-bios", "none", "-nographic", "-m", f"{ram_mb}M",
           "-cpu", cpu, "-kernel", str(elf)]
    if icount:
        cmd[1:1] = ["-icount", "shift=0"]
    return cmd


def run_baremetal(elf, timeout=120, icount=True, vlen=128, xlen=32):
    """Run a bare-metal ELF; returns (exit_code, uart_text). Exit code from the test finisher."""
    if not Path(elf).exists():
        raise DataError(f"{elf}: no such ELF")
    cmd = qemu_system_cmd(elf, xlen, vlen, icount)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, _err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise DeviceError(f"{elf}: no exit after {timeout} s under {Path(cmd[0]).name} (killed)") from None
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    return p.returncode, out.decode("utf-8", errors="replace")
