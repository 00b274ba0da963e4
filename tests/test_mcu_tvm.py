"""The mcu TVM path: layers with no hand kernel get C from TVM (target "c"), bit-exact.

Oracle: the integer reference interpreter (edgesdk.reference), on quantized models whose
layers include the cases the hand kernels refuse: grouped (non-depthwise) conv, ceil-mode
MaxPool, QAdd with broadcasting, softmax over a spatial tensor, Concat / Transpose on s8.
Host-native (model.c + the shim compiled with gcc), in a QEMU build's self-test on the M4
and the M55 (hand kernels and TVM code in one image), and through the rig firmware.
"""
import numpy as np
import pytest
import torch

from edgesdk.backends_mcu import format_summary
from edgesdk.boards import load_board
from edgesdk.errors import EdgeError
from edgesdk.frontends import load
from edgesdk.lower.mcu import lower_mcu
from edgesdk.pipeline import build, prepare_graph
from edgesdk.quant import quantize

from conftest import require_tools
from mcu_helpers import host_check


class _GroupedPoolAddSoftmax(torch.nn.Module):
    """conv (hand) -> grouped conv (TVM) -> ceil-mode maxpool (TVM) -> x + mean(x) (TVM,
    broadcast) -> 1x1 conv (hand) -> softmax over W (TVM)."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        # 8 channels per group: 72 taps, so TVM unrolls the window but keeps the channel loop.
        self.c2 = torch.nn.Conv2d(16, 16, 3, padding=1, groups=2)
        self.pool = torch.nn.MaxPool2d(3, 2, ceil_mode=True)
        self.c3 = torch.nn.Conv2d(16, 6, 1)

    def forward(self, x):
        a = self.pool(torch.relu(self.c2(torch.relu(self.c1(x)))))
        a = a + a.mean((2, 3), keepdim=True)
        return torch.softmax(self.c3(a), dim=-1)


class _ConcatTranspose(torch.nn.Module):
    """conv -> concat(a, maxpool(a)) on s8 (TVM) -> swap H and W (TVM) -> strided dilated conv."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 6, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(3, 1, padding=1)
        self.c2 = torch.nn.Conv2d(12, 5, 3, stride=2, dilation=2)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        return self.c2(torch.cat([a, self.pool(a)], 1).permute(0, 1, 3, 2))


def _quantized(model, shape, n=16):
    torch.manual_seed(0)
    model.eval()
    x = np.random.default_rng(0).random((n, *shape), np.float32)
    g = prepare_graph(load(model, example_inputs=torch.from_numpy(x[:1])))
    return quantize(g, x), x


@pytest.fixture(scope="module")
def grouped_q():
    torch.manual_seed(0)
    return _quantized(_GroupedPoolAddSoftmax(), (3, 11, 10))   # 11 rows: ceil_mode overhangs


def _host_run(q, x, tmp_path, n=4):
    return host_check(q, x[:n], tmp_path)


def test_grouped_conv_ceil_pool_broadcast_add_spatial_softmax_bit_exact_on_host(grouped_q, tmp_path):
    q, x = grouped_q
    prog = _host_run(q, x, tmp_path)
    impl = {L.op: L.impl for L in prog.layers if L.impl.startswith("tvm:")}
    assert set(impl) == {"QConv", "MaxPool", "QAdd", "QSoftmax"}, impl
    # The hand kernels still run what they can.
    assert {L.impl for L in prog.layers if not L.impl.startswith("tvm:")} >= {"ek_conv2d_s8_ref", "ek_conv1x1_s8_ref"}
    # Accumulators stay scalars: TVM asked for no workspace, so the arena is just the activations.
    assert all(L.scratch_bytes == 0 for L in prog.layers if L.tvm is not None)
    assert "TVMBackendAllocWorkspace(" not in prog.tvm_source
    assert prog.arena_bytes <= 1.1 * prog.arena_lower_bound


