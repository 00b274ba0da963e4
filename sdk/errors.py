"""User-facing errors.

Anything raised as an EdgeError is a problem with the user's input (a file, a node,
a field); the CLI prints its message on one line and exits with code 2. Every other
exception is our bug and keeps its traceback.
"""


class EdgeError(Exception):
    """A problem with the user's input. The message must name the file, node or field."""


class ModelError(EdgeError):
    """A model file that cannot be read or is not a model."""


class UnsupportedOpsError(EdgeError):
    """A model with ops we cannot handle; lists every one of them at once."""

    def __init__(self, ops, opset=None, source=""):
        self.ops = list(ops)  # [(node_name, op_type)]
        where = f" in {source}" if source else ""
        opset_s = f" (opset {opset})" if opset is not None else ""
        listing = ", ".join(f"{name} [{op}]" for name, op in self.ops)
        super().__init__(f"unsupported ops{where}{opset_s}: {listing}")


class GraphError(EdgeError):
    """An IR graph that fails verification; the message names the node."""


class BoardError(EdgeError):
    """An unknown board or a malformed board file."""


class FitError(EdgeError):
    """A model that does not fit the target's memory."""


class DataError(EdgeError):
    """Calibration, training or test data of the wrong shape, dtype or content."""


class ToolMissingError(EdgeError):
    """An external tool (compiler, emulator, flasher) that is not installed."""


class DeviceError(EdgeError):
    """The device (board or emulator) failed, vanished or answered wrongly."""


class UnsupportedModeError(EdgeError):
    """A supported op used with an attribute value or mode that is deliberately not implemented."""
