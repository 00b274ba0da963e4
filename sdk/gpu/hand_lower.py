"""Lower one IR layer onto the hand-written GPU kernels, as a JSON-able launch list.

A launch is {"program", "kernel", "args", "global" | "grid", "local" | "block"}:
`program` is a kernel file of kernels/opencl or kernels/cuda, `args` are buffer names
or {"i32": value} scalars. The host-side constants (folded bias, per-channel
multiplier/shift, padded weights) are computed here, once, and become named constant
buffers. The same plan format carries the TVM-generated kernels (program "tvm"), so one
runner executes a whole build folder.
"""
import numpy as np

from ..errors import EdgeError
from ..ir.opdefs.conv import conv_geometry
from .ocl_kernels import (DIRECT_CONV_MAX_K, GEMM_S8_VARIANTS, GEMM_TILE, GEMM_WG, ConvGeometry, conv1x1_launch,
                          direct_conv_launch, fold_bias, gemm_s8_launch)

CUDA_TILE = 64      # EK_T of ek_gemm_s8_cuda / ek_bgemm_b1_cuda
CUDA_BLOCK = 16     # EK_B


def _i(v):
    return {"i32": int(v)}


def _per_channel(v, n):
    return np.broadcast_to(np.asarray(v, np.int32).reshape(-1), (n,)).copy()


def hand_kernel_for(graph, node, api, dtype, fp16=False):
    """Name of the hand kernel that runs `node` for this api/dtype, or None (TVM runs it)."""
    if api == "opencl" and node.op in ("Binarize", "BConv", "BGemm", "Cast"):
        from .binary_lower import kernel_for
        return kernel_for(graph, node)
    if api == "opencl" and node.op in ("QAdd", "MaxPool", "QAvgPool", "QGlobalAvgPool"):
        from .int8_lower import kernel_for
        return kernel_for(graph, node)
    if node.op == "QConv":
        x = graph.tensors[node.inputs[0]]
        w = graph.tensors[node.inputs[1]]
        if len(x.shape) != 4 or not w.is_const:
            return None
        g = int(node.attrs.get("group", 1))
        if w.shape[1] == 1 and g == x.shape[1] and g > 1:
            return "ek_dwconv_s8_ocl" if api == "opencl" else "ek_dwconv_s8_cuda"
        if api == "opencl" and _conv_geom(graph, node).pointwise:
            return "ek_conv1x1_s8_ocl"
        return "ek_gemm_s8_ocl" if api == "opencl" else "ek_gemm_s8_cuda"
    if node.op == "QGemm":
        w = graph.tensors[node.inputs[1]]
        if not w.is_const:
            return None
        if api == "cuda" and w.shape[1] % 4:
            return None   # dp4a reads 4-byte rows; the activation is not padded in memory
        return "ek_gemm_s8_ocl" if api == "opencl" else "ek_gemm_s8_cuda"
    if node.op == "Gemm" and dtype == "f16" and fp16 and not node.attrs.get("transA", 0) \
            and node.attrs.get("transB", 0) and graph.tensors[node.inputs[1]].is_const \
            and node.attrs.get("activation", "none") in ("none", "relu"):
        return "ek_gemm_f16_ocl" if api == "opencl" else None
    return None


def _requant_consts(node, m):
    a = node.attrs
    return _per_channel(a["multiplier"], m), _per_channel(a["shift"], m), \
        int(a["x_zp"]), int(a["y_zp"]), int(a.get("act_min", -128)), int(a.get("act_max", 127))


def lower_hand(graph, node, kernel, api, device_type="gpu"):
    """-> {"launches": [...], "consts": {name: array}, "buffers": {name: {shape, dtype}}}.

    device_type "cpu" picks the register-tiled vector GEMM (ek_gemm_s8_ocl_vec), "gpu"
    the local-memory tiled one (ek_gemm_s8_ocl)."""
    if kernel in ("ek_gemm_s8_ocl", "ek_dwconv_s8_ocl", "ek_conv1x1_s8_ocl"):
        return _opencl_int8(graph, node, kernel, "vec" if device_type == "cpu" else "tiled")
    if kernel == "ek_gemm_s8_cuda":
        return _cuda_int8(graph, node)
    if kernel == "ek_dwconv_s8_cuda":
        from .cuda_dwconv import lower as lower_cuda_dwconv
        return lower_cuda_dwconv(graph, node)
    from . import binary_lower
    if kernel in binary_lower.KERNELS:
        return binary_lower.lower(graph, node, kernel, device_type)
    from . import int8_lower
    if kernel in int8_lower.KERNELS:
        return int8_lower.lower(graph, node, kernel)
    if kernel == "ek_gemm_f16_ocl":
        return _opencl_f16(graph, node)
    raise EdgeError(f"node {node.name}: no hand kernel {kernel!r}")


