"""The protocol client: one request, one reply, with timeouts, retries and resync.

Reliability rules (each one has a fault test):
- every request carries a sequence number; a lost reply is recovered by resending the
  SAME frame, which the device answers from its reply cache without executing again
  (a retried RUN never runs twice);
- a damaged frame in either direction is caught by its CRC: the device answers NAK and
  the host resends at once; the host drops damaged or stray frames and keeps reading;
- bytes that are not frames (boot messages, line noise) are skipped up to the next
  0x00 delimiter;
- a device that rebooted under the host announces it (a BOOT frame) or, if that got
  lost, answers NO_SESSION; both raise DeviceResetError: the caller restarts the whole
  case, never mixing halves of two runs;
- a device that stops answering raises DeviceError after the retries, naming the command.
"""
import random
import struct
import time
from dataclasses import dataclass, field

from ..errors import DeviceError
from . import protocol as P

_MAX_BUFFER = 1 << 20  # bytes without a delimiter before we give up on them as noise


class DeviceResetError(DeviceError):
    """The device rebooted since our HELLO: whatever it held (inputs, outputs) is gone."""


class DeviceStatusError(DeviceError):
    """The device answered a request with an error status."""

    def __init__(self, msg, status):
        super().__init__(msg)
        self.status = status


@dataclass
class DeviceInfo:
    proto: int
    max_payload: int
    model_hash: int
    arena_bytes: int
    weight_bytes: int
    n_layers: int
    caps: int
    counter_unit: str
    input_bytes: list
    output_bytes: list
    build_id: str
    boot_count: int = 0

    @property
    def can_train(self):
        return bool(self.caps & P.CAP_TRAIN)

    @property
    def has_layer_timing(self):
        return bool(self.caps & P.CAP_LAYER_TIMING)


def parse_info(payload, where="INFO"):
    if len(payload) < 36:
        raise DeviceError(f"{where}: info block of {len(payload)} bytes is too short")
    proto, max_payload, model_hash, arena, weight, n_in, n_out, n_layers, caps, unit, id_len = \
        struct.unpack_from("<HHIIIIIIIBB", payload)
    if proto != P.PROTO_VERSION:
        raise DeviceError(f"{where}: device speaks rig protocol v{proto}, this host v{P.PROTO_VERSION}; "
                          f"rebuild the firmware with this edgesdk")
    need = 36 + 4 * (n_in + n_out) + id_len
    if len(payload) < need:
        raise DeviceError(f"{where}: info block truncated ({len(payload)} of {need} bytes)")
    sizes = struct.unpack_from(f"<{n_in + n_out}I", payload, 36)
    build_id = payload[36 + 4 * (n_in + n_out):need].decode("utf-8", errors="replace")
    return DeviceInfo(proto, max_payload, model_hash, arena, weight, n_layers, caps,
                      P.UNIT_NAMES.get(unit, f"unit{unit}"), list(sizes[:n_in]), list(sizes[n_in:]), build_id)


@dataclass
class Timing:
    total: int
    unit: str
    layers: list = field(default_factory=list)  # per-layer counts, [] when not compiled in


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    naks: int = 0
    timeouts: int = 0
    bad_frames: int = 0      # damaged frames received (CRC/length/COBS)
    stray_frames: int = 0    # well-formed but not the reply we waited for
    noise_bytes: int = 0
    bytes_tx: int = 0
    bytes_rx: int = 0


