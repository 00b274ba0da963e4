"""Normalizations (inference): BatchNormalization, LayerNormalization, InstanceNormalization."""
from ...errors import UnsupportedModeError
from ..ops import register_op


@register_op("BatchNormalization", defaults={"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0})
def _bn(node, ins):
    if node.attrs.get("training_mode", 0):
        raise UnsupportedModeError(f"node {node.name} (BatchNormalization): training_mode=1 is not supported "
                                   f"(inference only)")
    return [(ins[0].shape, ins[0].dtype)]


@register_op("LayerNormalization", defaults={"axis": -1, "epsilon": 1e-5, "stash_type": 1})
def _ln(node, ins):
    x = ins[0]
    axis = node.attrs.get("axis", -1) % len(x.shape)
    stat = tuple(x.shape[:axis]) + (1,) * (len(x.shape) - axis)
    return [(x.shape, x.dtype), (stat, "f32"), (stat, "f32")]


@register_op("InstanceNormalization", defaults={"epsilon": 1e-5})
def _inorm(node, ins):
    return [(ins[0].shape, ins[0].dtype)]
