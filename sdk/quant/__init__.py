"""Quantization: fixed-point requantization, PTQ, low-bit calibration, mixed precision, QAT.

Public API (heavy imports happen inside the functions):
    quantize(graph, calib, method="minmax"|"percentile"|"mse", per_channel=True,
             bias_correction=True, weight_bits=8 | 4 | 2 | {node: bits}) -> Graph
    quantize_inputs(graph, {name: float array}) -> {name: int8 array}
    dequantize_outputs(graph, {name: int8 array}) -> {name: float32 array}
    is_quantized(graph) -> bool
    is_binarized_float(graph) -> bool           # XNOR layers with float layers around them
    float_ops(graph) -> [(node name, op)]      # what an int8-only target cannot run
    weight_bytes(graph) -> int                 # packed weight storage
"""


def __getattr__(name):
    # Lazy: `import edgesdk.quant.fixedpoint` must not pull in the whole quantizer.
    if name in ("quantize", "quantize_inputs", "dequantize_outputs", "is_quantized", "is_binarized_float",
                "float_ops", "weight_bytes", "QuantizeError", "INTEGER_OPS", "BINARY_OPS"):
        from . import ptq
        return getattr(ptq, name)
    if name in ("plan_mixed_precision", "layer_sensitivity", "quantize_to_budget"):
        from . import mixed
        return getattr(mixed, name)
    raise AttributeError(name)


__all__ = ["quantize", "quantize_inputs", "dequantize_outputs", "is_quantized", "is_binarized_float", "float_ops",
           "weight_bytes",
           "QuantizeError", "plan_mixed_precision", "layer_sensitivity", "quantize_to_budget"]