def _gemm_ocl_launch(x, x_off, ldx, w, w_off, beff, mult, shift, ch_off, y, y_off, y_rs, y_cs, N, M, K,
                     y_zp, lo, hi, variant):
    gsz, lsz = gemm_s8_launch(N, M, variant)
    return {"program": "ek_gemm_s8_ocl.cl", "kernel": GEMM_S8_VARIANTS[variant],
            "args": [x, _i(x_off), _i(ldx), w, _i(w_off), beff, mult, shift, _i(ch_off), y, _i(y_off),
                     _i(y_rs), _i(y_cs), _i(N), _i(M), _i(K), _i(y_zp), _i(lo), _i(hi)],
            "global": list(gsz), "local": None if lsz is None else list(lsz)}


def _conv_geom(graph, node):
    x = graph.tensors[node.inputs[0]]
    w = graph.tensors[node.inputs[1]]
    strides, pads, dil = conv_geometry(node, x.shape, w.shape)
    return ConvGeometry(x.shape, w.shape, strides, pads, dil, node.attrs.get("group", 1))


def _opencl_int8(graph, node, kernel, variant):
    name = node.name
    x, y = node.inputs[0], node.outputs[0]
    w = np.asarray(graph.tensors[node.inputs[1]].data, np.int8)
    bias = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    consts, buffers, launches = {}, {}, []
    M = w.shape[0]
    mult, shift, x_zp, y_zp, lo, hi = _requant_consts(node, M)
    consts[f"{name}/mult"], consts[f"{name}/shift"] = mult, shift
    if node.op == "QGemm":
        N, K = graph.tensors[x].shape
        consts[f"{name}/w"] = w
        consts[f"{name}/bias_eff"] = fold_bias(w, bias, x_zp)
        launches.append(_gemm_ocl_launch(x, 0, K, f"{name}/w", 0, f"{name}/bias_eff", f"{name}/mult",
                                         f"{name}/shift", 0, y, 0, M, 1, N, M, K, y_zp, lo, hi, variant))
        return {"launches": launches, "consts": consts, "buffers": buffers}
    g = _conv_geom(graph, node)
    if kernel == "ek_dwconv_s8_ocl":
        consts[f"{name}/w"] = w
        consts[f"{name}/bias"] = np.zeros(M, np.int32) if bias is None else np.asarray(bias, np.int32)
        launches.append({"program": "ek_dwconv_s8_ocl.cl", "kernel": "ek_dwconv_s8_ocl",
                         "args": [x, f"{name}/w", f"{name}/bias", f"{name}/mult", f"{name}/shift", y,
                                  *[_i(v) for v in (g.C, g.H, g.W, g.O, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
                                                    g.dh, g.dw, g.OH, g.OW, x_zp, y_zp, lo, hi)]],
                         "global": [g.OW, g.OH, g.N * g.O], "local": None})
        return {"launches": launches, "consts": consts, "buffers": buffers}
    w2 = w.reshape(M, g.Kg)
    consts[f"{name}/w"] = w2
    consts[f"{name}/bias_eff"] = fold_bias(w2, bias, x_zp)
    if kernel == "ek_conv1x1_s8_ocl":
        gsz, _ = conv1x1_launch(g)
        launches.append({"program": "ek_conv1x1_s8_ocl.cl", "kernel": "ek_conv1x1_s8_ocl",
                         "args": [x, f"{name}/w", f"{name}/bias_eff", f"{name}/mult", f"{name}/shift", y,
                                  *[_i(v) for v in (g.C, g.P, g.O, y_zp, lo, hi)]],
                         "global": list(gsz), "local": None})
        return {"launches": launches, "consts": consts, "buffers": buffers}
    if variant == "vec" and g.G == 1 and g.Kg <= DIRECT_CONV_MAX_K:
        gsz, _ = direct_conv_launch(g)
        launches.append({"program": "ek_conv_s8_ocl.cl", "kernel": "ek_conv_s8_ocl",
                         "args": [x, f"{name}/w", f"{name}/bias_eff", f"{name}/mult", f"{name}/shift", y,
                                  *[_i(v) for v in (g.C, g.H, g.W, g.O, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh,
                                                    g.dw, g.OH, g.OW, x_zp, y_zp, lo, hi)]],
                         "global": list(gsz), "local": None})
        return {"launches": launches, "consts": consts, "buffers": buffers}
    col = f"{name}/col"
    buffers[col] = {"shape": [g.P, g.Kg], "dtype": "int8"}
    for n in range(g.N):
        for gi in range(g.G):
            launches.append({"program": "ek_im2col_s8_ocl.cl", "kernel": "ek_im2col_s8_ocl",
                             "args": [x, _i((n * g.C + gi * g.Cg) * g.H * g.W), _i(g.Cg), _i(g.H), _i(g.W),
                                      _i(g.kh), _i(g.kw), _i(g.sh), _i(g.sw), _i(g.ph), _i(g.pw), _i(g.dh),
                                      _i(g.dw), _i(g.OH), _i(g.OW), _i(x_zp), col],
                             "global": [g.Cg, g.P], "local": None})
            launches.append(_gemm_ocl_launch(col, 0, g.Kg, f"{name}/w", gi * g.Og * g.Kg, f"{name}/bias_eff",
                                             f"{name}/mult", f"{name}/shift", gi * g.Og, y,
                                             (n * g.O + gi * g.Og) * g.P, 1, g.P, g.P, g.Og, g.Kg, y_zp, lo, hi,
                                             variant))
    return {"launches": launches, "consts": consts, "buffers": buffers}


