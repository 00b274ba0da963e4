"""Builds rig firmware: the rig server (runtime/hil) linked with a model that implements
runtime/include/ek_model_api.h, either for a Cortex-M board (through
edgesdk.package.arm.compile_firmware) or as a host-native executable (fast tests).

Generated builds link the same sources: rig_sources(board) lists them.
"""
import shutil
import subprocess
from pathlib import Path

from ..errors import ToolMissingError
from ..paths import runtime_dir
from ..util.atomic import atomic_path

HOST = "host"  # the board name of a host-native device process


def hil_dir():
    return runtime_dir() / "hil"


def rig_sources(board):
    """The rig's C sources for `board` ("host" or a board name/Board); include hil_dir()."""
    d = hil_dir()
    return [d / "ek_hil_codec.c", d / "ek_hil_server.c", d / _port_source(board)]


def _port_source(board):
    """The platform seam for `board`: a process on a pty (host, RISC-V Linux user mode),
    the RISC-V bare-metal 16550/minstret port, or the Cortex-M UART/SysTick port."""
    from ..boards import load_board
    if str(getattr(board, "name", board)) == HOST:
        return "ek_hil_port_host.c"
    from ..errors import EdgeError
    try:
        b = board if hasattr(board, "runner") else load_board(board)
    except EdgeError:      # callers also pass a target name ("mcu") for the Cortex-M port
        return "ek_hil_port_mcu.c"
    if b.target == "riscv":
        return "ek_hil_port_host.c" if b.runner == "qemu-user" else "ek_hil_port_riscv.c"
    return "ek_hil_port_mcu.c"


def rig_defines(board):
    """-D values the rig needs for `board`: host-file bulk transfers on emulators only
    (semihosting faults on a board without a debugger)."""
    from ..boards import load_board
    if str(getattr(board, "name", board)) == HOST:
        return {}
    b = board if hasattr(board, "emulated") else load_board(board)
    # the RISC-V port streams bulk data over its UART (no semihosting seam)
    return {"EK_HIL_SEMIHOSTING": None} if b.runner == "qemu" and b.target != "riscv" else {}


def host_cc():
    """The host C compiler, or None."""
    for name in ("cc", "gcc", "clang", "clang-19"):
        path = shutil.which(name)
        if path:
            return path
    return None


def build_host(model_sources, out, defines=None, include_dirs=None, cc=None):
    """A host-native rig executable: the device is a process on a pty."""
    cc = cc or host_cc()
    if cc is None:
        raise ToolMissingError("no host C compiler (cc/gcc/clang) found: apt-get install gcc")
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-g",
             *[f"-D{k}" if v is None else f"-D{k}={v}" for k, v in (defines or {}).items()],
             f"-I{hil_dir()}", f"-I{runtime_dir() / 'include'}", *[f"-I{d}" for d in include_dirs or []]]
    out = Path(out)
    with atomic_path(out) as tmp:
        p = subprocess.run([cc, *flags, *map(str, rig_sources(HOST)), *map(str, model_sources), "-o", str(tmp)],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"building the host rig firmware failed:\n{p.stderr.strip()}")
        tmp.chmod(0o755)
    return out


def build_mcu(model_sources, board, out, defines=None, include_dirs=None):
    """A rig firmware image for a Cortex-M board; returns edgesdk.package.arm.FirmwareInfo."""
    from ..package.arm import compile_firmware

    return compile_firmware([*rig_sources(board), *map(Path, model_sources)], board, out,
                            defines={**rig_defines(board), **(defines or {})},
                            include_dirs=[hil_dir(), *(include_dirs or [])])


def build_riscv(model_sources, board, out, defines=None, include_dirs=None, extra_objects=()):
    """A rig image for a RISC-V board: a bare-metal ELF (qemu-system-riscv32/64, the
    ek_hil_port_riscv.c port) or, on a Linux user-mode board, a static rv64 executable
    with the pty port (run under qemu-riscv64). Returns the image path."""
    from ..boards import load_board
    from ..package.riscv import compile_baremetal, compile_linux

    b = board if hasattr(board, "runner") else load_board(board)
    srcs = [*rig_sources(b), *map(Path, model_sources)]
    defs = {**rig_defines(b), **(defines or {})}
    inc = [hil_dir(), runtime_dir() / "include", *(include_dirs or [])]
    if b.runner == "qemu-user":
        return compile_linux(srcs, out, defines=defs, include_dirs=inc, extra_objects=extra_objects)
    return compile_baremetal(srcs, out, xlen=int(b.extra.get("xlen", 32)), defines=defs, include_dirs=inc,
                             ram_bytes=b.ram.size, extra_objects=extra_objects)
