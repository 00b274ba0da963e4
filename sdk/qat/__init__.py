"""Quantization-aware training in torch: `prepare(model)` -> train -> `convert(model, x)` -> Graph.

prepare():
- traces the model with torch.fx and folds every Conv/Linear + BatchNorm pair (eval
  statistics) so the weights trained are the weights deployed;
- swaps Conv2d / Linear for versions whose weights pass through a per-output-channel
  symmetric fake quantizer (straight-through estimator);
- puts an activation fake quantizer (asymmetric int8, per tensor; running min/max while
  training, or learned LSQ-style scales with learn_scales=True) at every point where
  the integer graph requantizes: the input, after Conv/Linear (after their ReLU when
  one follows), Add, average pools; MaxPool / Flatten / reshape reuse their input's
  quantizer, as their int8 versions share its parameters.

convert() exports the trained model as QDQ ONNX (torch exports fake quantizers as
QuantizeLinear/DequantizeLinear), imports it with edgesdk.frontends and runs the
default passes, whose fuse_qdq turns it into the same integer ops PTQ produces.
"""
import io
import operator

import numpy as np

from ..errors import EdgeError


def _torch():
    import torch
    return torch


def _act_fq_class():
    torch = _torch()
    nn = torch.nn

    class ActFakeQuant(nn.Module):
        """Asymmetric int8 fake quantizer of one activation tensor."""

        def __init__(self, learn_scales=False, momentum=0.1):
            super().__init__()
            self.learn_scales = learn_scales
            self.momentum = momentum
            self.register_buffer("lo", torch.tensor(0.0))
            self.register_buffer("hi", torch.tensor(0.0))
            self.register_buffer("seen", torch.tensor(0))
            # Learned in the log domain: an optimizer step is then a relative change, so a
            # scale can never reach zero or go negative (Adam's steps have a fixed size).
            self.log_scale = nn.Parameter(torch.tensor(0.0), requires_grad=learn_scales)

        def qparams(self):
            lo = torch.clamp(self.lo, max=0.0)
            hi = torch.clamp(self.hi, min=0.0)
            scale = torch.clamp((hi - lo) / 255.0, min=1e-8)
            zp = torch.clamp(torch.round(-128 - lo / scale), -128, 127).to(torch.int32)
            return scale, zp

        def forward(self, x):
            if self.training and not (self.learn_scales and int(self.seen) > 0):
                with torch.no_grad():
                    lo, hi = x.detach().min(), x.detach().max()
                    if int(self.seen) == 0:
                        self.lo.copy_(lo)
                        self.hi.copy_(hi)
                    else:
                        self.lo.mul_(1 - self.momentum).add_(self.momentum * lo)
                        self.hi.mul_(1 - self.momentum).add_(self.momentum * hi)
                    self.seen += 1
                    self.log_scale.copy_(torch.log(self.qparams()[0]))
            if int(self.seen) == 0:
                return x
            scale, zp = self.qparams()
            if self.learn_scales and self.training:
                return torch._fake_quantize_learnable_per_tensor_affine(
                    x, torch.exp(self.log_scale).reshape(1), zp.float().reshape(1), -128, 127,
                    1.0 / np.sqrt(x.numel() * 127))
            if self.learn_scales:
                scale = torch.exp(self.log_scale.detach())
            return torch.fake_quantize_per_tensor_affine(x, scale.float(), zp, -128, 127)

    class SharedFakeQuant(nn.Module):
        """The quantizer of another tensor (MaxPool / Flatten outputs share their input's)."""

        def __init__(self, src):
            super().__init__()
            self._src = [src]  # a plain reference: not a second registration of the module

        def forward(self, x):
            src = self._src[0]
            if int(src.seen) == 0:
                return x
            scale, zp = src.qparams()
            if src.learn_scales:
                scale = torch.exp(src.log_scale.detach())
            return torch.fake_quantize_per_tensor_affine(x, scale.float(), zp, -128, 127)

    return ActFakeQuant, SharedFakeQuant


