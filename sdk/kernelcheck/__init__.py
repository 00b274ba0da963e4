"""Kernel checking: random (or given) cases for every C kernel op, their expected
outputs from the Python integer reference, and the flat binary case format the checker
firmware (targets/mcu/kernelcheck/) and the native checker library read.

A Case holds the op, the int32 params (the C params struct, field by field), the
kernel's pointer arguments as numpy arrays (in C argument order) and the expected
output.  The expected output comes from edgesdk.reference.quantized (NCHW) for the
ops it has, transposed to the kernels' NHWC; max pool, the binary ops and the
block-sparse FC have independent numpy oracles here (float +-1 arithmetic for the
binary ops, the dense QGemm for the sparse one).
"""
import struct
from dataclasses import dataclass, field

import numpy as np

from ..quant.fixedpoint import activation_range, quantize_multiplier
from ..reference import quantized as qref

# op name -> id (targets/mcu/kernelcheck/ek_kc_dispatch.h)
OPS = {"conv2d": 0, "conv1x1": 1, "dwconv2d": 2, "fc": 3, "fc_sparse": 4, "avgpool": 5,
       "maxpool": 6, "add": 7, "softmax": 8, "bconv2d": 9, "bfc": 10,
       "conv2d_s4": 11, "conv1x1_s4": 12, "fc_s4": 13}
DTYPE = {op: ("b1" if op in ("bconv2d", "bfc") else "s4" if op.endswith("_s4") else "s8") for op in OPS}


@dataclass
class Case:
    op: str
    params: list                 # int32 values
    bufs: list                   # numpy arrays (or None for a NULL pointer), C argument order
    expected: np.ndarray         # flat output, the kernel's dtype
    macs: int = 0                # multiply-accumulates (for MACs/instruction)
    label: str = ""
    meta: dict = field(default_factory=dict)

    def record(self):
        """The case as one binary record of cases.bin (see ek_kc_main.c)."""
        head_len = 20 + 4 * (len(self.params) + len(self.bufs))
        blobs = [b"" if b is None else np.ascontiguousarray(b).tobytes() for b in self.bufs]
        body = struct.pack(f"<{len(self.params)}i", *[int(v) for v in self.params])
        body += struct.pack(f"<{len(blobs)}I", *[len(b) for b in blobs])
        body += b"\0" * (-head_len % 16)
        for b in blobs:
            body += b + b"\0" * (-len(b) % 16)
        total = 20 + len(body)
        head = struct.pack("<5I", total, OPS[self.op], len(self.params), len(self.bufs),
                           self.expected.nbytes)
        return head + body


def pack_cases(cases):
    return b"".join(c.record() for c in cases)


def unpack_results(data, cases):
    """results.bin -> list of (instructions, output array) in case order."""
    out, pos = [], 0
    for i, c in enumerate(cases):
        if pos + 12 > len(data):
            raise ValueError(f"results stop at case {i} of {len(cases)}")
        idx, lo, hi = struct.unpack_from("<3I", data, pos)
        pos += 12
        if idx != i:
            raise ValueError(f"results out of order: case {idx} where {i} was expected")
        n = c.expected.nbytes
        arr = np.frombuffer(data[pos:pos + n], dtype=c.expected.dtype).copy()
        pos += n
        out.append(((hi << 32) | lo, arr))
    return out


# ---- quantization constants ---------------------------------------------------------

def _act_bounds(rng, y_zp):
    kind = rng.choice(["none", "relu", "relu6"])
    return activation_range(kind, float(rng.uniform(0.02, 0.08)), y_zp)


def _requant_consts(rng, n, k_terms, w_max=128):
    """Per-channel (multiplier, shift) giving outputs spread over the int8 range."""
    spread = w_max * np.sqrt(max(k_terms, 1)) * 60.0  # ~ std of an accumulator
    real = rng.uniform(0.2, 1.5, size=n) * 60.0 / spread
    return quantize_multiplier(real)


# ---- conv family (NHWC / OHWI / 1HWC) -------------------------------------------------

CONV_FIELDS = ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
               "pad_top", "pad_left", "dil_h", "dil_w", "input_offset", "output_offset", "act_min",
               "act_max")


