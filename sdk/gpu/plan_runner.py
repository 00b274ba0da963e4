"""Run a GPU plan (a build folder's plan.json) on OpenCL through pyopencl.

A plan lists, per layer, kernel launches {"program", "kernel", "args", "global",
"local"}: `program` is "tvm" (the TVM-generated source) or a hand kernel file of
kernels/opencl; `args` are buffer names or {"i32": v} scalars. TVM's wheel has no
OpenCL runtime, so this is how TVM's kernels run too: the launch sizes come from the
generated module (edgesdk.codegen.tvm_gpu). Buffers stay on the device for the whole
run; only graph inputs go up and graph outputs come back.
"""
import json
import time
from pathlib import Path

import numpy as np

from ..errors import EdgeError
from .opencl import default_runtime, ocl_dir


def tvm_launches(layer_json, api):
    """A codegen.tvm_gpu layer (to_json form) -> plan launches for `api`."""
    out = []
    for step in layer_json["steps"]:
        for k in step["launches"]:
            if api == "opencl":
                out.append({"program": "tvm", "kernel": k["kernel"], "args": list(k["args"]),
                            "global": [int(g) * int(b) for g, b in zip(k["grid"], k["block"])],
                            "local": [int(b) for b in k["block"]]})
            else:
                out.append({"program": "tvm", "kernel": k["kernel"], "args": list(k["args"]),
                            "grid": [int(g) for g in k["grid"]], "block": [int(b) for b in k["block"]]})
    return out


class PlanRunner:
    def __init__(self, plan, sources, consts, rt=None):
        """plan: plan.json dict; sources: {program: OpenCL source}; consts: {buffer: array}."""
        if plan.get("api", "opencl") != "opencl":
            raise EdgeError(f"plan api is {plan.get('api')!r}: only OpenCL plans run on this host")
        self.rt = rt or default_runtime()
        self.plan = plan
        progs = {}
        for name, src in sources.items():
            opts = ["-cl-std=CL1.2", f"-I{ocl_dir()}"]
            progs[name] = self.rt.program_from_source(src, opts, key=("plan", name, src))
        self.bufs = {}
        for name, b in plan["buffers"].items():
            if name in consts:
                self.bufs[name] = self.rt.to_device(np.ascontiguousarray(consts[name], b["dtype"]))
            else:
                nbytes = int(np.prod(b["shape"], dtype=np.int64)) * np.dtype(b["dtype"]).itemsize
                self.bufs[name] = self.rt.empty(nbytes)
        # One cl.Kernel per launch with its arguments set once: a run is then only
        # enqueues (setting 19 arguments from Python per call costs more than a small kernel).
        self.launches = []   # (layer index, kernel, global, local)
        for li, layer in enumerate(plan["layers"]):
            for k in layer["launches"]:
                kern = self.rt.cl.Kernel(progs[k["program"]], k["kernel"])
                kern.set_args(*[np.int32(a["i32"]) if isinstance(a, dict) else self.bufs[a] for a in k["args"]])
                local = None if k.get("local") is None else tuple(int(v) for v in k["local"])
                self.launches.append((li, kern, tuple(int(v) for v in k["global"]), local))

    @classmethod
    def from_build(cls, build_dir, rt=None):
        d = Path(build_dir)
        plan = json.loads((d / "plan.json").read_text())
        sources = {name: (d / rel).read_text() for name, rel in plan["programs"].items()}
        with np.load(d / plan["consts"]) as z:
            consts = {k: z[k] for k in z.files}
        return cls(plan, sources, consts, rt)

    def upload(self, name, array):
        b = self.plan["buffers"][name]
        a = np.ascontiguousarray(np.asarray(array).reshape(b["shape"]), b["dtype"])
        self.rt.cl.enqueue_copy(self.rt.queue, self.bufs[name], a)

    def download(self, name):
        b = self.plan["buffers"][name]
        return self.rt.to_host(self.bufs[name], tuple(b["shape"]), np.dtype(b["dtype"]))

    def run_layers(self, layers=None):
        """Enqueue every launch (or those of the given layer indices) and wait."""
        enqueue = self.rt.cl.enqueue_nd_range_kernel
        for li, kern, gsz, lsz in self.launches:
            if layers is None or li in layers:
                enqueue(self.rt.queue, kern, gsz, lsz)
        self.rt.finish()

    def run(self, feeds, outputs=None):
        for name, value in feeds.items():
            self.upload(name, value)
        self.run_layers()
        return {o: self.download(o) for o in (outputs or self.plan["outputs"])}

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

    def profile_layers(self, repeat=5):
        """Device time in seconds of each layer (sum of its kernels' OpenCL profiling
        intervals, best of `repeat`); needs a runtime made with profiling=True."""
        enqueue = self.rt.cl.enqueue_nd_range_kernel
        n = len(self.plan["layers"])
        best = [float("inf")] * n
        for _ in range(repeat):
            events = [(li, enqueue(self.rt.queue, kern, gsz, lsz)) for li, kern, gsz, lsz in self.launches]
            self.rt.finish()
            per = [0.0] * n
            for li, ev in events:
                per[li] += (ev.profile.end - ev.profile.start) * 1e-9
            best = [min(b, p) for b, p in zip(best, per)]
        return best

    def time_run(self, repeat=5):
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            self.run_layers()
            best = min(best, time.perf_counter() - t)
        return best
