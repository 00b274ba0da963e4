"""1-bit layers: BiPer (square-wave forward, sine surrogate backward) and plain-STE sign.

Weights: latent real weights `weight`; the forward uses b = binarize(weight) in {-1, +1}
times a learnable per-output-channel scale `alpha`. Activations: the input is binarized
to sign(x - threshold) with a learnable per-input-channel threshold (RSign); its backward
is the clipped straight-through estimator (gradient 1 where |x - threshold| <= 1).
The threshold matters because binary layers usually follow a ReLU: sign(relu(x)) would
be +1 everywhere, while sign(x - mean) keeps the information. It is initialised from the
mean of the first training batch.

BiPer (Binary Periodic, Vargas et al. 2024): b = sign(sin(freq * w)) — a square wave of
period 2*pi/freq — and the backward pass differentiates the sine of the same period,
d b / d w ~ freq * cos(freq * w). `freq` is in units of 1 / std(initial weights) so that
the same setting suits every layer; FrequencySchedule moves it during training. On
Fashion-MNIST a low frequency (0.5-0.75: the first half-period spans +-4 std, so the
forward is sign(w) and the backward a cosine that fades for large |w|) trained best;
raising it during training (1 -> 4) flips many weights and hurt (bench/binary_fmnist.py).
STE: b = sign(w), backward 1 where |w| <= 1 (Courbariaux et al. 2016).
Convention everywhere (torch, IR, kernels): sign(0) = +1, bit 1 = +1.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

from ..errors import EdgeError

METHODS = ("biper", "ste")


def check_frequency(freq, what="frequency"):
    """A frequency (or period) must be a finite positive number."""
    try:
        f = float(freq)
    except (TypeError, ValueError):
        raise EdgeError(f"{what}: {freq!r} is not a number") from None
    if not math.isfinite(f) or f <= 0:
        raise EdgeError(f"{what}: must be a finite positive number, got {freq!r}")
    return f


def sign_pm1(x):
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


class _SteSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return sign_pm1(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)


class _PeriodicSign(torch.autograd.Function):
    """Square wave sign(sin(w * freq)) forward; derivative of sin(w * freq) backward."""

    @staticmethod
    def forward(ctx, w, freq):
        ctx.save_for_backward(w)
        ctx.freq = freq
        return sign_pm1(torch.sin(w * freq))

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return g * ctx.freq * torch.cos(w * ctx.freq), None


def binarize_weight(w, method, freq):
    if method == "biper":
        return _PeriodicSign.apply(w, freq)
    return _SteSign.apply(w)


class _BinaryMixin:
    """Shared state of BinaryConv2d / BinaryLinear."""

    def _init_binary(self, method, freq, out_features, in_features):
        if method not in METHODS:
            raise EdgeError(f"binarization method {method!r}: choose one of {', '.join(METHODS)}")
        self.method = method
        self.freq = check_frequency(freq, "freq")
        w = self.weight.detach()
        # Frequencies are relative to the initial weight spread (see module doc).
        self.register_buffer("w_std", w.std().clamp_min(1e-8).reshape(()))
        dims = tuple(range(1, w.dim()))
        self.alpha = nn.Parameter(w.abs().mean(dims).clamp_min(1e-6).clone())
        self.threshold = nn.Parameter(torch.zeros(in_features))
        self.register_buffer("threshold_ready", torch.zeros((), dtype=torch.bool))

    def abs_freq(self):
        return self.freq / float(self.w_std)

    def binary_weight(self):
        """{-1, +1} weight of the forward pass (no scale)."""
        return binarize_weight(self.weight, self.method, self.abs_freq())

    def weight_bits(self):
        """{0, 1} uint8 weight bits (bit 1 = +1) as exported."""
        with torch.no_grad():
            return (self.binary_weight() > 0).to(torch.uint8)

    def _binarize_input(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training and not bool(self.threshold_ready):
            with torch.no_grad():
                dims = [d for d in range(x.dim()) if d != 1]
                self.threshold.copy_(x.mean(dims))
                self.threshold_ready.fill_(True)
        return _SteSign.apply(x - self.threshold.view(shape))

    def _scaled(self, y):
        shape = (1, -1) + (1,) * (y.dim() - 2)
        return y * self.alpha.view(shape)


class BinaryConv2d(_BinaryMixin, nn.Conv2d):
    """Conv2d with 1-bit weights (scaled per output channel) and 1-bit activations.

    Spatial zero padding of a +-1 input would be a third value; like the kernels, the
    binarized input is padded with -1 (docs/integer-ops.md).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, method="biper", freq=0.75):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise EdgeError("BinaryConv2d: only explicit zero padding is supported")
        self._init_binary(method, freq, out_channels, in_channels)

    def forward(self, x):
        xb = self._binarize_input(x)
        ph, pw = self.padding
        if ph or pw:
            xb = F.pad(xb, (pw, pw, ph, ph), value=-1.0)
        y = F.conv2d(xb, self.binary_weight(), None, self.stride, 0, self.dilation, self.groups)
        y = self._scaled(y)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y

    @classmethod
    def from_float(cls, conv, method="biper", freq=0.75):
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise EdgeError(f"Conv2d with padding {conv.padding!r} / mode {conv.padding_mode}: "
                            f"no binary form (only explicit zero padding)")
        m = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                conv.groups, conv.bias is not None, method="ste", freq=freq)
        with torch.no_grad():
            m.weight.copy_(conv.weight)
            if conv.bias is not None:
                m.bias.copy_(conv.bias)
        m._init_binary(method, freq, conv.out_channels, conv.in_channels)
        return m


