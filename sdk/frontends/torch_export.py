"""torch.nn.Module -> ONNX ModelProto, in memory (TorchScript exporter, opset 17)."""
import inspect
import io
import warnings

from ..errors import ModelError

OPSET = 17


def _input_names(module, n):
    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in params][:n]
        if len(names) == n and len(set(names)) == n:
            return names
    except (TypeError, ValueError):
        pass
    return ["input"] if n == 1 else [f"input_{i}" for i in range(n)]


def export_torch(module, example_inputs):
    import onnx
    import torch
    if example_inputs is None:
        raise ModelError(f"torch module {type(module).__name__}: example_inputs is required "
                         f"(a tensor or a tuple of tensors with the input shapes)")
    args = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    args = tuple(torch.from_numpy(a) if type(a).__module__ == "numpy" else a for a in args)
    for i, a in enumerate(args):
        if not isinstance(a, torch.Tensor):
            raise ModelError(f"torch module {type(module).__name__}: example input {i} is a "
                             f"{type(a).__name__}, not a torch.Tensor")
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The TorchScript exporter (dynamo=False) is the most dependable for plain
            # inference modules; export() switches the module to eval mode while it runs.
            torch.onnx.export(module, args, buf, opset_version=OPSET, dynamo=False,
                              input_names=_input_names(module, len(args)), do_constant_folding=True)
    except Exception as e:  # the user's module cannot be traced/exported
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"torch module {type(module).__name__}: ONNX export failed: {first}") from e
    return onnx.load_model_from_string(buf.getvalue())
