"""open_device(): one connected rig device, emulated or real, torn down on exit.

    with open_device("build/") as dev:              # board and image from manifest.json
        res = dev.infer([x])                        # arrays in, arrays out
        res.outputs[0], res.count, res.unit
    with open_device("nucleo-f746zg") as dev: ...   # a flashed real board on its serial port
    with open_device("host", image="app") as dev: ... # a host-native rig process on a pty
"""
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from ..boards import load_board
from ..errors import DeviceError
from . import buildinfo
from .client import DeviceResetError, HilClient
from .firmware import HOST

# Per-request reply timeouts (seconds): a host process answers in microseconds, QEMU's
# UART moves ~20 KB/s, a real UART at 115200 baud ~11 KB/s (a 1 KB frame: ~0.1 s).
_TIMEOUTS = {"host": 1.0, "qemu": 2.0, "serial": 3.0}
RUN_TIMEOUT = 120.0


@dataclass
class InferResult:
    outputs: list                 # np.ndarray per output (device dtype, logical shape) or bytes
    count: int                    # instructions/cycles/ns of the run (see unit)
    unit: str
    rc: int = 0
    resets_recovered: int = 0     # device resets survived by redoing the case
    layers: list = field(default_factory=list)


class Device:
    def __init__(self, client, name, manifest=None, emulator=None, run_timeout=RUN_TIMEOUT, file_dir=None):
        self.client = client
        # A folder both sides can reach (same machine): inputs and outputs then move as
        # files (semihosting on QEMU), not ~KB/s over the emulated UART.
        self.file_dir = Path(file_dir) if file_dir else None
        self.name = name
        self.manifest = manifest
        self.emulator = emulator
        self.run_timeout = run_timeout
        self.info = None
        self.resets_recovered = 0

    # ---- session -------------------------------------------------------------------
    def connect(self):
        with self._guard():
            info = self.client.hello()
        if self.info is not None and (info.model_hash, info.build_id) != (self.info.model_hash, self.info.build_id):
            raise DeviceError(f"{self.name}: came back from a reset running different firmware "
                              f"({info.build_id!r}, was {self.info.build_id!r})")
        self.info = info
        if self.manifest is not None:
            self._check_manifest(info)
        return info

    def _check_manifest(self, info):
        m = self.manifest
        want = m.get("model_hash")
        if want is not None and info.model_hash != int(want):
            raise DeviceError(f"{self.name}: runs model hash {info.model_hash:08x} ({info.build_id!r}) but the "
                              f"build has {int(want):08x} ({m.get('build_id')!r}); flash the build first")
        for kind, sizes in (("inputs", info.input_bytes), ("outputs", info.output_bytes)):
            specs = m[kind]
            if len(specs) != len(sizes):
                raise DeviceError(f"{self.name}: firmware has {len(sizes)} {kind}, manifest.json lists {len(specs)}")
            for i, (spec, size) in enumerate(zip(specs, sizes)):
                if buildinfo.nbytes(spec) != size:
                    raise DeviceError(f"{self.name}: {kind}[{i}] is {size} bytes on the device, "
                                      f"{buildinfo.nbytes(spec)} in manifest.json")

    @contextlib.contextmanager
    def _guard(self):
        """Adds the emulator's fate to errors: 'connection lost' alone hides a crash."""
        try:
            yield
        except DeviceResetError:
            raise
        except DeviceError as e:
            if self.emulator is not None:
                # A dropped connection is seen a moment before the process can be reaped.
                with contextlib.suppress(Exception):
                    self.emulator.proc.wait(timeout=1.0)
            if self.emulator is not None and not self.emulator.alive():
                raise DeviceError(f"{e}; {self.emulator.describe_exit()}") from None
            raise

    # ---- running -------------------------------------------------------------------
    def run_bytes(self, inputs, recover=True, max_resets=2):
        """Byte buffers in, byte buffers out. A device reset midway redoes the whole
        case in a new session (never mixing two runs); more than max_resets fails."""
        resets = 0
        while True:
            try:
                with self._guard():
                    files = self.file_dir is not None and self.client.has_files
                    for i, data in enumerate(inputs):
                        if files:
                            self.client.load_input(i, self._write_file(f"in{i}.bin", data), len(data))
                        else:
                            self.client.set_input(i, data)
                    rc, count, unit = self.client.run(timeout=self.run_timeout)
                    outs = [self._output(i, files) for i in range(len(self.client.info.output_bytes))]
                return outs, count, unit, rc, resets
            except DeviceResetError:
                resets += 1
                if not recover or resets > max_resets:
                    raise
                self.resets_recovered += 1
                self.connect()

    def _write_file(self, name, data):
        path = self.file_dir / name
        path.write_bytes(data)
        return path

    def _output(self, i, files):
        if not files:
            return self.client.get_output(i)
        path = self.file_dir / f"out{i}.bin"
        path.unlink(missing_ok=True)  # never read a previous case's file
        n = self.client.save_output(i, path)
        data = path.read_bytes()
        if len(data) != n or n != self.client.info.output_bytes[i]:
            raise DeviceError(f"{self.name}: output {i} file has {len(data)} bytes, the device wrote {n}")
        return data

    def infer(self, inputs, recover=True):
        """Arrays in (per manifest input; float data is quantized), arrays out."""
        specs = self.manifest["inputs"] if self.manifest else None
        if specs is not None and len(inputs) != len(specs):
            raise DeviceError(f"{self.name}: the model has {len(specs)} inputs, got {len(inputs)}")
        raw = [buildinfo.to_device(x, specs[i]) if specs else bytes(memoryview(x).cast("B"))
               for i, x in enumerate(inputs)]
        outs, count, unit, rc, resets = self.run_bytes(raw, recover=recover)
        if self.manifest:
            outs = [buildinfo.from_device(o, s) for o, s in zip(outs, self.manifest["outputs"])]
        return InferResult(outs, count, unit, rc, resets)

    def timing(self):
        with self._guard():
            return self.client.timing()

    def reset(self):
        with self._guard():
            self.client.reset()
        self.connect()

    def echo(self, data):
        with self._guard():
            return self.client.echo(data)


