"""An emulated board: QEMU started with the UART on a TCP port and a QMP control socket.

The process is always torn down: it runs in its own process group, is killed (the whole
group) by stop(), and is also asked by the kernel to die with its parent
(PR_SET_PDEATHSIG), so even a host killed with SIGKILL leaves no QEMU behind.
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..errors import DeviceError, ToolMissingError

_APT = {"qemu-system-arm": "qemu-system-arm", "qemu-system-riscv32": "qemu-system-misc",
        "qemu-system-riscv64": "qemu-system-misc"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # Runs in the child between fork and exec: SIGKILL it when the parent dies.
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def emulator_command(board, manifest=None):
    """The board's emulator command line with its {placeholders} filled in: {vlen} from the
    build (manifest.json "vlen"), else the board's default (RISC-V boards)."""
    values = {k: v for k, v in (board.extra or {}).items() if isinstance(v, (int, str))}
    values.update({k: manifest[k] for k in ("vlen", "xlen") if manifest and manifest.get(k) is not None})
    out = []
    for c in board.emulator["command"]:
        c = str(c)
        if "{" in c:
            try:
                c = c.format(**values)
            except (KeyError, IndexError, ValueError) as e:
                raise DeviceError(f"{board.path}: emulator.command {c!r} names {e} which neither the board "
                                  f"nor the build defines") from None
        out.append(c)
    return out


class QemuInstance:
    def __init__(self, board, image, lifetime_s=None, manifest=None):
        self.manifest = manifest
        self.board = board
        self.image = Path(image)
        self.lifetime_s = lifetime_s
        self.proc = None
        self.port = None
        self._tmp = None
        self._log = None
        self._timer = None

    def command(self, port, qmp_path):
        cmd = emulator_command(self.board, self.manifest)
        if shutil.which(cmd[0]) is None:
            pkg = _APT.get(cmd[0], cmd[0])
            raise ToolMissingError(f"board {self.board.name}: emulator {cmd[0]} is not installed "
                                   f"(apt-get install {pkg})")
        # No stdio mux: the UART goes to a TCP socket the guest waits for (so no byte is
        # lost before we connect), QMP to a unix socket for reset/inspection.
        cmd = [c for c in cmd if c != "-nographic"]
        return [*cmd, "-display", "none", "-monitor", "none",
                "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
                "-qmp", f"unix:{qmp_path},server=on,wait=off", "-kernel", str(self.image)]

    def start(self, connect_timeout=30.0):
        """Starts QEMU and returns a transport connected to its UART."""
        from .transport import connect_tcp

        if not self.image.is_file():
            raise DeviceError(f"{self.image}: firmware image not found")
        self._tmp = tempfile.mkdtemp(prefix="ek_qemu_")
        self.qmp_path = os.path.join(self._tmp, "qmp.sock")
        last = None
        for _ in range(3):  # a port taken between free_port() and QEMU's bind: try another
            self.port = free_port()
            cmd = self.command(self.port, self.qmp_path)
            self._log = open(os.path.join(self._tmp, "qemu.log"), "w+b")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                         start_new_session=True, preexec_fn=_die_with_parent)
            if self.lifetime_s:
                self._timer = threading.Timer(self.lifetime_s, self.stop)
                self._timer.daemon = True
                self._timer.start()
            try:
                return connect_tcp(self.port, timeout=connect_timeout, alive=self.alive,
                                   name=f"{self.board.name} (QEMU pid {self.proc.pid})")
            except DeviceError as e:
                last = e
                log = self.log_tail()
                self.stop(keep_tmp=True)
                if "Address already in use" not in log:
                    raise DeviceError(f"{self.board.name}: QEMU did not start: {log or e}") from None
        raise last

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=3):
        if self._log is None:
            return ""
        with contextlib.suppress(Exception):
            self._log.flush()
            self._log.seek(0)
            text = self._log.read().decode("utf-8", errors="replace").strip()
            return " | ".join(text.splitlines()[-lines:])
        return ""

    def describe_exit(self):
        """A phrase for error messages: whether and how QEMU ended."""
        if self.proc is None:
            return "QEMU was not started"
        code = self.proc.poll()
        if code is None:
            return "QEMU is still running"
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        tail = self.log_tail()
        return f"QEMU ended ({how})" + (f": {tail}" if tail else "")

    def qmp(self, command, timeout=5.0):
        """One QMP command; returns its 'return' value."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.qmp_path)
            f = s.makefile("rwb")
            json.loads(f.readline())  # greeting
            for cmd in ({"execute": "qmp_capabilities"}, {"execute": command}):
                f.write(json.dumps(cmd).encode() + b"\n")
                f.flush()
                while True:
                    msg = json.loads(f.readline())
                    if "return" in msg or "error" in msg:
                        break  # skip asynchronous events
                if "error" in msg:
                    raise DeviceError(f"QEMU refused {cmd['execute']}: {msg['error'].get('desc')}")
            return msg["return"]

    def reset(self):
        """Press the reset button: the guest reboots, its RAM state is gone."""
        self.qmp("system_reset")

    def kill(self):
        """Kill QEMU abruptly (fault tests): the UART connection drops."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self, keep_tmp=False):
        if self._timer is not None:
            self._timer.cancel()
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=10)
        if self._log is not None and not keep_tmp:
            self._log.close()
            self._log = None
        if self._tmp and not keep_tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
