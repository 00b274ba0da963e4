"""Test models with BatchNorm layers that do something: fresh ones are the identity (mean 0,
var 1, weight 1, bias 0), under which a wrong fold or export would still pass."""
import torch


def randomize_batchnorm(model, seed=0):
    """Running statistics and affine parameters drawn per channel (seeded); eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                n = mod.num_features
                mod.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                mod.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
                if mod.affine:
                    mod.weight.copy_(0.5 + torch.rand(n, generator=g))
                    mod.bias.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()
