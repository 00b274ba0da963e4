"""pytest plugin for the rig suite: the same tests on an emulator or a real board.

    pytest hil_tests                          # emulated Cortex-M4 (mps2-an386), in CI
    pytest hil_tests --board mps2-an547       # another emulated board
    pytest hil_tests --board nucleo-f746zg --port /dev/ttyACM0   # a real board, flashed first
    pytest hil_tests --board host             # the host-native rig process (seconds)
    pytest hil_tests --board qemu-rv32-virt   # bare-metal RISC-V (qemu-rv64-linux: user mode)

Fixtures: `hil_board` (the name), `rig_build` (a build directory of the rig's test
model for that board, flashed if the board is real), `device` (a connected
edgesdk.hil.Device, torn down after the test) and `open_rig` (open more of them).
"""
import os
import shutil

import pytest

_TOOLS = {"mcu": ("arm-none-eabi-gcc",), "riscv": ("clang-19", "ld.lld-19"), "host": ("cc",)}


def pytest_addoption(parser):
    group = parser.getgroup("edgesdk-hil", "edgesdk host-in-the-loop")
    group.addoption("--board", default=os.environ.get("EDGESDK_BOARD", "mps2-an386"),
                    help="board name, BOARD.yaml, or 'host' (default: mps2-an386 under QEMU; "
                         "env EDGESDK_BOARD)")
    group.addoption("--port", default=os.environ.get("EDGESDK_PORT"),
                    help="serial port of a real board (default: the board yaml's serial.port)")


@pytest.fixture(scope="session")
def hil_board(request):
    return request.config.getoption("--board")


@pytest.fixture(scope="session")
def rig_build(hil_board, request, tmp_path_factory):
    from edgesdk.hil.testbuild import write_affine_build

    if hil_board == "host":
        target, tools = "host", list(_TOOLS["host"])
    else:
        from edgesdk.boards import load_board
        b = load_board(hil_board)
        if b.target not in ("mcu", "riscv"):
            pytest.skip(f"board {b.name}: the rig firmware has ports for mcu and riscv boards only "
                        f"(target {b.target})")
        target, tools = b.target, list(_TOOLS[b.target])
        if b.emulated:
            tools.append(str(b.emulator["command"][0]))
    from edgesdk.hil.firmware import host_cc
    missing = [t for t in tools if (host_cc() if t == "cc" else shutil.which(t)) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    build = write_affine_build(tmp_path_factory.mktemp("rig") / f"rig_{target}", board=hil_board)
    if target == "mcu" and not b.emulated:
        from edgesdk.hil.flash import flash
        flash(build)
    return build


@pytest.fixture
def open_rig(rig_build, request):
    """open_rig(**open_device_kwargs) -> context manager of a connected Device."""
    from edgesdk.hil import open_device

    port = request.config.getoption("--port")

    def _open(**kw):
        return open_device(rig_build, port=port, **kw)
    return _open


@pytest.fixture(params=["line", "auto"], ids=["line", "files"])
def device(open_rig, request):
    """A connected Device, once streaming data over the line and once through host
    files (where the device can reach them: emulators and host builds)."""
    with open_rig(bulk=request.param) as dev:
        if request.param == "auto" and dev.file_dir is None:
            pytest.skip(f"{dev.name}: no host-file bulk path on a real board")
        yield dev
