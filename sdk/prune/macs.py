"""MAC and parameter counters for torch models (forward hooks on Conv/Linear).

Dense MACs count every weight; with sparse=True a weight that is exactly zero costs
nothing (what an ideal sparse kernel saves): MACs = output positions x non-zeros.
"""
import torch
from torch import nn


def _weight(m):
    return m.weight.detach()


def count_macs(model, input_shape, sparse=False):
    """Multiply-accumulates of one forward pass on zeros of `input_shape` (batch included)."""
    total = [0]

    def conv_hook(m, inp, out):
        w = _weight(m)
        per_out = int((w != 0).sum()) if sparse else w.numel()
        # per_out counts all output channels' weights; each is used at every output position.
        positions = out.numel() // out.shape[1]
        total[0] += positions * per_out

    def linear_hook(m, inp, out):
        w = _weight(m)
        per = int((w != 0).sum()) if sparse else w.numel()
        total[0] += (out.numel() // out.shape[-1]) * per

    hooks = []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(*input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return total[0]


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
