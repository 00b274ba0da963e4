"""The memory planner on the MLPerf Tiny models (edgesdk.zoo, imported by the frontend).

Two checks: the arena is within 10% of the lower bound (int8 activations, as the MCU
build uses them), and running each model through the numpy reference with EVERY
activation living in one arena at the planned offsets gives the same outputs as a
plain reference run (a clobbered live tensor would change them).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgesdk import frontends, reference, zoo  # noqa: E402
from edgesdk.ir.dtypes import np_dtype  # noqa: E402
from edgesdk.lower.memory_plan import plan_memory  # noqa: E402
from edgesdk.passes import run_passes  # noqa: E402

MODELS = {"resnet8": (zoo.resnet8, (3, 32, 32)), "ds_cnn": (zoo.ds_cnn, (1, 49, 10)),
          "mobilenet_v1_025": (zoo.mobilenet_v1_025, (3, 96, 96)),
          "ad_autoencoder": (zoo.ad_autoencoder, (640,))}


def imported(name):
    ctor, shape = MODELS[name]
    torch.manual_seed(0)
    return run_passes(frontends.load(ctor().eval(), example_inputs=torch.randn(1, *shape))), shape


def run_in_arena(g, plan, feeds):
    arena = np.zeros(plan.arena_bytes, np.uint8)

    def view(name):
        t = g.tensors[name]
        off = plan.offsets[name]
        return arena[off:off + t.nbytes].view(np_dtype(t.dtype)).reshape(t.shape)

    for name, v in feeds.items():
        view(name)[...] = v
    for node in g.nodes:
        ins = [None if not i else (g.tensors[i].data if g.tensors[i].is_const else view(i).copy())
               for i in node.inputs]
        outs = reference.get(node.op)(node, ins)
        for name, val in zip(node.outputs, outs):
            if name:
                view(name)[...] = val
    return {o: view(o).copy() for o in g.outputs}


@pytest.mark.parametrize("name", list(MODELS))
def test_arena_within_10_percent_of_lower_bound(name):
    g, shape = imported(name)
    plan = plan_memory(g, size_of=lambda t: t.numel, align=16)   # int8 activations
    assert plan.lower_bound > 0
    assert plan.lower_bound <= plan.arena_bytes <= 1.10 * plan.lower_bound + 16, \
        (plan.arena_bytes, plan.lower_bound)
    # f32 too (the float build)
    plan32 = plan_memory(g, align=16)
    assert plan32.arena_bytes <= 1.10 * plan32.lower_bound + 16

    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    got = run_in_arena(g, plan32, {g.inputs[0]: x})
    want = reference.run(g, {g.inputs[0]: x})
    for o in g.outputs:
        # Not bit-equal: numpy's summation order follows the memory layout of each input
        # (an arena copy is contiguous, a reference intermediate may be a strided view).
        # A clobbered tensor is off by far more than this.
        np.testing.assert_allclose(got[o], want[o], rtol=1e-5, atol=1e-6)