class HilClient:
    def __init__(self, transport, timeout=2.0, retries=4, name=None):
        self.t = transport
        self.timeout = timeout
        self.retries = retries
        self.name = name or getattr(transport, "name", "device")
        self.stats = LinkStats()
        self._seq = random.randrange(0x10000)
        self._buf = bytearray()
        self.info = None
        self.token = 0
        self.boot_count = None

    # ---- framing -----------------------------------------------------------------
    def _next_frame(self, deadline):
        """The next well-formed frame, or None at the deadline. Damaged ones are counted."""
        while True:
            at = self._buf.find(0)
            while at >= 0:
                raw = bytes(self._buf[:at])
                del self._buf[:at + 1]
                if raw:
                    try:
                        f = P.unpack_frame(P.cobs_decode(raw))
                    except ValueError:
                        f = None
                    if f is not None:
                        return f
                    self.stats.bad_frames += 1
                    self.stats.noise_bytes += len(raw)
                at = self._buf.find(0)
            if len(self._buf) > _MAX_BUFFER:
                self.stats.noise_bytes += len(self._buf)
                self._buf.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            data = self.t.read(min(left, 0.25))
            self.stats.bytes_rx += len(data)
            self._buf += data

    def request(self, cmd, payload=b"", timeout=None, check=True, run_timeout=None):
        """Send one command; returns the reply Frame (status OK unless check=False).

        `timeout` bounds each wait for an answer. Long commands (RUN, TRAIN_STEP) are
        acknowledged by the device when they start; after that ACK the wait for the
        result is `run_timeout`, so a lost frame is resent quickly while a long run is
        given its time."""
        timeout = self.timeout if timeout is None else timeout
        self._seq = (self._seq + 1) & 0xFFFF
        seq = self._seq
        data = P.wire(cmd, seq, payload)
        name = P.COMMAND_NAMES.get(cmd, hex(cmd))
        self.stats.requests += 1
        tries = self.retries + 1
        for attempt in range(tries):
            if attempt:
                self.stats.retries += 1
            self.t.write(data)
            self.stats.bytes_tx += len(data)
            deadline = time.monotonic() + timeout
            while True:
                f = self._next_frame(deadline)
                if f is None:
                    self.stats.timeouts += 1
                    break  # resend the same frame: the device's reply cache makes it safe
                if f.type == P.NAK and f.seq in (seq, 0xFFFF):
                    self.stats.naks += 1
                    break
                if f.type == P.BOOT:
                    if cmd != P.HELLO:
                        raise DeviceResetError(f"{self.name}: the device was reset (it rebooted) while we waited for {name}")
                    continue  # the boot that this HELLO starts a session with
                if f.type == P.ACK and f.seq == seq:
                    if run_timeout is not None:
                        deadline = max(deadline, time.monotonic() + run_timeout)
                    continue
                if f.type == (cmd | P.REPLY) and f.seq == seq:
                    return self._check(f, name) if check else f
                self.stats.stray_frames += 1  # a late reply to an older request
        raise DeviceError(f"{self.name}: no reply to {name} after {tries} tries ({timeout:g} s each"
                          f"{f', {run_timeout:g} s once started' if run_timeout else ''}; "
                          f"{self.stats.naks} NAKs, {self.stats.bad_frames} damaged frames so far) - "
                          f"is the device running the edgesdk rig firmware?")

    def _check(self, f, name):
        if f.status == P.OK:
            return f
        if f.status == P.E_NO_SESSION:
            raise DeviceResetError(f"{self.name}: the device was reset (it forgot our session) before {name}")
        what = P.STATUS_NAMES.get(f.status, f"status {f.status}")
        extra = ""
        if len(f.payload) >= 4 and f.status in (P.E_HOOK_FAILED, P.E_MODEL_FAILED):
            extra = f" (code {struct.unpack_from('<i', f.payload)[0]})"
        raise DeviceStatusError(f"{self.name}: {name} failed: {what}{extra}", f.status)

    # ---- commands ------------------------------------------------------------------
    def hello(self):
        """Start a session; returns DeviceInfo (with boot_count)."""
        self.token = random.randrange(1, 1 << 32)
        f = self.request(P.HELLO, struct.pack("<I", self.token))
        _prev, boot = struct.unpack_from("<II", f.payload)
        info = parse_info(f.payload[8:], f"{self.name}: HELLO")
        info.boot_count = boot
        self.boot_count = boot
        self.info = info
        return info

    def _need_info(self):
        if self.info is None:
            self.hello()
        return self.info

    def echo(self, data):
        f = self.request(P.ECHO, data)
        if f.payload != bytes(data):
            raise DeviceError(f"{self.name}: ECHO came back different ({len(f.payload)} of {len(data)} bytes)")
        return f.payload

    def set_input(self, index, data):
        info = self._need_info()
        data = bytes(data)
        if index >= len(info.input_bytes):
            raise DeviceError(f"{self.name}: input {index} does not exist (the model has {len(info.input_bytes)})")
        if len(data) != info.input_bytes[index]:
            raise DeviceError(f"{self.name}: input {index} needs {info.input_bytes[index]} bytes, got {len(data)}")
        step = info.max_payload - 8
        for off in range(0, len(data), step) or [0]:
            self.request(P.SET_INPUT, struct.pack("<BxxxI", index, off) + data[off:off + step])

    @property
    def has_files(self):
        return bool(self._need_info().caps & P.CAP_FILES)

    def load_input(self, index, path, nbytes):
        """The device reads input `index` from a host file (semihosting / host build)."""
        self.request(P.LOAD_INPUT, struct.pack("<BxxxI", index, nbytes) + str(path).encode())

    def save_output(self, index, path):
        """The device writes output `index` to a host file; returns its byte count."""
        f = self.request(P.SAVE_OUTPUT, struct.pack("<Bxxx", index) + str(path).encode())
        return struct.unpack_from("<I", f.payload)[0]

    def run(self, timeout=60.0):
        """Runs the model; returns (rc, count, unit)."""
        f = self.request(P.RUN, run_timeout=timeout)
        rc, lo, hi, unit = struct.unpack_from("<iIIB", f.payload)
        return rc, lo | (hi << 32), P.UNIT_NAMES.get(unit, "")

    def get_output(self, index):
        info = self._need_info()
        if index >= len(info.output_bytes):
            raise DeviceError(f"{self.name}: output {index} does not exist (the model has {len(info.output_bytes)})")
        size = info.output_bytes[index]
        out = bytearray()
        while len(out) < size:
            f = self.request(P.GET_OUTPUT, struct.pack("<BxxxII", index, len(out), info.max_payload))
            if not f.payload:
                raise DeviceError(f"{self.name}: GET_OUTPUT {index} returned no bytes at offset {len(out)}")
            out += f.payload
        if len(out) != size:
            raise DeviceError(f"{self.name}: output {index} is {len(out)} bytes, the device said {size}")
        return bytes(out)

    def timing(self):
        layers = []
        first = 0
        while True:
            f = self.request(P.TIMING, struct.pack("<I", first))
            lo, hi, unit, have_run, n_layers, first_got, count = struct.unpack_from("<IIBBxxIII", f.payload)
            layers += struct.unpack_from(f"<{count}I", f.payload, 24)
            first = first_got + count
            if first >= n_layers or count == 0:
                break
        return Timing(lo | (hi << 32), P.UNIT_NAMES.get(unit, ""), list(layers))

    def train_step(self, arg=b"", timeout=60.0):
        return self.request(P.TRAIN_STEP, arg, run_timeout=timeout).payload

    def get_weights(self):
        info = self._need_info()
        out = bytearray()
        total = None
        while total is None or len(out) < total:
            f = self.request(P.GET_WEIGHTS, struct.pack("<II", len(out), info.max_payload))
            total = struct.unpack_from("<I", f.payload)[0]
            if len(f.payload) == 4 and len(out) < total:
                raise DeviceError(f"{self.name}: GET_WEIGHTS returned no bytes at offset {len(out)}")
            out += f.payload[4:]
        return bytes(out)

    def set_weights(self, data):
        info = self._need_info()
        data = bytes(data)
        step = info.max_payload - 4
        for off in range(0, len(data), step) or [0]:
            self.request(P.SET_WEIGHTS, struct.pack("<I", off) + data[off:off + step])

    def reset(self, wait=10.0):
        """Reboot the device and start a new session with it."""
        try:
            self.request(P.RESET, timeout=min(self.timeout, 2.0))
        except DeviceError:
            pass  # the reply may be lost in the reboot; the HELLO below tells
        self._buf.clear()
        deadline = time.monotonic() + wait
        while True:
            try:
                return self.hello()
            except DeviceError:
                if time.monotonic() > deadline:
                    raise