def test_dilated_ceil_pool_and_dilated_strided_grouped_conv_bit_exact_on_host(tmp_path):
    class Dilated(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(2, 12, 3, padding=1)
            self.pool = torch.nn.MaxPool2d(3, stride=2, dilation=2, padding=1, ceil_mode=True)
            self.c2 = torch.nn.Conv2d(12, 6, (3, 2), stride=(2, 1), padding=(2, 0), groups=3, dilation=(1, 2))

        def forward(self, x):
            return torch.softmax(self.c2(self.pool(torch.relu(self.c1(x)))), dim=-1)

    q, x = _quantized(Dilated(), (2, 17, 23))
    prog = _host_run(q, x, tmp_path, n=6)
    assert [L.op for L in prog.layers if L.tvm is not None] == ["MaxPool", "QConv", "QSoftmax"]


def test_concat_and_transpose_on_s8_bit_exact_on_host(tmp_path):
    q, x = _quantized(_ConcatTranspose(), (1, 12, 9))
    prog = _host_run(q, x, tmp_path)
    assert [L.op for L in prog.layers if L.tvm is not None] == ["Concat", "Transpose"]


def test_transpose_of_a_reshaped_1x1_map_reads_ir_order(tmp_path):
    # GAP -> [1, 8, 1, 1] (NHWC bytes == IR order) -> Reshape to [1, 2, 2, 2] (an alias) ->
    # Transpose (TVM): TVM must read the aliased bytes in IR order, not as NHWC.
    class ViewTranspose(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 8, 3)
            self.c2 = torch.nn.Conv2d(2, 3, 1)

        def forward(self, x):
            a = torch.relu(self.c1(x)).mean((2, 3), keepdim=True)
            return self.c2(a.reshape(1, 2, 2, 2).permute(0, 3, 1, 2))

    q, x = _quantized(ViewTranspose(), (1, 7, 7))
    prog = _host_run(q, x, tmp_path)
    assert [L.op for L in prog.layers if L.tvm is not None] == ["Transpose"]


def test_tvm_refuses_a_reshaped_spatial_map_by_node_name():
    class FlatCat(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(1, 2, 3, padding=1)
            self.fc = torch.nn.Linear(2 * 2 * 36, 3)

        def forward(self, x):
            a = torch.relu(self.c(x))
            return self.fc(torch.cat([a.flatten(1), torch.nn.functional.max_pool2d(a, 3, 1, 1).flatten(1)], 1))

    q, _ = _quantized(FlatCat(), (1, 6, 6))
    with pytest.raises(EdgeError, match=r"node /Concat.*reshaped spatial map"):
        lower_mcu(q, load_board("mps2-an386"))


def test_op_with_no_tvm_lowering_is_named():
    from edgesdk.codegen.tvm_c import TvmMcuError, lower_layers
    q, _ = _quantized(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4)), (1, 4, 4))
    gemm = next(n for n in q.nodes if n.op == "QGemm")
    with pytest.raises(TvmMcuError, match=f"node {gemm.name}: op QGemm has no mcu kernel and no TVM lowering"):
        lower_layers(q, [gemm])


@require_tools("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_qemu_selftest_with_tvm_layers_is_bit_exact(grouped_q, tmp_path, board):
    q, x = grouped_q
    r = build(q, "mcu", board, tmp_path / "b", calib=x[:1], quiet=True)
    s = r.summary
    assert s["selftest"] == "bit-exact"
    tvm_layers = [L for L in r.manifest["layers"] if L["impl"].startswith("tvm:")]
    assert {L["op"] for L in tvm_layers} == {"QConv", "MaxPool", "QAdd", "QSoftmax"}
    assert all(L["instructions"] for L in tvm_layers)          # measured per layer on the core
    assert "tvm" in r.manifest["kernels"] and {"dsp", "mve"} & set(r.manifest["kernels"])
    text = format_summary(r.manifest)
    assert all(L["impl"] in text for L in tvm_layers)           # the summary says which layers are TVM's
    assert "ek_tvm_call" in (tmp_path / "b" / "src" / "model.c").read_text()
    # The rig firmware (firmware.elf) carries the same TVM code: random cases through the
    # host-in-the-loop server must match the reference too.
    from edgesdk.hil.validate import validate
    report = validate(tmp_path / "b", cases=3, seed=1)
    assert report.passed and len(report.cases) == 3, [c.error for c in report.cases]


def test_tvm_workspace_comes_from_the_arena_scratch(grouped_q, tmp_path, monkeypatch):
    # Unscheduled, the grouped conv's int32 accumulator is a whole tensor: TVM asks the shim
    # for workspace, which the memory plan reserves as that layer's scratch in the arena.
    import edgesdk.codegen.tvm_c as tvm_c
    monkeypatch.setattr(tvm_c, "_schedule", lambda prim, stages: prim)
    q, x = grouped_q
    prog = _host_run(q, x, tmp_path, n=2)
    conv = next(L for L in prog.layers if L.tvm is not None and L.op == "QConv")
    assert conv.scratch_bytes >= 4 * 16 * 11 * 10           # int32 [1, 11, 10, 16]
    assert conv.name in prog.scratch_offsets
    assert "TVMBackendAllocWorkspace(" in prog.tvm_source
