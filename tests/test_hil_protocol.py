"""The rig protocol against a host-native device process (the same C server as on the
MCU, with the host port): framing, chunking, the reply cache, status codes.

Oracles: y = clamp(3x + 1) computed in numpy; zlib's CRC-32 and an independent COBS
decoder on the host side; byte-identical replies for a retried request."""
import os
import struct
import time
import zlib

import numpy as np
import pytest

from edgesdk.errors import DeviceError
from edgesdk.hil import DeviceResetError, DeviceStatusError, HilClient, open_device
from edgesdk.hil import protocol as P
from edgesdk.hil.testbuild import N, SHAPE, write_affine_build
from edgesdk.hil.transport import PtyTransport

from edgesdk.hil.firmware import host_cc

pytestmark = pytest.mark.skipif(host_cc() is None, reason="not installed: a host C compiler (gcc)")


def affine(x):
    return np.clip(3 * x.astype(np.int32) + 1, -128, 127).astype(np.int8)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return write_affine_build(tmp_path_factory.mktemp("hil") / "host_build", board="host")


@pytest.fixture(scope="module")
def slow_build(tmp_path_factory):
    # ~0.3 s per run: long enough to tell a re-execution from a cached answer.
    return write_affine_build(tmp_path_factory.mktemp("hil") / "slow_build", board="host", spin=400_000_000)


def next_reply(client, seconds=10):
    """The next frame that is not an ACK (a RUN started) or BOOT (the device started)."""
    while True:
        f = client._next_frame(time.monotonic() + seconds)
        if f is None or f.type not in (P.ACK, P.BOOT):
            return f


@pytest.fixture
def raw(build):
    """A client on a fresh device process, no HELLO yet."""
    t = PtyTransport([build / "app"])
    try:
        yield HilClient(t, timeout=1.0, retries=2)
    finally:
        t.close()


def test_cobs_roundtrip_and_no_zero():
    rng = np.random.default_rng(1)
    for n in (0, 1, 253, 254, 255, 508, 509, 1030):
        for data in (bytes(n), bytes(rng.integers(0, 256, n, dtype=np.uint8)), b"\x01" * n):
            enc = P.cobs_encode(data)
            assert 0 not in enc
            assert P.cobs_decode(enc) == data


def test_infer_matches_formula_and_info(build):
    rng = np.random.default_rng(0)
    with open_device(build, bulk="line") as dev:
        assert dev.info.model_hash == zlib.crc32((build / "model.edg").read_bytes())
        assert dev.info.input_bytes == [N] and dev.info.output_bytes == [N]
        assert dev.info.max_payload == 1024 and dev.info.counter_unit == "ns"
        for _ in range(5):
            x = rng.integers(-128, 128, SHAPE).astype(np.int8)
            res = dev.infer([x])
            np.testing.assert_array_equal(res.outputs[0], affine(x))
            assert res.count > 0 and res.unit == "ns"
        # 2000 bytes each way in 1016/1024-byte chunks: 2 SET_INPUT + RUN + 2 GET_OUTPUT per case.
        assert dev.client.stats.requests == 1 + 5 * 5
        t = dev.timing()
        assert len(t.layers) == 2 and t.total >= t.layers[0]


def test_bulk_through_host_files(build):
    rng = np.random.default_rng(2)
    with open_device(build) as dev:
        assert dev.file_dir is not None and dev.client.has_files
        for _ in range(3):
            x = rng.integers(-128, 128, SHAPE).astype(np.int8)
            np.testing.assert_array_equal(dev.infer([x]).outputs[0], affine(x))
        assert dev.client.stats.requests == 1 + 3 * 3   # LOAD_INPUT, RUN, SAVE_OUTPUT per case
        file_dir = dev.file_dir
        with pytest.raises(DeviceStatusError, match="file access"):
            dev.client.load_input(0, file_dir / "missing.bin", N)
        with pytest.raises(DeviceStatusError, match="out of range"):
            dev.client.load_input(0, file_dir / "in0.bin", N - 1)
    assert not file_dir.exists()


def test_echo_crosses_block_and_zero_boundaries(raw):
    # The C COBS encoder/decoder against the Python one: lengths around the 254-byte
    # block limit and payloads full of zeros (every zero is a COBS code).
    raw.hello()
    for n in (0, 1, 253, 254, 255, 508, 1024):
        for data in (bytes(n), bytes((i * 7 + 1) % 256 for i in range(n))):
            assert raw.echo(data) == data


