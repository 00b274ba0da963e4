"""Export a (binarized / DenseShift) torch model to the edgesdk IR.

Traced with torch.fx; binary and shift layers are leaves and become:
- BinaryConv2d:  Binarize(threshold per input channel) -> BConv (b1 weight, s32 out)
                 -> Cast f32 -> Mul alpha[1,O,1,1] -> Add bias
- BinaryLinear:  Binarize -> BGemm -> Cast -> Mul alpha -> Add bias
  b1 weights hold {0,1} unpacked, tagged packing {"bits": 1, "word": 32}.
- DenseShift:    Conv/Gemm whose f32 weight equals w_scale * sign * 2^exponent exactly,
  tagged shift_weights {"bits", "sign", "exponent", "scale"} so that the integer
  lowering can emit ShiftConv/ShiftGemm (exponent in [0, 2^(bits-1) - 1]).
The other supported modules map to their ONNX ops (Conv, Gemm, BatchNormalization,
Relu, Hardtanh as Clip, MaxPool, AveragePool, GlobalAveragePool, Flatten, Add, constant F.pad).
"""
import operator

import numpy as np
import torch
import torch.fx as fx
from torch import nn

from ..errors import EdgeError
from ..ir import Graph, Node, Tensor, infer_shapes, verify
from .layers import BinaryConv2d, BinaryLinear
from .shift_layers import DenseShiftConv2d, DenseShiftLinear

_LEAVES = (BinaryConv2d, BinaryLinear, DenseShiftConv2d, DenseShiftLinear)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m, qualname):
        return isinstance(m, _LEAVES) or super().is_leaf_module(m, qualname)


def _np(t):
    return t.detach().cpu().numpy().astype(np.float32)


def _pair(v):
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


class _Builder:
    def __init__(self, name):
        self.g = Graph(name)

    def const(self, name, data, dtype=None, **kw):
        return self.g.add_const(name, data, dtype, **kw).name

    def node(self, op, name, inputs, attrs=None, out=None):
        out = self.g.unique_name(out or name)
        self.g.tensors[out] = Tensor(out, (), "f32")   # shape filled by infer_shapes
        self.g.add_node(Node(name, op, inputs, [out], attrs or {}))
        return out


def _conv_attrs(m):
    ph, pw = _pair(m.padding)
    return {"strides": _pair(m.stride), "pads": [ph, pw, ph, pw], "dilations": _pair(m.dilation),
            "group": m.groups, "kernel_shape": list(m.kernel_size)}


def _emit_module(b, name, m, x):
    n = name.replace(".", "_")
    if isinstance(m, (BinaryConv2d, BinaryLinear)):
        if not m.binary_weights:
            raise EdgeError(f"export: layer {name!r} is in training stage 1 (real-valued weights); finish "
                            f"with binary weights (train_recipe does) before exporting")
        thr = _np(m.threshold)
        xb = b.node("Binarize", f"{n}_binarize", [x], {"threshold": thr})
        w = b.const(f"{n}.weight_bits", m.weight_bits().numpy(), "b1", tags={"packing": {"bits": 1, "word": 32}})
        if isinstance(m, BinaryConv2d):
            acc = b.node("BConv", n, [xb, w], _conv_attrs(m))
            ashape = (1, -1, 1, 1)
        else:
            acc = b.node("BGemm", n, [xb, w])
            ashape = (1, -1)
        y = b.node("Cast", f"{n}_cast", [acc], {"to": "f32"})
        y = b.node("Mul", f"{n}_scale", [y, b.const(f"{n}.alpha", _np(m.alpha).reshape(ashape))])
        if m.bias is not None:
            y = b.node("Add", f"{n}_bias", [y, b.const(f"{n}.bias", _np(m.bias).reshape(ashape))])
        return y
    if isinstance(m, (DenseShiftConv2d, DenseShiftLinear)):
        sign, expo, scale = m.export_arrays()
        shape = (-1,) + (1,) * (sign.ndim - 1)
        wf = (scale.reshape(shape).astype(np.float64) * sign * 2.0 ** expo.astype(np.float64)).astype(np.float32)
        tags = {"shift_weights": {"bits": m.bits, "sign": sign, "exponent": expo, "scale": scale}}
        w = b.const(f"{n}.weight", wf, "f32", tags=tags)
        ins = [x, w] + ([b.const(f"{n}.bias", _np(m.bias))] if m.bias is not None else [])
        if isinstance(m, DenseShiftConv2d):
            return b.node("Conv", n, ins, _conv_attrs(m))
        return b.node("Gemm", n, ins, {"transB": 1})
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise EdgeError(f"export: layer {name!r}: Conv2d padding {m.padding!r}/{m.padding_mode} not supported")
        ins = [x, b.const(f"{n}.weight", _np(m.weight))] + ([b.const(f"{n}.bias", _np(m.bias))] if m.bias is not None else [])
        return b.node("Conv", n, ins, _conv_attrs(m))
    if isinstance(m, nn.Linear):
        ins = [x, b.const(f"{n}.weight", _np(m.weight))] + ([b.const(f"{n}.bias", _np(m.bias))] if m.bias is not None else [])
        return b.node("Gemm", n, ins, {"transB": 1})
    if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        c = m.num_features
        w = _np(m.weight) if m.affine else np.ones(c, np.float32)
        bb = _np(m.bias) if m.affine else np.zeros(c, np.float32)
        ins = [x, b.const(f"{n}.scale", w), b.const(f"{n}.B", bb), b.const(f"{n}.mean", _np(m.running_mean)),
               b.const(f"{n}.var", _np(m.running_var))]
        return b.node("BatchNormalization", n, ins, {"epsilon": float(m.eps)})
    if isinstance(m, nn.ReLU):
        return b.node("Relu", n, [x])
    if isinstance(m, nn.Hardtanh):
        return _clip(b, n, x, m.min_val, m.max_val)
    if isinstance(m, nn.MaxPool2d):
        p = _pair(m.padding)
        return b.node("MaxPool", n, [x], {"kernel_shape": _pair(m.kernel_size),
                                          "strides": _pair(m.stride or m.kernel_size), "pads": p + p})
    if isinstance(m, nn.AvgPool2d):
        p = _pair(m.padding)
        return b.node("AveragePool", n, [x], {"kernel_shape": _pair(m.kernel_size),
                                              "strides": _pair(m.stride or m.kernel_size), "pads": p + p,
                                              "count_include_pad": int(m.count_include_pad)})
    if isinstance(m, nn.AdaptiveAvgPool2d) and _pair(m.output_size) == [1, 1]:
        return b.node("GlobalAveragePool", n, [x])
    if isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
        return b.node("Flatten", n, [x], {"axis": 1})
    if isinstance(m, (nn.Identity, nn.Dropout)):
        return x
    raise EdgeError(f"export: layer {name!r} ({type(m).__name__}) has no IR mapping in the binary exporter")