def _resolve(build_or_board, image, board):
    """-> (board name or Board, image path or None, manifest or None)."""
    p = Path(str(build_or_board))
    if (p / "manifest.json").is_file() or (p.is_dir() and not p.suffix):
        manifest = buildinfo.read_manifest(p)
        if board is None:
            # The build's own copy of its board file (a user's custom board travels with it).
            board = manifest["board"]
            board_file = manifest.get("board_file")
            if board != HOST and board_file and (p / board_file).is_file():
                board = str(p / board_file)
        return board, Path(image) if image else p / manifest["image"], manifest
    return board or str(build_or_board), Path(image) if image else None, None


@contextlib.contextmanager
def open_device(build_or_board, image=None, *, board=None, port=None, baud=None, timeout=None,
                run_timeout=RUN_TIMEOUT, lifetime_s=None, transport_wrapper=None, bulk="auto"):
    """A connected Device (HELLO done) for a build directory, a board name, or "host".

    Emulated boards get a fresh QEMU (free TCP port, killed in a finally, never left
    behind); real boards are opened on their serial port (board yaml serial.port, or
    `port`), assumed flashed (`edgesdk flash`). `lifetime_s` caps an emulator's life.
    `transport_wrapper(transport)` lets fault tests wrap the link. `bulk`: "auto" moves
    inputs/outputs as host files when the device runs on this machine and supports it
    (QEMU semihosting, host builds), "line" always streams them in frames."""
    import shutil
    import tempfile

    if bulk not in ("auto", "line"):
        raise ValueError(f"bulk must be 'auto' or 'line', not {bulk!r}")
    board_ref, image, manifest = _resolve(build_or_board, image, board)
    emulator = None
    transport = None
    file_dir = None
    try:
        if str(board_ref) == HOST:
            from .transport import PtyTransport
            if image is None or not Path(image).is_file():
                raise DeviceError(f"host device: executable {image} not found")
            transport = PtyTransport([Path(image).resolve()], name=f"host:{Path(image).name}")
            kind, name = "host", f"host:{Path(image).name}"
        else:
            b = load_board(board_ref)
            name = b.name
            if b.runner == "qemu":
                from .qemu import QemuInstance
                if image is None:
                    raise DeviceError(f"board {b.name} is emulated: give a build directory or an image to run")
                emulator = QemuInstance(b, image, lifetime_s=lifetime_s, manifest=manifest)
                transport = emulator.start()
                kind = "qemu"
            elif b.runner == "qemu-user":
                from .qemu import emulator_command
                from .transport import PtyTransport
                cmd = emulator_command(b, manifest)
                if shutil.which(cmd[0]) is None:
                    from ..errors import ToolMissingError
                    raise ToolMissingError(f"board {b.name}: {cmd[0]} is not installed (apt-get install qemu-user)")
                import os
                if image is None or not Path(image).is_file():
                    raise DeviceError(f"{image}: firmware image not found")
                argv = [shutil.which(cmd[0]), *cmd[1:], str(Path(image).resolve())]
                # the rig's RESET re-executes the emulator (ek_hil_port_host.c: EK_HIL_REBOOT_CMD)
                transport = PtyTransport(argv, name=b.name, env={**os.environ, "EK_HIL_REBOOT_CMD": "\n".join(argv)})
                kind = "host"
            else:
                from .transport import SerialTransport
                dev_port = port or (b.serial or {}).get("port")
                if not dev_port:
                    raise DeviceError(f"{b.path}: board {b.name} has no serial.port; pass --port")
                transport = SerialTransport(dev_port, baud or (b.serial or {}).get("baud", 115200),
                                            name=f"{b.name} on {dev_port}")
                kind = "serial"
        link = transport_wrapper(transport) if transport_wrapper else transport
        client = HilClient(link, timeout=timeout or _TIMEOUTS[kind], name=name)
        if bulk == "auto" and kind != "serial":
            file_dir = tempfile.mkdtemp(prefix="ek_hil_files_")
        dev = Device(client, name, manifest=manifest, emulator=emulator, run_timeout=run_timeout,
                     file_dir=file_dir)
        dev.connect()
        yield dev
    finally:
        if transport is not None:
            transport.close()
        if emulator is not None:
            emulator.stop()
        if file_dir is not None:
            shutil.rmtree(file_dir, ignore_errors=True)