def conv_case(rng, op, in_h, in_w, in_c, out_c, k_h, k_w, stride=(1, 1), pads=(0, 0, 0, 0),
              dil=(1, 1), label="", bias=True, x_zp=None, y_zp=None, act=None, weight_bits=None):
    """A conv2d / conv1x1 / dwconv2d case; pads = (top, left, bottom, right).  The _s4 ops
    (conv2d_s4, conv1x1_s4) draw weights of `weight_bits` (default 4, <= 4) bits and pass
    them packed (ek_s4.h)."""
    depthwise = op == "dwconv2d"
    s4 = op.endswith("_s4")
    wb = (4 if s4 else 8) if weight_bits is None else int(weight_bits)
    if depthwise:
        out_c = in_c
    x_zp = int(rng.integers(-128, 128)) if x_zp is None else x_zp
    y_zp = int(rng.integers(-128, 128)) if y_zp is None else y_zp
    x = rng.integers(-128, 128, size=(1, in_c, in_h, in_w), dtype=np.int8)
    w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), size=(out_c, 1 if depthwise else in_c, k_h, k_w), dtype=np.int8)
    k_terms = k_h * k_w * (1 if depthwise else in_c)
    b = rng.integers(-(1 << 14), 1 << 14, size=out_c).astype(np.int32) if bias else None
    mult, shift = _requant_consts(rng, out_c, k_terms, 1 << (wb - 1))
    act_min, act_max = act if act else _act_bounds(rng, y_zp)
    t, l, bo, r = pads
    y = qref.qconv2d(x, w, b, x_zp, y_zp, mult, shift, list(stride), [t, l, bo, r], list(dil),
                     in_c if depthwise else 1, act_min, act_max)
    _, _, out_h, out_w = y.shape
    params = [in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride[0], stride[1], t, l, dil[0],
              dil[1], -x_zp, y_zp, act_min, act_max]
    w_c = w[:, 0].transpose(1, 2, 0) if depthwise else w.transpose(0, 2, 3, 1)  # 1HWC / OHWI
    if s4:
        from ..lower.mcu import pack_s4
        w_c = pack_s4(w_c.reshape(out_c, -1))
    bufs = [x[0].transpose(1, 2, 0), w_c, b, mult, shift]
    macs = out_h * out_w * out_c * k_terms
    return Case(op, params, bufs, y[0].transpose(1, 2, 0).reshape(-1), macs, label,
                {"x_zp": x_zp, "y_zp": y_zp})


def _out_size(n, k, s, p0, p1, d):
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def random_conv(rng, op):
    while True:
        in_c = int(rng.integers(1, 20))
        out_c = int(rng.integers(1, 20))
        if op in ("conv1x1", "conv1x1_s4"):
            kh = kw = 1
            pads, dil = (0, 0, 0, 0), (1, 1)
        else:
            kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
            pads = tuple(int(rng.integers(0, k)) if k > 1 else 0 for k in (kh, kw, kh, kw))
            dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        in_h, in_w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        if _out_size(in_h, kh, stride[0], pads[0], pads[2], dil[0]) >= 1 and \
                _out_size(in_w, kw, stride[1], pads[1], pads[3], dil[1]) >= 1:
            bits = int(rng.choice([2, 4, 4])) if op.endswith("_s4") else None  # 2-bit ships as s4
            return conv_case(rng, op, in_h, in_w, in_c, out_c, kh, kw, stride, pads, dil,
                             bias=bool(rng.random() < 0.85), weight_bits=bits)


# ---- fully connected ---------------------------------------------------------------