def _clip(b, n, x, lo, hi):
    return b.node("Clip", n, [x, b.const(f"{n}.min", np.float32(lo)), b.const(f"{n}.max", np.float32(hi))])


def _hardtanh_bounds(fn):
    """(min_val, max_val) of an F.hardtanh(input, min_val=-1, max_val=1) call."""
    def arg(k, name, default):
        return float(fn.args[k] if len(fn.args) > k else fn.kwargs.get(name, default))
    return arg(1, "min_val", -1.0), arg(2, "max_val", 1.0)


def _onnx_pads(torch_pad, rank):
    """F.pad's (last dim begin, end, previous dim begin, end, ...) as ONNX Pad's
    [x1_begin, ..., xr_begin, x1_end, ..., xr_end]."""
    begin, end = [0] * rank, [0] * rank
    for i in range(len(torch_pad) // 2):
        begin[rank - 1 - i], end[rank - 1 - i] = int(torch_pad[2 * i]), int(torch_pad[2 * i + 1])
    return begin + end


def _emit_pad(b, fn, x):
    mode = fn.kwargs.get("mode", fn.args[2] if len(fn.args) > 2 else "constant")
    value = fn.kwargs.get("value", fn.args[3] if len(fn.args) > 3 else None) or 0.0
    if mode != "constant":
        raise EdgeError(f"export: {fn.name}: F.pad mode {mode!r} has no IR mapping (only constant)")
    rank = len(fn.args[0].meta["tensor_meta"].shape)      # from export_graph's shape propagation
    pads = np.array(_onnx_pads(fn.args[1], rank), np.int64)
    return b.node("Pad", fn.name, [x, b.const(f"{fn.name}.pads", pads, "s64"),
                                   b.const(f"{fn.name}.value", np.float32(value))])


def export_graph(model, input_shape, name=None):
    """torch model -> verified IR Graph with one input "input" of `input_shape` and one output."""
    model = model.eval()
    try:
        traced = fx.GraphModule(model, _Tracer().trace(model))
    except Exception as e:
        raise EdgeError(f"export: model {type(model).__name__} cannot be traced by torch.fx ({e})") from None
    if any(fn.op == "call_function" and fn.target is torch.nn.functional.pad for fn in traced.graph.nodes):
        # F.pad's widths count from the last axis: its input's rank is needed (IR shapes
        # are only inferred once the whole graph is built)
        from torch.fx.passes.shape_prop import ShapeProp
        try:
            with torch.no_grad():
                ShapeProp(traced).propagate(torch.zeros(tuple(input_shape)))
        except Exception as e:
            raise EdgeError(f"export: {type(model).__name__} does not run on an input of shape "
                            f"{tuple(input_shape)} ({type(e).__name__}: {e})") from None
    b = _Builder(name or type(model).__name__)
    mods = dict(traced.named_modules())
    env = {}
    for fn in traced.graph.nodes:
        if fn.op == "placeholder":
            if b.g.inputs:
                raise EdgeError("export: models with more than one input are not supported")
            b.g.add_tensor(Tensor("input", tuple(input_shape), "f32"))
            b.g.inputs.append("input")
            env[fn.name] = "input"
        elif fn.op == "call_module":
            env[fn.name] = _emit_module(b, fn.target, mods[fn.target], env[fn.args[0].name])
        elif fn.op == "call_function" and fn.target in (torch.relu, torch.nn.functional.relu):
            env[fn.name] = b.node("Relu", fn.name, [env[fn.args[0].name]])
        elif fn.op == "call_function" and fn.target is torch.nn.functional.hardtanh:
            env[fn.name] = _clip(b, fn.name, env[fn.args[0].name], *_hardtanh_bounds(fn))
        elif fn.op == "call_function" and fn.target is torch.nn.functional.pad:
            env[fn.name] = _emit_pad(b, fn, env[fn.args[0].name])
        elif fn.op == "call_function" and fn.target in (operator.add, torch.add):
            env[fn.name] = b.node("Add", fn.name, [env[a.name] for a in fn.args[:2]])
        elif fn.op == "call_function" and fn.target is torch.flatten and (list(fn.args[1:]) or [0])[0] == 1:
            env[fn.name] = b.node("Flatten", fn.name, [env[fn.args[0].name]], {"axis": 1})
        elif fn.op == "output":
            b.g.outputs.append(env[fn.args[0].name])
        else:
            raise EdgeError(f"export: {fn.op} {fn.target} in {type(model).__name__} has no IR mapping")
    infer_shapes(b.g)
    verify(b.g)
    return b.g
