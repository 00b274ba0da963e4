"""Float reference ops against torch (an independent implementation), over many geometries."""
import itertools

import numpy as np
import pytest

from edgesdk import reference
from edgesdk.ir import Graph, Node, Tensor, infer_shapes, verify

torch = pytest.importorskip("torch")
F = torch.nn.functional


def run_op(op, arrays, attrs=None, n_out=1):
    """Build a one-node graph (shape inference + verifier included) and run the reference."""
    g = Graph(op)
    names = []
    for i, a in enumerate(arrays):
        if a is None:
            names.append("")
            continue
        name = f"in{i}"
        if i == 0:
            g.add_tensor(Tensor(name, a.shape, "f32"))
            g.inputs.append(name)
        else:
            g.add_const(name, a)
        names.append(name)
    outs = [f"out{i}" for i in range(n_out)]
    g.add_node(Node("n0", op, names, outs, dict(attrs or {})))
    g.outputs = outs
    infer_shapes(g)
    verify(g)
    res = reference.run(g, {"in0": arrays[0]})
    for o in outs:
        assert res[o].shape == tuple(g.tensors[o].shape), (op, o)
    return res["out0"]


rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


CONV2D = [  # (cin, cout, k, stride, pad, dilation, groups)
    (3, 8, 3, 1, 1, 1, 1), (4, 6, (3, 5), (2, 1), (1, 2), 1, 2), (8, 8, 3, 2, 1, 1, 8),
    (6, 12, 3, 1, 2, 2, 3), (5, 7, 1, 1, 0, 1, 1), (4, 4, (2, 3), (3, 2), 0, (2, 1), 4),
]


@pytest.mark.parametrize("cin,cout,k,stride,pad,dil,groups", CONV2D)
def test_conv2d_vs_torch(cin, cout, k, stride, pad, dil, groups):
    conv = torch.nn.Conv2d(cin, cout, k, stride, pad, dil, groups)
    x = randn(2, cin, 11, 13)
    kh, kw = conv.kernel_size
    ph, pw = conv.padding
    attrs = {"kernel_shape": [kh, kw], "strides": list(conv.stride), "pads": [ph, pw, ph, pw],
             "dilations": list(conv.dilation), "group": groups}
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    y = run_op("Conv", [x, w, b], attrs)
    np.testing.assert_allclose(y, conv(torch.from_numpy(x)).detach().numpy(), atol=2e-5)


@pytest.mark.parametrize("act, fn", [("relu", F.relu), ("relu6", F.relu6)])
@pytest.mark.parametrize("op", ["Conv", "Gemm", "MatMul", "Add"])
def test_fused_activation_is_part_of_the_op(op, act, fn):
    x = randn(2, 4, 5, 5) * 4 if op in ("Conv", "Add") else randn(3, 6) * 4
    if op == "Conv":
        ins = [x, randn(3, 4, 3, 3), randn(3)]
        want = F.conv2d(torch.from_numpy(x), torch.from_numpy(ins[1]), torch.from_numpy(ins[2]))
    elif op == "Gemm":
        ins = [x, randn(5, 6), randn(5)]
        want = torch.from_numpy(x) @ torch.from_numpy(ins[1]).T + torch.from_numpy(ins[2])
    elif op == "MatMul":
        ins = [x, randn(6, 5)]
        want = torch.from_numpy(x) @ torch.from_numpy(ins[1])
    else:
        ins = [x, randn(4, 1, 1) * 4]
        want = torch.from_numpy(x) + torch.from_numpy(ins[1])
    attrs = {"transB": 1} if op == "Gemm" else {}
    plain = run_op(op, ins, attrs)
    fused = run_op(op, ins, {**attrs, "activation": act})
    np.testing.assert_allclose(plain, want.numpy(), atol=1e-4)
    np.testing.assert_allclose(fused, fn(want).numpy(), atol=1e-4)
    assert (plain < 0).any() and (fused >= 0).all()  # the activation really acted
    if act == "relu6":
        assert (plain > 6).any() and fused.max() <= 6


@pytest.mark.parametrize("stride,pad,dil,groups,out_pad", [
    (1, 0, 1, 1, 0), (2, 1, 1, 1, 1), (2, 0, 2, 2, 0), (3, 2, 1, 4, 2), (1, 1, 2, 1, 0)])
