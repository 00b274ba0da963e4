"""The rig's functional suite, run on whichever board --board names (see conftest.py).

Oracles: y = clamp(3x + 1) in numpy, the reference interpreter on model.edg, and
lengths/values chosen so every transfer crosses the chunk boundaries."""
import numpy as np
import pytest

from edgesdk.hil import DeviceStatusError
from edgesdk.hil import protocol as P
from edgesdk.hil.testbuild import N, SHAPE


def affine(x):
    return np.clip(3 * x.astype(np.int32) + 1, -128, 127).astype(np.int8)


def test_hello_describes_the_build(device, rig_build):
    import json
    m = json.loads((rig_build / "manifest.json").read_text())
    assert device.info.model_hash == m["model_hash"] and device.info.build_id == m["build_id"]
    assert device.info.input_bytes == [N] and device.info.output_bytes == [N]
    assert device.info.arena_bytes == 2 * N and device.info.has_layer_timing


def test_every_int8_value_and_chunk_boundary(device):
    # All 256 values, at positions that straddle each SET_INPUT/GET_OUTPUT chunk edge.
    x = np.resize(np.arange(-128, 128, dtype=np.int16)[::-1], N).astype(np.int8).reshape(SHAPE)
    res = device.infer([x])
    np.testing.assert_array_equal(res.outputs[0], affine(x))
    assert res.count > 0


def test_consecutive_runs_do_not_leak_state(device):
    rng = np.random.default_rng(7)
    xs = [rng.integers(-128, 128, SHAPE).astype(np.int8) for _ in range(3)]
    for x in xs:
        np.testing.assert_array_equal(device.infer([x]).outputs[0], affine(x))


def test_against_the_reference_interpreter(rig_build, device):
    from edgesdk.hil.validate import compare, reference_outputs
    from edgesdk.ir import load
    g = load(rig_build / "model.edg")
    specs = device.manifest["inputs"]
    x = np.random.default_rng(8).integers(-128, 128, SHAPE).astype(np.int8)
    (ref,) = reference_outputs(g, specs, [x])
    check = compare("y", device.manifest["outputs"][0], device.infer([x]).outputs[0], ref)
    assert check.passed and check.mismatches == 0


def test_timing_per_layer(device):
    res = device.infer([np.zeros(SHAPE, np.int8)])
    t = device.timing()
    assert t.unit == res.unit and t.total == res.count
    assert len(t.layers) == 2 and 0 < t.layers[0] <= t.total


def test_echo_sizes(device):
    for n in (0, 1, 254, 255, device.info.max_payload):
        data = bytes((i * 31 + 7) % 256 for i in range(n))
        assert device.echo(data) == data


def test_training_hooks_absent(device):
    assert not device.info.can_train
    with pytest.raises(DeviceStatusError, match="not supported") as e:
        device.client.train_step(b"")
    assert e.value.status == P.E_UNSUPPORTED


def test_reset_then_run(device):
    device.reset()
    x = np.full(SHAPE, -43, np.int8)  # 3 * -43 + 1 = -128: the clamp edge
    np.testing.assert_array_equal(device.infer([x]).outputs[0], np.full(SHAPE, -128, np.int8))
