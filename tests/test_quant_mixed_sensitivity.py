"""Mixed-precision sensitivity (edgesdk.quant.sensitivity): the KL damage against a torch
oracle, calibrated vs round-to-nearest, held-out samples, the MILP on measured
sensitivities against brute force, the plan table, the CLI option and bad input."""
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edgesdk.errors import DataError
from edgesdk.frontends import load
from edgesdk.quant.mixed import _bytes, _layers, layer_sensitivity, plan_mixed_precision, quantize_to_budget
from edgesdk.quant.prepare import prepare_float
from edgesdk.quant.ptq import QuantizeError
from edgesdk.quant.sensitivity import calibrated_sensitivity, split_sizes
from edgesdk.quant.weights import fake_quant, weight_scale

from quant_mixed_helpers import kl_of_class_probs, tiny_setup

EDGESDK = str(Path(sys.executable).parent / "edgesdk")
STEPS = 60  # layer-wise calibration steps: enough to show the effect, fast on 2 cores


@pytest.fixture(scope="module")
def setup():
    return tiny_setup(3, 0, 96)


def test_split_sizes_hold_out_disjoint_samples():
    for n in (2, 3, 50, 255, 512, 4000):
        fit, held = split_sizes(n, 256)
        assert fit >= 1 and held >= 1 and fit + held <= n and fit <= 256 and held <= 256
    assert split_sizes(1, 256) == (1, 0)
    assert split_sizes(512, 256) == (256, 256)


def test_rtn_damage_matches_torch_oracle(setup):
    """Round-to-nearest sensitivity = KL of torch's softmax with that one layer's weights
    fake-quantized, on the held-out calibration samples."""
    model, g, calib = setup
    fg = prepare_float(g)
    nodes = _layers(fg)
    sens = calibrated_sensitivity(fg, calib, nodes, (2, 4, 8), samples=40, metric="kl", seed=5, calibrated=False)
    n_fit, n_eval = split_sizes(len(calib), 40)
    perm = np.random.default_rng(5).permutation(len(calib))
    held = torch.from_numpy(calib[np.sort(perm[n_fit:n_fit + n_eval])])
    with torch.no_grad():
        ref = model(held).numpy()
    torch_layers = [m for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(torch_layers) == len(nodes) == 3
    for node, layer in zip(nodes, torch_layers):
        w = layer.weight.detach().numpy().copy()
        for bits in (2, 4, 8):
            wq = fake_quant(w, weight_scale(w, bits, search="mse" if bits < 8 else None), bits)
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(wq.astype(np.float32)))
                out = model(held).numpy()
                layer.weight.copy_(torch.from_numpy(w))
            assert sens[node.name][bits] == pytest.approx(kl_of_class_probs(ref, out), rel=1e-3, abs=1e-9)


def test_calibrated_sensitivity_below_round_to_nearest(setup):
    model, g, calib = setup
    cal = layer_sensitivity(g, calib, samples=48, steps=STEPS)
    fg = prepare_float(g)
    rtn = calibrated_sensitivity(fg, calib, _layers(fg), (2, 4, 8), samples=48, metric="kl", calibrated=False)
    for info in cal:
        assert info.sens[2] > info.sens[4] > info.sens[8] >= 0
        assert info.sens[8] == pytest.approx(rtn[info.name][8])  # 8 bits: no calibration, same numbers
    # Layer-wise calibration recovers most of the 2-bit damage (on held-out samples).
    assert sum(i.sens[2] for i in cal) < 0.7 * sum(rtn[i.name][2] for i in cal)


def test_milp_plan_on_measured_sensitivities_is_brute_force_optimum(setup):
    _, g, calib = setup
    infos = layer_sensitivity(g, calib, samples=48, steps=STEPS)
    for bits_per_weight in (3.0, 4.0, 5.5):
        budget = int(np.floor(bits_per_weight * sum(i.params for i in infos) / 8))
        plan = plan_mixed_precision(infos, budget_bytes=budget)
        feasible = [c for c in itertools.product((2, 4, 8), repeat=len(infos))
                    if sum(_bytes(i.params, b) for i, b in zip(infos, c)) <= budget]
        best = min(sum(i.sens[b] for i, b in zip(infos, c)) for c in feasible)
        assert sum(i.sens[plan[i.name]] for i in infos) == pytest.approx(best, rel=1e-12)
        assert sum(_bytes(i.params, plan[i.name]) for i in infos) <= budget


def test_quantize_to_budget_table_and_meta(setup):
    _, g, calib = setup
    qg, plan, table = quantize_to_budget(g, calib, budget_bits_per_weight=4, sens_samples=48,
                                         layerwise_steps=STEPS)
    assert "KL(float || quantized)" in table and "sens@2" in table and "budget" in table
    for name, bits in plan.items():
        assert name in table
    meta = qg.meta["quantization"]["mixed_precision"]
    assert meta["sensitivity_method"] == "calibrated" and meta["sensitivity_metric"] == "kl"
    assert qg.meta["quantization"]["weight_bits"] == plan


def test_bad_input(setup):
    _, g, calib = setup
    with pytest.raises(QuantizeError, match="sensitivity method 'hessian'"):
        layer_sensitivity(g, calib, method="hessian")
    with pytest.raises(QuantizeError, match="sensitivity metric 'l1'"):
        layer_sensitivity(g, calib, metric="l1")
    with pytest.raises(DataError, match=r"shape \(4, 1, 7, 8\)"):
        layer_sensitivity(g, calib[:4, :, :7], steps=STEPS)
    conv_only = load(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)).eval(), example_inputs=torch.zeros(1, 1, 8, 8))
    with pytest.raises(QuantizeError, match="kl needs one \\(N, classes\\) output"):
        layer_sensitivity(conv_only, calib, metric="kl")
    # Not a classifier: the default falls back to output MSE.
    infos = layer_sensitivity(conv_only, calib, samples=16, steps=10)
    assert infos[0].sens[2] > infos[0].sens[8]


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory, setup):
    model, _, calib = setup
    d = tmp_path_factory.mktemp("qmix")
    torch.onnx.export(model, torch.zeros(1, 1, 8, 8), str(d / "m.onnx"), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logits"])
    np.save(d / "calib.npy", calib[:32])
    return d


def test_cli_prints_plan_table_per_sensitivity_method(onnx_files):
    d = onnx_files
    for method, expect in (("rtn", "output MSE / output variance"), ("calibrated", "KL(float || quantized)")):
        r = subprocess.run([EDGESDK, "quantize", str(d / "m.onnx"), "--calib", str(d / "calib.npy"), "-o",
                            str(d / f"{method}.edg"), "--budget-bits-per-weight", "4", "--sensitivity", method,
                            "--layerwise-steps", "20"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert expect in r.stdout and "sens@4" in r.stdout and "bits" in r.stdout and "plan uses" in r.stdout
    r = subprocess.run([EDGESDK, "quantize", str(d / "m.onnx"), "--calib", str(d / "calib.npy"), "-o",
                        str(d / "x.edg"), "--budget-bits-per-weight", "4", "--sensitivity", "hessian"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "hessian" in r.stderr
