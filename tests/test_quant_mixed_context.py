"""Mixed-precision sensitivity in a context width (calibrated_sensitivity(context_bits=...)):
layer l at b bits with every other layer at the context width, checked against a torch
oracle; the MILP path and bad input."""
import numpy as np
import pytest
import torch

from edgesdk.quant.mixed import _bytes, _layers, layer_sensitivity, quantize_to_budget
from edgesdk.quant.prepare import prepare_float
from edgesdk.quant.ptq import QuantizeError
from edgesdk.quant.sensitivity import calibrated_sensitivity, split_sizes
from edgesdk.quant.weights import fake_quant, weight_scale

from quant_mixed_helpers import kl_of_class_probs, tiny_setup

STEPS = 40


@pytest.fixture(scope="module")
def setup():
    return tiny_setup(7, 1, 80)


def _rtn(w, bits):
    return fake_quant(w, weight_scale(w, bits, search="mse" if bits < 8 else None), bits).astype(np.float32)


def test_context_damage_matches_torch_oracle(setup):
    """Round to nearest, context 4 bits: sens[l][b] = KL of torch's model with every layer
    fake-quantized at 4 bits except layer l at b, on the held-out calibration samples."""
    model, g, calib = setup
    fg = prepare_float(g)
    nodes = _layers(fg)
    sens = calibrated_sensitivity(fg, calib, nodes, (2, 4, 8), samples=32, metric="kl", seed=2,
                                  calibrated=False, context_bits=4)
    n_fit, n_eval = split_sizes(len(calib), 32)
    perm = np.random.default_rng(2).permutation(len(calib))
    held = torch.from_numpy(calib[np.sort(perm[n_fit:n_fit + n_eval])])
    layers = [m for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    float_w = [m.weight.detach().numpy().copy() for m in layers]
    with torch.no_grad():
        ref = model(held).numpy()
    try:
        for li, node in enumerate(nodes):
            for bits in (2, 4, 8):
                with torch.no_grad():
                    for lj, m in enumerate(layers):
                        m.weight.copy_(torch.from_numpy(_rtn(float_w[lj], bits if lj == li else 4)))
                    out = model(held).numpy()
                assert sens[node.name][bits] == pytest.approx(kl_of_class_probs(ref, out), rel=1e-3, abs=1e-9)
    finally:
        with torch.no_grad():
            for m, w in zip(layers, float_w):
                m.weight.copy_(torch.from_numpy(w))
    # At the context width every layer measures the same model.
    at4 = [sens[n.name][4] for n in nodes]
    assert max(at4) == pytest.approx(min(at4), rel=1e-12) and at4[0] > 0


def test_quantize_to_budget_with_context(setup):
    _, g, calib = setup
    qg, plan, table = quantize_to_budget(g, calib, budget_bits_per_weight=4, sens_samples=32,
                                         layerwise_steps=STEPS, sens_context_bits=4)
    meta = qg.meta["quantization"]["mixed_precision"]
    assert meta["sensitivity_context_bits"] == 4
    infos = layer_sensitivity(g, calib, samples=32, steps=STEPS, context_bits=4)
    assert [meta["sensitivity"][i.name]["4"] for i in infos] == pytest.approx([infos[0].sens[4]] * len(infos))
    budget = int(np.floor(4 * sum(i.params for i in infos) / 8))
    assert sum(_bytes(i.params, plan[i.name]) for i in infos) <= budget


def test_bad_context(setup):
    _, g, calib = setup
    with pytest.raises(QuantizeError, match="context_bits 9"):
        layer_sensitivity(g, calib, context_bits=9, steps=STEPS)
    with pytest.raises(QuantizeError, match="context_bits needs method 'calibrated'"):
        layer_sensitivity(g, calib, method="rtn", context_bits=4)