def test_damaged_frame_gets_a_nak(raw):
    frame = bytearray(P.pack_frame(P.ECHO, 77, b"hello"))
    frame[-1] ^= 0x40  # break the CRC
    raw.t.write(b"\x00" + P.cobs_encode(bytes(frame)) + b"\x00")
    f = next_reply(raw, 2)
    assert f.type == P.NAK and f.seq == 77 and f.status == P.E_BAD_FRAME


def test_garbage_on_the_line_is_skipped(raw):
    raw.hello()
    raw.t.write(bytes(range(1, 256)) * 3)           # noise with no delimiter
    x = np.arange(N, dtype=np.int64).astype(np.int8)
    raw.set_input(0, x.tobytes())                   # the leading 0x00 resynchronises the device
    raw.t.write(b"\x00\x13\x37\x00\xff\xfe\x00")    # short junk frames -> NAKs the client ignores
    raw.run()
    assert np.array_equal(np.frombuffer(raw.get_output(0), np.int8), affine(x))


def test_retried_request_is_answered_from_cache_not_rerun(slow_build):
    t = PtyTransport([slow_build / "app"])
    try:
        c = HilClient(t, timeout=5.0)
        c.hello()
        c.set_input(0, bytes(N))
        wire = P.wire(P.RUN, 4242)
        t0 = time.monotonic()
        t.write(wire)
        first = next_reply(c)
        run_s = time.monotonic() - t0
        t0 = time.monotonic()
        t.write(wire)                               # the same frame again: a retry
        second = next_reply(c)
        again_s = time.monotonic() - t0
        assert first.type == P.RUN | P.REPLY and first.seq == 4242
        assert second == first                      # byte-identical, elapsed-ns field included
        assert run_s > 0.1 and again_s < run_s / 5, (run_s, again_s)
        t.write(P.wire(P.RUN, 4243))                # a new sequence number does run again
        third = next_reply(c)
        assert third.seq == 4243 and third.payload[4:12] != first.payload[4:12]
    finally:
        t.close()


def test_device_announces_its_boot(raw):
    f = raw._next_frame(time.monotonic() + 2)
    assert f.type == P.BOOT and f.seq == 0xFFFF and struct.unpack("<I", f.payload) == (1,)


def test_commands_before_hello_report_a_reset(raw):
    with pytest.raises(DeviceResetError, match="reset"):
        raw.run()


def test_error_statuses(raw):
    raw.hello()
    with pytest.raises(DeviceStatusError, match="unknown command"):
        raw.request(0x55)
    with pytest.raises(DeviceStatusError, match="out of range") as e:
        raw.request(P.SET_INPUT, struct.pack("<BxxxI", 0, N - 1) + b"ab")   # one byte past the end
    assert e.value.status == P.E_OUT_OF_RANGE
    with pytest.raises(DeviceStatusError, match="out of range"):
        raw.request(P.GET_OUTPUT, struct.pack("<BxxxII", 3, 0, 16))        # no output 3
    with pytest.raises(DeviceStatusError, match="bad arguments"):
        raw.request(P.HELLO, struct.pack("<I", 0))                          # token 0 is not a session
    with pytest.raises(DeviceError, match="needs 2000 bytes"):
        raw.set_input(0, b"short")


def test_training_commands_unsupported_without_training_runtime(raw):
    info = raw.hello()
    assert not info.can_train
    for call in (lambda: raw.train_step(b"\x01"), raw.get_weights, lambda: raw.set_weights(b"\x00" * 8)):
        with pytest.raises(DeviceStatusError, match="not supported by this firmware") as e:
            call()
        assert e.value.status == P.E_UNSUPPORTED


def test_reset_command_reboots_the_device(raw):
    first = raw.hello()
    raw.set_input(0, bytes(N))
    info = raw.reset()
    assert info.boot_count == first.boot_count + 1
    raw.token = 0
    # The rebooted device's state is fresh: our old session is gone (reset() made a new one).
    raw.set_input(0, bytes(N))
    raw.run()
    assert raw.get_output(0) == bytes([1]) * N


def test_device_reports_wrong_build(build, tmp_path):
    import json
    import shutil
    other = tmp_path / "other"
    shutil.copytree(build, other)
    m = json.loads((other / "manifest.json").read_text())
    m["model_hash"] = (m["model_hash"] + 1) & 0xFFFFFFFF
    (other / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DeviceError, match="flash the build first"):
        with open_device(other):
            pass
