"""Element-wise ops with one tensor input whose output has the input's shape and dtype."""
from ..ops import register_op

_SAME_SHAPE = {
    "Relu": {}, "Sigmoid": {}, "Tanh": {},
    "LeakyRelu": {"alpha": 0.01},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
    "HardSwish": {},
    # Clip takes min/max as optional inputs (opset 11+), never as attributes.
    "Clip": {},
    "Identity": {},
    "Erf": {}, "Sqrt": {}, "Exp": {}, "Log": {}, "Neg": {}, "Abs": {}, "Reciprocal": {},
    "Floor": {}, "Ceil": {}, "Round": {}, "Sign": {}, "Sin": {}, "Cos": {},
    "Softplus": {}, "Softsign": {},
    "Elu": {"alpha": 1.0},
    "Selu": {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875},
    "Celu": {"alpha": 1.0},
    "ThresholdedRelu": {"alpha": 1.0},
    "Gelu": {"approximate": "none"},
    "Mish": {},
    "Not": {},
    # Softmax family: opset 13+ semantics (one axis). The ONNX importer marks an
    # opset<13 node whose axis is not the last one with `coerce_2d` (old semantics).
    "Softmax": {"axis": -1},
    "LogSoftmax": {"axis": -1},
    "Hardmax": {"axis": -1},
}


def _same(node, ins):
    return [(ins[0].shape, ins[0].dtype)]


for _name, _defaults in _SAME_SHAPE.items():
    register_op(_name, defaults=_defaults)(_same)


@register_op("Dropout", defaults={})
def _dropout(node, ins):
    """Inference-time Dropout: the identity, plus an all-true mask if asked for."""
    return [(ins[0].shape, ins[0].dtype), (ins[0].shape, "bool")]


@register_op("Cast", defaults={"saturate": 1})
def _cast(node, ins):
    return [(ins[0].shape, node.attrs["to"])]


register_op("Swish", defaults={"alpha": 1.0})(_same)
register_op("BitwiseNot")(_same)


@register_op("IsNaN")
def _isnan(node, ins):
    return [(ins[0].shape, "bool")]


register_op("IsInf", defaults={"detect_negative": 1, "detect_positive": 1})(_isnan)


@register_op("CastLike", defaults={"saturate": 1})
def _cast_like(node, ins):
    return [(ins[0].shape, ins[1].dtype)]
