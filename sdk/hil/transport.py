"""Byte transports between the host and a rig device.

Every transport has write(bytes), read(timeout) -> bytes (b"" when nothing came in
time) and close(); a connection that is gone raises DeviceError naming it, so a caller
never mistakes a dead device for a slow one.

- SerialTransport: a real serial port, or any pyserial URL (socket://HOST:PORT is how
  QEMU's UART is reached);
- connect_tcp: retries connecting to QEMU's TCP serial until it listens;
- PtyTransport: a host-native device process on a pseudo-terminal (fast tests);
- FaultyTransport: wraps another one and damages or drops traffic (fault tests).
"""
import contextlib
import os
import random
import select
import subprocess
import time

from ..errors import DeviceError

_POLL_S = 0.02


class SerialTransport:
    def __init__(self, url, baud=115200, name=None):
        import serial

        self.name = name or url
        try:
            if "://" in url:
                self._ser = serial.serial_for_url(url, baudrate=baud, timeout=_POLL_S)
            else:
                self._ser = serial.Serial(url, baudrate=baud, timeout=_POLL_S)
        except (serial.SerialException, OSError, ValueError) as e:
            raise DeviceError(f"cannot open serial port {url}: {e}") from None

    def write(self, data):
        import serial
        try:
            self._ser.write(data)
            self._ser.flush()
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"{self.name}: connection lost while sending ({e})") from None

    def read(self, timeout):
        import serial
        deadline = time.monotonic() + timeout
        try:
            while True:
                data = self._ser.read(1)
                if data:
                    n = self._ser.in_waiting
                    return data + (self._ser.read(n) if n else b"")
                if time.monotonic() >= deadline:
                    return b""
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"{self.name}: connection lost ({e})") from None

    def close(self):
        with contextlib.suppress(Exception):
            self._ser.close()


def connect_tcp(port, host="127.0.0.1", timeout=30.0, alive=None, name=None):
    """Connect to a TCP serial server (QEMU -serial tcp:...,server=on), retrying until it
    listens. `alive()` returning False (the emulator died) stops the wait early."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise DeviceError(f"{name or 'emulator'} exited before its serial port opened")
        try:
            return SerialTransport(f"socket://{host}:{port}", name=name or f"tcp:{host}:{port}")
        except DeviceError as e:
            last = e
            time.sleep(0.05)
    raise DeviceError(f"{name or 'emulator'}: serial port tcp:{host}:{port} did not open within "
                      f"{timeout:g} s ({last})")


class PtyTransport:
    """Runs `cmd` (a host-native rig firmware) with its stdin/stdout on a raw pty."""

    def __init__(self, cmd, env=None, name=None):
        import tty

        self.name = name or os.path.basename(str(cmd[0]))
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: the line carries binary frames
        try:
            self.proc = subprocess.Popen([str(c) for c in cmd], stdin=slave, stdout=slave,
                                         stderr=subprocess.DEVNULL, env=env, start_new_session=True,
                                         close_fds=True)
        except OSError as e:
            os.close(master)
            raise DeviceError(f"cannot start {cmd[0]}: {e}") from None
        finally:
            os.close(slave)
        self._fd = master

    def _gone(self, why):
        try:  # the pty hangs up a moment before the process can be reaped
            code = self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            code = None
        status = f"; it exited with code {code}" if code is not None else ""
        return DeviceError(f"{self.name}: port vanished ({why}){status}")

    def write(self, data):
        if self._fd is None:
            raise self._gone("closed")
        if self.proc.poll() is not None:  # a pty master accepts writes for a dead reader until full, then blocks
            raise self._gone("the device process exited")
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as e:
            raise self._gone(e.strerror) from None

    def read(self, timeout):
        if self._fd is None:
            raise self._gone("closed")
        try:
            r, _, _ = select.select([self._fd], [], [], timeout)
            if not r:
                return b""
            data = os.read(self._fd, 65536)
        except OSError as e:  # EIO: the other side of the pty was closed
            raise self._gone(e.strerror) from None
        if not data:
            raise self._gone("end of file")
        return data

    def close(self):
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)


class FaultyTransport:
    """Damages traffic on purpose. Outgoing frames (one write each) are dropped or get
    one byte flipped; incoming bytes get flipped. Either at fixed indices (`drop_tx`,
    `corrupt_tx`: sets of write numbers; `corrupt_rx_every`: every Nth received byte)
    or at random with a seeded generator (`p_drop_tx`, `p_corrupt_tx`, `p_corrupt_rx`)."""

    def __init__(self, inner, drop_tx=(), corrupt_tx=(), corrupt_rx_every=0,
                 p_drop_tx=0.0, p_corrupt_tx=0.0, p_corrupt_rx=0.0, seed=0):
        self.inner = inner
        self.name = getattr(inner, "name", "device")
        self.drop_tx, self.corrupt_tx = set(drop_tx), set(corrupt_tx)
        self.corrupt_rx_every = corrupt_rx_every
        self.p_drop_tx, self.p_corrupt_tx, self.p_corrupt_rx = p_drop_tx, p_corrupt_tx, p_corrupt_rx
        self.rng = random.Random(seed)
        self.n_writes = 0
        self.n_rx = 0
        self.injected = {"dropped": 0, "corrupted_tx": 0, "corrupted_rx": 0}

    def write(self, data):
        i = self.n_writes
        self.n_writes += 1
        if i in self.drop_tx or (self.p_drop_tx and self.rng.random() < self.p_drop_tx):
            self.injected["dropped"] += 1
            return
        if i in self.corrupt_tx or (self.p_corrupt_tx and self.rng.random() < self.p_corrupt_tx):
            data = bytearray(data)
            k = self.rng.randrange(1, len(data) - 1) if len(data) > 2 else 0
            data[k] ^= 1 << self.rng.randrange(8)
            self.injected["corrupted_tx"] += 1
        self.inner.write(bytes(data))

    def read(self, timeout):
        data = bytearray(self.inner.read(timeout))
        for k in range(len(data)):
            self.n_rx += 1
            hit = (self.corrupt_rx_every and self.n_rx % self.corrupt_rx_every == 0) or \
                  (self.p_corrupt_rx and self.rng.random() < self.p_corrupt_rx)
            if hit:
                data[k] ^= 1 << self.rng.randrange(8)
                self.injected["corrupted_rx"] += 1
        return bytes(data)

    def close(self):
        self.inner.close()
