"""Binarization (BiPer and plain-STE 1-bit layers) and DenseShift (+-2^k weights).

    from edgesdk.binary import binarize, denseshift, train_recipe, export_graph
    bmodel = binarize(model, method="biper")        # eligible layers -> BinaryConv2d/BinaryLinear
    train_recipe(bmodel, train_data, epochs=3)      # binarization needs training
    graph = export_graph(bmodel, (1, 1, 28, 28))    # IR with Binarize + BConv/BGemm (b1 weights)

Torch is imported lazily: `edgesdk.binary` imports nothing heavy until a name is used.
"""
import importlib

_LAZY = {
    "BinaryConv2d": "layers", "BinaryLinear": "layers", "FrequencySchedule": "layers",
    "check_frequency": "layers",
    "DenseShiftConv2d": "shift_layers", "DenseShiftLinear": "shift_layers",
    "binarize": "convert", "denseshift": "convert", "binary_layers": "convert",
    "weight_bytes": "convert",
    "train_recipe": "recipe", "evaluate": "recipe",
    "export_graph": "export",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
