"""Convert a float torch model's eligible layers to binary (BiPer/STE) or DenseShift layers."""
import copy

from torch import nn

from ..errors import EdgeError
from .shift_layers import DenseShiftConv2d, DenseShiftLinear, _check_bits
from .layers import METHODS, BinaryConv2d, BinaryLinear, _BinaryMixin, check_act_surrogate, check_frequency

_ELIGIBLE = (nn.Conv2d, nn.Linear)


def _layers_in_order(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _ELIGIBLE)
            and not isinstance(m, (_BinaryMixin, DenseShiftConv2d, DenseShiftLinear))]


def _select(model, layers, keep_first_last, what):
    found = _layers_in_order(model)
    if layers is not None:
        mods = dict(model.named_modules())
        out = []
        for name in layers:
            if name not in mods:
                raise EdgeError(f"{what}: layer {name!r} is not in the model")
            if not isinstance(mods[name], _ELIGIBLE):
                raise EdgeError(f"{what}: layer {name!r} is a {type(mods[name]).__name__}, which has no "
                                f"{what} form (only Conv2d and Linear)")
            out.append((name, mods[name]))
        return out
    if keep_first_last:
        # The first and last layers see real-valued inputs / produce logits; they stay
        # float here and become int8 by the ordinary quantizer (standard BNN practice).
        found = found[1:-1]
    if not found:
        raise EdgeError(f"{what}: model {type(model).__name__} has no Conv2d/Linear layer to convert"
                        + (" besides its first and last layers (keep_first_last=True)" if keep_first_last else ""))
    return found


def _replace(model, name, new):
    parent = model
    parts = name.split(".")
    for p in parts[:-1]:
        parent = getattr(parent, p)
    setattr(parent, parts[-1], new)


LATENT_INITS = ("copy", "fold", "half_period")


def binarize(model, method="biper", freq=0.75, layers=None, keep_first_last=True, inplace=False,
             act_surrogate=None, latent_init="copy"):
    """Replace eligible Conv2d/Linear layers by BinaryConv2d/BinaryLinear. Returns the
    converted model; it needs training.
    act_surrogate: "approxsign" or "clipped"; default the method's own (BiPer: approxsign).
    latent_init: "copy" the float weights into the latent ones, or (BiPer) "fold" them into
    the first half-period of the square wave (layers.fold_into_first_half_period), or
    (BiPer, for a randomly initialised model) "half_period": scale them linearly onto the
    rising half-period (layers.spread_over_half_period)."""
    if method not in METHODS:
        raise EdgeError(f"binarize: method {method!r}: choose one of {', '.join(METHODS)}")
    check_frequency(freq, "binarize freq")
    if act_surrogate is not None:
        check_act_surrogate(act_surrogate)
    if latent_init not in LATENT_INITS:
        raise EdgeError(f"binarize: latent_init {latent_init!r}: choose one of {', '.join(LATENT_INITS)}")
    if latent_init != "copy" and method != "biper":
        raise EdgeError(f"binarize: latent_init {latent_init!r} needs method 'biper' (a period), not {method!r}")
    if not inplace:
        model = copy.deepcopy(model)
    for name, m in _select(model, layers, keep_first_last, "binary"):
        if isinstance(m, nn.Conv2d):
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise EdgeError(f"binarize: layer {name!r} (Conv2d, padding {m.padding!r}, mode "
                                f"{m.padding_mode}) has no binary form; only explicit zero padding")
            new = BinaryConv2d.from_float(m, method, freq)
        else:
            new = BinaryLinear.from_float(m, method, freq)
        if act_surrogate is not None:
            new.act_surrogate = act_surrogate
        if latent_init == "fold":
            new.fold_into_first_half_period()
        elif latent_init == "half_period":
            new.spread_over_half_period()
        _replace(model, name, new)
    return model


def denseshift(model, bits=4, layers=None, keep_first_last=True, inplace=False, init="float"):
    """Replace eligible layers by DenseShiftConv2d/DenseShiftLinear.

    init="float": latents from the float weights (fine-tuning a trained model);
    init="random": the paper's low-variance random init (training from scratch).
    """
    _check_bits(bits)
    if init not in ("float", "random"):
        raise EdgeError(f"denseshift init={init!r}: choose 'float' or 'random'")
    if not inplace:
        model = copy.deepcopy(model)
    for name, m in _select(model, layers, keep_first_last, "DenseShift"):
        if init == "random":
            if isinstance(m, nn.Conv2d):
                new = DenseShiftConv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                       m.dilation, m.groups, m.bias is not None, bits=bits, init="random")
            else:
                new = DenseShiftLinear(m.in_features, m.out_features, m.bias is not None, bits=bits, init="random")
        else:
            new = DenseShiftConv2d.from_float(m, bits) if isinstance(m, nn.Conv2d) else \
                DenseShiftLinear.from_float(m, bits)
        _replace(model, name, new)
    return model


def binary_layers(model):
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, (_BinaryMixin, DenseShiftConv2d, DenseShiftLinear))]


def weight_bytes(model, other_bits=8):
    """Weight storage on the device, per layer and in total.

    Binary layers: 1 bit per weight (packed) + a float32 scale per output channel;
    DenseShift: `bits` per weight + scale; other Conv2d/Linear: `other_bits` per weight
    (8 = int8 after PTQ, 32 = float). Biases are not counted (they are the same everywhere).
    """
    rows, total, packed = [], 0, 0
    for name, m in model.named_modules():
        if isinstance(m, _BinaryMixin):
            n = m.weight.numel()
            wb, sb = (n + 7) // 8, 4 * m.alpha.numel()
            kind, bits = f"binary-{m.method}", 1
        elif isinstance(m, (DenseShiftConv2d, DenseShiftLinear)):
            n = m.sign_latent.numel()
            wb, sb = (n * m.bits + 7) // 8, 4 * m.alpha.numel()
            kind, bits = f"denseshift{m.bits}", m.bits
        elif isinstance(m, _ELIGIBLE):
            n = m.weight.numel()
            wb, sb = (n * other_bits + 7) // 8, 0
            kind, bits = "float" if other_bits == 32 else f"int{other_bits}", other_bits
        else:
            continue
        rows.append({"layer": name, "kind": kind, "weights": n, "bits": bits, "weight_bytes": wb,
                     "float_bytes": 4 * n, "scale_bytes": sb})
        total += wb + sb
        if bits < 8:
            packed += wb
    return {"layers": rows, "total_bytes": total, "low_bit_weight_bytes": packed,
            "low_bit_float_bytes": sum(r["float_bytes"] for r in rows if r["bits"] < 8)}
