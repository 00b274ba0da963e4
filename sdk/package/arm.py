"""Cortex-M firmware: build with arm-none-eabi-gcc against a board, run under QEMU.

    info = compile_firmware(["main.c"], "mps2-an386", "build/fw.elf")
    res = run_firmware(info.elf, "mps2-an386", timeout=60)
    res.exit_code, res.uart_output

Every firmware gets the platform layer (targets/mcu/startup.c + runtime/platform/*.c:
vector table, UART, SysTick clock, semihosting exit, fault handlers) and a linker
script generated from the board's memory.  A program that does not fit the board is a
FitError naming the region and the overflow, found by a measuring link before the real
one (so the user sees one line, not a linker dump).
"""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..boards import Board, load_board
from ..errors import BoardError, DeviceError, EdgeError, FitError, ToolMissingError
from ..paths import kernels_dir, runtime_dir, targets_dir
from ..util.atomic import atomic_path

GCC = "arm-none-eabi-gcc"
_APT = {
    GCC: "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
}
DEFAULT_STACK = 8 * 1024
_MEASURE_SIZE = 0x0F000000  # "unlimited" regions for the measuring link (240 MiB)


@dataclass
class FirmwareInfo:
    elf: Path
    board: str
    flash_bytes: int          # .text + .rodata + .data load image
    ram_bytes: int            # stack + .data + .bss
    flash_limit: int
    ram_limit: int
    stack_bytes: int
    sections: dict = field(default_factory=dict)   # name -> size (arm-none-eabi-size -A)
    memory_usage: str = ""                         # the linker's --print-memory-usage table


@dataclass
class RunResult:
    exit_code: int            # the firmware's exit code (None if it timed out)
    uart_output: bytes        # everything the UART (and semihosting console) printed
    stderr: str
    wall_s: float
    timed_out: bool = False

    @property
    def text(self):
        return self.uart_output.decode("utf-8", errors="replace")


def require_tool(name):
    path = shutil.which(name)
    if path is None:
        pkg = _APT.get(name, name)
        raise ToolMissingError(f"{name} not found: install it with `apt-get install {pkg}`")
    return path


def _board(board):
    b = board if isinstance(board, Board) else load_board(board)
    if b.target != "mcu":
        raise BoardError(f"{b.path}: board {b.name!r} is a {b.target} board, not an mcu (Cortex-M) board")
    return b


def icount_shift(board):
    """The -icount shift of the board's emulator command, or -1 (real silicon: cycles)."""
    cmd = [str(c) for c in board.emulator.get("command", [])] if board.emulated else []
    for i, c in enumerate(cmd):
        if c == "-icount" and i + 1 < len(cmd):
            m = re.search(r"shift=(\d+)", cmd[i + 1])
            if m:
                return int(m.group(1))
    return -1


# uart.kind values of a board yaml that runtime/platform has a driver for.
UART_KINDS = ("cmsdk", "stm32-usart")


