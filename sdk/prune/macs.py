"""MAC and parameter counters for torch models (forward hooks on Conv/Linear).

Dense MACs count every weight; with sparse=True a weight that is exactly zero costs
nothing (what an ideal sparse kernel saves): MACs = output positions x non-zeros.
"""
import torch
from torch import nn


def _weight(m):
    return m.weight.detach()


def layer_macs(model, input_shape, sparse=False):
    """{module name: multiply-accumulates} of every Conv/Linear on one forward pass on
    zeros of `input_shape` (batch included)."""
    macs = {}

    def hook(m, inp, out, name):
        w = _weight(m)
        per = int((w != 0).sum()) if sparse else w.numel()
        # per counts all output channels' weights; each is used at every output position
        # (channels are dim 1 of a conv's output, the last dim of a linear's).
        positions = out.numel() // (out.shape[-1] if isinstance(m, nn.Linear) else out.shape[1])
        macs[name] = macs.get(name, 0) + positions * per

    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: hook(mod, i, o, name))
             for name, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(*input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return macs


def count_macs(model, input_shape, sparse=False):
    """Multiply-accumulates of one forward pass on zeros of `input_shape` (batch included)."""
    return sum(layer_macs(model, input_shape, sparse).values())


def count_params(model, sparse=False):
    """Parameters (weights, biases, norm affine); sparse=True counts only non-zeros.
    A masked weight counts as its masked value (its latent copy is not a parameter
    that ships)."""
    from torch.nn.utils import parametrize
    n = 0
    for mod in model.modules():
        if isinstance(mod, parametrize.ParametrizationList):
            continue
        tensors = list(mod.parameters(recurse=False))
        if parametrize.is_parametrized(mod):
            tensors += [getattr(mod, name).detach() for name in mod.parametrizations]
        for p in tensors:
            n += int((p != 0).sum()) if sparse else p.numel()
    return n
