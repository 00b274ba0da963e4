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
