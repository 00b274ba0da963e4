"""Element-wise float/standard ops, ONNX semantics, numpy broadcasting."""
import numpy as np
from scipy.special import erf as _erf
from scipy.special import expit as _expit

from . import apply_activation, reference
from ._util import attr_str, unsupported


def _unary(name, fn):
    reference(name)(lambda node, ins: [np.asarray(fn(node, ins[0])).astype(ins[0].dtype, copy=False)])


_UNARY = {
    "Relu": lambda n, x: np.maximum(x, 0),
    "Sigmoid": lambda n, x: _expit(x),  # no overflow warning for large negative x
    "Tanh": lambda n, x: np.tanh(x),
    "LeakyRelu": lambda n, x: np.where(x < 0, x * n.attrs.get("alpha", 0.01), x),
    "HardSigmoid": lambda n, x: np.clip(x * n.attrs.get("alpha", 0.2) + n.attrs.get("beta", 0.5), 0, 1),
    "HardSwish": lambda n, x: x * np.clip(x / 6 + 0.5, 0, 1),
    "Identity": lambda n, x: x,
    "Erf": lambda n, x: _erf(x),
    "Sqrt": lambda n, x: np.sqrt(x),
    "Exp": lambda n, x: np.exp(x),
    "Log": lambda n, x: np.log(x),
    "Neg": lambda n, x: -x,
    "Abs": lambda n, x: np.abs(x),
    "Reciprocal": lambda n, x: 1 / x,
    "Floor": lambda n, x: np.floor(x),
    "Ceil": lambda n, x: np.ceil(x),
    "Round": lambda n, x: np.round(x),  # half to even, as ONNX
    "Sign": lambda n, x: np.sign(x),
    "Sin": lambda n, x: np.sin(x),
    "Cos": lambda n, x: np.cos(x),
    "Softplus": lambda n, x: np.logaddexp(0, x),
    "Softsign": lambda n, x: x / (1 + np.abs(x)),
    "Elu": lambda n, x: np.where(x < 0, n.attrs.get("alpha", 1.0) * (np.exp(x) - 1), x),
    "Selu": lambda n, x: n.attrs.get("gamma", 1.05070102214813232421875) * np.where(
        x <= 0, n.attrs.get("alpha", 1.67326319217681884765625) * (np.exp(x) - 1), x),
    "Celu": lambda n, x: np.maximum(x, 0) + np.minimum(
        0, n.attrs.get("alpha", 1.0) * (np.exp(x / n.attrs.get("alpha", 1.0)) - 1)),
    "ThresholdedRelu": lambda n, x: np.where(x > n.attrs.get("alpha", 1.0), x, 0),
    "Mish": lambda n, x: x * np.tanh(np.logaddexp(0, x)),
    "Not": lambda n, x: np.logical_not(x),
    "Gelu": lambda n, x: _gelu(x, attr_str(n, "approximate", "none")),
}


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


for _name, _fn in _UNARY.items():
    _unary(_name, _fn)


@reference("Clip")
def _clip(node, ins):
    x = ins[0]
    lo = ins[1] if len(ins) > 1 else None
    hi = ins[2] if len(ins) > 2 else None
    # Opset < 11 Clip kept min/max as attributes; the importer turns them into these.
    lo = node.attrs.get("min") if lo is None else lo
    hi = node.attrs.get("max") if hi is None else hi
    y = x
    if lo is not None:
        y = np.maximum(y, np.asarray(lo, dtype=x.dtype))
    if hi is not None:
        y = np.minimum(y, np.asarray(hi, dtype=x.dtype))
    return [y.astype(x.dtype, copy=False)]


@reference("Dropout")
def _dropout(node, ins):
    # Inference only: a true training_mode input would make the output random.
    if len(ins) > 2 and ins[2] is not None and bool(np.asarray(ins[2])):
        unsupported(node, "training_mode=true (random dropout)")
    return [ins[0], np.ones(ins[0].shape, dtype=bool)]


@reference("Cast")
def _cast(node, ins):
    from ..ir.dtypes import np_dtype
    return [ins[0].astype(np_dtype(node.attrs["to"]))]


def _softmax_axis(node, x):
    axis = node.attrs.get("axis", -1) % x.ndim
    if node.attrs.get("coerce_2d"):
        # Opset < 13 semantics: flatten to [prod(shape[:axis]), prod(shape[axis:])], then axis 1.
        return x.reshape(int(np.prod(x.shape[:axis])), -1), 1
    return x, axis


@reference("Softmax")
def _softmax(node, ins):
    x2, axis = _softmax_axis(node, ins[0])
    e = np.exp(x2 - x2.max(axis=axis, keepdims=True))
    return [(e / e.sum(axis=axis, keepdims=True)).reshape(ins[0].shape).astype(ins[0].dtype, copy=False)]


@reference("LogSoftmax")
def _log_softmax(node, ins):
    x2, axis = _softmax_axis(node, ins[0])
    s = x2 - x2.max(axis=axis, keepdims=True)
    y = s - np.log(np.exp(s).sum(axis=axis, keepdims=True))
    return [y.reshape(ins[0].shape).astype(ins[0].dtype, copy=False)]


@reference("Hardmax")
def _hardmax(node, ins):
    x2, axis = _softmax_axis(node, ins[0])
    idx = np.expand_dims(np.argmax(x2, axis=axis), axis)
    y = np.zeros_like(x2)
    np.put_along_axis(y, idx, 1, axis=axis)
    return [y.reshape(ins[0].shape)]


# ---- binary / variadic -----------------------------------------------------------------
def _int_div(a, b):
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(a.astype(np.float64) / b).astype(a.dtype)  # ONNX integer Div truncates
    return a / b


_BINARY = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _int_div,
    "Equal": np.equal, "Less": np.less, "Greater": np.greater,
    "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal,
    "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor,
}


def _binary(name, fn):
    def run(node, ins):
        a, b = ins[0], ins[1]
        y = fn(a, b)
        if y.dtype != np.bool_:
            y = y.astype(a.dtype, copy=False)
        return [apply_activation(y, node.attrs.get("activation"))]
    reference(name)(run)


for _name, _fn in _BINARY.items():
    _binary(_name, _fn)


@reference("Pow")
def _pow(node, ins):
    a, b = ins
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        return [np.power(a.astype(np.int64), b.astype(np.int64)).astype(a.dtype)]
    return [np.power(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)
            if a.dtype != np.float32 or b.dtype != np.float32 else np.power(a, b)]


@reference("Mod")
def _mod(node, ins):
    a, b = ins
    return [(np.fmod(a, b) if node.attrs.get("fmod", 0) else np.mod(a, b)).astype(a.dtype)]


@reference("BitShift")
def _bitshift(node, ins):
    a, b = ins
    return [(a << b if attr_str(node, "direction", "LEFT") == "LEFT" else a >> b).astype(a.dtype)]


@reference("PRelu")
def _prelu(node, ins):
    x, slope = ins
    return [np.where(x < 0, x * slope, x).astype(x.dtype)]


def _variadic(name, fn):
    def run(node, ins):
        xs = [x for x in ins if x is not None]
        y = xs[0]
        for x in xs[1:]:
            y = fn(y, x)
        if name == "Mean":
            y = y / len(xs)
        return [np.asarray(y).astype(xs[0].dtype, copy=False)]
    reference(name)(run)


for _name, _fn in {"Sum": np.add, "Mean": np.add, "Max": np.maximum, "Min": np.minimum}.items():
    _variadic(_name, _fn)


@reference("Where")
def _where(node, ins):
    return [np.where(ins[0], ins[1], ins[2])]
