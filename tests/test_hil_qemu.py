"""The rig on an emulated Cortex-M4 (QEMU mps2-an386): end-to-end validate through the
CLI against the reference interpreter, and the emulator-level faults: a reset button
press mid-run, QEMU killed mid-run, and no QEMU ever left behind."""
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from edgesdk.errors import DeviceError
from edgesdk.hil import open_device
from edgesdk.hil import protocol as P
from edgesdk.hil.testbuild import SHAPE, affine_graph, write_affine_build

from conftest import require_tools
from hil_helpers import OnCommand, assert_device_dies_with_host, pid_alive

pytestmark = [pytest.mark.qemu, require_tools("qemu-system-arm", "arm-none-eabi-gcc")]
EDGESDK = [sys.executable, "-m", "edgesdk"]


def affine(x):
    return np.clip(3 * x.astype(np.int32) + 1, -128, 127).astype(np.int8)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return write_affine_build(tmp_path_factory.mktemp("hilq") / "mcu_build", board="mps2-an386")


@pytest.fixture(scope="module")
def slow_build(tmp_path_factory):
    # ~120 M instructions per run: a second or more of QEMU time, to be interrupted.
    return write_affine_build(tmp_path_factory.mktemp("hilq") / "slow_build", board="mps2-an386", spin=20_000_000)


@pytest.fixture(scope="module")
def hung_build(tmp_path_factory):
    # ~6 G instructions: a run that outlasts any test (a hung device).
    return write_affine_build(tmp_path_factory.mktemp("hilq") / "hung_build", board="mps2-an386",
                              spin=1_000_000_000)


def test_validate_cli_matches_reference_and_writes_junit(build, tmp_path):
    junit = tmp_path / "v.xml"
    p = subprocess.run([*EDGESDK, "validate", str(build), "--cases", "3", "--junit", str(junit)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3/3 cases matching the reference on mps2-an386" in p.stdout
    assert "instructions" in p.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "0" and suite.get("errors") == "0"


def test_validate_catches_a_wrong_model(build, tmp_path):
    """model.edg says bias 2, the firmware computes bias 1: every case must fail."""
    import shutil

    from edgesdk.ir import save
    wrong = tmp_path / "wrong"
    shutil.copytree(build, wrong)
    g = affine_graph()
    g.tensors["b"].data[...] = 2
    save(g, wrong / "model.edg")
    junit = tmp_path / "w.xml"
    p = subprocess.run([*EDGESDK, "validate", str(wrong), "--cases", "2", "--junit", str(junit)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "0/2 cases matching" in p.stdout and "FAIL" in p.stdout
    assert ET.parse(junit).getroot().get("failures") == "2"


def test_run_cli_prints_outputs_and_instructions(build, tmp_path):
    x = np.random.default_rng(3).integers(-128, 128, SHAPE).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    p = subprocess.run([*EDGESDK, "run", str(build), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npz")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "instructions:" in p.stdout and "y s8 [1, 1, 40, 50]" in p.stdout
    n = int(p.stdout.split("instructions:")[1].split()[0])
    assert 2000 * 5 < n < 2000 * 50      # a handful of instructions per element
    np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["y"], affine(x))


def test_damaged_and_dropped_frames_on_the_emulated_uart(build):
    """The Cortex-M server's NAK path and reply cache, through QEMU's UART."""
    from edgesdk.hil.transport import FaultyTransport
    wrap = lambda t: FaultyTransport(t, drop_tx={2}, corrupt_tx={3, 5}, corrupt_rx_every=1500, seed=1)
    with open_device(build, bulk="line", timeout=1.0, transport_wrapper=wrap) as dev:
        x = np.random.default_rng(5).integers(-128, 128, SHAPE).astype(np.int8)
        np.testing.assert_array_equal(dev.infer([x]).outputs[0], affine(x))
        s = dev.client.stats
    assert s.retries >= 3 and s.naks >= 1 and s.bad_frames >= 1


def test_reset_button_mid_run_is_recovered(slow_build):
    holder = {}
    wrap = lambda t: holder.setdefault("w", OnCommand(t, P.RUN, lambda: holder["dev"].emulator.reset(), delay=0.1))
    with open_device(slow_build, transport_wrapper=wrap) as dev:
        holder["dev"] = dev
        x = np.random.default_rng(4).integers(-128, 128, SHAPE).astype(np.int8)
        res = dev.infer([x])
        np.testing.assert_array_equal(res.outputs[0], affine(x))
        assert holder["w"].fired and res.resets_recovered == 1


def test_qemu_killed_mid_run_is_a_clear_error(hung_build):
    holder = {}
    wrap = lambda t: holder.setdefault("w", OnCommand(t, P.RUN, lambda: holder["dev"].emulator.kill(), delay=0.3))
    with open_device(hung_build, transport_wrapper=wrap) as dev:
        holder["dev"] = dev
        pid = dev.emulator.proc.pid
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match=r"connection lost.*QEMU ended \(killed by signal 9\)"):
            dev.infer([np.zeros(SHAPE, np.int8)])
        assert time.monotonic() - t0 < 10
    assert not pid_alive(pid)


def test_no_qemu_left_after_an_exception(build):
    with pytest.raises(RuntimeError, match="boom"):
        with open_device(build) as dev:
            pid = dev.emulator.proc.pid
            assert pid_alive(pid)
            raise RuntimeError("boom")
    assert not pid_alive(pid)


def test_no_qemu_left_when_the_host_is_killed(build):
    """SIGKILL gives Python no chance to clean up: the kernel must take QEMU down."""
    assert_device_dies_with_host(build)


def test_lifetime_cap_kills_a_hung_session(hung_build):
    with open_device(hung_build, lifetime_s=1.0) as dev:
        pid = dev.emulator.proc.pid
        with pytest.raises(DeviceError, match="QEMU ended"):
            dev.infer([np.zeros(SHAPE, np.int8)])
    assert not pid_alive(pid)


def test_missing_image_is_a_clear_error(build, tmp_path):
    import shutil
    broken = tmp_path / "noimage"
    shutil.copytree(build, broken)
    (broken / "firmware.elf").unlink()
    p = subprocess.run([*EDGESDK, "run", str(broken)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "firmware.elf: firmware image not found" in p.stderr
