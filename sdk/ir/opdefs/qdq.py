"""QuantizeLinear / DequantizeLinear (ONNX): per-tensor or per-axis, int8 (and uint8 while importing).

The ONNX importer turns uint8 QDQ into int8 exactly, so after import the quantized
tensors are s8. Fusing Q/DQ pairs into integer ops is a pass, not the importer's job.
"""
from ..ops import register_op


@register_op("QuantizeLinear", defaults={"axis": 1, "saturate": 1})
def _quantize(node, ins):
    zp = ins[2] if len(ins) > 2 else None
    dt = node.attrs.get("output_dtype_ir") or (zp.dtype if zp is not None else "u8")
    return [(ins[0].shape, dt)]


@register_op("DequantizeLinear", defaults={"axis": 1})
def _dequantize(node, ins):
    return [(ins[0].shape, ins[1].dtype)]