def board_defines(board):
    """The -D values the platform layer needs, from the board description."""
    b = _board(board)
    uart = b.uart or {}
    kind = uart.get("kind", "cmsdk")
    if kind not in UART_KINDS:
        raise BoardError(f"{b.path}: uart.kind {kind!r} is not supported (supported: {', '.join(UART_KINDS)})")
    baud = int((b.serial or {}).get("baud") or 115200)
    clock = int(b.clock_hz or 25_000_000)
    if kind == "stm32-usart":
        # runtime/platform/ek_uart_stm32.c.  BRR = USART kernel clock / baud (oversampling
        # by 16); the USART runs from its bus clock, not the core's: the reset HSI (16 MHz)
        # unless the yaml says uart.clock_hz (the startup code does not program the PLL).
        uart_clock = int(uart.get("clock_hz", 16_000_000))
        uart_defs = {"EK_UART_STM32": "1", "EK_UART_BASE": hex(int(uart.get("base", 0x40004800))) + "u",
                     "EK_UART_BRR": str(max(16, round(uart_clock / baud))) + "u"}
    else:
        uart_defs = {"EK_UART_BASE": hex(int(uart.get("base", 0x40004000))) + "u",
                     "EK_UART_BAUDDIV": str(max(16, clock // baud)) + "u"}
    return {
        **uart_defs,
        "EK_CPU_HZ": str(clock) + "u",
        "EK_ICOUNT_SHIFT": str(icount_shift(b)),
        # semihosting needs a debugger or an emulator; on a bare board a BKPT would fault
        "EK_SEMIHOSTING": "1" if b.emulated else "0",
    }


def platform_sources():
    """C sources every firmware links: startup + the platform layer."""
    plat = sorted((runtime_dir() / "platform").glob("*.c"))
    return [targets_dir() / "mcu" / "startup.c", *plat]


def platform_include_dirs():
    return [runtime_dir() / "platform", runtime_dir() / "include", kernels_dir() / "include"]


def linker_script(board, stack_bytes=DEFAULT_STACK, flash_size=None, ram_size=None):
    b = _board(board)
    text = (targets_dir() / "mcu" / "link.ld.in").read_text()
    values = {
        "FLASH_ORIGIN": hex(b.flash.origin), "FLASH_SIZE": hex(flash_size or b.flash.size),
        "RAM_ORIGIN": hex(b.ram.origin), "RAM_SIZE": hex(ram_size or b.ram.size),
        "STACK_SIZE": hex(stack_bytes),
    }
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    return text


class BuildError(EdgeError):
    """C sources that do not compile or link; .log holds the compiler's full output."""

    def __init__(self, message, log=""):
        super().__init__(message)
        self.log = log


def _run_tool(cmd, what, cwd=None):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=300)
    if p.returncode != 0:
        # One line naming the file and the compiler's first error; the whole log on .log.
        log = (p.stderr or p.stdout).strip()
        first = next((ln for ln in log.splitlines() if " error:" in ln or "undefined reference" in ln),
                     log.splitlines()[-1] if log else "")
        raise BuildError(f"{what} failed: {first.strip()}", log)
    return p


def _section_sizes(elf):
    size = require_tool("arm-none-eabi-size")
    out = _run_tool([size, "-A", elf], "arm-none-eabi-size").stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def _usage(sizes):
    flash = sum(sizes.get(s, 0) for s in (".text", ".ARM.extab", ".ARM.exidx", ".data"))
    ram = sum(sizes.get(s, 0) for s in (".stack", ".data", ".bss", ".noinit"))
    return flash, ram


def compile_firmware(sources, board, out_elf, defines=None, include_dirs=None, opt="-O2",
                     stack_bytes=DEFAULT_STACK, extra_cflags=None, with_platform=True):
    """Compile and link `sources` (C files) for `board` into `out_elf`; returns FirmwareInfo.

    defines: {name: value or None}; include_dirs: extra -I paths (the platform, model API
    and kernel headers are always on the path).  Raises FitError if flash or RAM
    (stack included) exceed the board's limits, ToolMissingError without the toolchain.
    """
    gcc = require_tool(GCC)
    b = _board(board)
    sources = [Path(s) for s in sources]
    for s in sources:
        if not s.is_file():
            raise EdgeError(f"{s}: firmware source file does not exist")
    all_sources = (platform_sources() if with_platform else []) + sources
    defs = board_defines(b) if with_platform else {}
    defs.update(defines or {})
    cflags = [*b.cflags, opt, "-g", "-std=gnu11", "-Wall", "-Werror=implicit-function-declaration", "-ffunction-sections", "-fdata-sections",
              "-fno-common", *[f"-D{k}" if v is None else f"-D{k}={v}" for k, v in defs.items()],
              *[f"-I{d}" for d in [*platform_include_dirs(), *(include_dirs or [])]],
              *(extra_cflags or [])]
    out_elf = Path(out_elf)
    with tempfile.TemporaryDirectory(prefix="ek_fw_") as tmp:
        tmp = Path(tmp)
        objs = []
        for i, src in enumerate(all_sources):
            obj = tmp / f"{i:03d}_{src.stem}.o"
            _run_tool([gcc, *cflags, "-c", src, "-o", obj], f"compiling {src}")
            objs.append(obj)
        ldflags = [*b.cflags, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                   "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments"]
        # 1) measuring link with oversized regions: exact sizes, no linker overflow dump.
        (tmp / "measure.ld").write_text(linker_script(b, stack_bytes, _MEASURE_SIZE, _MEASURE_SIZE))
        _run_tool([gcc, *ldflags, "-T", tmp / "measure.ld", *objs, "-lc", "-lgcc", "-o", tmp / "m.elf"],
                  "linking (measure)")
        sizes = _section_sizes(tmp / "m.elf")
        flash, ram = _usage(sizes)
        over = []
        if flash > b.flash.size:
            over.append(f"flash needs {flash} bytes, board has {b.flash.size} (over by {flash - b.flash.size})")
        if ram > b.ram.size:
            over.append(f"RAM needs {ram} bytes (stack {stack_bytes} + data {sizes.get('.data', 0)} + "
                        f"bss {sizes.get('.bss', 0)}), board has {b.ram.size} (over by {ram - b.ram.size})")
        if over:
            raise FitError(f"{out_elf.name}: does not fit board {b.name}: " + "; ".join(over))
        # 2) the real link against the board's limits.
        (tmp / "board.ld").write_text(linker_script(b, stack_bytes))
        with atomic_path(out_elf, suffix=".elf") as tmp_elf:
            p = _run_tool([gcc, *ldflags, "-T", tmp / "board.ld", "-Wl,--print-memory-usage", *objs,
                           "-lc", "-lgcc", "-o", tmp_elf], "linking")
    return FirmwareInfo(elf=out_elf, board=b.name, flash_bytes=flash, ram_bytes=ram,
                        flash_limit=b.flash.size, ram_limit=b.ram.size, stack_bytes=stack_bytes,
                        sections=sizes, memory_usage=p.stdout.strip())


def qemu_command(board, elf, serial="stdio"):
    """The board's QEMU command line for `elf`, the UART on `serial` (a QEMU chardev spec:
    "stdio", "tcp:127.0.0.1:PORT,server=on,wait=on", "file:PATH", ...)."""
    b = _board(board)
    if not b.emulated:
        raise BoardError(f"{b.path}: board {b.name!r} is not emulated (runner {b.runner}); flash it instead")
    cmd = [str(c) for c in b.emulator["command"]]
    require_tool(cmd[0])
    # No monitor mux on the UART, so any byte (even Ctrl-A) reaches the guest.
    cmd = [c for c in cmd if c != "-nographic"]
    return [*cmd, "-display", "none", "-monitor", "none", "-serial", serial, "-kernel", str(elf)]


@contextlib.contextmanager
def running_firmware(elf, board, serial, cwd=None, extra_args=None):
    """Start `elf` under QEMU in the background with its UART on `serial` (e.g.
    "tcp:127.0.0.1:PORT,server=on,wait=on", then pyserial "socket://127.0.0.1:PORT");
    yields the Popen.  QEMU is killed (process group) when the block exits."""
    elf = Path(elf)
    if not elf.is_file():
        raise EdgeError(f"{elf}: firmware file does not exist")
    cmd = qemu_command(board, elf, serial) + [str(a) for a in (extra_args or [])]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, start_new_session=True)
    try:
        yield proc
    finally:
        _kill(proc)


def run_firmware(elf, board, timeout=60, stdin_bytes=None, cwd=None, extra_args=None):
    """Run `elf` under the board's QEMU; returns RunResult (exit_code None on timeout).

    stdin_bytes are fed to the UART receiver.  cwd is where semihosting file I/O
    resolves relative paths.  QEMU is always killed (its whole process group) on the
    way out, whatever happens.
    """
    elf = Path(elf)
    if not elf.is_file():
        raise EdgeError(f"{elf}: firmware file does not exist")
    cmd = qemu_command(board, elf) + [str(a) for a in (extra_args or [])]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, start_new_session=True)
    timed_out = False
    try:
        try:
            out, err = proc.communicate(input=stdin_bytes or b"", timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(proc)
            out, err = proc.communicate()
    finally:
        _kill(proc)
    wall = time.monotonic() - t0
    err_s = err.decode("utf-8", errors="replace")
    if not timed_out and proc.returncode != 0 and not out and "qemu" in err_s.lower():
        raise DeviceError(f"{elf}: QEMU failed to start: {err_s.strip().splitlines()[-1] if err_s.strip() else ''}")
    return RunResult(exit_code=None if timed_out else proc.returncode, uart_output=out, stderr=err_s,
                     wall_s=wall, timed_out=timed_out)


def _kill(proc):
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
