"""Frontends: every way a model enters edgesdk ends in one IR Graph.

    load(model, input_shapes=None, example_inputs=None) -> Graph

`model` is a path to an .onnx or .edg file, an onnx.ModelProto, or a torch.nn.Module
(then `example_inputs`, a tensor or a tuple of tensors, is required). `input_shapes`
{input name: shape} fixes dynamic input dimensions. The returned graph has static
shapes, folded shape subgraphs, int8-only QDQ, and has passed the verifier.
"""
from pathlib import Path

from ..errors import ModelError


def _is_torch_module(obj):
    try:
        import torch
    except ImportError:
        return False
    return isinstance(obj, torch.nn.Module)


def _load_onnx_file(path):
    import onnx
    from google.protobuf.message import DecodeError
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror})") from None
    if not data:
        raise ModelError(f"{path}: empty file, not an ONNX model")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelError(f"{path}: not an ONNX model or truncated file ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'cannot parse'})") from None
    if not model.HasField("graph") or not model.opset_import or model.ir_version == 0:
        raise ModelError(f"{path}: not an ONNX model (no graph/opset/ir_version; truncated or another format?)")
    if any(t.data_location == 1 for t in model.graph.initializer):  # EXTERNAL
        try:
            from onnx.external_data_helper import load_external_data_for_model
            load_external_data_for_model(model, str(path.parent))
        except (OSError, ValueError) as e:
            raise ModelError(f"{path}: cannot load external tensor data ({e})") from None
    return model


def load(model, input_shapes=None, example_inputs=None):
    from .onnx_import import import_onnx
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.exists():
            raise ModelError(f"{path}: no such file")
        if path.is_dir():
            raise ModelError(f"{path}: is a directory, not a model file")
        with open(path, "rb") as f:
            head = f.read(4)
        if path.suffix == ".edg" or head.startswith(b"PK\x03\x04"):
            from ..ir import load as load_edg
            g = load_edg(path)
            if input_shapes:
                raise ModelError(f"{path}: input_shapes cannot be applied to an .edg graph (its shapes are fixed)")
            return g
        return import_onnx(_load_onnx_file(path), input_shapes, source=str(path))
    try:
        import onnx
        if isinstance(model, onnx.ModelProto):
            return import_onnx(model, input_shapes, source=model.graph.name or "<onnx.ModelProto>")
    except ImportError:
        pass
    if _is_torch_module(model):
        from .torch_export import export_torch
        proto = export_torch(model, example_inputs)
        g = import_onnx(proto, input_shapes, source=f"torch:{type(model).__name__}")
        g.meta["framework"] = "torch"
        return g
    raise ModelError(f"cannot load a {type(model).__name__}: expected a path to .onnx/.edg, "
                     f"an onnx.ModelProto or a torch.nn.Module")


__all__ = ["load"]
