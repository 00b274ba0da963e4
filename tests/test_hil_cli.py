"""`edgesdk flash/run/validate`: tool discovery and one-line errors.

The flash tools are external programs; without a board attached we check the command
line a board yaml produces and how a missing or failing tool is reported."""
import json
import os
import stat
import subprocess
import sys

import pytest

from edgesdk.boards import load_board
from edgesdk.errors import EdgeError, ToolMissingError
from edgesdk.hil.flash import flash, flash_command

EDGESDK = [sys.executable, "-m", "edgesdk"]


@pytest.fixture
def fake_build(tmp_path):
    """A build directory for the real board nucleo-f746zg (only the files flash reads)."""
    b = tmp_path / "build"
    b.mkdir()
    (b / "firmware.elf").write_bytes(b"\x7fELF")
    (b / "manifest.json").write_text(json.dumps({
        "format": 1, "target": "mcu", "board": "nucleo-f746zg", "image": "firmware.elf",
        "inputs": [{"name": "x", "shape": [1, 4], "dtype": "s8"}],
        "outputs": [{"name": "y", "shape": [1, 4], "dtype": "s8"}]}))
    return b


def stripped_env(tmp_path):
    """PATH with only python: no openocd, no pyocd."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    return {**os.environ, "PATH": str(bindir)}


@pytest.mark.parametrize("tool,package", [("openocd", "apt-get install openocd"), ("pyocd", "pip install pyocd")])
def test_missing_flash_tool_names_the_package(fake_build, tmp_path, tool, package):
    p = subprocess.run([*EDGESDK, "flash", str(fake_build), "--tool", tool], capture_output=True, text=True,
                       env=stripped_env(tmp_path), timeout=60)
    assert p.returncode == 2
    err = p.stderr.strip()
    assert "\n" not in err and f"{tool} is not installed" in err and package in err


def test_missing_tool_in_process(fake_build, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissingError, match="openocd is not installed: apt-get install openocd"):
        flash(fake_build)  # the board's runner is openocd


def _tool(dirpath, name, script):
    p = dirpath / name
    p.write_text("#!/bin/sh\n" + script)
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return p


def test_flash_command_lines_follow_the_board_yaml(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _tool(bindir, "openocd", "exit 0\n")
    _tool(bindir, "pyocd", "exit 0\n")
    monkeypatch.setenv("PATH", str(bindir))
    board = load_board("nucleo-f746zg")
    cmd = flash_command(board, tmp_path / "fw.elf")
    assert cmd[1:5] == ["-f", "interface/stlink.cfg", "-f", "target/stm32f7x.cfg"]
    assert cmd[-2:] == ["-c", f'program "{tmp_path / "fw.elf"}" verify reset exit']
    cmd = flash_command(board, tmp_path / "fw.elf", tool="pyocd")
    assert cmd[1:] == ["flash", "--target", "stm32f746zgtx", str(tmp_path / "fw.elf")]


def test_failing_flash_tool_is_one_line(fake_build, tmp_path):
    env = stripped_env(tmp_path)
    _tool(tmp_path / "bin", "openocd", "echo 'Info : clock speed 2000 kHz' >&2\n"
                                       "echo 'Error: open failed' >&2\nexit 1\n")
    env["PATH"] += os.pathsep + os.path.dirname(sys.executable)
    p = subprocess.run([*EDGESDK, "flash", str(fake_build)], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip() == (f"edgesdk: error: openocd could not flash {fake_build / 'firmware.elf'} "
                                f"to nucleo-f746zg: Error: open failed")


def test_emulated_board_needs_no_flash(fake_build):
    m = json.loads((fake_build / "manifest.json").read_text())
    m["board"] = "mps2-an386"
    (fake_build / "manifest.json").write_text(json.dumps(m))
    assert "emulated by QEMU: nothing to flash" in flash(fake_build)


@pytest.mark.parametrize("cmd", ["flash", "run", "validate"])
def test_not_a_build_directory(tmp_path, cmd):
    p = subprocess.run([*EDGESDK, cmd, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip() == f"edgesdk: error: {tmp_path}: not a build directory (no manifest.json; " \
                               f"make one with `edgesdk build`)"


def test_malformed_manifest_names_the_file(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    p = subprocess.run([*EDGESDK, "validate", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and f"{tmp_path / 'manifest.json'}: malformed manifest" in p.stderr


def test_real_board_without_port_is_a_clear_error(fake_build, tmp_path):
    board = tmp_path / "myboard.yaml"
    text = (load_board("nucleo-f746zg").path.read_text().replace("port: /dev/ttyACM0", "port: null")
            .replace("name: nucleo-f746zg", "name: myboard"))
    board.write_text(text)
    p = subprocess.run([*EDGESDK, "run", str(fake_build), "--board", str(board)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "board myboard has no serial.port; pass --port" in p.stderr


def test_bad_data_file_for_validate(tmp_path):
    from edgesdk.hil.validate import load_cases
    specs = [{"name": "x", "shape": [1, 4], "dtype": "s8", "quant": {"scale": [0.5], "zero_point": [0]}}]
    import numpy as np
    np.save(tmp_path / "d.npy", np.zeros((3, 5), np.float32))
    with pytest.raises(EdgeError, match=r"d.npy: \(3, 5\) does not split into cases of input shape \[1, 4\]"):
        load_cases(tmp_path / "d.npy", specs, 10)
    np.save(tmp_path / "d.npy", np.array([[0.5, -1.0, 100.0, 0.74]], np.float32))
    (case,) = load_cases(tmp_path / "d.npy", specs, 10)
    assert case[0].tolist() == [[1, -2, 127, 1]]  # quantized with scale 0.5, clamped
