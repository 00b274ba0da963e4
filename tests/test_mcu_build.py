"""The mcu build path: lowering + C emission + memory plan, checked bit for bit.

- Host-native: the generated model.c is compiled with the _ref kernels for the host
  and must equal the integer reference interpreter on real inputs, for models that
  exercise every kernel kind (conv, 1x1, depthwise, residual add, pools, FC, flatten).
- QEMU: a full `build` for an emulated board runs its self-test (the optimized
  kernels on the emulated core) and compares with the reference itself.
- Bad input: float ops left, unknown/malformed board, a model too large for the board.
"""
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgesdk.boards import load_board
from edgesdk.data import load_fashion_mnist
from edgesdk.errors import BoardError, EdgeError, FitError
from edgesdk.frontends import load
from edgesdk.lower.mcu import lower_mcu
from edgesdk.pipeline import build, prepare_graph
from edgesdk.quant import quantize
from edgesdk.zoo import ad_autoencoder, ds_cnn, resnet8
from edgesdk.zoo.train import fmnist_classifier

from conftest import require_tools
from mcu_helpers import host_check


def _images(shape, n, split="test"):
    """Real Fashion-MNIST pixels cropped/tiled to `shape` (C, H, W) or flattened to (D,)."""
    x, _ = load_fashion_mnist(split, limit=n)
    if len(shape) == 1:
        return np.tile(x.reshape(n, -1), (1, shape[0] // 784 + 1))[:, :shape[0]].copy()
    c, h, w = shape
    img = np.tile(x, (1, c, 2, 2))[:, :, :h, :w]
    return np.ascontiguousarray(img)


def _quantized(model, shape, n_calib=32):
    torch.manual_seed(0)
    model.eval()
    calib = _images(shape, n_calib, "train")
    g = prepare_graph(load(model, example_inputs=torch.from_numpy(calib[:1])))
    return quantize(g, calib), _images(shape, 8)


@pytest.fixture(scope="module")
def fmnist_q():
    model = fmnist_classifier(width=8, epochs=1, limit=6000)
    return _quantized(model, (1, 28, 28))


def test_fmnist_cnn_codegen_is_bit_exact_on_host(fmnist_q, tmp_path):
    q, x = fmnist_q
    prog = host_check(q, x, tmp_path)
    kinds = {L.kernel for L in prog.layers}
    assert {"conv2d_s8", "maxpool_s8", "avgpool_s8", "fc_s8"} <= kinds
    assert prog.arena_bytes <= 1.1 * prog.arena_lower_bound


def test_resnet8_residuals_and_1x1_are_bit_exact_on_host(tmp_path):
    q, x = _quantized(resnet8(10), (3, 32, 32))
    prog = host_check(q, x[:4], tmp_path)
    kinds = {L.kernel for L in prog.layers}
    assert {"add_s8", "conv1x1_s8", "conv2d_s8"} <= kinds


def test_dscnn_depthwise_is_bit_exact_on_host(tmp_path):
    q, x = _quantized(ds_cnn(12, ch=16), (1, 49, 10))
    prog = host_check(q, x[:4], tmp_path)
    assert "dwconv2d_s8" in {L.kernel for L in prog.layers}


def test_flatten_of_spatial_map_permutes_fc_weights(tmp_path):
    # Flatten of a 4x4 map: the device's NHWC bytes need the FC columns reordered.
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3, 2, 1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(6, 5, 3, 2, 1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(5 * 4 * 4, 7))
    q, x = _quantized(model, (1, 28, 28))
    host_check(q, x[:4], tmp_path)


def test_fc_only_autoencoder_is_bit_exact_on_host(tmp_path):
    q, x = _quantized(ad_autoencoder(), (640,))
    host_check(q, x[:3], tmp_path)


@require_tools("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_qemu_build_selftest_is_bit_exact(fmnist_q, tmp_path, board):
    q, x = fmnist_q
    r = build(q, "mcu", board, tmp_path / "b", calib=x[:1], quiet=True)
    s = r.summary
    assert s["selftest"] == "bit-exact"
    assert s["instructions"] > s["macs"] * 0.1      # a real count, not a placeholder
    assert 0 < s["flash_bytes"] <= s["flash_limit"] and 0 < s["ram_bytes"] <= s["ram_limit"]
    assert (tmp_path / "b" / "firmware.elf").is_file() and (tmp_path / "b" / "src" / "model.c").is_file()
    layers = r.manifest["layers"]
    assert all(L["instructions"] for L in layers)
    assert sum(L["instructions"] for L in layers) <= s["instructions"]
    expected = {"mps2-an386": "dsp", "mps3-an547": "mve"}[board]
    assert r.manifest["kernels"] == [expected]


def test_float_graph_is_refused_for_int8_target(tmp_path):
    model = fmnist_classifier(width=8, epochs=1, limit=6000)
    g = prepare_graph(load(model, example_inputs=torch.zeros(1, 1, 28, 28)))
    with pytest.raises(EdgeError, match="float ops left.*Conv"):
        build(g, "mcu", "mps2-an386", tmp_path / "b", quiet=True)
    assert not (tmp_path / "b").exists()


def test_unknown_and_malformed_boards(tmp_path):
    with pytest.raises(BoardError, match="unknown board 'nope'"):
        load_board("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntarget: mcu\ncore: [unclosed\n")
    with pytest.raises(BoardError, match="bad.yaml.*malformed"):
        load_board(bad)
    missing = tmp_path / "m.yaml"
    missing.write_text("name: x\ntarget: mcu\n")
    with pytest.raises(BoardError, match="missing field 'core'"):
        load_board(missing)


def test_model_too_large_for_board_fails_before_compiling(fmnist_q, tmp_path):
    q, x = fmnist_q
    small = tmp_path / "tiny.yaml"
    small.write_text(load_board("mps2-an386").path.read_text().replace("size: 256K", "size: 8K"))
    with pytest.raises(FitError, match="needs .* KB RAM .* has 8 KB"):
        lower_mcu(q, load_board(small))


def test_build_cli_one_line_errors(tmp_path):
    exe = [sys.executable, "-m", "edgesdk"]
    p = subprocess.run([*exe, "build", str(tmp_path / "nope.onnx")], capture_output=True, text=True)
    assert p.returncode == 2 and "no such file" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([*exe, "build", str(tmp_path / "nope.onnx"), "--board", "nope"], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr
