"""edgesdk.analysis: per-layer params / MACs / bytes against hand-derived values."""
import json

import numpy as np
import pytest

from edgesdk.analysis import analyze, format_table
from edgesdk.errors import GraphError
from edgesdk.ir import Graph, Node, Tensor, infer_shapes


def small_cnn(act_dtype="f32"):
    g = Graph("small")
    g.add_tensor(Tensor("x", (1, 3, 8, 8)))
    g.inputs = ["x"]
    g.add_const("w1", np.zeros((16, 3, 3, 3), np.float32))
    g.add_const("b1", np.zeros(16, np.float32))
    g.add_const("wdw", np.zeros((16, 1, 3, 3), np.float32))
    g.add_const("wfc", np.zeros((10, 64), np.float32))
    g.add_const("bfc", np.zeros(10, np.float32))
    g.add_const("shape", np.array([1, 64], np.int64))
    g.nodes = [
        Node("conv1", "Conv", ["x", "w1", "b1"], ["c1"], {"pads": [1, 1, 1, 1], "activation": "relu"}),
        Node("dw", "Conv", ["c1", "wdw", ""], ["c2"], {"group": 16, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        Node("pool", "MaxPool", ["c2"], ["p"], {"kernel_shape": [2, 2], "strides": [2, 2]}),
        Node("flat", "Reshape", ["p", "shape"], ["f"]),
        Node("fc", "Gemm", ["f", "wfc", "bfc"], ["logits"], {"transB": 1}),
        Node("act", "Relu", ["logits"], ["y"]),
    ]
    g.outputs = ["y"]
    infer_shapes(g)
    for t in g.tensors.values():
        if not t.is_const:
            t.dtype = act_dtype
    return g


def test_layer_numbers_are_the_hand_derived_ones():
    s = analyze(small_cnn())
    by = {l.name: l for l in s.layers}
    # conv1: out 1x16x8x8 = 1024 elements, each 3*3*3 MACs
    assert by["conv1"].macs == 1024 * 27 and by["conv1"].params == 16 * 27 + 16
    assert by["conv1"].weight_bytes == (16 * 27 + 16) * 4 and by["conv1"].activation == "relu"
    assert by["conv1"].input_shapes == [[1, 3, 8, 8]] and by["conv1"].output_shapes == [[1, 16, 8, 8]]
    # depthwise stride 2: out 1x16x4x4 = 256, each (16/16)*3*3
    assert by["dw"].macs == 256 * 9 and by["dw"].params == 144
    assert by["pool"].macs == 64 * 4 and by["pool"].params == 0
    assert by["flat"].macs == 0 and by["flat"].params == 0   # the s64 shape is not a parameter
    assert by["fc"].macs == 10 * 64 and by["fc"].params == 650
    assert by["act"].macs == 10
    assert by["conv1"].activation_bytes == 1024 * 4 and by["conv1"].input_bytes == 192 * 4
    t = s.totals
    assert t.macs == 27648 + 2304 + 256 + 0 + 640 + 10
    assert t.params == 448 + 144 + 650
    assert t.weight_bytes == 4 * t.params
    # x, c1, c2, p, f, logits, y
    assert t.activation_bytes == 4 * (192 + 1024 + 256 + 64 + 64 + 10 + 10)
    assert t.peak_layer_bytes == 4 * (1024 + 256)   # the depthwise conv: c1 in, c2 out
    assert t.input_bytes == 192 * 4 and t.output_bytes == 40
    assert t.arena_lower_bound == 4 * (1024 + 256) and t.arena_bytes >= t.arena_lower_bound
    assert t.op_counts == {"Conv": 2, "MaxPool": 1, "Reshape": 1, "Gemm": 1, "Relu": 1}


def test_bytes_follow_the_dtype_packed():
    s8 = analyze(small_cnn("s8")).totals
    s4 = analyze(small_cnn("s4")).totals
    b1 = analyze(small_cnn("b1")).totals
    assert s8.activation_bytes == 192 + 1024 + 256 + 64 + 64 + 10 + 10
    # s4: two per byte, rounded up per tensor (10 -> 5 bytes)
    assert s4.activation_bytes == 96 + 512 + 128 + 32 + 32 + 5 + 5
    # b1: eight per byte (10 -> 2 bytes)
    assert b1.activation_bytes == 24 + 128 + 32 + 8 + 8 + 2 + 2


def test_shared_weights_count_once_in_totals():
    g = Graph("shared")
    g.add_tensor(Tensor("x", (2, 4)))
    g.inputs = ["x"]
    g.add_const("w", np.zeros((4, 4), np.float32))
    g.nodes = [Node("a", "MatMul", ["x", "w"], ["y1"]), Node("b", "MatMul", ["y1", "w"], ["y2"])]
    g.outputs = ["y2"]
    infer_shapes(g)
    s = analyze(g)
    assert [l.params for l in s.layers] == [16, 16]
    assert s.totals.params == 16 and s.totals.macs == 2 * (2 * 4 * 4)


def test_json_and_table():
    s = analyze(small_cnn())
    doc = json.loads(json.dumps(s.to_json()))
    assert [l["name"] for l in doc["layers"]] == ["conv1", "dw", "pool", "flat", "fc", "act"]
    assert doc["totals"]["macs"] == s.totals.macs and doc["inputs"][0]["shape"] == [1, 3, 8, 8]
    table = format_table(s)
    assert "Conv+relu" in table and "27,648" in table and "1x16x8x8" in table
    assert f"{s.totals.macs:,}" in table


def test_dynamic_shape_is_a_clear_error():
    g = small_cnn()
    g.tensors["x"].shape = ("N", 3, 8, 8)
    with pytest.raises(GraphError, match="'x' has a dynamic shape.*--input-shape"):
        analyze(g)


def test_qdq_scale_and_zero_point_are_not_parameters():
    g = Graph("qdq")
    g.add_tensor(Tensor("x", (1, 8)))
    g.inputs = ["x"]
    g.add_const("s", np.array(0.1, np.float32))
    g.add_const("z", np.array(0, np.int8))
    g.add_const("w", np.zeros((8, 4), np.float32))
    g.nodes = [Node("q", "QuantizeLinear", ["x", "s", "z"], ["xq"]),
               Node("dq", "DequantizeLinear", ["xq", "s", "z"], ["xd"]),
               Node("mm", "MatMul", ["xd", "w"], ["y"])]
    g.outputs = ["y"]
    infer_shapes(g)
    s = analyze(g)
    assert [l.params for l in s.layers] == [0, 0, 32]
    assert s.totals.params == 32 and s.totals.weight_bytes == 128
    # x f32 (32) + xq s8 (8) + xd f32 (32) + y f32 (16)
    assert s.totals.activation_bytes == 32 + 8 + 32 + 16