def _opencl_f16(graph, node):
    name = node.name
    x, y = node.inputs[0], node.outputs[0]
    w = np.asarray(graph.tensors[node.inputs[1]].data, np.float16)
    M, K = w.shape
    N = graph.tensors[x].shape[0]
    b = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    consts = {f"{name}/w": w, f"{name}/b": np.zeros(M, np.float16) if b is None else np.asarray(b, np.float16).reshape(M)}
    relu = 1 if node.attrs.get("activation", "none") == "relu" else 0
    launch = {"program": "ek_gemm_f16_ocl.cl", "kernel": "ek_gemm_f16_ocl",
              "args": [x, f"{name}/w", f"{name}/b", y, _i(N), _i(M), _i(K), _i(relu)],
              "global": [-(-M // GEMM_TILE) * GEMM_WG[0], -(-N // GEMM_TILE) * GEMM_WG[1]], "local": list(GEMM_WG)}
    return {"launches": [launch], "consts": consts, "buffers": {}}


def _cuda_int8(graph, node):
    """dp4a GEMM (+ im2col for convs); K padded to a multiple of 4 with zero weights."""
    name = node.name
    x, y = node.inputs[0], node.outputs[0]
    w = np.asarray(graph.tensors[node.inputs[1]].data, np.int8)
    bias = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    M = w.shape[0]
    mult, shift, x_zp, y_zp, lo, hi = _requant_consts(node, M)
    consts = {f"{name}/mult": mult, f"{name}/shift": shift}
    buffers, launches = {}, []

    def gemm(xb, wb, N, Kp, y_rs, y_cs, y_name):
        return {"program": "ek_gemm_s8_cuda.cu", "kernel": "ek_gemm_s8_cuda",
                "args": [xb, wb, f"{name}/bias_eff", f"{name}/mult", f"{name}/shift", y_name,
                         _i(N), _i(M), _i(Kp), _i(y_rs), _i(y_cs), _i(y_zp), _i(lo), _i(hi)],
                "grid": [-(-M // CUDA_TILE), -(-N // CUDA_TILE), 1], "block": [CUDA_BLOCK, CUDA_BLOCK, 1]}

    if node.op == "QGemm":
        N, K = graph.tensors[x].shape
        consts[f"{name}/w"] = w
        consts[f"{name}/bias_eff"] = fold_bias(w, bias, x_zp)
        launches.append(gemm(x, f"{name}/w", N, K, M, 1, y))
        return {"launches": launches, "consts": consts, "buffers": buffers}
    g = _conv_geom(graph, node)
    if g.G != 1 or g.N != 1:
        raise EdgeError(f"node {name}: the CUDA dp4a conv takes group=1, batch 1 (got group {g.G}, batch {g.N})")
    Kp = -(-g.Kg // 4) * 4
    wp = np.zeros((M, Kp), np.int8)
    wp[:, :g.Kg] = w.reshape(M, g.Kg)
    consts[f"{name}/w"] = wp
    consts[f"{name}/bias_eff"] = fold_bias(wp, bias, x_zp)
    col = f"{name}/col"
    buffers[col] = {"shape": [g.P, Kp], "dtype": "int8"}
    launches.append({"program": "ek_gemm_s8_cuda.cu", "kernel": "ek_im2col_s8_cuda",
                     "args": [x, *[_i(v) for v in (g.Cg, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                                                   g.OH, g.OW, Kp, x_zp)], col],
                     "grid": [-(-g.P // 256), Kp, 1], "block": [256, 1, 1]})
    launches.append(gemm(col, f"{name}/w", g.P, Kp, 1, g.P, y))
    return {"launches": launches, "consts": consts, "buffers": buffers}