def _weight_range(bits):
    return (-127, 127) if bits == 8 else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def _weight_scale(module, w):
    """Per-output-channel scale: learned (LSQ) or max|w| / qmax of the current weights."""
    torch = _torch()
    qmin, qmax = _weight_range(module.weight_bits)
    amax = w.detach().reshape(w.shape[0], -1).abs().amax(dim=1).clamp_min(1e-8)
    if module.learn_scales:
        if int(module.w_init) == 0:
            with torch.no_grad():
                module.w_log_scale.copy_(torch.log(amax / qmax))
                module.w_init.fill_(1)
        return torch.exp(module.w_log_scale)
    return amax / qmax


def _weight_fq(module, w):
    """Per-output-channel symmetric fake quantization of a weight (STE through torch's op)."""
    torch = _torch()
    zp = torch.zeros(w.shape[0], dtype=torch.int32)
    if module.exporting:
        # convert() has replaced the weights by their exactly representable fake-quantized
        # values; ONNX knows only the int8 range, which reproduces them exactly.
        return torch.fake_quantize_per_channel_affine(w, module.export_scale, zp, 0, -128, 127)
    qmin, qmax = _weight_range(module.weight_bits)
    scale = _weight_scale(module, w)
    if module.learn_scales and module.training:
        return torch._fake_quantize_learnable_per_channel_affine(
            w, scale, zp.float(), 0, qmin, qmax, 1.0 / np.sqrt(w.numel() * qmax))
    return torch.fake_quantize_per_channel_affine(w, scale.detach().float().clamp_min(1e-8), zp, 0, qmin, qmax)


def _qat_layer_classes():
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    class QATConv2d(nn.Conv2d):
        def forward(self, x):
            return self._conv_forward(x, _weight_fq(self, self.weight), self.bias)

    class QATLinear(nn.Linear):
        def forward(self, x):
            return F.linear(x, _weight_fq(self, self.weight), self.bias)

    return QATConv2d, QATLinear


def _swap_layer(mod, weight_bits, learn_scales):
    torch = _torch()
    QATConv2d, QATLinear = _qat_layer_classes()
    if isinstance(mod, torch.nn.Conv2d):
        new = QATConv2d(mod.in_channels, mod.out_channels, mod.kernel_size, mod.stride, mod.padding,
                        mod.dilation, mod.groups, mod.bias is not None, mod.padding_mode)
    else:
        new = QATLinear(mod.in_features, mod.out_features, mod.bias is not None)
    new.load_state_dict(mod.state_dict())
    new.weight_bits = weight_bits
    new.learn_scales = learn_scales
    new.exporting = False
    new.w_log_scale = torch.nn.Parameter(torch.zeros(new.weight.shape[0]), requires_grad=learn_scales)
    new.register_buffer("w_init", torch.tensor(0))
    return new


def _set_module(root, qualname, new):
    *path, last = qualname.split(".")
    parent = root
    for p in path:
        parent = getattr(parent, p)
    setattr(parent, last, new)


