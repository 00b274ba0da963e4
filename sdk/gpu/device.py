"""A GPU build folder as a device with the rig's interface (edgesdk.hil.Device's shape).

    with open_gpu_device("build/") as dev:        # manifest.json target "gpu"
        res = dev.infer([x])                      # arrays in, arrays out
        res.outputs[0], res.count, res.unit       # count: device time in ns
        dev.timing().layers                       # ns per layer of the last run

`edgesdk run`, `validate` and `bench` use it for gpu builds, so the same commands (and
their tables) serve an MCU on QEMU and an OpenCL/CUDA device. The count of an OpenCL run
is the sum of its kernels' OpenCL profiling intervals (queue time excluded), robust on a
shared machine, unlike wall time; a CUDA run is timed by wall clock around the launches
(the driver wrapper has no events), still reported in ns.
"""
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DeviceError, EdgeError
from ..hil import buildinfo
from ..hil.client import Timing
from ..hil.device import InferResult


@dataclass
class GpuInfo:
    """What the rig's HELLO gives for a board, for a GPU build."""
    build_id: str
    has_layer_timing: bool = True
    input_bytes: list = field(default_factory=list)
    output_bytes: list = field(default_factory=list)


def _as_array(x, spec):
    """A user's array (device dtype, or float to quantize) -> the device array, checked."""
    raw = buildinfo.to_device(x, spec)   # shape/dtype checks and quantization, one place
    return np.frombuffer(raw, dtype=buildinfo.np_dtype(spec)).reshape(spec["shape"])


class GpuDevice:
    """One GPU build loaded on its device (PoCL/OpenCL here, CUDA where a GPU exists)."""

    resets_recovered = 0   # a GPU never resets under us; kept for the rig's Report

    def __init__(self, build, manifest):
        self.build = Path(build)
        self.manifest = manifest
        self.api = manifest.get("gpu_api", "opencl")
        self.info = GpuInfo(manifest.get("build_id", str(build)),
                            input_bytes=[buildinfo.nbytes(s) for s in manifest["inputs"]],
                            output_bytes=[buildinfo.nbytes(s) for s in manifest["outputs"]])
        self._layer_ns = []
        if self.api == "opencl":
            from .opencl import Runtime, device
            from .plan_runner import PlanRunner
            dev = device()   # DeviceError: no OpenCL platform
            self.runner = PlanRunner.from_build(self.build, rt=Runtime(dev, profiling=True))
            self.name = f"{manifest['board']} ({dev.name.strip()}, OpenCL)"
        elif self.api == "cuda":
            from .cuda_launch import CudaPlanRunner
            self.runner = CudaPlanRunner(self.build)   # DeviceError: no CUDA driver
            self.name = f"{manifest['board']} ({self.runner.drv.arch}, CUDA)"
        else:
            raise EdgeError(f"{self.build / 'manifest.json'}: field 'gpu_api' is {self.api!r}; "
                            f"expected opencl or cuda")
        names = self.runner.plan["inputs"]
        if len(names) != len(manifest["inputs"]):
            raise EdgeError(f"{self.build}: plan.json has {len(names)} inputs, manifest.json "
                            f"{len(manifest['inputs'])}")

    def infer(self, inputs):
        specs = self.manifest["inputs"]
        if len(inputs) != len(specs):
            raise DeviceError(f"{self.name}: the model has {len(specs)} inputs, got {len(inputs)}")
        feeds = {n: _as_array(x, s) for n, x, s in zip(self.runner.plan["inputs"], inputs, specs)}
        if self.api == "opencl":
            out, ns = self._run_opencl(feeds)
        else:
            t = time.perf_counter_ns()
            out = self.runner.run(feeds)
            ns = time.perf_counter_ns() - t
            self._layer_ns = []
        outs = [np.asarray(out[o]).reshape(s["shape"]).astype(buildinfo.np_dtype(s), copy=False)
                for o, s in zip(self.runner.plan["outputs"], self.manifest["outputs"])]
        return InferResult(outs, int(ns), "ns")

    def _run_opencl(self, feeds):
        r = self.runner
        for name, value in feeds.items():
            r.upload(name, value)
        enqueue = r.rt.cl.enqueue_nd_range_kernel
        events = [(li, enqueue(r.rt.queue, kern, gsz, lsz)) for li, kern, gsz, lsz in r.launches]
        r.rt.finish()
        per = [0] * len(r.plan["layers"])
        for li, ev in events:
            per[li] += int(ev.profile.end - ev.profile.start)
        self._layer_ns = per
        return {o: r.download(o) for o in r.plan["outputs"]}, sum(per)

    def timing(self):
        """Per-layer device time (ns) of the last infer(); [] for CUDA (no events)."""
        return Timing(sum(self._layer_ns), "ns", list(self._layer_ns))


def is_gpu_build(build):
    """True when `build` is a build folder whose manifest says target gpu."""
    mf = Path(str(build)) / "manifest.json"
    if not mf.is_file():
        return False
    try:
        return buildinfo.read_manifest(build).get("target") == "gpu"
    except EdgeError:
        return False


@contextlib.contextmanager
def open_gpu_device(build, board=None, **_ignored):
    """A GpuDevice for a gpu build folder. `board` may only name the build's own board
    (a plan is compiled for one device); rig-only options (port, timeouts) are ignored."""
    manifest = buildinfo.read_manifest(build)
    if manifest.get("target") != "gpu":
        raise EdgeError(f"{build}: a {manifest.get('target')} build, not a gpu build")
    if board is not None and Path(str(board)).stem != manifest["board"]:
        raise EdgeError(f"{build}: built for gpu board {manifest['board']}; it cannot run on {board} "
                        f"(rebuild with --board {board})")
    yield GpuDevice(build, manifest)

