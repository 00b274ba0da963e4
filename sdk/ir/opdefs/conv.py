"""Conv: ONNX semantics (NCHW input, OIHW weight, optional bias)."""
from ..ops import register_op


def conv_out_dim(size, k, stride, pad_begin, pad_end, dilation):
    return (size + pad_begin + pad_end - dilation * (k - 1) - 1) // stride + 1


def conv_geometry(node, x_shape, w_shape):
    """(strides, pads[begin..., end...], dilations) with ONNX defaults and auto_pad resolved."""
    nsp = len(x_shape) - 2
    strides = list(node.attrs.get("strides") or [1] * nsp)
    dil = list(node.attrs.get("dilations") or [1] * nsp)
    pads = list(node.attrs.get("pads") or [0] * (2 * nsp))
    auto = node.attrs.get("auto_pad", "NOTSET")
    if isinstance(auto, bytes):
        auto = auto.decode()
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * nsp)
        for i in range(nsp):
            out = -(-x_shape[2 + i] // strides[i])
            total = max(0, (out - 1) * strides[i] + dil[i] * (w_shape[2 + i] - 1) + 1 - x_shape[2 + i])
            small, big = total // 2, total - total // 2
            pads[i], pads[i + nsp] = (small, big) if auto == "SAME_UPPER" else (big, small)
    elif auto == "VALID":
        pads = [0] * (2 * nsp)
    return strides, pads, dil


@register_op("Conv", defaults={"group": 1, "auto_pad": "NOTSET"})
def _conv(node, ins):
    x, w = ins[0], ins[1]
    strides, pads, dil = conv_geometry(node, x.shape, w.shape)
    nsp = len(x.shape) - 2
    if x.shape[1] != w.shape[1] * node.attrs.get("group", 1):
        raise ValueError(f"input channels {x.shape[1]} != weight in-channels {w.shape[1]} x group {node.attrs.get('group', 1)}")
    spatial = [conv_out_dim(x.shape[2 + i], w.shape[2 + i], strides[i], pads[i], pads[i + nsp], dil[i]) for i in range(nsp)]
    return [((x.shape[0], w.shape[0], *spatial), x.dtype)]


def conv_transpose_geometry(node, x_shape, w_shape):
    """(strides, pads[begin..., end...], dilations, output_padding, out_spatial) per ONNX."""
    nsp = len(x_shape) - 2
    strides = list(node.attrs.get("strides") or [1] * nsp)
    dil = list(node.attrs.get("dilations") or [1] * nsp)
    opad = list(node.attrs.get("output_padding") or [0] * nsp)
    pads = list(node.attrs.get("pads") or [0] * (2 * nsp))
    auto = node.attrs.get("auto_pad", "NOTSET")
    if isinstance(auto, bytes):
        auto = auto.decode()
    k = w_shape[2:]
    full = [strides[i] * (x_shape[2 + i] - 1) + opad[i] + (k[i] - 1) * dil[i] + 1 for i in range(nsp)]
    out_shape = node.attrs.get("output_shape")
    if out_shape is not None:
        out_shape = list(out_shape)[-nsp:]
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = [x_shape[2 + i] * strides[i] for i in range(nsp)]
    if out_shape is not None:
        for i in range(nsp):
            total = full[i] - out_shape[i]
            if auto == "SAME_UPPER":
                pads[i], pads[i + nsp] = total // 2, total - total // 2
            else:
                pads[i], pads[i + nsp] = total - total // 2, total // 2
        return strides, pads, dil, opad, out_shape
    out = [full[i] - pads[i] - pads[i + nsp] for i in range(nsp)]
    return strides, pads, dil, opad, out


@register_op("ConvTranspose", defaults={"group": 1, "auto_pad": "NOTSET"})
def _conv_transpose(node, ins):
    x, w = ins[0], ins[1]
    g = node.attrs.get("group", 1)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"input channels {x.shape[1]} != weight dim 0 {w.shape[0]}")
    *_, out = conv_transpose_geometry(node, x.shape, w.shape)
    return [((x.shape[0], w.shape[1] * g, *out), x.dtype)]
