"""The rig's wire format, mirrored from runtime/hil/ek_hil.h (see runtime/hil/PROTOCOL.md).

A frame is  u8 type | u8 status | u16 seq | u16 len | payload | u32 crc32  (little
endian, CRC-32/IEEE of everything before it), COBS-encoded and ended by 0x00. The host
side uses independent implementations (zlib's CRC, a plain COBS) so the tests that
cross the two check the C code rather than agree with themselves.
"""
import struct
import zlib
from dataclasses import dataclass

PROTO_VERSION = 1
HEADER = struct.Struct("<BBHH")
CRC = struct.Struct("<I")

# Commands; a reply's type is the command | REPLY.
HELLO, INFO, SET_INPUT, RUN, GET_OUTPUT, TIMING = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
TRAIN_STEP, GET_WEIGHTS, SET_WEIGHTS, RESET, ECHO = 0x07, 0x08, 0x09, 0x0A, 0x0B
LOAD_INPUT, SAVE_OUTPUT = 0x0C, 0x0D
BOOT, ACK, NAK, REPLY = 0x7D, 0x7E, 0x7F, 0x80
COMMAND_NAMES = {HELLO: "HELLO", INFO: "INFO", SET_INPUT: "SET_INPUT", RUN: "RUN",
                 GET_OUTPUT: "GET_OUTPUT", TIMING: "TIMING", TRAIN_STEP: "TRAIN_STEP",
                 GET_WEIGHTS: "GET_WEIGHTS", SET_WEIGHTS: "SET_WEIGHTS", RESET: "RESET", ECHO: "ECHO",
                 LOAD_INPUT: "LOAD_INPUT", SAVE_OUTPUT: "SAVE_OUTPUT"}

# Reply status.
OK, E_UNKNOWN_CMD, E_BAD_ARGS, E_OUT_OF_RANGE, E_MODEL_FAILED = 0, 1, 2, 3, 4
E_UNSUPPORTED, E_NO_SESSION, E_HOOK_FAILED, E_TOO_LARGE, E_BAD_FRAME = 5, 6, 7, 8, 9
STATUS_NAMES = {OK: "ok", E_UNKNOWN_CMD: "unknown command", E_BAD_ARGS: "bad arguments",
                E_OUT_OF_RANGE: "offset or index out of range", E_MODEL_FAILED: "model run failed",
                E_UNSUPPORTED: "not supported by this firmware", E_NO_SESSION: "no session (device was reset)",
                E_HOOK_FAILED: "device hook failed (training or file access)", E_TOO_LARGE: "reply too large",
                E_BAD_FRAME: "damaged frame"}

# Counter units and capability bits.
UNIT_NONE, UNIT_INSTRUCTIONS, UNIT_CYCLES, UNIT_NS = 0, 1, 2, 3
UNIT_NAMES = {UNIT_NONE: "", UNIT_INSTRUCTIONS: "instructions", UNIT_CYCLES: "cycles", UNIT_NS: "ns"}
CAP_TRAIN, CAP_LAYER_TIMING, CAP_COUNTER, CAP_FILES = 1, 2, 4, 8

MIN_FRAME = HEADER.size + CRC.size


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def cobs_encode(data):
    """Consistent-overhead byte stuffing: the result contains no 0x00.

    A frame ending on a full 254-byte block gets a final empty block (code 0x01);
    the C encoder omits it. Both forms decode to the same bytes."""
    out = bytearray([0])  # placeholder for the first code byte
    code_at, code = 0, 1
    for b in data:
        if b:
            out.append(b)
            code += 1
        if not b or code == 0xFF:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
    out[code_at] = code
    return bytes(out)


def cobs_decode(data):
    """Inverse of cobs_encode; raises ValueError on a malformed block."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ValueError("zero byte inside a COBS frame")
        end = i + code
        if end > n:
            raise ValueError("COBS block runs past the end of the frame")
        out += data[i + 1:end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def pack_frame(type_, seq, payload=b"", status=0):
    body = HEADER.pack(type_, status, seq & 0xFFFF, len(payload)) + bytes(payload)
    return body + CRC.pack(crc32(body))


@dataclass
class Frame:
    type: int
    status: int
    seq: int
    payload: bytes


def unpack_frame(raw):
    """A decoded (un-COBSed) frame, or None if it is damaged (length or CRC wrong)."""
    if len(raw) < MIN_FRAME:
        return None
    type_, status, seq, length = HEADER.unpack_from(raw)
    if length != len(raw) - MIN_FRAME:
        return None
    (crc,) = CRC.unpack_from(raw, len(raw) - CRC.size)
    if crc != crc32(raw[:-CRC.size]):
        return None
    return Frame(type_, status, seq, bytes(raw[HEADER.size:-CRC.size]))


def wire(type_, seq, payload=b"", status=0):
    """Bytes to put on the line: a leading delimiter flushes any noise the device holds."""
    return b"\x00" + cobs_encode(pack_frame(type_, seq, payload, status)) + b"\x00"
