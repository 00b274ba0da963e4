"""Binarized layers on the OpenCL backend (PoCL): Binarize, BConv (bit im2col + XNOR-popcount
GEMM), BGemm and their Cast, bit-exact against the numpy reference for every b1 and
int32 tensor; the packing kernels against reference.binary.pack_bits and their _ref twins."""
import numpy as np
import pytest
from torch import nn

from edgesdk.errors import UnsupportedOpsError
from edgesdk.reference import run as reference_run
from edgesdk.reference.binary import pack_bits
from bn_helpers import randomize_batchnorm
from gpu_helpers import requires_opencl

pytestmark = [pytest.mark.opencl, requires_opencl]


def _binary_graph(groups=1):
    import torch

    from edgesdk.binary import binarize, export_graph
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                      nn.Conv2d(8, 16, 3, padding=1, stride=2, groups=groups), nn.ReLU(),
                      nn.Conv2d(16, 40, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(40 * 3 * 3, 33), nn.ReLU(), nn.Linear(33, 10))
    b = binarize(m).eval()
    with torch.no_grad():   # thresholds off zero (and per channel) so the bits really vary
        for layer in b.modules():
            if hasattr(layer, "threshold"):
                layer.threshold.copy_(torch.randn_like(layer.threshold) * 0.1)
    return export_graph(b, (1, 1, 14, 14))


@pytest.fixture(scope="module")
def binary_build(tmp_path_factory):
    from edgesdk.backends_gpu import build
    g = _binary_graph()
    d = tmp_path_factory.mktemp("gpubin") / "b"
    summary = build(g, "pocl", d, gpu_api="opencl", dtype="f32")
    return g, d, summary


def test_binary_layers_are_bit_exact_on_opencl(binary_build):
    from edgesdk.gpu.plan_runner import PlanRunner
    g, d, s = binary_build
    by = {l["name"]: l for l in s["per_layer"]}
    assert s["dtype"] == "f32"
    # pocl is a CPU device: the one-output-per-work-item GEMM (tiled one: next test)
    assert by["2"]["op"] == "BConv" and by["2"]["impl"] == "ek_bgemm_b1_ocl_ref"
    assert by["8"]["op"] == "BGemm" and by["8"]["impl"] == "ek_bgemm_b1_ocl_ref"
    assert by["2_binarize"]["impl"] == "ek_binarize_f32_ocl" and by["2_cast"]["impl"] == "ek_cast_s32_f32_ocl"
    # hand-derived MACs: 16 channels x 7x7 pixels x (8 x 3 x 3) terms; 33 x 360
    assert by["2"]["macs"] == 16 * 49 * 72 and by["4"]["macs"] == 40 * 49 * 144 and by["8"]["macs"] == 33 * 360
    r = PlanRunner.from_build(d)
    checked = [t for n in g.nodes if n.op in ("Binarize", "BConv", "BGemm", "Cast") for t in n.outputs]
    for seed in (1, 2):
        x = np.random.default_rng(seed).standard_normal((1, 1, 14, 14)).astype(np.float32)
        r.run({"input": x})
        want = reference_run(g, {"input": x}, keep_intermediates=True)
        for t in checked:
            got = r.download(t)
            np.testing.assert_array_equal(got, np.asarray(want[t]).reshape(got.shape), err_msg=t)
        bits = r.download("2_binarize")
        assert 0.2 < bits.mean() < 0.8   # a real mix of +1/-1 went through the XNOR layers
        out = g.outputs[0]
        np.testing.assert_allclose(r.download(out), want[out], rtol=1e-5, atol=1e-5)


def test_gpu_shaped_plan_uses_the_tiled_bgemm_bit_exact(binary_build):
    from edgesdk.backends_gpu import lower
    from edgesdk.gpu.plan_runner import PlanRunner
    from edgesdk.paths import kernels_dir
    g, _, _ = binary_build
    plan, src, consts = lower(g, "opencl", "f32", device_type="gpu")
    by = {l["name"]: l for l in plan["layers"]}
    assert by["4"]["impl"] == by["8"]["impl"] == "ek_bgemm_b1_ocl" and by["4"]["launches"][-1]["local"] == [8, 8]
    progs = {"tvm": src}
    progs.update({k["program"]: (kernels_dir() / "opencl" / k["program"]).read_text()
                  for l in plan["layers"] for k in l["launches"] if k["program"] != "tvm"})
    r = PlanRunner(plan, progs, consts)
    x = np.random.default_rng(7).standard_normal((1, 1, 14, 14)).astype(np.float32)
    r.run({"input": x})
    want = reference_run(g, {"input": x}, keep_intermediates=True)
    for t in ("2", "4", "8"):
        np.testing.assert_array_equal(r.download(t), want[t], err_msg=t)


