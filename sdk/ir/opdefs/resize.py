"""Resize (ONNX 11-19): the output size from `sizes` or `scales` (constant inputs)."""
import math

import numpy as np

from ..ops import register_op
from .layout import const_of, ints


def resize_plan(node, in_shape, scales, sizes):
    """(out_shape, per-axis scale) with `axes` and keep_aspect_ratio_policy resolved."""
    rank = len(in_shape)
    axes = node.attrs.get("axes")
    axes = [a % rank for a in axes] if axes is not None else list(range(rank))
    full_scales = [1.0] * rank
    out = list(in_shape)
    if sizes is not None and np.asarray(sizes).size > 0:
        sizes = ints(sizes)
        policy = node.attrs.get("keep_aspect_ratio_policy", "stretch")
        if policy == "stretch":
            for a, s in zip(axes, sizes):
                out[a] = s
                full_scales[a] = s / in_shape[a]
        else:
            pick = min if policy == "not_larger" else max
            sc = pick(s / in_shape[a] for a, s in zip(axes, sizes))
            for a in axes:
                out[a] = int(math.floor(sc * in_shape[a] + 0.5))
                full_scales[a] = sc
    else:
        sc = [float(v) for v in np.asarray(scales).reshape(-1)]
        for a, s in zip(axes, sc):
            full_scales[a] = s
            out[a] = int(math.floor(in_shape[a] * s))
    return tuple(out), full_scales


@register_op("Resize", defaults={"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                                 "nearest_mode": "round_prefer_floor", "cubic_coeff_a": -0.75,
                                 "exclude_outside": 0, "extrapolation_value": 0.0, "antialias": 0,
                                 "keep_aspect_ratio_policy": "stretch"})
def _resize(node, ins):
    x = ins[0]
    get = lambda i, n: const_of(ins[i], n) if len(ins) > i and ins[i] is not None else None  # noqa: E731
    out, _ = resize_plan(node, x.shape, get(2, "scales"), get(3, "sizes"))
    return [(out, x.dtype)]
