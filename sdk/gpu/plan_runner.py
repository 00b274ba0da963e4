"""Launch a TVM-generated GPU plan (edgesdk.codegen.tvm_gpu) on OpenCL through pyopencl.

TVM's wheel has no OpenCL runtime; the plan says everything needed instead: the kernel
source, and per layer the kernels in order with their buffer arguments and launch
sizes (grid = work-groups, block = work-items per group, so the OpenCL global size is
grid * block). Buffers live on the device for the whole run; only graph inputs go up
and graph outputs come back.
"""
import time

import numpy as np

from .opencl import default_runtime


class PlanRunner:
    def __init__(self, plan_json, source, consts, rt=None):
        self.rt = rt or default_runtime()
        self.plan = plan_json
        self.prog = self.rt.program_from_source(source, ["-cl-std=CL1.2"])
        self.kernels = {}
        self.bufs = {}
        for name, b in plan_json["buffers"].items():
            nbytes = int(np.prod(b["shape"], dtype=np.int64)) * np.dtype(b["dtype"]).itemsize
            if name in consts:
                self.bufs[name] = self.rt.to_device(np.ascontiguousarray(consts[name], b["dtype"]))
            else:
                self.bufs[name] = self.rt.empty(nbytes)
        self.launches = []   # (layer index, kernel, global, local, args)
        for li, layer in enumerate(plan_json["layers"]):
            for step in layer["steps"]:
                for k in step["launches"]:
                    kern = self.kernels.get(k["kernel"])
                    if kern is None:
                        kern = self.kernels[k["kernel"]] = self.rt.cl.Kernel(self.prog, k["kernel"])
                    gsz = tuple(int(g) * int(b) for g, b in zip(k["grid"], k["block"]))
                    self.launches.append((li, kern, gsz, tuple(int(b) for b in k["block"]),
                                          [self.bufs[a] for a in k["args"]]))

    def upload(self, name, array):
        b = self.plan["buffers"][name]
        a = np.ascontiguousarray(array, b["dtype"])
        if list(a.shape) != list(b["shape"]):
            a = a.reshape(b["shape"])
        self.rt.cl.enqueue_copy(self.rt.queue, self.bufs[name], a)

    def download(self, name):
        b = self.plan["buffers"][name]
        return self.rt.to_host(self.bufs[name], tuple(b["shape"]), np.dtype(b["dtype"]))

    def run_layers(self, layers=None):
        """Enqueue every launch (or those of the given layer indices) and wait."""
        for li, kern, gsz, lsz, args in self.launches:
            if layers is None or li in layers:
                kern(self.rt.queue, gsz, lsz, *args)
        self.rt.finish()

    def run(self, feeds, outputs):
        for name, value in feeds.items():
            self.upload(name, value)
        self.run_layers()
        return {o: self.download(o) for o in outputs}

    def time_layers(self, repeat=5):
        """Best wall time in seconds of each layer (all its kernels, queue drained)."""
        n = len(self.plan["layers"])
        best = [float("inf")] * n
        for _ in range(repeat):
            for li in range(n):
                t = time.perf_counter()
                self.run_layers({li})
                best[li] = min(best[li], time.perf_counter() - t)
        return best
