"""Board descriptions: one yaml file per board under targets/<target>/boards/.

A board says what the firmware may use (core, ISA extensions, memory limits, clock),
how to talk to it (UART, serial port, baud) and how to run it (QEMU command for
emulated boards, openocd/pyocd for real ones). `load_board` accepts a board name or
a path to a user's own yaml file.
"""
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BoardError
from .paths import targets_dir

TARGETS = ("mcu", "riscv", "gpu")
RUNNERS = ("qemu", "qemu-user", "openocd", "pyocd", "host")
_REQUIRED = ("name", "target", "core")
DEFAULT_RAM = 256 * 1024
DEFAULT_FLASH = 1024 * 1024


def parse_size(value, where):
    """'256K' / '1M' / 65536 / '0x10000' -> bytes."""
    if isinstance(value, int):
        return value
    s = str(value).strip().upper()
    mult = 1
    if s.endswith("K"):
        mult, s = 1024, s[:-1]
    elif s.endswith("M"):
        mult, s = 1024 * 1024, s[:-1]
    try:
        return int(s, 0) * mult
    except ValueError:
        raise BoardError(f"{where}: cannot read size {value!r} (use e.g. 256K, 1M or 0x40000)") from None


@dataclass
class MemoryRegion:
    origin: int
    size: int


@dataclass
class Board:
    name: str
    target: str
    core: str
    path: Path
    isa: list = field(default_factory=list)        # kernel variants usable here: dsp, mve, rvv, ...
    cflags: list = field(default_factory=list)
    flash: MemoryRegion = None
    ram: MemoryRegion = None
    clock_hz: int = 0
    uart: dict = field(default_factory=dict)       # {kind: cmsdk|ns16550, base: int}
    serial: dict = field(default_factory=dict)     # {port: str|None, baud: int}
    runner: str = "qemu"
    emulator: dict = field(default_factory=dict)   # {command: [...]} for qemu/qemu-user
    flasher: dict = field(default_factory=dict)    # openocd/pyocd settings for real boards
    extra: dict = field(default_factory=dict)      # target-specific keys kept verbatim

    @property
    def emulated(self):
        return self.runner in ("qemu", "qemu-user")


def board_files():
    """name -> path for every board shipped with edgesdk."""
    out = {}
    for p in sorted(targets_dir().glob("*/boards/*.yaml")):
        out[p.stem] = p
    return out


def load_board(name_or_path) -> Board:
    import yaml

    p = Path(str(name_or_path))
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise BoardError(f"{p}: no such board file")
        path = p
    else:
        files = board_files()
        if str(name_or_path) not in files:
            raise BoardError(f"unknown board {name_or_path!r}; known boards: {', '.join(files)} "
                             f"(or pass the path of a BOARD.yaml)")
        path = files[str(name_or_path)]
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise BoardError(f"{path}{line}: malformed board file: {getattr(e, 'problem', e)}") from None
    if not isinstance(doc, dict):
        raise BoardError(f"{path}: malformed board file: expected a mapping of fields")
    for k in _REQUIRED:
        if k not in doc:
            raise BoardError(f"{path}: missing field '{k}'")
    if doc["target"] not in TARGETS:
        raise BoardError(f"{path}: field 'target' is {doc['target']!r}; expected one of {', '.join(TARGETS)}")
    runner = doc.get("runner", "qemu")
    if runner not in RUNNERS:
        raise BoardError(f"{path}: field 'runner' is {runner!r}; expected one of {', '.join(RUNNERS)}")
    mem = doc.get("memory", {}) or {}
    if not isinstance(mem, dict):
        raise BoardError(f"{path}: field 'memory' must be a mapping with flash/ram")

    def region(key, default_size):
        r = mem.get(key, {}) or {}
        if not isinstance(r, dict):
            raise BoardError(f"{path}: field 'memory.{key}' must have origin and size")
        return MemoryRegion(parse_size(r.get("origin", 0), f"{path}: memory.{key}.origin"),
                            parse_size(r.get("size", default_size), f"{path}: memory.{key}.size"))

    known = {"name", "target", "core", "isa", "cflags", "memory", "clock_hz", "uart", "serial",
             "runner", "emulator", "flasher"}
    emulator = doc.get("emulator", {}) or {}
    if runner in ("qemu", "qemu-user") and not emulator.get("command"):
        raise BoardError(f"{path}: runner '{runner}' needs field 'emulator.command'")
    return Board(
        name=str(doc["name"]), target=doc["target"], core=str(doc["core"]), path=path,
        isa=list(doc.get("isa", []) or []), cflags=list(doc.get("cflags", []) or []),
        flash=region("flash", DEFAULT_FLASH), ram=region("ram", DEFAULT_RAM),
        clock_hz=int(doc.get("clock_hz", 0) or 0),
        uart={k: (parse_size(v, f"{path}: uart.{k}") if k == "base" else v)
              for k, v in (doc.get("uart", {}) or {}).items()},
        serial=dict(doc.get("serial", {}) or {}), runner=runner, emulator=dict(emulator),
        flasher=dict(doc.get("flasher", {}) or {}),
        extra={k: v for k, v in doc.items() if k not in known},
    )
