"""The portable _ref int8/b1 kernels, built natively (gcc -shared + ctypes), are
bit-exact with the Python integer reference (edgesdk.reference.quantized) on random
cases: strides, pads, dilations, odd channel counts, K not a multiple of 4, every fused
activation, NULL bias."""
import numpy as np
import pytest

from edgesdk import kernelcheck as kc
from edgesdk.kernelcheck import arm as kca

needs_gcc = pytest.mark.skipif(kca.native_compiler() is None,
                               reason="not installed: a host C compiler (gcc or clang-19)")


@needs_gcc
@pytest.mark.parametrize("op", list(kc.OPS))
def test_ref_kernel_matches_reference(op):
    cases = kc.random_cases(op, 60, seed=1)
    bad = kca.mismatches(cases, kca.run_native(cases))
    assert not bad, bad[:3]


@needs_gcc
def test_ref_on_mlperf_tiny_layer_shapes():
    rng = np.random.default_rng(2)
    cases = [
        kc.conv_case(rng, "conv2d", 32, 32, 16, 16, 3, 3, pads=(1, 1, 1, 1), label="resnet8 conv1"),
        kc.conv_case(rng, "conv2d", 32, 32, 16, 32, 3, 3, stride=(2, 2), pads=(1, 1, 1, 1), label="s2"),
        kc.conv_case(rng, "conv1x1", 32, 32, 16, 32, 1, 1, stride=(2, 2), label="resnet8 shortcut"),
        kc.conv_case(rng, "dwconv2d", 25, 5, 64, 64, 3, 3, pads=(1, 1, 1, 1), label="ds-cnn dw"),
        kc.fc_case(rng, 1, 640, 128, label="fc 640x128"),
        kc.fc_case(rng, 1, 640, 128, label="sparse fc", sparse_density=0.3),
    ]
    bad = kca.mismatches(cases, kca.run_native(cases))
    assert not bad, bad


@needs_gcc
def test_a_wrong_kernel_result_is_caught():
    # The checker must be able to fail: flip one expected value and it must notice.
    cases = kc.random_cases("conv2d", 3, seed=3)
    cases[1].expected = cases[1].expected.copy()
    cases[1].expected[0] = np.int8(int(cases[1].expected[0]) ^ 1)
    bad = kca.mismatches(cases, kca.run_native(cases))
    assert [b[0] for b in bad] == [1]


@needs_gcc
def test_check_variant_on_ref_files():
    assert kca.check_variant("ek_fc_s8_ref.c", cases=10)
    assert kca.check_variant("ek_bfc_b1_ref.c", cases=10)


def test_bad_kernel_file_names():
    with pytest.raises(ValueError, match="not a kernel file"):
        kc.parse_kernel_file("conv.c")
    with pytest.raises(ValueError, match="no checker"):
        kc.parse_kernel_file("ek_conv2d_f16_ref.c")
    assert kc.parse_kernel_file("kernels/ek_fc_sparse_s8_mve.c") == ("fc_sparse", "s8", "mve")


def test_binary_packing_matches_the_doc():
    # bit j of word i = channel 32 i + j, +1 -> 1, unused pad bits 0
    signs = -np.ones((1, 33), np.int64)
    signs[0, 0] = signs[0, 32] = signs[0, 5] = 1
    w = kc._pack_bits(signs, 33)
    assert w.tolist() == [[(1 << 0) | (1 << 5), 1]]


@needs_gcc
def test_python_scratch_sizes_equal_the_c_header():
    # edgesdk.kernelcheck.scratch_bytes (used by the memory planner) must never drift from
    # ek_<op>_s8_scratch_bytes in ek_s8.h: compare on many shapes through the native lib.
    import ctypes
    lib = kca._native_lib(kca._digest(kca.variant_sources("ref")))
    rng = np.random.default_rng(9)
    for _ in range(300):
        conv = dict(zip(kc.CONV_FIELDS, [int(v) for v in rng.integers(1, 70, size=len(kc.CONV_FIELDS))]))
        fc = {"batch": 1, "in_features": int(rng.integers(1, 5000)), "out_features": 3}
        for op, fields in (("conv2d", conv), ("conv1x1", conv)):
            arr = np.asarray([fields[f] for f in kc.CONV_FIELDS], np.int32)
            assert lib.ek_kc_scratch_bytes(kc.OPS[op], arr.ctypes.data) == kc.scratch_bytes(op + "_s8", fields)
        arr = np.asarray([fc["batch"], fc["in_features"], fc["out_features"], 0, 0, -128, 127], np.int32)
        assert lib.ek_kc_scratch_bytes(kc.OPS["fc"], arr.ctypes.data) == kc.scratch_bytes("fc_s8", fc)
    assert kc.scratch_bytes("dwconv2d_s8", conv) == 0
