"""Shared by the mixed-precision sensitivity tests: a tiny classifier small enough for the
numpy reference to quantize in seconds, and the torch KL oracle the sensitivities are
checked against."""
import numpy as np
import torch


def tiny_classifier(seed):
    """conv-pool-fc-fc on 1x8x8 inputs, 5 classes; three weight layers of different sizes."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5)).eval()


def kl_of_class_probs(ref_logits, q_logits):
    """Mean KL(softmax(ref) || softmax(q)) over the batch, in float64 (the oracle)."""
    lp = torch.log_softmax(torch.as_tensor(ref_logits, dtype=torch.float64), 1)
    lq = torch.log_softmax(torch.as_tensor(q_logits, dtype=torch.float64), 1)
    return float((lp.exp() * (lp - lq)).sum(1).mean())


def tiny_setup(model_seed, calib_seed, n_calib):
    """(torch model, its imported graph, n_calib Gaussian 1x8x8 calibration inputs)."""
    from edgesdk.frontends import load
    model = tiny_classifier(model_seed)
    g = load(model, example_inputs=torch.zeros(1, 1, 8, 8))
    calib = np.random.default_rng(calib_seed).normal(0, 1, (n_calib, 1, 8, 8)).astype(np.float32)
    return model, g, calib
