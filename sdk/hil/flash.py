"""Putting a build's image on a real board: openocd or pyocd, as the board yaml says.

Emulated boards need no flashing (open_device starts QEMU with the image). A missing
tool is a ToolMissingError naming the package that provides it.
"""
import shutil
import subprocess
from pathlib import Path

from ..boards import load_board
from ..errors import DeviceError, EdgeError, ToolMissingError
from . import buildinfo

TOOLS = ("openocd", "pyocd")
_INSTALL = {
    "openocd": "apt-get install openocd (or use --tool pyocd: pip install pyocd)",
    "pyocd": "pip install pyocd (or use --tool openocd: apt-get install openocd)",
}


def require_tool(tool):
    exe = shutil.which(tool)
    if exe is None:
        raise ToolMissingError(f"{tool} is not installed: {_INSTALL[tool]}")
    return exe


def flash_command(board, image, tool=None):
    """The command line that flashes `image` to `board` with `tool` (default: the board's runner)."""
    tool = tool or board.runner
    if tool not in TOOLS:
        raise EdgeError(f"{board.path}: board {board.name} runs with '{board.runner}'; "
                        f"flash tools are {', '.join(TOOLS)} (--tool)")
    exe = require_tool(tool)
    if tool == "openocd":
        cfg = (board.flasher or {}).get("openocd")
        if not cfg:
            raise EdgeError(f"{board.path}: missing field 'flasher.openocd' (its -f config arguments)")
        return [exe, *map(str, cfg), "-c", f'program "{Path(image).resolve()}" verify reset exit']
    target = (board.flasher or {}).get("pyocd_target")
    if not target:
        raise EdgeError(f"{board.path}: missing field 'flasher.pyocd_target'")
    return [exe, "flash", "--target", str(target), str(Path(image).resolve())]


def flash(build, board=None, tool=None, timeout=300):
    """Flash BUILD's image; returns a one-line description of what was done."""
    build = Path(build)
    manifest = buildinfo.read_manifest(build)
    b = load_board(board or manifest["board"])
    image = build / manifest["image"]
    if not image.is_file():
        raise EdgeError(f"{build}: image {manifest['image']} is missing (rebuild with `edgesdk build`)")
    if b.emulated:
        return (f"{b.name} is emulated by QEMU: nothing to flash; `edgesdk run {build}` starts it "
                f"with {image.name}")
    cmd = flash_command(b, image, tool)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{cmd[0]}: flashing {image} to {b.name} took over {timeout} s "
                          f"(is the board connected?)") from None
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()
        raise DeviceError(f"{Path(cmd[0]).name} could not flash {image} to {b.name}: "
                          f"{tail[-1] if tail else f'exit code {p.returncode}'}")
    return f"flashed {image} to {b.name} with {Path(cmd[0]).name}"