def test_edgesdk_validate_passes_on_the_binary_build(binary_build):
    from edgesdk.hil.validate import validate
    _, d, _ = binary_build
    rep = validate(d, cases=2)
    assert rep.passed and rep.cases[0].unit == "ns" and rep.cases[0].count > 0


def test_binarize_threshold_decides_like_the_float64_reference():
    """0.7 rounds DOWN to float32: a naive float compare would say float32(0.7) >= 0.7."""
    from edgesdk.gpu.binary_lower import _thresholds
    from edgesdk.gpu.opencl import default_runtime
    from edgesdk.ir import Node, Tensor
    rt = default_runtime()
    thr = np.array([0.7, -0.3, 0.2])
    x = np.array([[[np.float32(0.7)], [np.float32(-0.3)], [np.float32(0.2)]],
                  [[np.nextafter(np.float32(0.7), np.float32(1))], [np.float32(-0.31)], [np.float32(0.19)]]],
                 np.float32)                         # [2, 3, 1]: N, C, inner
    node = Node("b", "Binarize", ["x"], ["y"], {"threshold": thr})
    t = _thresholds(node, Tensor("x", x.shape, "f32"), 3)
    y = np.zeros(x.size, np.uint8)
    for kname in ("ek_binarize_f32_ocl", "ek_binarize_f32_ocl_ref"):
        xb, tb, yb = rt.to_device(x), rt.to_device(t), rt.empty(y.nbytes)
        gsz = (1, 6) if kname.endswith("_ocl") else (64,)    # (inner, N * C) / any 1-D range
        rt.kernel("ek_bpack_b1_ocl.cl", kname)(rt.queue, gsz, None, xb, tb, yb,
                                                np.int32(x.size), np.int32(3), np.int32(1))
        got = rt.to_host(yb, x.shape, np.uint8)
        want = (x.astype(np.float64) >= thr.reshape(1, 3, 1)).astype(np.uint8)
        np.testing.assert_array_equal(got, want, err_msg=kname)
    assert want[0, 0, 0] == 0 and want[1, 0, 0] == 1


