"""Shared by the rig tests: process checks for 'no emulator is ever left behind'."""
import os
import subprocess
import sys
import time


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def assert_device_dies_with_host(build):
    """SIGKILL the host process that holds `build` open: Python gets no chance to clean up,
    so the emulator (or the pty rig) must die with its parent on its own."""
    code = ("import sys, time\nfrom edgesdk.hil import open_device\n"
            f"with open_device({str(build)!r}) as dev:\n"
            "    p = dev.emulator.proc if dev.emulator else dev.client.t.proc\n"
            "    print(p.pid, flush=True)\n    time.sleep(60)\n")
    host = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(host.stdout.readline())
        assert pid_alive(pid)
        host.kill()
        host.wait(timeout=10)
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(pid), f"process {pid} outlived its killed host"
    finally:
        if host.poll() is None:
            host.kill()


class OnCommand:
    """Transport wrapper that calls `action()` right after sending the first `cmd` frame
    (after `delay` seconds): a reset, a kill or a vanished port at a chosen moment."""

    def __init__(self, inner, cmd, action, delay=0.05):
        self.inner, self.cmd, self.action, self.delay = inner, cmd, action, delay
        self.name = inner.name
        self.fired = False

    def write(self, data):
        from edgesdk.hil import protocol as P
        self.inner.write(data)
        frame = P.unpack_frame(P.cobs_decode(data.strip(b"\x00")))
        if not self.fired and frame is not None and frame.type == self.cmd:
            self.fired = True
            if self.delay:
                time.sleep(self.delay)
            self.action()

    def read(self, timeout):
        return self.inner.read(timeout)

    def close(self):
        self.inner.close()