def fc_case(rng, batch, k, m, label="", sparse_density=None, weight_bits=8):
    """An fc (weight_bits 8) / fc_s4 (weight_bits <= 4: packed weights) / fc_sparse case."""
    x_zp, y_zp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    x = rng.integers(-128, 128, size=(batch, k), dtype=np.int8)
    wmax = 1 << (int(weight_bits) - 1)
    w = rng.integers(-wmax, wmax, size=(m, k), dtype=np.int8)
    b = rng.integers(-(1 << 14), 1 << 14, size=m).astype(np.int32)
    mult, shift = _requant_consts(rng, m, k, wmax)
    act_min, act_max = _act_bounds(rng, y_zp)
    params = [batch, k, m, -x_zp, y_zp, act_min, act_max]
    if weight_bits <= 4:
        from ..lower.mcu import pack_s4
        y = qref.qgemm(x, w, b, x_zp, y_zp, mult, shift, act_min, act_max)
        return Case("fc_s4", params, [x, pack_s4(w), b, mult, shift], y.reshape(-1), batch * k * m, label)
    if sparse_density is None:
        y = qref.qgemm(x, w, b, x_zp, y_zp, mult, shift, act_min, act_max)
        return Case("fc", params, [x, w, b, mult, shift], y.reshape(-1), batch * k * m, label)
    if k % 4:
        raise ValueError("block-sparse FC needs in_features % 4 == 0")
    keep = rng.random((m, k // 4)) < sparse_density
    w = (w.reshape(m, k // 4, 4) * keep[:, :, None]).reshape(m, k).astype(np.int8)
    row_ptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.uint16)
    rows, cols = np.nonzero(keep)
    col_idx = cols.astype(np.uint16)
    values = w.reshape(m, k // 4, 4)[rows, cols].reshape(-1).astype(np.int8)
    y = qref.qgemm(x, w, b, x_zp, y_zp, mult, shift, act_min, act_max)  # the dense oracle
    return Case("fc_sparse", params, [x, row_ptr, col_idx, values, b, mult, shift], y.reshape(-1),
                batch * int(keep.sum()) * 4, label)


def random_fc(rng, op):
    batch = int(rng.integers(1, 4))
    m = int(rng.integers(1, 40))
    if op == "fc_sparse":
        return fc_case(rng, batch, 4 * int(rng.integers(1, 40)), m, sparse_density=float(rng.uniform(0, 1)))
    if op == "fc_s4":  # 2-bit weights ship in the s4 format too
        return fc_case(rng, batch, int(rng.integers(1, 200)), m, weight_bits=int(rng.choice([2, 4, 4])))
    return fc_case(rng, batch, int(rng.integers(1, 200)), m)


# ---- pooling -----------------------------------------------------------------------

def pool_case(rng, op, in_h, in_w, ch, k, stride, pads=(0, 0, 0, 0), label=""):
    x_zp, y_zp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    x = rng.integers(-128, 128, size=(1, ch, in_h, in_w), dtype=np.int8)
    t, l, bo, r = pads
    if op == "avgpool":
        real = float(rng.uniform(0.5, 2.0)) / (k[0] * k[1])
        mult, shift = (int(v[0]) for v in quantize_multiplier(real))
        act_min, act_max = _act_bounds(rng, y_zp)
        y = qref.qavgpool(x, x_zp, y_zp, mult, shift, list(k), list(stride), [t, l, bo, r], act_min, act_max)
    else:
        mult = shift = 0
        x_zp = y_zp = 0
        act_min, act_max = (-128, 127) if rng.random() < 0.5 else (int(rng.integers(-128, 0)), 127)
        xp = np.pad(x.astype(np.int32), [(0, 0), (0, 0), (t, bo), (l, r)], constant_values=-1000)
        oh = (in_h + t + bo - k[0]) // stride[0] + 1
        ow = (in_w + l + r - k[1]) // stride[1] + 1
        y = np.full((1, ch, oh, ow), -1000, np.int32)
        for ky in range(k[0]):
            for kx in range(k[1]):
                y = np.maximum(y, xp[:, :, ky:ky + stride[0] * (oh - 1) + 1:stride[0],
                                     kx:kx + stride[1] * (ow - 1) + 1:stride[1]])
        y = np.clip(y, act_min, act_max).astype(np.int8)
    _, _, oh, ow = y.shape
    params = [in_h, in_w, ch, oh, ow, k[0], k[1], stride[0], stride[1], t, l, -x_zp, y_zp, mult, shift,
              act_min, act_max]
    return Case(op, params, [x[0].transpose(1, 2, 0)], y[0].transpose(1, 2, 0).reshape(-1),
                oh * ow * ch * k[0] * k[1], label)


def random_pool(rng, op):
    while True:
        k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pads = tuple(int(rng.integers(0, kk)) for kk in (k[0], k[1], k[0], k[1]))
        in_h, in_w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        if in_h + pads[0] + pads[2] >= k[0] and in_w + pads[1] + pads[3] >= k[1]:
            return pool_case(rng, op, in_h, in_w, int(rng.integers(1, 40)), k, stride, pads)


# ---- add, softmax ------------------------------------------------------------------

def add_case(rng, n, label=""):
    a_zp, b_zp, y_zp = (int(v) for v in rng.integers(-128, 128, size=3))
    sa, sb, sy = (float(v) for v in rng.uniform(0.01, 0.1, size=3))
    (am, ash), (bm, bsh), (m, s) = qref.qadd_params(sa, sb, sy)
    act_min, act_max = _act_bounds(rng, y_zp)
    a = rng.integers(-128, 128, size=n, dtype=np.int8)
    b = rng.integers(-128, 128, size=n, dtype=np.int8)
    y = qref.qadd(a, b, a_zp, b_zp, y_zp, am, ash, bm, bsh, m, s, act_min, act_max)
    params = [-a_zp, am, ash, -b_zp, bm, bsh, m, s, y_zp, qref.QADD_LEFT_SHIFT, act_min, act_max, n]
    return Case("add", params, [a, b], y, n, label)


def softmax_case(rng, rows, row_len, label=""):
    table = qref.softmax_table(float(rng.uniform(0.01, 0.3)))
    x = rng.integers(-128, 128, size=(rows, row_len), dtype=np.int8)
    if rng.random() < 0.3:  # many equal maxima and a narrow range
        x = (x // 64).astype(np.int8)
    y = qref.qsoftmax(x, table)
    return Case("softmax", [rows, row_len], [x, table], y.reshape(-1), rows * row_len, label)


# ---- binary ------------------------------------------------------------------------

def _pack_bits(signs, axis_len):
    """+-1 array [..., C] -> uint32 words [..., ceil(C/32)], bit j of word i = channel 32i+j."""
    bits = (signs > 0).astype(np.uint64)
    words = (axis_len + 31) // 32
    padded = np.zeros(bits.shape[:-1] + (words * 32,), np.uint64)
    padded[..., :axis_len] = bits
    padded = padded.reshape(bits.shape[:-1] + (words, 32))
    return (padded << np.arange(32, dtype=np.uint64)).sum(axis=-1).astype(np.uint32)


def bconv_case(rng, in_h, in_w, in_c, out_c, k_h, k_w, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), label=""):
    x = rng.choice([-1, 1], size=(in_h, in_w, in_c)).astype(np.int64)
    w = rng.choice([-1, 1], size=(out_c, k_h, k_w, in_c)).astype(np.int64)
    t, l, bo, r = pads
    xp = np.pad(x, [(t, bo), (l, r), (0, 0)], constant_values=-1)  # padding is -1
    oh = _out_size(in_h, k_h, stride[0], t, bo, dil[0])
    ow = _out_size(in_w, k_w, stride[1], l, r, dil[1])
    y = np.zeros((oh, ow, out_c), np.int64)
    for ky in range(k_h):
        for kx in range(k_w):
            patch = xp[ky * dil[0]: ky * dil[0] + stride[0] * (oh - 1) + 1: stride[0],
                       kx * dil[1]: kx * dil[1] + stride[1] * (ow - 1) + 1: stride[1]]
            y += patch @ w[:, ky, kx, :].T
    params = [in_h, in_w, in_c, oh, ow, out_c, k_h, k_w, stride[0], stride[1], t, l, dil[0], dil[1]]
    return Case("bconv2d", params, [_pack_bits(x, in_c), _pack_bits(w, in_c)],
                y.astype(np.int32).reshape(-1), oh * ow * out_c * k_h * k_w * in_c, label)


def random_bconv(rng):
    while True:
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        pads = tuple(int(rng.integers(0, k)) if k > 1 else 0 for k in (kh, kw, kh, kw))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        in_h, in_w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        if _out_size(in_h, kh, stride[0], pads[0], pads[2], dil[0]) >= 1 and \
                _out_size(in_w, kw, stride[1], pads[1], pads[3], dil[1]) >= 1:
            return bconv_case(rng, in_h, in_w, int(rng.integers(1, 100)), int(rng.integers(1, 12)),
                              kh, kw, stride, pads, dil)


def bfc_case(rng, batch, k, m, label=""):
    x = rng.choice([-1, 1], size=(batch, k)).astype(np.int64)
    w = rng.choice([-1, 1], size=(m, k)).astype(np.int64)
    return Case("bfc", [batch, k, m], [_pack_bits(x, k), _pack_bits(w, k)],
                (x @ w.T).astype(np.int32).reshape(-1), batch * k * m, label)


def random_cases(op, n, seed=0):
    """n random cases of `op` (odd channel counts, K not a multiple of 4, strides, pads,
    dilations, all fused activations)."""
    if op not in OPS:
        raise ValueError(f"unknown kernel op {op!r}; known: {', '.join(OPS)}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if op in ("conv2d", "conv1x1", "dwconv2d", "conv2d_s4", "conv1x1_s4"):
            out.append(random_conv(rng, op))
        elif op in ("fc", "fc_sparse", "fc_s4"):
            out.append(random_fc(rng, op))
        elif op in ("avgpool", "maxpool"):
            out.append(random_pool(rng, op))
        elif op == "add":
            out.append(add_case(rng, int(rng.integers(1, 300))))
        elif op == "softmax":
            out.append(softmax_case(rng, int(rng.integers(1, 4)), int(rng.integers(1, 300))))
        elif op == "bconv2d":
            out.append(random_bconv(rng))
        else:
            out.append(bfc_case(rng, int(rng.integers(1, 3)), int(rng.integers(1, 300)), int(rng.integers(1, 20))))
    return out


def _align16(n):
    return (int(n) + 15) & ~15


def scratch_bytes(kernel, params):
    """Scratch bytes a kernel call needs, for every variant: the Python twin of the
    ek_<op>_s8_scratch_bytes functions of kernels/include/ek_s8.h (tests hold them equal).
    kernel: 'conv2d_s8', 'conv1x1_s8', 'fc_s8', ... (any other kernel needs 0);
    params: the fields of its C params struct by name (in_c, k_h, k_w, in_features ...)."""
    kernel = kernel[3:] if kernel.startswith("ek_") else kernel
    if kernel == "conv2d_s8":
        k = int(params["k_h"]) * int(params["k_w"]) * int(params["in_c"])
        return _align16(max(6 * (k + 4) * 2, 4 * _align16(k)))
    if kernel == "conv1x1_s8":
        return _align16(6 * (int(params["in_c"]) + 4) * 2)
    if kernel == "fc_s8":
        return _align16(((int(params["in_features"]) + 1) & ~1) * 2)
    if kernel in ("conv2d_s4", "conv1x1_s4", "fc_s4"):  # ek_s4.h
        k = int(params["in_features"]) if kernel == "fc_s4" else \
            int(params["in_c"]) * (1 if kernel == "conv1x1_s4" else int(params["k_h"]) * int(params["k_w"]))
        cols = _align16(max(4 * ((k + 7) & ~7) * 2, 4 * ((k + 31) & ~31)))
        if kernel == "conv2d_s4":
            return _align16(max(4 * ((k + 7) & ~7) * 2 + _align16(k), cols))
        return cols
    return 0


def parse_kernel_file(name):
    """'ek_conv2d_s8_dsp.c' -> ('conv2d', 's8', 'dsp')."""
    from pathlib import Path
    stem = Path(str(name)).stem
    parts = stem.split("_")
    if len(parts) < 4 or parts[0] != "ek":
        raise ValueError(f"{name}: not a kernel file name (ek_<op>_<dtype>_<isa>.c)")
    op, dtype, isa = "_".join(parts[1:-2]), parts[-2], parts[-1]
    if dtype == "s4":
        op = f"{op}_s4"
    if op not in OPS or DTYPE[op] != dtype:
        raise ValueError(f"{name}: no checker for op {op!r} with dtype {dtype!r}")
    return op, dtype, isa
