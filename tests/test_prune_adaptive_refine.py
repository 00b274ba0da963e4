"""adaptive_prune(refine="joint"): local search over per-group rates scored by the JOINT
distortion of whole pruned networks, starting from the rate-distortion DP plan.

Oracle: the KL divergence from the unpruned model's softmax, recomputed here with torch
on the returned models, and MACs recounted with count_macs; the DP's own additive
estimate (sum of per-group distortions) is shown to be wrong on the model used."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgesdk.errors import EdgeError
from edgesdk.prune import count_macs
from edgesdk.prune.adaptive import adaptive_prune, refine_joint

SHAPE = (1, 1, 8, 8)
CANDS = tuple(i / 8 for i in range(8))


def tiny(seed):
    """Two coupled channel groups (conv1 -> conv2): removing conv1's channels changes what
    conv2's channels compute, so the groups' distortions do not add up."""
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.2, 2.0)   # unequal channel scales: a non-trivial allocation
    return m.eval()


def calib():
    return torch.randn(64, *SHAPE[1:], generator=torch.Generator().manual_seed(0))


def joint_kl(model, pruned, x):
    with torch.no_grad():
        ref, out = model(x), pruned.eval()(x)
    return F.kl_div(F.log_softmax(out, 1), F.log_softmax(ref, 1), reduction="batchmean", log_target=True).item()


@pytest.mark.parametrize("seed", [1, 6])
def test_joint_refinement_beats_the_additive_dp_plan_within_the_budget(seed):
    torch.set_num_threads(1)
    model, x = tiny(seed), calib()
    base = count_macs(model, SHAPE)
    dp, rep0 = adaptive_prune(model, SHAPE, x, 0.5, distortion="kl", candidates=CANDS, refine=None)
    ref, rep1 = adaptive_prune(model, SHAPE, x, 0.5, distortion="kl", candidates=CANDS, refine="joint")
    d_dp, d_ref = joint_kl(model, dp, x), joint_kl(model, ref, x)
    additive = sum(layer["distortion"] for layer in rep0["layers"])
    # the DP's additive model mis-estimates the plan it picked (the groups interact) ...
    assert abs(additive - d_dp) > 0.02 * d_dp or rep1["layers"] != rep0["layers"]
    # ... and the joint search finds a strictly better network in the same budget
    assert d_ref < 0.95 * d_dp, (d_ref, d_dp)
    assert count_macs(ref, SHAPE) <= base * 0.5
    assert {l["unit"]: l["rate"] for l in rep1["layers"]} != rep1["refine"]["dp_rates"]
    assert rep1["refine"]["dp_rates"] == {l["unit"]: l["rate"] for l in rep0["layers"]}
    assert rep1["refine"]["start_distortion"] == pytest.approx(d_dp, rel=1e-4, abs=1e-7)
    assert rep1["refine"]["distortion"] == pytest.approx(d_ref, rel=1e-4, abs=1e-7)
    assert rep1["refine"]["evaluations"] <= 150 and rep1["refine"]["stopped"] == "local optimum"
    assert "refine" not in rep0


def test_joint_is_the_default():
    model, x = tiny(1), calib()
    _, rep = adaptive_prune(model, SHAPE, x, 0.5, distortion="kl", candidates=CANDS)
    assert rep["refine"]["method"] == "joint"


def test_seed6_additive_estimate_is_wrong():
    """Hand-checked case: the DP sums 0.0218 for its plan, the plan's real joint KL is 0.0116."""
    model, x = tiny(6), calib()
    dp, rep0 = adaptive_prune(model, SHAPE, x, 0.5, distortion="kl", candidates=CANDS, refine=None)
    additive = sum(layer["distortion"] for layer in rep0["layers"])
    assert additive > 1.5 * joint_kl(model, dp, x)


def test_max_evals_caps_the_search():
    model, x = tiny(6), calib()
    _, rep = adaptive_prune(model, SHAPE, x, 0.5, distortion="kl", candidates=CANDS, refine="joint", max_evals=2)
    assert rep["refine"]["evaluations"] <= 2 and rep["refine"]["stopped"] == "max_evals"
    assert rep["achieved_reduction"] >= 0.5


@pytest.mark.parametrize("bad,match", [({"refine": "greedy"}, "refine 'greedy'"),
                                       ({"refine": "joint", "max_evals": 0}, "max_evals 0"),
                                       ({"refine": "joint", "max_evals": 2.5}, "max_evals 2.5"),
                                       ({"refine": "joint", "max_evals": True}, "max_evals True")])
def test_bad_refine_options(bad, match):
    with pytest.raises(EdgeError, match=match):
        adaptive_prune(tiny(0), SHAPE, calib(), 0.5, distortion="kl", candidates=CANDS, **bad)


def test_refine_joint_rejects_a_start_over_budget():
    steps = [[0, 1, 2]]
    with pytest.raises(EdgeError, match="over the budget"):
        refine_joint(steps, [0], lambda s: s, lambda s: 10 - s[0], lambda s: float(s[0]), budget=5)


def test_refine_joint_on_a_non_additive_toy_objective():
    """Two units, cost = 10 - a - b, budget 6 (a + b >= 4); distortion a^2 + b^2 + 3ab:
    the additive part alone prefers (2, 2) but the interaction makes (4, 0) / (0, 4) best."""
    steps = [list(range(5)), list(range(5))]
    state, d, log = refine_joint(steps, [2, 2], lambda s: s, lambda s: 10 - s[0] - s[1],
                                 lambda s: s[0] ** 2 + s[1] ** 2 + 3 * s[0] * s[1], budget=6)
    assert d == 16 and sorted(state) == [0, 4] and log["start_distortion"] == 20
