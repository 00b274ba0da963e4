"""1-bit layers: BiPer (square-wave forward, sine surrogate backward) and plain-STE sign.

Weights: latent real weights `weight`; the forward uses b = binarize(weight) in {-1, +1}
times a learnable per-output-channel scale `alpha`. Activations: the input is binarized
to sign(x - threshold) with a learnable per-input-channel threshold (RSign). The threshold
matters because binary layers usually follow a ReLU: sign(relu(x)) would be +1
everywhere, while sign(x - mean) keeps the information. It is initialised from the mean
of the first training batch.

BiPer (Binary Periodic, Vargas et al., CVPR 2024; authors' code github.com/edmav4/BiPer):
- weights: b = sign(sin(freq * w)), a square wave of period 2*pi/freq; the backward pass
  differentiates the sine of the same period, d b / d w ~ freq * cos(freq * w). Latent
  weights beyond half a period flip sign, and their gradient flips with them.
- two stages: stage 1 trains with the real-valued sine weights sin(freq * w) (binary
  activations), stage 2 starts from there with the square wave (`binary_weights`).
- activations: sign forward, Bi-Real Net's ApproxSign surrogate max(0, 2 - 2|z|) on the
  input divided by its per-sample standard deviation (training only: the sign of z / s
  is the sign of z, so inference and the exported graph are unchanged).
- regularizer: tau * mean(sin^2(freq * w)) (`sine_penalty`), an L2 penalty on the
  effective weight: plain weight decay on a latent weight that enters through a
  periodic function would only pull it back across periods towards 0.
`freq` is in units of 1 / std(initial weights) so that one setting suits every layer (the
authors' w0 = 20 on Kaiming-initialised ResNets is 1.2-2.4 in these units).
FrequencySchedule moves it during training (the authors keep it constant).
STE: b = sign(w), backward 1 where |w| <= 1 (Courbariaux et al. 2016); its stage 1
uses the surrogate's own forward hardtanh(w), the same for activations: sign + clipped
identity.
Convention everywhere (torch, IR, kernels): sign(0) = +1, bit 1 = +1.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

from ..errors import EdgeError

METHODS = ("biper", "ste")
# Activation surrogates: BiPer's paper uses Bi-Real's ApproxSign on the std-normalised
# input (the BiPer default), the STE baseline the clipped identity. Either can be chosen
# for either method (ablations, bench/binary_tune.py "act").
ACT_SURROGATES = ("approxsign", "clipped")


def check_act_surrogate(name):
    if name not in ACT_SURROGATES:
        raise EdgeError(f"activation surrogate {name!r}: choose one of {', '.join(ACT_SURROGATES)}")
    return name


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


class _ApproxSign(torch.autograd.Function):
    """sign forward; Bi-Real Net's surrogate backward d/dz = max(0, 2 - 2|z|) (BiPer's choice)."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return sign_pm1(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * (2.0 - 2.0 * z.abs()).clamp_min(0.0)


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
        # False = training stage 1: real-valued weights (sin(freq w) / hardtanh(w)).
        self.binary_weights = True
        self.act_surrogate = "approxsign" if method == "biper" else "clipped"

    def abs_freq(self):
        return self.freq / float(self.w_std)

    def binary_weight(self):
        """{-1, +1} weight of the forward pass (no scale)."""
        return binarize_weight(self.weight, self.method, self.abs_freq())

    def forward_weight(self):
        """The weight the forward pass uses: binary, or in stage 1 the real-valued
        surrogate itself (sin(freq * w) for BiPer, hardtanh(w) for STE)."""
        if self.binary_weights:
            return self.binary_weight()
        if self.method == "biper":
            return torch.sin(self.weight * self.abs_freq())
        return F.hardtanh(self.weight)

    def fold_into_first_half_period(self):
        """Warm start for a trained float layer (BiPer): latent w = arcsin(w_f / (1.01 max|w_f|)) / freq,
        so stage 1's sin(freq w) starts as the float weights (up to one scale, which alpha
        and the following BatchNorm absorb) and every latent weight lies within the first
        half-period, where the square wave equals sign(w_f). Copying w_f directly would
        flip the sign of every weight beyond half a period (|w_f| > pi / freq)."""
        if self.method != "biper":
            raise EdgeError("fold_into_first_half_period: only BiPer layers have a period")
        with torch.no_grad():
            w = self.weight
            # 1.01: the largest weight stays off the crest, where cos (the gradient) is 0
            u = w / (1.01 * w.abs().max().clamp_min(1e-12))
            w.copy_(torch.asin(u) / self.abs_freq())

    def spread_over_half_period(self):
        """Latent init for training from scratch (BiPer): a linear map of the (random) weights
        onto the rising half-period, latent w = w * (0.99 * pi / 2) / (max|w| * freq). A random
        init copied as is spreads over several periods (|w| up to 1.7 std for a uniform init,
        half a period is pi / freq std), so its sign pattern is sign(sin(freq w)), unrelated to
        the init's own sign, and many weights sit near a crest where the sine surrogate's
        gradient cos(freq w) vanishes. Linear, unlike `fold`'s arcsin (which piles a uniform
        init up at the crests), so the latents keep the init's uniform shape: signs kept,
        sin(freq w) monotone in w, every gradient nonzero at the start."""
        if self.method != "biper":
            raise EdgeError("spread_over_half_period: only BiPer layers have a period")
        with torch.no_grad():
            w = self.weight
            # 0.99: the largest weight stays off the crest, where cos (the gradient) is 0
            w.mul_(0.99 * (math.pi / 2) / (w.abs().max().clamp_min(1e-12) * self.abs_freq()))

    def sine_penalty(self):
        """mean(sin^2(freq * w)): BiPer's regularizer (0 for STE layers)."""
        if self.method != "biper":
            return self.weight.new_zeros(())
        return torch.sin(self.weight * self.abs_freq()).pow(2).mean()

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
        z = x - self.threshold.view(shape)
        if self.act_surrogate == "clipped":
            return _SteSign.apply(z)
        if self.training:
            # The authors' scaling: the surrogate window is relative to the input's
            # spread. Forward-neutral (s > 0), so inference needs no division.
            dims = tuple(range(1, z.dim()))
            z = z / torch.sqrt(z.var(dims, keepdim=True, unbiased=False) + 1e-5)
        return _ApproxSign.apply(z)

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
        y = F.conv2d(xb, self.forward_weight(), None, self.stride, 0, self.dilation, self.groups)
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
        y = self._scaled(F.linear(xb, self.forward_weight()))
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
