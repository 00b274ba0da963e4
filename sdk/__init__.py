"""edgesdk: run trained PyTorch/ONNX models, and keep them learning, on edge hardware.

The package is deliberately light to import: heavy dependencies (torch, onnx, tvm)
are imported inside the functions that need them, so `edgesdk --help` stays fast.
"""
__version__ = "0.1.0"