@pytest.mark.parametrize("variant", ["", "_ref"])
def test_bit_packing_kernels_match_pack_bits(variant):
    from edgesdk.gpu.opencl import default_runtime
    rt = default_runtime()
    rng = np.random.default_rng(5)
    R, K = 5, 70                                   # 3 words, the last with 26 pad bits
    bits = rng.integers(0, 2, (R, K), dtype=np.uint8)
    KW = 3
    out = rt.empty(R * KW * 4)
    rt.kernel("ek_bpack_b1_ocl.cl", "ek_bpack_b1_ocl" + variant)(
        rt.queue, (KW, R), None, rt.to_device(bits), out, np.int32(R), np.int32(K), np.int32(KW))
    np.testing.assert_array_equal(rt.to_host(out, (R, KW), np.uint32), pack_bits(bits, axis=1))
    # im2col of a 3x5x6 bit image, 3x3 kernel, stride (2, 1), pads (1, 2): padding is bit 0
    C, H, W, kh, kw, sh, sw, ph, pw = 3, 5, 6, 3, 3, 2, 1, 1, 2
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    img = rng.integers(0, 2, (C, H, W), dtype=np.uint8)
    pad = np.zeros((C, H + 2 * ph, W + 2 * pw), np.uint8)
    pad[:, ph:ph + H, pw:pw + W] = img
    cols = np.stack([pad[:, oy * sh:oy * sh + kh, ox * sw:ox * sw + kw].reshape(-1)
                     for oy in range(OH) for ox in range(OW)])          # [P, C*kh*kw], (c, ky, kx)
    KW = -(-cols.shape[1] // 32)
    out = rt.empty(OH * OW * KW * 4)
    rt.kernel("ek_bpack_b1_ocl.cl", "ek_bim2col_b1_ocl" + variant)(
        rt.queue, (OH * OW, KW) if not variant else (KW, OH * OW), None, rt.to_device(img),
        *[np.int32(v) for v in (0, C, H, W, kh, kw, sh, sw, ph, pw, 1, 1, OH, OW, KW)], out)
    np.testing.assert_array_equal(rt.to_host(out, (OH * OW, KW), np.uint32), pack_bits(cols, axis=1))


def test_grouped_bconv_is_refused_by_name(tmp_path):
    from edgesdk.backends_gpu import build
    g = _binary_graph(groups=2)
    with pytest.raises(UnsupportedOpsError) as e:
        build(g, "pocl", tmp_path / "b", gpu_api="opencl", dtype="f32")
    msg = str(e.value)
    assert msg.endswith(": 2 [BConv]") and "\n" not in msg, msg   # only the grouped one, by name


def _trained_like_binary_resnet():
    """fmnist_bnn_resnet binarized, with BatchNorms that are not the identity and input
    thresholds off zero: BN left standing after each binary layer's scale and before
    the head, option-A Pad shortcuts, hardtanh Clips (what a real binary model holds)."""
    import torch

    from edgesdk.binary import binarize, export_graph
    from edgesdk.zoo import fmnist_bnn_resnet
    torch.manual_seed(0)
    b = binarize(fmnist_bnn_resnet(), "ste")
    randomize_batchnorm(b, seed=1)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in b.modules():
            if hasattr(mod, "threshold"):
                mod.threshold.copy_(torch.randn(mod.threshold.shape, generator=g) * 0.1)
    return export_graph(b.eval(), (1, 1, 28, 28))   # the GPU BConv kernels run batch 1


def test_binary_resnet_with_standing_batchnorm_and_pad_matches_the_reference(tmp_path):
    from edgesdk.backends_gpu import build
    from edgesdk.gpu.plan_runner import PlanRunner
    g = _trained_like_binary_resnet()
    ops = {n.op for n in g.nodes}
    assert {"BatchNormalization", "Pad", "Clip", "BConv"} <= ops
    summary = build(g, "pocl", tmp_path / "r", gpu_api="opencl", dtype="f32")
    by_op = {}
    for layer in summary["per_layer"]:
        by_op.setdefault(layer["op"], set()).add(layer["impl"].split(":")[0])
    assert by_op["BatchNormalization"] == {"tvm"} and by_op["Pad"] == {"tvm"}
    r = PlanRunner.from_build(tmp_path / "r")
    x = np.random.default_rng(3).standard_normal((1, 1, 28, 28)).astype(np.float32)
    r.run({"input": x})
    want = reference_run(g, {"input": x}, keep_intermediates=True)
    for t in [n.outputs[0] for n in g.nodes if n.op in ("Binarize", "BConv")]:
        got = r.download(t)
        np.testing.assert_array_equal(got, np.asarray(want[t]).reshape(got.shape), err_msg=t)
    out = g.outputs[0]
    np.testing.assert_allclose(r.download(out), want[out], rtol=1e-4, atol=1e-4)


def test_constant_pad_on_every_side_with_a_value_matches_the_reference(tmp_path):
    import torch
    import torch.nn.functional as F

    from edgesdk.backends_gpu import build
    from edgesdk.binary import export_graph
    from edgesdk.gpu.plan_runner import PlanRunner

    class Padded(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3)

        def forward(self, x):
            return F.pad(self.conv(x), (1, 2, 0, 1, 1, 0), value=1.5)   # W, H, then channels

    torch.manual_seed(0)
    g = export_graph(Padded().eval(), (1, 2, 6, 5))
    assert g.tensors[g.outputs[0]].shape == (1, 4, 5, 6)
    build(g, "pocl", tmp_path / "p", gpu_api="opencl", dtype="f32")
    r = PlanRunner.from_build(tmp_path / "p")
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 5)).astype(np.float32)
    r.run({"input": x})
    want = reference_run(g, {"input": x})[g.outputs[0]]
    got = r.download(g.outputs[0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert (got[0, 0] == 1.5).all() and (got[0, 1:, :, 0] == 1.5).all()
