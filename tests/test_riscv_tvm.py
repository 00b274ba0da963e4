"""TVM Relax -> LLVM (riscv32) single layers, run bare metal next to the hand RVV kernels.

The oracle for TVM's output is the hand kernel's output on the same data (itself checked
against torch in test_riscv_kernels.py) and the scalar reference twin; the instruction
counts come from minstret under -icount. choose_impl must pick the measured minimum and
record its evidence."""
import json
import shutil

import pytest

from edgesdk.errors import EdgeError

tvm = pytest.importorskip("tvm")
pytestmark = pytest.mark.skipif(not (shutil.which("clang-19") and shutil.which("qemu-system-riscv32")),
                                reason="clang-19 and qemu-system-riscv32 are needed")

from edgesdk.codegen.tvm_riscv import build_layer, choose_impl, compare_layer, target_for  # noqa: E402

CONV = {"op": "conv2d", "dtype": "f32", "cin": 8, "h": 12, "w": 12, "cout": 8, "k": 3}
CONV_S2 = {"op": "conv2d", "dtype": "f32", "cin": 5, "h": 9, "w": 9, "cout": 6, "k": 3, "stride": 2,
           "pads": [1, 0, 1, 1]}
DENSE = {"op": "dense", "dtype": "f32", "batch": 2, "in": 40, "out": 10}


@pytest.mark.parametrize("layer", [CONV, CONV_S2, DENSE], ids=["conv", "conv_s2_asym", "dense"])
def test_tvm_layer_matches_hand_kernel(layer):
    r = compare_layer(layer)
    assert r["max_abs_diff"] < 1e-5, r          # relative to max|output|
    assert r["ref_max_abs_diff"] < 1e-5, r
    assert r["tvm_instructions"] > 0 and r["hand_instructions"] > 0
    # sanity of the counter: the hand RVV kernel retires fewer instructions than the scalar twin
    assert r["hand_instructions"] < r["ref_instructions"]


def test_tvm_fp16_conv():
    r = compare_layer(dict(CONV, dtype="f16"))
    assert r["max_abs_diff"] < 2e-2, r


def test_choose_impl_picks_the_measured_minimum_and_records_it(tmp_path):
    rec = tmp_path / "choices.json"
    e = choose_impl(CONV, record=rec)
    expect = "tvm" if e["tvm_instructions"] < e["hand_instructions"] else "hand"
    assert e["choice"] == expect and e["tvm_agrees"]
    doc = json.loads(rec.read_text())
    assert len(doc) == 1 and next(iter(doc.values()))["choice"] == expect
    e2 = choose_impl(DENSE, record=rec)
    assert len(json.loads(rec.read_text())) == 2 and e2["choice"] in ("tvm", "hand")


def test_rv64_object_builds(tmp_path):
    obj, sym = build_layer(DENSE, tmp_path / "dense64.o", xlen=64)
    data = obj.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2  # ELFCLASS64
    assert sym == "__tvm_ffi_dense" and sym.encode() in data
    assert target_for(64)["mtriple"] == "riscv64-linux-gnu" and "+zvfh" in target_for(64)["mattr"]


@pytest.mark.parametrize("bad,match", [({"op": "pool"}, "field 'op'"),
                                       (dict(CONV, dtype="f64"), "field 'dtype'"),
                                       (dict(CONV, cin=0), "field 'cin'"),
                                       (dict(CONV, k=20, pads=[0, 0, 0, 0]), "larger than the padded input")])
def test_bad_layer_specs(bad, match):
    with pytest.raises(EdgeError, match=match):
        compare_layer(bad)


def test_bad_xlen():
    with pytest.raises(EdgeError, match="xlen=16"):
        target_for(16)
