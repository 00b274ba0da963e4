"""4-bit weights on Cortex-M, packed two per byte (kernels/include/ek_s4.h), end to end.

- Kernels: every s4 variant (ref natively, dsp on the M4, mve on the M55 under QEMU) is
  bit-exact with the integer reference (QConv/QGemm on the unpacked values) on random
  cases, odd K (the padding nibble), K % 8 / K % 32 tails, batch > 4, 2-bit weights.
- Packing: pack_s4 against hand-derived bytes; scratch sizes: Python twin == C.
- Lowering/codegen: 4-bit (and 2-bit) layers pick the s4 kernels with half the weight
  bytes; the generated model.c on the host equals the reference interpreter; a 4-bit
  Fashion-MNIST CNN builds for mps2-an386 and mps3-an547 with a bit-exact self-test; a
  mixed-precision graph (quantize_to_budget) builds too.
- Bad input: weights marked 4-bit that do not fit a nibble are refused, naming the node.
"""
import ctypes

import numpy as np
import pytest
import torch

from conftest import require_tools
from mcu_helpers import host_check
from edgesdk import kernelcheck as kc
from edgesdk.boards import load_board
from edgesdk.data import load_fashion_mnist
from edgesdk.errors import EdgeError
from edgesdk.frontends import load
from edgesdk.kernelcheck import arm as kca
from edgesdk.lower.mcu import lower_mcu, pack_s4
from edgesdk.pipeline import build, prepare_graph
from edgesdk.quant import quantize, quantize_to_budget
from edgesdk.zoo.train import fmnist_classifier

needs_arm = require_tools("arm-none-eabi-gcc", "qemu-system-arm")
S4_OPS = ("conv2d_s4", "conv1x1_s4", "fc_s4")


def _edge_cases(seed):
    """Shapes the random sweep may miss: long K with every tail, batch > 4, 2-bit."""
    rng = np.random.default_rng(seed)
    return [
        kc.conv_case(rng, "conv2d_s4", 9, 7, 3, 5, 3, 3, pads=(1, 1, 1, 1)),             # K = 27 (odd)
        kc.conv_case(rng, "conv2d_s4", 8, 8, 16, 33, 3, 3, stride=(2, 2), pads=(0, 0, 1, 1)),  # K = 144
        kc.conv_case(rng, "conv2d_s4", 6, 6, 7, 4, 2, 3, dil=(2, 1), weight_bits=2),     # 2-bit, K = 42
        kc.conv_case(rng, "conv1x1_s4", 5, 5, 64, 9, 1, 1),                               # K % 32 == 0
        kc.conv_case(rng, "conv1x1_s4", 7, 3, 33, 6, 1, 1, stride=(2, 1)),
        kc.fc_case(rng, 1, 640, 17, weight_bits=4),
        kc.fc_case(rng, 6, 95, 11, weight_bits=4),                                      # batch 6: 4 + 2
        kc.fc_case(rng, 1, 1, 3, weight_bits=4),
        kc.fc_case(rng, 2, 300, 5, weight_bits=2),
    ]


def _cases(n, seed):
    cases = []
    for i, op in enumerate(S4_OPS):
        cases += kc.random_cases(op, n, seed=seed + i)
    return cases + _edge_cases(seed)


def _assert_exact(cases, results):
    bad = kca.mismatches(cases, results)
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. {bad[:3]}"


def test_pack_s4_hand_derived_bytes():
    w = np.array([[1, -1, 7, -8, 3], [-2, 0, 5, 6, -7]], np.int8)
    # row 0: (1 | 0xF << 4), (7 | 0x8 << 4), (3 | pad 0) ; row 1: (0xE | 0), (5 | 6 << 4), (0x9)
    assert pack_s4(w).tolist() == [[0xF1, 0x87, 0x03], [0x0E, 0x65, 0x09]]
    assert pack_s4(np.zeros((3, 8), np.int8)).shape == (3, 4)


def test_ref_kernels_native_match_reference():
    cases = _cases(40, seed=11)
    _assert_exact(cases, kca.run_native(cases))


def test_scratch_sizes_python_twin_equals_c():
    lib = kca._native_lib(kca._digest(kca.variant_sources("ref")))
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = dict(in_h=5, in_w=5, in_c=int(rng.integers(1, 300)), out_h=3, out_w=3, out_c=4,
                 k_h=int(rng.integers(1, 6)), k_w=int(rng.integers(1, 6)))
        conv = np.array([p[f] if f in p else 0 for f in kc.CONV_FIELDS], np.int32)
        for op in ("conv2d_s4", "conv1x1_s4"):
            assert lib.ek_kc_scratch_bytes(kc.OPS[op], conv.ctypes.data) == kc.scratch_bytes(op, p)
        k = int(rng.integers(1, 2000))
        fc = np.array([1, k, 7, 0, 0, -128, 127], np.int32)
        assert lib.ek_kc_scratch_bytes(kc.OPS["fc_s4"], fc.ctypes.data) == kc.scratch_bytes("fc_s4", {"in_features": k})
    assert ctypes.sizeof(ctypes.c_int32) == 4


@needs_arm
@pytest.mark.parametrize("isa,board", [("dsp", "mps2-an386"), ("mve", "mps3-an547")])
def test_optimized_kernels_on_core_match_reference(isa, board):
    cases = _cases(30, seed=21)
    results = kca.run_cases(cases, isa, board)
    _assert_exact(cases, results)
    assert all(n > 0 for n, _ in results)


@needs_arm
def test_dsp_inline_assembly_exact_at_O0():
    # The SMLAD step is inline assembly: it must build and stay exact at any -O level.
    cases = _cases(4, seed=31)
    _assert_exact(cases, kca.run_cases(cases, "dsp", "mps2-an386", opt="-O0"))


# ---- lowering, codegen and builds ------------------------------------------------------

@pytest.fixture(scope="module")
def fmnist():
    model = fmnist_classifier(width=8, epochs=1, limit=6000).eval()
    x, _ = load_fashion_mnist("train", limit=40)
    g = prepare_graph(load(model, example_inputs=torch.from_numpy(x[:1])))
    return g, x[:32], x[32:]


@pytest.fixture(scope="module")
def fmnist_q4(fmnist):
    g, calib, _ = fmnist
    return quantize(g, calib, weight_bits=4, layerwise=False)


def _w_bytes(prog):
    return {L.name: int(L.consts["w"].nbytes) for L in prog.layers if "w" in L.consts}


def test_4bit_layers_pick_s4_kernels_with_half_the_weight_bytes(fmnist, fmnist_q4, tmp_path):
    g, calib, x = fmnist
    prog4 = host_check(fmnist_q4, x[:4], tmp_path)
    assert {L.kernel for L in prog4.layers if L.op in ("QConv", "QGemm")} == {"conv2d_s4", "fc_s4"}
    prog8 = lower_mcu(quantize(g, calib), load_board("mps2-an386"))
    w4, w8 = _w_bytes(prog4), _w_bytes(prog8)
    for name, n8 in w8.items():
        L = next(L for L in prog4.layers if L.name == name)
        rows = L.params.get("out_c", L.params.get("out_features"))
        assert w4[name] == rows * ((n8 // rows + 1) // 2)  # ceil(K / 2) bytes per row
    assert sum(w4.values()) <= 0.51 * sum(w8.values())


def test_1x1_conv_and_2bit_weights_bit_exact_on_host(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(6, 12, 1),
                                torch.nn.ReLU(), torch.nn.Conv2d(12, 5, 3, 2), torch.nn.Flatten(),
                                torch.nn.Linear(5 * 6 * 6, 7)).eval()
    x, _ = load_fashion_mnist("train", limit=24)
    g = prepare_graph(load(model, example_inputs=torch.from_numpy(x[:1])))
    names = [n.name for n in g.nodes if n.op in ("Conv", "Gemm")]
    q = quantize(g, x[:16], weight_bits={names[0]: 8, names[1]: 4, names[2]: 2, names[3]: 2}, layerwise=False)
    prog = host_check(q, x[16:20], tmp_path)
    kinds = {L.name: (L.kernel, L.weight_bits) for L in prog.layers if L.op in ("QConv", "QGemm")}
    assert kinds == {names[0]: ("conv2d_s8", 8), names[1]: ("conv1x1_s4", 4), names[2]: ("conv2d_s4", 2),
                     names[3]: ("fc_s4", 2)}


def test_out_of_range_4bit_weights_are_refused_naming_the_node(fmnist_q4):
    q = fmnist_q4.copy()
    node = next(n for n in q.nodes if n.op == "QConv")
    t = q.tensors[node.inputs[1]]
    bad = t.data.copy()
    bad.reshape(-1)[0] = 9
    t.data = bad  # a new array: the fixture's graph keeps its own
    msg = rf"node {node.name}: weights are marked 4-bit but hold values in \[-?\d+, 9\], outside"
    with pytest.raises(EdgeError, match=msg):
        lower_mcu(q, load_board("mps2-an386"))
    assert fmnist_q4.const(node.inputs[1]).max() <= 7


@needs_arm
@pytest.mark.parametrize("board,isa", [("mps2-an386", "dsp"), ("mps3-an547", "mve")])
def test_4bit_fmnist_builds_with_bit_exact_selftest(fmnist, fmnist_q4, tmp_path, board, isa):
    _, _, x = fmnist
    r = build(fmnist_q4, "mcu", board, tmp_path / "b", calib=x[:1], quiet=True)
    s = r.summary
    assert s["selftest"] == "bit-exact"
    assert r.manifest["kernels"] == [isa]
    impls = {L["impl"] for L in r.manifest["layers"] if L["op"] in ("QConv", "QGemm")}
    assert impls == {f"ek_conv2d_s4_{isa}", f"ek_fc_s4_{isa}"}
    assert "4-bit, packed two per byte" in r.summary_text


@needs_arm
def test_mixed_precision_graph_builds(fmnist, tmp_path):
    g, calib, x = fmnist
    qg, plan, _ = quantize_to_budget(g, calib, budget_bits_per_weight=3.5, sens_samples=16, layerwise=False)
    assert len(set(plan.values())) > 1  # really mixed
    r = build(qg, "mcu", "mps2-an386", tmp_path / "b", calib=x[:1], quiet=True)
    assert r.summary["selftest"] == "bit-exact"
    bits = {L["name"]: L["weight_bits"] for L in r.manifest["layers"] if L["op"] in ("QConv", "QGemm")}
    assert bits == {k: v for k, v in plan.items()}
    for L in r.manifest["layers"]:
        if L["op"] in ("QConv", "QGemm"):
            assert ("_s4_" in L["impl"]) == (L["weight_bits"] <= 4)
