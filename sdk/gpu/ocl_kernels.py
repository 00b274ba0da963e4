"""Launchers of the hand-written OpenCL kernels (kernels/opencl), numpy in, numpy out.

The `enqueue_*` functions work on device buffers (used by the graph executor, so
activations stay on the device); the plain functions wrap them for tests and benches.
Host-side constants are computed here, never on the device: the input zero point is
folded into the bias (bias_eff = bias - x_zp * rowsum(w)), see ek_gemm_s8_ocl.cl.
`ref=True` launches the untiled _ref twin with the same arguments.
"""
import numpy as np

from ..errors import DeviceError
from .opencl import default_runtime, has_fp16

GEMM_TILE = 32       # EK_TM = EK_TN in the tiled kernels
GEMM_WG = (8, 8)     # EK_WG x EK_WG work-items per group


def _i32(v):
    return np.int32(int(v))


def _round_up(v, m):
    return (v + m - 1) // m * m


def fold_bias(w2d, bias, x_zp):
    """bias_eff[m] = bias[m] - x_zp * sum_k w[m, k], in int32 wrap-around like the device."""
    rows = w2d.astype(np.int64).sum(axis=1)
    b = np.zeros(w2d.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)
    return ((b - int(x_zp) * rows + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def gemm_launch_dims(N, M, ref=False):
    """(global, local) sizes of the local-memory tiled ek_gemm_s8_ocl / ek_bgemm_b1_ocl / ek_gemm_f16_ocl."""
    if ref:
        return (int(M), int(N)), None
    return (_round_up(M, GEMM_TILE) // GEMM_TILE * GEMM_WG[0],
            _round_up(N, GEMM_TILE) // GEMM_TILE * GEMM_WG[1]), GEMM_WG


# The int8 GEMM comes in three shapes with one signature: "tiled" (local-memory tiles,
# for GPUs), "vec" (register tiles + int16 vectors along K, for CPU OpenCL such as
# PoCL) and "ref" (one output per work-item, the _ref twin).
GEMM_S8_VARIANTS = {"tiled": "ek_gemm_s8_ocl", "vec": "ek_gemm_s8_ocl_vec", "ref": "ek_gemm_s8_ocl_ref"}


def gemm_s8_launch(N, M, variant):
    if variant == "vec":
        return (-(-int(N) // 2), -(-int(M) // 4)), None
    return gemm_launch_dims(N, M, ref=(variant == "ref"))


def default_gemm_variant(dev):
    """vec on CPU devices, tiled on GPUs."""
    import pyopencl as cl
    return "vec" if dev.type & cl.device_type.CPU else "tiled"


def enqueue_gemm_s8(rt, x, x_off, ldx, w, w_off, bias_eff, mult, shift, ch_off, y, y_off, y_rs, y_cs,
                    N, M, K, y_zp, act_min, act_max, ref=False, variant=None):
    variant = "ref" if ref else (variant or default_gemm_variant(rt.device))
    k = rt.kernel("ek_gemm_s8_ocl.cl", GEMM_S8_VARIANTS[variant])
    gsz, lsz = gemm_s8_launch(N, M, variant)
    return k(rt.queue, gsz, lsz, x, _i32(x_off), _i32(ldx), w, _i32(w_off), bias_eff, mult, shift,
             _i32(ch_off), y, _i32(y_off), _i32(y_rs), _i32(y_cs), _i32(N), _i32(M), _i32(K),
             _i32(y_zp), _i32(act_min), _i32(act_max))


def gemm_s8(x, w, bias, x_zp, y_zp, mult, shift, act_min=-128, act_max=127, ref=False, rt=None, variant=None):
    """QGemm: x int8 [N, K], w int8 [M, K] -> y int8 [N, M] (bit-exact with reference.qgemm)."""
    rt = rt or default_runtime()
    x = np.ascontiguousarray(x, np.int8)
    w = np.ascontiguousarray(w, np.int8)
    N, K = x.shape
    M = w.shape[0]
    m = np.broadcast_to(np.asarray(mult, np.int32), (M,)).copy()
    s = np.broadcast_to(np.asarray(shift, np.int32), (M,)).copy()
    y = rt.empty(N * M)
    enqueue_gemm_s8(rt, rt.to_device(x), 0, K, rt.to_device(w), 0, rt.to_device(fold_bias(w, bias, x_zp)),
                    rt.to_device(m), rt.to_device(s), 0, y, 0, M, 1, N, M, K, y_zp, act_min, act_max, ref, variant)
    return rt.to_host(y, (N, M), np.int8)


class ConvGeometry:
    """NCHW conv geometry with ONNX pads [top, left, bottom, right]."""

    def __init__(self, x_shape, w_shape, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1):
        self.N, self.C, self.H, self.W = (int(v) for v in x_shape)
        self.O, self.Cg, self.kh, self.kw = (int(v) for v in w_shape)
        self.sh, self.sw = (int(v) for v in strides)
        self.ph, self.pw = int(pads[0]), int(pads[1])
        self.ph_end, self.pw_end = int(pads[2]), int(pads[3])
        self.dh, self.dw = (int(v) for v in dilations)
        self.G = int(group)
        self.OH = (self.H + self.ph + self.ph_end - self.dh * (self.kh - 1) - 1) // self.sh + 1
        self.OW = (self.W + self.pw + self.pw_end - self.dw * (self.kw - 1) - 1) // self.sw + 1
        self.Og = self.O // self.G
        self.Kg = self.Cg * self.kh * self.kw
        self.P = self.OH * self.OW

    @property
    def depthwise(self):
        return self.Cg == 1 and self.G == self.C and self.G > 1

    @property
    def pointwise(self):
        """1x1, stride 1, no padding, one group: a plain [O, C] x [C, P] product in NCHW."""
        return (self.kh, self.kw, self.sh, self.sw, self.G) == (1, 1, 1, 1, 1) and \
            (self.ph, self.pw, self.ph_end, self.pw_end) == (0, 0, 0, 0)

    @property
    def macs(self):
        return self.N * self.O * self.P * self.Kg

    def col_bytes(self):
        """Scratch of the im2col path (one group of one image at a time)."""
        return self.P * self.Kg


def enqueue_conv_s8(rt, g, x, w, bias_eff, mult, shift, y, col, x_zp, y_zp, act_min, act_max, ref=False,
                    variant=None):
    """im2col + GEMM per (image, group); `col` is scratch of g.col_bytes() bytes."""
    im2col = rt.kernel("ek_im2col_s8_ocl.cl", "ek_im2col_s8_ocl")
    for n in range(g.N):
        for gi in range(g.G):
            x_off = (n * g.C + gi * g.Cg) * g.H * g.W
            im2col(rt.queue, (g.Cg, g.P), None, x, _i32(x_off), _i32(g.Cg), _i32(g.H), _i32(g.W),
                   _i32(g.kh), _i32(g.kw), _i32(g.sh), _i32(g.sw), _i32(g.ph), _i32(g.pw),
                   _i32(g.dh), _i32(g.dw), _i32(g.OH), _i32(g.OW), _i32(x_zp), col)
            # y is NCHW: row p of the GEMM is pixel p, column m is channel gi*Og + m.
            enqueue_gemm_s8(rt, col, 0, g.Kg, w, gi * g.Og * g.Kg, bias_eff, mult, shift, gi * g.Og,
                            y, (n * g.O + gi * g.Og) * g.P, 1, g.P, g.P, g.Og, g.Kg,
                            y_zp, act_min, act_max, ref, variant)


def enqueue_dwconv_s8(rt, g, x, w, bias, mult, shift, y, x_zp, y_zp, act_min, act_max, ref=False):
    k = rt.kernel("ek_dwconv_s8_ocl.cl", "ek_dwconv_s8_ocl_ref" if ref else "ek_dwconv_s8_ocl")
    return k(rt.queue, (g.OW, g.OH, g.N * g.O), None, x, w, bias, mult, shift, y,
             *[_i32(v) for v in (g.C, g.H, g.W, g.O, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                                 g.OH, g.OW, x_zp, y_zp, act_min, act_max)])


def conv1x1_launch(g, ref=False):
    if ref:
        return (g.P, g.O, g.N), None
    return (-(-g.P // 16), -(-g.O // 4), g.N), None


def enqueue_conv1x1_s8(rt, g, x, w, bias_eff, mult, shift, y, y_zp, act_min, act_max, ref=False):
    k = rt.kernel("ek_conv1x1_s8_ocl.cl", "ek_conv1x1_s8_ocl_ref" if ref else "ek_conv1x1_s8_ocl")
    gsz, lsz = conv1x1_launch(g, ref)
    return k(rt.queue, gsz, lsz, x, w, bias_eff, mult, shift, y,
             *[_i32(v) for v in (g.C, g.P, g.O, y_zp, act_min, act_max)])


# On CPU devices, convs whose GEMM depth Cg*kh*kw is at most this run as a direct conv
# (ek_conv_s8_ocl): below 16 terms the vector GEMM cannot use its 16-wide K loop, and
# im2col + GEMM costs more in the copy than in the MACs. Measured on PoCL with OpenCL
# profiling: K=9 (28x28, 16 ch) 60 us direct vs 93 us im2col+GEMM; at K=27 the two tie
# (203 vs 226 us at 96x96 s2, 178 vs 167 us at 32x32), at K>=40 im2col+GEMM wins 2x.
DIRECT_CONV_MAX_K = 15


def direct_conv_launch(g, ref=False):
    if ref:
        return (g.P, g.O, g.N), None
    return (-(-g.P // 16), -(-g.O // 4), g.N), None


def enqueue_direct_conv_s8(rt, g, x, w, bias_eff, mult, shift, y, x_zp, y_zp, act_min, act_max, ref=False):
    k = rt.kernel("ek_conv_s8_ocl.cl", "ek_conv_s8_ocl_ref" if ref else "ek_conv_s8_ocl")
    gsz, lsz = direct_conv_launch(g, ref)
    return k(rt.queue, gsz, lsz, x, w, bias_eff, mult, shift, y,
             *[_i32(v) for v in (g.C, g.H, g.W, g.O, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                                 g.OH, g.OW, x_zp, y_zp, act_min, act_max)])


def _per_channel(v, n):
    return np.broadcast_to(np.asarray(v, np.int32).reshape(-1), (n,)).copy()


def conv2d_s8(x, w, bias, x_zp, y_zp, mult, shift, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
              group=1, act_min=-128, act_max=127, ref=False, rt=None, variant=None, pointwise=True,
              direct=False):
    """QConv on NCHW int8: depthwise kernel when group == C (Cg == 1), the pointwise kernel
    for 1x1/stride 1/no padding, else im2col + GEMM (`pointwise=False` forces im2col)."""
    rt = rt or default_runtime()
    x = np.ascontiguousarray(x, np.int8)
    w = np.ascontiguousarray(w, np.int8)
    g = ConvGeometry(x.shape, w.shape, strides, pads, dilations, group)
    m, s = _per_channel(mult, g.O), _per_channel(shift, g.O)
    y = rt.empty(g.N * g.O * g.P)
    if g.depthwise:
        b = np.zeros(g.O, np.int32) if bias is None else np.asarray(bias, np.int32)
        enqueue_dwconv_s8(rt, g, rt.to_device(x), rt.to_device(w), rt.to_device(b), rt.to_device(m),
                          rt.to_device(s), y, x_zp, y_zp, act_min, act_max, ref)
    elif direct and g.G == 1:
        w2 = w.reshape(g.O, g.Kg)
        enqueue_direct_conv_s8(rt, g, rt.to_device(x), rt.to_device(w2), rt.to_device(fold_bias(w2, bias, x_zp)),
                               rt.to_device(m), rt.to_device(s), y, x_zp, y_zp, act_min, act_max, ref)
    elif pointwise and g.pointwise:
        w2 = w.reshape(g.O, g.Kg)
        enqueue_conv1x1_s8(rt, g, rt.to_device(x), rt.to_device(w2), rt.to_device(fold_bias(w2, bias, x_zp)),
                           rt.to_device(m), rt.to_device(s), y, y_zp, act_min, act_max, ref)
    else:
        w2 = w.reshape(g.O, g.Kg)
        beff = fold_bias(w2, bias, x_zp)
        enqueue_conv_s8(rt, g, rt.to_device(x), rt.to_device(w2), rt.to_device(beff), rt.to_device(m),
                        rt.to_device(s), y, rt.empty(g.col_bytes()), x_zp, y_zp, act_min, act_max, ref, variant)
    return rt.to_host(y, (g.N, g.O, g.OH, g.OW), np.int8)


def enqueue_bgemm_b1(rt, x, w, y, N, M, KW, K, ref=False):
    k = rt.kernel("ek_bgemm_b1_ocl.cl", "ek_bgemm_b1_ocl_ref" if ref else "ek_bgemm_b1_ocl")
    gsz, lsz = gemm_launch_dims(N, M, ref)
    return k(rt.queue, gsz, lsz, x, w, y, _i32(N), _i32(M), _i32(KW), _i32(K))


def bgemm_b1(x_words, w_words, K, ref=False, rt=None):
    """BGemm: packed x [N, KW], w [M, KW] uint32 -> int32 [N, M] = K - 2 popcount(x ^ w)."""
    rt = rt or default_runtime()
    x = np.ascontiguousarray(x_words, np.uint32)
    w = np.ascontiguousarray(w_words, np.uint32)
    N, KW = x.shape
    M = w.shape[0]
    y = rt.empty(4 * N * M)
    enqueue_bgemm_b1(rt, rt.to_device(x), rt.to_device(w), y, N, M, KW, K, ref)
    return rt.to_host(y, (N, M), np.int32)


def gemm_f16(x, w, b, relu=False, ref=False, rt=None, as_float=False):
    """FP16 GEMM y = x @ w.T + b (half storage, float accumulation).

    Needs cl_khr_fp16; `as_float=True` runs the same kernel with float storage (a test of
    the tiling on devices without half), taking and returning float32.
    """
    rt = rt or default_runtime()
    if not as_float and not has_fp16(rt.device):
        raise DeviceError(f"FP16 requested but OpenCL device '{rt.device.name.strip()}' has no cl_khr_fp16")
    dt = np.float32 if as_float else np.float16
    x = np.ascontiguousarray(x, dt)
    w = np.ascontiguousarray(w, dt)
    b = np.ascontiguousarray(np.zeros(w.shape[0]) if b is None else b, dt)
    N, K = x.shape
    M = w.shape[0]
    opts = ("-DEK_FP16_AS_FLOAT",) if as_float else ()
    k = rt.kernel("ek_gemm_f16_ocl.cl", "ek_gemm_f16_ocl_ref" if ref else "ek_gemm_f16_ocl", opts)
    gsz, lsz = gemm_launch_dims(N, M, ref)
    y = rt.empty(np.dtype(dt).itemsize * N * M)
    k(rt.queue, gsz, lsz, rt.to_device(x), rt.to_device(w), rt.to_device(b), y,
      _i32(N), _i32(M), _i32(K), _i32(1 if relu else 0))
    return rt.to_host(y, (N, M), dt)
