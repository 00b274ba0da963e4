"""DenseShift layers (Li et al. 2023): weights alpha[oc] * sign * 2^-p, no zero value.

b-bit weights = 1 sign bit + (b - 1) exponent bits: p in {0, ..., 2^(b-1) - 1}
(3-bit: 4 magnitudes 1, 1/2, 1/4, 1/8; 4-bit: 8 magnitudes down to 1/128), times a
learnable per-output-channel scale alpha. Because no weight is zero, every weight
costs a shift-and-add and no multiplier is needed on the device.

Sign-scale decomposition: two latent tensors are trained, `sign_latent` (its sign is the
weight sign, straight-through) and `mag_latent` (its log2, rounded and clamped, is the
exponent, straight-through). Initialisation either copies a float layer (sign_latent =
w, mag_latent = |w| / alpha) or, from scratch, draws both from a LOW-variance normal
(the paper's remedy for the large effective variance of +-2^-p weights).

Export: sign (+-1) and exponent e = (2^(b-1) - 1) - p in [0, 2^(b-1) - 1], so that
w = w_scale[oc] * sign * 2^e with w_scale = alpha * 2^-(2^(b-1) - 1): exactly what
ShiftConv/ShiftGemm compute with left shifts.
"""
import torch
from torch import nn
import torch.nn.functional as F

from ..errors import EdgeError

BITS = (3, 4)


def _check_bits(bits):
    if bits not in BITS:
        raise EdgeError(f"DenseShift bits={bits!r}: supported widths are {', '.join(map(str, BITS))}")
    return bits


class _RoundSte(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


class _SignSte(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, g):
        return g


class _DenseShiftMixin:
    def _init_shift(self, bits, init, float_weight=None):
        self.bits = _check_bits(bits)
        self.levels = 2 ** (bits - 1)            # number of magnitudes
        shape = self.weight.shape
        if float_weight is None and init == "random":
            # Low-variance init: half the usual fan-in std (the paper's variance fix).
            fan_in = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1)
            std = 0.5 / fan_in ** 0.5
            w = torch.randn(shape) * std
        elif float_weight is not None:
            w = float_weight.detach().clone()
        else:
            raise EdgeError(f"DenseShift init={init!r}: choose 'random' or give a float layer")
        dims = tuple(range(1, w.dim()))
        alpha = w.abs().amax(dims).clamp_min(1e-8)
        self.alpha = nn.Parameter(alpha.clone())
        self.sign_latent = nn.Parameter(w.clone())
        mag = (w.abs() / alpha.view((-1,) + (1,) * (w.dim() - 1))).clamp_min(2.0 ** -(self.levels - 1))
        self.mag_latent = nn.Parameter(mag)
        # The plain `weight` of the base class is not used any more.
        del self.weight
        self.register_buffer("weight", torch.empty(0), persistent=False)

    def sign_and_exponent(self):
        """(sign +-1, p >= 0) with magnitude 2^-p, straight-through in both."""
        s = _SignSte.apply(self.sign_latent)
        logm = torch.log2(self.mag_latent.abs().clamp_min(2.0 ** -(self.levels + 1)))
        p = torch.clamp(-_RoundSte.apply(logm), 0, self.levels - 1)
        return s, p

    def shift_weight(self):
        s, p = self.sign_and_exponent()
        a = self.alpha.view((-1,) + (1,) * (self.sign_latent.dim() - 1))
        return a * s * torch.pow(2.0, -p)

    def export_arrays(self):
        """(sign int8 +-1, exponent int8 in [0, levels-1], w_scale float32 [O])."""
        with torch.no_grad():
            s, p = self.sign_and_exponent()
            e = (self.levels - 1) - p
            w_scale = self.alpha * 2.0 ** -(self.levels - 1)
            return (s.to(torch.int8).numpy(), e.to(torch.int8).numpy(), w_scale.float().numpy())


class DenseShiftConv2d(_DenseShiftMixin, nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, bits=4, init="random", float_weight=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        self._init_shift(bits, init, float_weight)

    def forward(self, x):
        return F.conv2d(x, self.shift_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)

    @classmethod
    def from_float(cls, conv, bits=4):
        m = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                conv.groups, conv.bias is not None, bits=bits, float_weight=conv.weight)
        if conv.bias is not None:
            with torch.no_grad():
                m.bias.copy_(conv.bias)
        return m


class DenseShiftLinear(_DenseShiftMixin, nn.Linear):
    def __init__(self, in_features, out_features, bias=True, bits=4, init="random", float_weight=None):
        super().__init__(in_features, out_features, bias)
        self._init_shift(bits, init, float_weight)

    def forward(self, x):
        return F.linear(x, self.shift_weight(), self.bias)

    @classmethod
    def from_float(cls, lin, bits=4):
        m = cls(lin.in_features, lin.out_features, lin.bias is not None, bits=bits, float_weight=lin.weight)
        if lin.bias is not None:
            with torch.no_grad():
                m.bias.copy_(lin.bias)
        return m
