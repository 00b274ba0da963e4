"""C emission for the mcu target: model.c/model.h from an McuProgram (edgesdk.lower.mcu)."""
from .emit import emit_model, c_array

__all__ = ["emit_model", "c_array"]