class BinaryLinear(_BinaryMixin, nn.Linear):
    """Linear with 1-bit weights (scaled per output feature) and 1-bit inputs."""

    def __init__(self, in_features, out_features, bias=True, method="biper", freq=0.75):
        super().__init__(in_features, out_features, bias)
        self._init_binary(method, freq, out_features, in_features)

    def forward(self, x):
        xb = self._binarize_input(x)
        y = self._scaled(F.linear(xb, self.binary_weight()))
        if self.bias is not None:
            y = y + self.bias
        return y

    @classmethod
    def from_float(cls, lin, method="biper", freq=0.75):
        m = cls(lin.in_features, lin.out_features, lin.bias is not None, method="ste", freq=freq)
        with torch.no_grad():
            m.weight.copy_(lin.weight)
            if lin.bias is not None:
                m.bias.copy_(lin.bias)
        m._init_binary(method, freq, lin.out_features, lin.in_features)
        return m


class FrequencySchedule:
    """BiPer frequency over training: from `start` to `end` (units of 1/std(w)) over
    `steps` calls of step(), linearly or geometrically; applied to every BiPer layer."""

    def __init__(self, model, start=1.0, end=1.0, steps=1, kind="linear"):
        self.start = check_frequency(start, "frequency schedule start")
        self.end = check_frequency(end, "frequency schedule end")
        if not isinstance(steps, int) or steps < 1:
            raise EdgeError(f"frequency schedule steps: must be a positive integer, got {steps!r}")
        if kind not in ("linear", "geometric"):
            raise EdgeError(f"frequency schedule kind {kind!r}: choose linear or geometric")
        self.layers = [m for m in model.modules() if isinstance(m, _BinaryMixin) and m.method == "biper"]
        self.steps, self.kind, self.t = steps, kind, 0
        self._apply()

    def value(self):
        a = min(1.0, self.t / self.steps)
        if self.kind == "geometric":
            return self.start * (self.end / self.start) ** a
        return self.start + (self.end - self.start) * a

    def _apply(self):
        for m in self.layers:
            m.freq = self.value()

    def step(self):
        self.t += 1
        self._apply()
        return self.value()
