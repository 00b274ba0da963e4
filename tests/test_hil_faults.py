"""Faults on the line and on the device, host-native (milliseconds per case): every one
ends in the exact result (transparent recovery) or a clear DeviceError, never in a
wrong result being accepted. Oracle: y = clamp(3x + 1)."""
import os
import signal
import time

import numpy as np
import pytest

from edgesdk.errors import DeviceError
from edgesdk.hil import DeviceResetError, open_device
from edgesdk.hil import protocol as P
from edgesdk.hil.testbuild import SHAPE, write_affine_build
from edgesdk.hil.transport import FaultyTransport, SerialTransport

from edgesdk.hil.firmware import host_cc
from hil_helpers import OnCommand, assert_device_dies_with_host

pytestmark = pytest.mark.skipif(host_cc() is None, reason="not installed: a host C compiler (gcc)")


def affine(x):
    return np.clip(3 * x.astype(np.int32) + 1, -128, 127).astype(np.int8)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return write_affine_build(tmp_path_factory.mktemp("hil") / "host_build", board="host")


@pytest.fixture(scope="module")
def slow_build(tmp_path_factory):
    return write_affine_build(tmp_path_factory.mktemp("hil") / "slow_build", board="host", spin=400_000_000)


def cases(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, SHAPE).astype(np.int8) for _ in range(n)]


def test_corrupted_frames_both_ways_recover_exactly(build):
    faults = {}

    def wrap(t):
        faults["t"] = FaultyTransport(t, corrupt_tx={2, 5, 6}, corrupt_rx_every=2503, seed=3)
        return faults["t"]

    with open_device(build, timeout=0.3, transport_wrapper=wrap, bulk="line") as dev:
        for x in cases(4):
            np.testing.assert_array_equal(dev.infer([x]).outputs[0], affine(x))
        s = dev.client.stats
    inj = faults["t"].injected
    assert inj["corrupted_tx"] == 3 and inj["corrupted_rx"] >= 3
    assert s.naks + s.timeouts >= 3 and s.bad_frames >= 3 and s.retries >= 3


def test_dropped_frames_are_resent(build):
    with open_device(build, timeout=0.2, bulk="line",
                     transport_wrapper=lambda t: FaultyTransport(t, drop_tx={1, 3, 4})) as dev:
        x = cases(1)[0]
        np.testing.assert_array_equal(dev.infer([x]).outputs[0], affine(x))
        assert dev.client.stats.timeouts == 3 and dev.client.stats.retries == 3


@pytest.mark.parametrize("bulk", ["line", "auto"])
def test_random_fault_soak_never_accepts_a_wrong_result(build, bulk):
    wrap = lambda t: FaultyTransport(t, p_drop_tx=0.05, p_corrupt_tx=0.1, p_corrupt_rx=2e-4, seed=11)
    with open_device(build, timeout=0.15, transport_wrapper=wrap, bulk=bulk) as dev:
        dev.client.retries = 10
        for x in cases(25, seed=5):
            np.testing.assert_array_equal(dev.infer([x]).outputs[0], affine(x))
        s = dev.client.stats
    assert s.retries > 5


def test_a_dead_line_is_a_clear_error(build):
    with open_device(build, timeout=0.1, bulk="line") as dev:
        dev.client.t = FaultyTransport(dev.client.t, p_drop_tx=1.0)
        with pytest.raises(DeviceError, match=r"no reply to SET_INPUT after 5 tries"):
            dev.infer(cases(1))


def _reset_button(dev):
    os.kill(dev.client.t.inner.proc.pid, signal.SIGUSR1)


def test_device_reset_mid_run_is_recovered_transparently(slow_build):
    holder = {}
    wrap = lambda t: holder.setdefault("w", OnCommand(t, P.RUN, lambda: _reset_button(holder["dev"])))
    with open_device(slow_build, transport_wrapper=wrap) as dev:
        holder["dev"] = dev
        boot0 = dev.info.boot_count
        x = cases(1)[0]
        res = dev.infer([x])
        np.testing.assert_array_equal(res.outputs[0], affine(x))
        assert holder["w"].fired and res.resets_recovered == 1
        assert dev.info.boot_count == boot0 + 1


def test_device_reset_mid_run_without_recovery_is_an_error(slow_build):
    holder = {}
    wrap = lambda t: holder.setdefault("w", OnCommand(t, P.RUN, lambda: _reset_button(holder["dev"])))
    with open_device(slow_build, transport_wrapper=wrap) as dev:
        holder["dev"] = dev
        with pytest.raises(DeviceResetError, match="was reset"):
            dev.infer(cases(1), recover=False)


def test_device_process_dying_mid_run_is_port_vanished(slow_build):
    holder = {}
    wrap = lambda t: holder.setdefault("w", OnCommand(t, P.RUN, lambda: holder["dev"].client.t.inner.proc.kill()))
    t0 = time.monotonic()
    with open_device(slow_build, transport_wrapper=wrap) as dev:
        holder["dev"] = dev
        with pytest.raises(DeviceError, match=r"port vanished.*exited with code -9"):
            dev.infer(cases(1))
    assert time.monotonic() - t0 < 5


def test_serial_port_that_vanishes(build):
    """A device behind a serial port (pyserial on a pty, like a USB CDC port) unplugged mid-session."""
    import subprocess
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    proc = subprocess.Popen([str(build / "app")], stdin=master, stdout=master, stderr=subprocess.DEVNULL)
    os.close(master)
    t = SerialTransport(path, name=f"serial {path}")
    try:
        from edgesdk.hil import HilClient
        c = HilClient(t, timeout=0.5, retries=1)
        c.hello()
        proc.kill()
        proc.wait()
        os.close(slave)
        slave = None
        with pytest.raises(DeviceError, match=f"serial {path}"):
            c.set_input(0, bytes(2000))
    finally:
        t.close()
        if slave is not None:
            os.close(slave)
        if proc.poll() is None:
            proc.kill()


def test_no_device_process_left_when_the_host_is_killed(build):
    """The device process sees its pty hang up and exits: nothing is left behind."""
    assert_device_dies_with_host(build)