def test_conv_transpose2d_vs_torch(stride, pad, dil, groups, out_pad):
    ct = torch.nn.ConvTranspose2d(4, 8, 3, stride, pad, out_pad, groups, dilation=dil)
    x = randn(1, 4, 6, 5)
    attrs = {"strides": [stride] * 2, "pads": [pad] * 4, "dilations": [dil] * 2, "group": groups,
             "output_padding": [out_pad] * 2, "kernel_shape": [3, 3]}
    y = run_op("ConvTranspose", [x, ct.weight.detach().numpy(), ct.bias.detach().numpy()], attrs)
    np.testing.assert_allclose(y, ct(torch.from_numpy(x)).detach().numpy(), atol=2e-5)


@pytest.mark.parametrize("k,stride,pad,ceil,include", list(itertools.product(
    [2, 3], [1, 2], [0, 1], [False, True], [False, True])))
def test_pools_vs_torch(k, stride, pad, ceil, include):
    if pad > k // 2:
        pytest.skip("torch requires pad <= k/2")
    x = randn(2, 3, 9, 10)
    attrs = {"kernel_shape": [k, k], "strides": [stride] * 2, "pads": [pad] * 4, "ceil_mode": int(ceil)}
    want = F.avg_pool2d(torch.from_numpy(x), k, stride, pad, ceil_mode=ceil, count_include_pad=include)
    y = run_op("AveragePool", [x], {**attrs, "count_include_pad": int(include)})
    np.testing.assert_allclose(y, want.numpy(), atol=1e-6)
    if include:
        return
    wmax = F.max_pool2d(torch.from_numpy(x), k, stride, pad, ceil_mode=ceil)
    g_out = run_op("MaxPool", [x], attrs, n_out=2)
    np.testing.assert_allclose(g_out, wmax.numpy())


def test_maxpool_indices_vs_torch():
    x = randn(2, 3, 7, 8)
    _, widx = F.max_pool2d(torch.from_numpy(x), 3, 2, 1, return_indices=True)
    g = Graph("mp")
    g.add_tensor(Tensor("x", x.shape, "f32"))
    g.inputs, g.outputs = ["x"], ["y", "i"]
    g.add_node(Node("mp", "MaxPool", ["x"], ["y", "i"], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1] * 4}))
    infer_shapes(g)
    idx = reference.run(g, {"x": x})["i"]
    # ONNX indices count over the whole tensor (N, C, H, W); torch's per (H, W) plane.
    plane = 7 * 8
    base = (np.arange(6) * plane).reshape(2, 3, 1, 1)
    assert np.array_equal(idx - base, widx.numpy())


@pytest.mark.parametrize("mode,ctm,torch_mode,align", [
    ("linear", "half_pixel", "bilinear", False), ("linear", "align_corners", "bilinear", True),
    ("cubic", "half_pixel", "bicubic", False), ("cubic", "align_corners", "bicubic", True),
    ("nearest", "asymmetric", "nearest", None)])
@pytest.mark.parametrize("size", [(10, 14), (3, 5)])
def test_resize_vs_torch(mode, ctm, torch_mode, align, size):
    x = randn(1, 2, 6, 7)
    sizes = np.array([1, 2, *size], np.int64)
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm, "nearest_mode": "floor"}
    if mode == "cubic":
        attrs["cubic_coeff_a"] = -0.75  # torch's bicubic A
    y = run_op("Resize", [x, None, None, sizes], attrs)
    kw = {} if align is None else {"align_corners": align}
    want = F.interpolate(torch.from_numpy(x), size=size, mode=torch_mode, **kw).numpy()
    np.testing.assert_allclose(y, want, atol=1e-5)


def test_pad_modes_vs_torch():
    x = randn(1, 2, 5, 6)
    pads = np.array([0, 0, 1, 2, 0, 0, 2, 3], np.int64)
    for mode, tmode in (("reflect", "reflect"), ("edge", "replicate"), ("constant", "constant")):
        y = run_op("Pad", [x, pads], {"mode": mode})
        want = F.pad(torch.from_numpy(x), (2, 3, 1, 2), mode=tmode).numpy()
        np.testing.assert_allclose(y, want)


def test_softmax_legacy_2d_coercion():
    """Opset < 13 Softmax normalizes over all dims from `axis` on (the importer sets coerce_2d)."""
    x = randn(2, 3, 4)
    y = run_op("Softmax", [x], {"axis": 1, "coerce_2d": 1})
    want = F.softmax(torch.from_numpy(x).reshape(2, 12), dim=1).reshape(2, 3, 4).numpy()
    np.testing.assert_allclose(y, want, atol=1e-6)
    assert not np.allclose(y, F.softmax(torch.from_numpy(x), dim=1).numpy())
