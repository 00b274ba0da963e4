"""Small real models for the GPU tests: float and int8 IR graphs built through the
frontend, the default passes and PTQ (the same path a user's model takes)."""
import numpy as np


def tiny_mobile_graphs(seed=0):
    """(float graph, int8 graph): conv s2 + relu, depthwise + relu, 1x1, residual add, GAP, fc."""
    import torch
    from torch import nn

    from edgesdk.frontends import load
    from edgesdk.passes import run_passes
    from edgesdk.quant import quantize

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.pw = nn.Conv2d(8, 8, 1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            a = torch.relu(self.c1(x))
            b = self.pw(torch.relu(self.dw(a)))
            c = torch.relu(a + b)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(c, 1), 1))

    torch.manual_seed(seed)
    m = Tiny().eval()
    g = run_passes(load(m, example_inputs=(torch.randn(1, 3, 16, 16),)))
    calib = np.random.default_rng(seed).standard_normal((8, 3, 16, 16)).astype(np.float32)
    return g, quantize(g, calib, bias_correction=False)


def random_feed(graph, seed=1):
    rng = np.random.default_rng(seed)
    t = graph.tensors[graph.inputs[0]]
    if t.dtype == "s8":
        return {t.name: rng.integers(-128, 128, t.shape, dtype=np.int8)}
    return {t.name: rng.standard_normal(t.shape).astype(np.float32)}
