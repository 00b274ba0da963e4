"""Pooling: MaxPool, AveragePool (ONNX pads/auto_pad/ceil_mode/dilations), global pools."""
from ..ops import register_op


def pool_geometry(node, in_spatial):
    """(kernel, strides, pads[begin..., end...], dilations, out_spatial) with ONNX rules."""
    k = list(node.attrs["kernel_shape"])
    n = len(k)
    strides = list(node.attrs.get("strides") or [1] * n)
    dil = list(node.attrs.get("dilations") or [1] * n)
    pads = list(node.attrs.get("pads") or [0] * (2 * n))
    ceil = int(node.attrs.get("ceil_mode", 0))
    auto = node.attrs.get("auto_pad", "NOTSET")
    if isinstance(auto, bytes):
        auto = auto.decode()
    out = []
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * n)
        for i in range(n):
            o = -(-in_spatial[i] // strides[i])
            total = max(0, (o - 1) * strides[i] + (k[i] - 1) * dil[i] + 1 - in_spatial[i])
            small, big = total // 2, total - total // 2
            pads[i], pads[i + n] = (small, big) if auto == "SAME_UPPER" else (big, small)
            out.append(o)
        return k, strides, pads, dil, out
    if auto == "VALID":
        pads = [0] * (2 * n)
    for i in range(n):
        span = in_spatial[i] + pads[i] + pads[i + n] - ((k[i] - 1) * dil[i] + 1)
        o = (-(-span // strides[i]) if ceil else span // strides[i]) + 1
        # With ceil_mode the last window must start inside the input or the left padding.
        if ceil and (o - 1) * strides[i] >= in_spatial[i] + pads[i]:
            o -= 1
        out.append(o)
    return k, strides, pads, dil, out


def _pool(node, ins):
    x = ins[0]
    *_, out = pool_geometry(node, x.shape[2:])
    res = [((x.shape[0], x.shape[1], *out), x.dtype)]
    if node.op == "MaxPool":
        res.append(((x.shape[0], x.shape[1], *out), "s64"))
    return res


register_op("MaxPool", defaults={"auto_pad": "NOTSET", "ceil_mode": 0, "storage_order": 0})(_pool)
register_op("AveragePool", defaults={"auto_pad": "NOTSET", "ceil_mode": 0, "count_include_pad": 0})(_pool)
register_op("LpPool", defaults={"auto_pad": "NOTSET", "ceil_mode": 0, "p": 2})(_pool)


def _global(node, ins):
    x = ins[0]
    return [((x.shape[0], x.shape[1]) + (1,) * (len(x.shape) - 2), x.dtype)]


for _op in ("GlobalAveragePool", "GlobalMaxPool"):
    register_op(_op)(_global)