def prepare(model, learn_scales=False, weight_bits=8):
    """A QAT copy of `model` (see the module doc); train it as usual, then convert()."""
    torch = _torch()
    from torch.fx.experimental.optimization import fuse
    nn, F = torch.nn, torch.nn.functional
    if weight_bits not in (8, 4, 2):
        raise EdgeError(f"weight_bits: {weight_bits} not supported (8, 4 or 2)")
    was_training = model.training
    model.eval()  # BatchNorm folds with its running statistics
    try:
        gm = fuse(model)
    except Exception as e:
        raise EdgeError(f"qat.prepare: cannot trace {type(model).__name__} with torch.fx ({e})") from None
    finally:
        model.train(was_training)
    ActFakeQuant, SharedFakeQuant = _act_fq_class()
    modules = dict(gm.named_modules())
    for name, mod in list(modules.items()):
        if type(mod) in (nn.Conv2d, nn.Linear):
            _set_module(gm, name, _swap_layer(mod, weight_bits, learn_scales))
    modules = dict(gm.named_modules())

    relu_fns = {torch.relu, F.relu, F.relu6, torch.nn.functional.hardtanh}
    point_fns = {operator.add, torch.add, F.avg_pool2d, F.adaptive_avg_pool2d}
    shared_fns = {F.max_pool2d, torch.flatten, torch.reshape}
    point_mods = (nn.AvgPool2d, nn.AdaptiveAvgPool2d)
    shared_mods = (nn.MaxPool2d, nn.Flatten, nn.Identity, nn.Dropout)
    layer_mods = (nn.Conv2d, nn.Linear)

    def is_relu(node):
        if node.op == "call_module":
            return isinstance(modules[node.target], (nn.ReLU, nn.ReLU6))
        return node.op == "call_function" and node.target in relu_fns

    def own_kind(node):
        if node.op == "placeholder" or is_relu(node):
            return "point"
        if node.op == "call_module":
            m = modules[node.target]
            if isinstance(m, layer_mods + point_mods):
                return "point"
            if isinstance(m, shared_mods):
                return "shared"
        if node.op == "call_function":
            if node.target in point_fns:
                return "point"
            if node.target in shared_fns:
                return "shared"
        if node.op == "call_method" and node.target in ("add", "add_"):
            return "point"
        if node.op == "call_method" and node.target in ("view", "reshape", "flatten"):
            return "shared"
        return None

    def kind(node):
        """'point' (own quantizer), 'shared' (its input's quantizer) or None (no quantizer)."""
        k = own_kind(node)
        if k == "point" and node.op != "placeholder" and not is_relu(node):
            users = list(node.users)
            # A ReLU right after Conv/Linear/Add is fused into its clamp: quantize after the ReLU.
            if len(users) == 1 and is_relu(users[0]):
                return None
        return k

    fq_of = {}
    count = 0
    for node in list(gm.graph.nodes):
        k = kind(node)
        if k is None:
            continue
        if k == "shared":
            src = node.args[0] if node.args else None
            if src is None or src not in fq_of:
                continue
            fq = SharedFakeQuant(fq_of[src])
        else:
            fq = ActFakeQuant(learn_scales)
        name = f"qat_fq_{count}"
        count += 1
        gm.add_submodule(name, fq)
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(name, (node,))
        node.replace_all_uses_with(new, delete_user_cb=lambda u: u is not new)
        fq_of[new] = fq if k != "shared" else fq_of[node.args[0]]
    gm.graph.lint()
    gm.recompile()
    gm.train(was_training)
    gm.qat_weight_bits = weight_bits
    return gm


def convert(model, example_input, name="qat_model"):
    """The QAT model as an integer-only edgesdk Graph (QDQ ONNX export -> import -> fuse_qdq)."""
    torch = _torch()
    import onnx

    from ..frontends import load
    from ..passes import run_passes
    from ..quant import float_ops
    was_training = model.training
    model.eval()
    layers = [m for m in model.modules() if hasattr(m, "exporting")]
    saved = []
    with torch.no_grad():
        for m in layers:
            saved.append(m.weight.detach().clone())
            wq = _weight_fq(m, m.weight)
            m.export_scale = _weight_scale(m, m.weight).detach().float().clamp_min(1e-8)
            m.weight.copy_(wq)
            m.exporting = True
    buf = io.BytesIO()
    try:
        x = example_input if isinstance(example_input, tuple) else (example_input,)
        torch.onnx.export(model, x, buf, opset_version=17, dynamo=False,
                          input_names=[f"input{i}" if len(x) > 1 else "input" for i in range(len(x))],
                          output_names=["output"])
    finally:
        with torch.no_grad():
            for m, w in zip(layers, saved):
                m.weight.copy_(w)
                m.exporting = False
        model.train(was_training)
    proto = onnx.load_from_string(buf.getvalue())
    graph = run_passes(load(proto))
    graph.name = name
    left = float_ops(graph)
    if left:
        raise EdgeError("qat.convert: these ops stayed float (no fake quantizer around them): "
                        + ", ".join(f"{n} [{op}]" for n, op in left))
    bits = getattr(model, "qat_weight_bits", 8)
    if bits < 8:
        for n in graph.nodes:
            if n.op in ("QConv", "QGemm"):
                w = graph.tensors[n.inputs[1]]
                w.quant.bits = bits
                w.tags["packing"] = {"bits": bits}
    graph.meta["quantization"] = {"method": "qat", "weight_bits": bits}
    return graph


__all__ = ["prepare", "convert"]
