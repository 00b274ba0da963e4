"""Element-wise ops with numpy (multidirectional, ONNX) broadcasting."""
import numpy as np

from ..ops import register_op


def broadcast(*shapes):
    return tuple(int(s) for s in np.broadcast_shapes(*[tuple(s) for s in shapes]))


def _same_dtype(node, ins):
    return [(broadcast(*[t.shape for t in ins if t is not None]), ins[0].dtype)]


def _bool_out(node, ins):
    return [(broadcast(*[t.shape for t in ins if t is not None]), "bool")]


# Float Add (and Sub/Mul) may carry a fused `activation` (None, "relu", "relu6").
for _op in ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Mod",
            "BitShift"):
    register_op(_op, defaults={"fmod": 0} if _op == "Mod" else {})(_same_dtype)

for _op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"):
    register_op(_op)(_bool_out)


@register_op("Where")
def _where(node, ins):
    return [(broadcast(*[t.shape for t in ins]), ins[1].dtype)]

for _op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
    register_op(_op)(_same_dtype)
