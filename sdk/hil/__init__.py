"""Host-in-the-loop rig, host side: talk to a board or an emulator running the rig
firmware (runtime/hil) over serial, TCP or a pty.

    from edgesdk.hil import open_device
    with open_device("build/") as dev:
        res = dev.infer([x])
"""
from .client import DeviceInfo, DeviceResetError, DeviceStatusError, HilClient, Timing
from .device import Device, InferResult, open_device

__all__ = ["open_device", "Device", "InferResult", "HilClient", "DeviceInfo", "Timing",
           "DeviceResetError", "DeviceStatusError"]
