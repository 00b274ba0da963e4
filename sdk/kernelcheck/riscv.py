"""Checking the float RISC-V kernels (FP32/FP16, ref and rvv) under qemu-riscv64.

One driver executable (targets/riscv/kcheck/) links every variant of every float kernel;
a batch of cases goes in as one binary file, the outputs come back as float32 arrays:

    cases = [FCase("conv2d", "f16_rvv", conv_params(...), [x, w, b])]
    outs = run_cases(cases, vlen=256)     # list of [array, ...] per case

Inputs are float32 numpy arrays; for FP16 variants the driver rounds them to FP16 first
(pass values already representable in FP16 to compare with an oracle exactly).
"""
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, DeviceError
from ..paths import targets_dir

# op ids of targets/riscv/kcheck/kcheck_main.c
OPS = {name: i + 1 for i, name in enumerate([
    "matmul", "matmul_nt", "im2col", "col2im", "to_nhwc", "to_nchw", "conv2d", "conv2d_bww",
    "conv2d_bwx", "pwconv2d", "dwconv2d", "dwconv2d_bww", "dwconv2d_bwx", "linear", "linear_bww",
    "linear_bwx", "maxpool2d", "avgpool2d", "maxpool2d_bw", "avgpool2d_bw", "relu", "relu6",
    "hardswish", "relu_bw", "relu6_bw", "hardswish_bw", "add", "sgd", "all_finite", "softmax_xent"])}
VARIANTS = {"f32_ref": 0, "f32_rvv": 1, "f16_ref": 2, "f16_rvv": 3}
# flags / activations of kernels/include/ek_float.h
ACCUMULATE, TRANS_A, ACC32 = 1, 2, 4
ACT = {"none": 0, "relu": 1, "relu6": 2}


def conv_params(cin, h, w, cout, kh, kw, stride=(1, 1), pads=(0, 0, 0, 0), act="none", flags=0):
    """ek_conv_params_t fields (pads = top, left, bottom, right)."""
    return [cin, h, w, cout, kh, kw, stride[0], stride[1], *pads, ACT[act], flags]


def pool_params(c, h, w, kh, kw, sh, sw):
    return [c, h, w, kh, kw, sh, sw]


def f32_bits(v):
    return struct.unpack("<i", struct.pack("<f", float(v)))[0]


@dataclass
class FCase:
    op: str
    variant: str
    params: list
    inputs: list = field(default_factory=list)   # numpy arrays; None/empty -> NULL pointer

    def record(self):
        if self.op not in OPS:
            raise DataError(f"kernel check: unknown op {self.op!r}")
        if self.variant not in VARIANTS:
            raise DataError(f"kernel check: unknown variant {self.variant!r}; expected one of {', '.join(VARIANTS)}")
        q = list(self.params) + [0] * (16 - len(self.params))
        b = struct.pack("<2i16ii", OPS[self.op], VARIANTS[self.variant], *q, len(self.inputs))
        for a in self.inputs:
            a = np.zeros(0, np.float32) if a is None else np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
            b += struct.pack("<i", a.size) + a.tobytes()
        return b


_BUILT = {}


def driver_path():
    """Build (once per process; objects are cached on disk) the kernel check driver."""
    from ..package.riscv import compile_linux, kernel_sources
    if "exe" not in _BUILT:
        kc = targets_dir() / "riscv" / "kcheck"
        out = Path(tempfile.mkdtemp(prefix="ek-kcheck-")) / "kcheck"
        _BUILT["exe"] = compile_linux([kc / "kcheck_main.c", *kernel_sources("ref", "rvv")], out,
                                      include_dirs=[kc])
    return _BUILT["exe"]


def parse_outputs(data):
    """out.bin -> the flat list of output arrays (run_cases regroups them per case)."""
    pos, arrays = 0, []
    while pos < len(data):
        (n,) = struct.unpack_from("<i", data, pos)
        pos += 4
        arrays.append(np.frombuffer(data, np.float32, n, pos).copy())
        pos += 4 * n
    return arrays


N_OUT = {"conv2d_bww": 2, "dwconv2d_bww": 2, "linear_bww": 2, "softmax_xent": 2}


def run_cases(cases, vlen=128, timeout=300):
    """Run the cases in one qemu-riscv64 process; returns [[output arrays] per case]."""
    from ..package.riscv import run_linux
    exe = driver_path()
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(b"".join(c.record() for c in cases))
        r = run_linux(exe, [fin, fout], vlen=vlen, timeout=timeout)
        if r.exit_code != 0:
            raise DeviceError(f"kernel check driver failed (exit {r.exit_code}): {r.stderr.strip()[:300]}")
        arrays = parse_outputs(fout.read_bytes())
    out, i = [], 0
    for c in cases:
        k = N_OUT.get(c.op, 1)
        out.append(arrays[i:i + k])
        i += k
    if i != len(arrays):
        raise DeviceError(f"kernel check driver returned {len(arrays)} arrays, expected {i}")
    return out
