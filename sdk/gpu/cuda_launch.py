"""Run cubins on an NVIDIA GPU from Python through the CUDA driver API (ctypes on libcuda).

Used by the `gpu`-marked tests and to run a CUDA build folder; on a machine without an
NVIDIA driver `CudaDriver()` raises DeviceError with one line (CI has no GPU: the
kernels are compiled and checked statically there, see edgesdk.gpu.nvcc).
"""
import ctypes
import ctypes.util
import json
from pathlib import Path

import numpy as np

from ..errors import DeviceError

_ATTR_CC_MAJOR, _ATTR_CC_MINOR = 75, 76


def _dim3(dims):
    """A grid or block of 1-3 extents as the three ints cuLaunchKernel takes."""
    return [int(v) for v in list(dims) + [1] * (3 - len(dims))]


def driver_present():
    return ctypes.util.find_library("cuda") is not None


class CudaDriver:
    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libcuda.so.1")
        except OSError:
            raise DeviceError("no CUDA driver: libcuda.so.1 not found (no NVIDIA driver installed)") from None
        L = self.lib
        self._check(L.cuInit(0), "cuInit")
        self.dev = ctypes.c_int()
        self._check(L.cuDeviceGet(ctypes.byref(self.dev), 0), "cuDeviceGet")
        major, minor = ctypes.c_int(), ctypes.c_int()
        L.cuDeviceGetAttribute(ctypes.byref(major), _ATTR_CC_MAJOR, self.dev)
        L.cuDeviceGetAttribute(ctypes.byref(minor), _ATTR_CC_MINOR, self.dev)
        self.arch = f"sm_{major.value}{minor.value}"
        self.ctx = ctypes.c_void_p()
        self._check(L.cuDevicePrimaryCtxRetain(ctypes.byref(self.ctx), self.dev), "cuDevicePrimaryCtxRetain")
        self._check(L.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")
        L.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
        L.cuMemcpyHtoD_v2.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t]
        L.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
        L.cuMemFree_v2.argtypes = [ctypes.c_uint64]
        L.cuModuleLoad.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p]
        L.cuModuleGetFunction.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p]
        L.cuLaunchKernel.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p,
                                                                                ctypes.POINTER(ctypes.c_void_p),
                                                                                ctypes.c_void_p]
        # events, streams and graphs (time_launches)
        L.cuEventRecord.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        L.cuEventElapsedTime.argtypes = [ctypes.POINTER(ctypes.c_float), ctypes.c_void_p, ctypes.c_void_p]
        L.cuEventSynchronize.argtypes = [ctypes.c_void_p]
        L.cuEventDestroy_v2.argtypes = [ctypes.c_void_p]
        L.cuStreamDestroy_v2.argtypes = [ctypes.c_void_p]
        L.cuStreamBeginCapture_v2.argtypes = [ctypes.c_void_p, ctypes.c_int]
        L.cuStreamEndCapture.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        L.cuGraphInstantiateWithFlags.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_ulonglong]
        L.cuGraphLaunch.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        L.cuGraphExecDestroy.argtypes = [ctypes.c_void_p]
        L.cuGraphDestroy.argtypes = [ctypes.c_void_p]
        self._modules = {}

    def _check(self, rc, what):
        if rc != 0:
            raise DeviceError(f"{what} failed (CUDA error {rc})")

    # memory ------------------------------------------------------------------------
    def alloc(self, nbytes):
        p = ctypes.c_uint64()
        self._check(self.lib.cuMemAlloc_v2(ctypes.byref(p), max(int(nbytes), 1)), "cuMemAlloc")
        return p.value

    def upload(self, array):
        a = np.ascontiguousarray(array)
        p = self.alloc(a.nbytes)
        if a.nbytes:
            self._check(self.lib.cuMemcpyHtoD_v2(p, a.ctypes.data, a.nbytes), "cuMemcpyHtoD")
        return p

    def download(self, ptr, shape, dtype):
        out = np.empty(shape, dtype)
        if out.nbytes:
            self._check(self.lib.cuMemcpyDtoH_v2(out.ctypes.data, ptr, out.nbytes), "cuMemcpyDtoH")
        return out

    def free(self, ptr):
        self.lib.cuMemFree_v2(ptr)

    # kernels -----------------------------------------------------------------------
    def function(self, cubin, name):
        cubin = str(cubin)
        mod = self._modules.get(cubin)
        if mod is None:
            mod = ctypes.c_void_p()
            self._check(self.lib.cuModuleLoad(ctypes.byref(mod), cubin.encode()), f"cuModuleLoad({cubin})")
            self._modules[cubin] = mod
        fn = ctypes.c_void_p()
        self._check(self.lib.cuModuleGetFunction(ctypes.byref(fn), mod, name.encode()), f"cuModuleGetFunction({name})")
        return fn

    def launch(self, fn, grid, block, args, smem=0, sync=True):
        """args: ("ptr", device pointer) / ("i32", int) / ("f32", float) pairs, in kernel order."""
        holders, params = self._params(args)   # holders keep the values alive until the launch
        self._check(self.lib.cuLaunchKernel(fn, *_dim3(grid), *_dim3(block), int(smem), None, params, None),
                    "cuLaunchKernel")
        if sync:
            self.synchronize()

    def synchronize(self):
        self._check(self.lib.cuCtxSynchronize(), "cuCtxSynchronize")

    # device facts and event timing (bench/gpu_cuda_timing.py) ------------------------
    def device_info(self):
        """{name, arch, driver_version, sm_count, l2_bytes, clock_khz} of device 0."""
        L = self.lib
        name = ctypes.create_string_buffer(256)
        L.cuDeviceGetName(name, 256, self.dev)
        ver = ctypes.c_int()
        L.cuDriverGetVersion(ctypes.byref(ver))

        def attr(a):   # CU_DEVICE_ATTRIBUTE_* numbers from cuda.h
            v = ctypes.c_int()
            L.cuDeviceGetAttribute(ctypes.byref(v), a, self.dev)
            return v.value
        return {"name": name.value.decode(errors="replace"), "arch": self.arch,
                "driver_version": f"{ver.value // 1000}.{ver.value % 1000 // 10}",
                "sm_count": attr(16), "l2_bytes": attr(38), "clock_khz": attr(13)}

    def _params(self, args):
        """(holders, void** array) for ("ptr" | "i32" | "f32", value) kernel arguments."""
        holders = [{"ptr": ctypes.c_uint64, "i32": ctypes.c_int32, "f32": ctypes.c_float}[k](v) for k, v in args]
        params = (ctypes.c_void_p * len(holders))(*[ctypes.cast(ctypes.byref(h), ctypes.c_void_p) for h in holders])
        return holders, params

    def time_launches(self, fn, grid, block, arg_sets, iters, warmup=3, smem=0, graph=True):
        """(mean milliseconds per launch, method) over `iters` back-to-back launches, timed on
        the GPU with CUDA events (cuEventRecord before and after, cuEventElapsedTime), after
        `warmup` untimed launches. arg_sets: launch() argument lists, cycled launch by launch
        (several weight copies defeat the L2 cache for memory-bound kernels).

        With graph=True the launches are captured once into a CUDA graph and the graph is
        replayed between the events, so Python/ctypes launch overhead (a few us per launch,
        longer than a small layer) is not what gets measured; method says which was used
        ("graph", or "stream" where graph capture failed)."""
        L = self.lib
        g, b = _dim3(grid), _dim3(block)
        packed = [self._params(a) for a in arg_sets]
        stream = ctypes.c_void_p()
        self._check(L.cuStreamCreate(ctypes.byref(stream), 1), "cuStreamCreate")   # 1: non-blocking

        def issue(n):
            for i in range(n):
                self._check(L.cuLaunchKernel(fn, *g, *b, int(smem), stream, packed[i % len(packed)][1], None),
                            "cuLaunchKernel")

        start, end, graph_h, exec_h = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        try:
            issue(warmup)
            self._check(L.cuStreamSynchronize(stream), "cuStreamSynchronize")
            method = "stream"
            if graph:
                try:   # mode 2: CU_STREAM_CAPTURE_MODE_RELAXED
                    self._check(L.cuStreamBeginCapture_v2(stream, 2), "cuStreamBeginCapture")
                    issue(iters)
                    self._check(L.cuStreamEndCapture(stream, ctypes.byref(graph_h)), "cuStreamEndCapture")
                    self._check(L.cuGraphInstantiateWithFlags(ctypes.byref(exec_h), graph_h, 0), "cuGraphInstantiate")
                    self._check(L.cuGraphLaunch(exec_h, stream), "cuGraphLaunch")     # upload + warm
                    self._check(L.cuStreamSynchronize(stream), "cuStreamSynchronize")
                    method = "graph"
                except DeviceError:
                    L.cuStreamEndCapture(stream, ctypes.byref(ctypes.c_void_p()))   # leave capture mode
                    exec_h = ctypes.c_void_p()
            self._check(L.cuEventCreate(ctypes.byref(start), 0), "cuEventCreate")
            self._check(L.cuEventCreate(ctypes.byref(end), 0), "cuEventCreate")
            self._check(L.cuEventRecord(start, stream), "cuEventRecord")
            if method == "graph":
                self._check(L.cuGraphLaunch(exec_h, stream), "cuGraphLaunch")
            else:
                issue(iters)
            self._check(L.cuEventRecord(end, stream), "cuEventRecord")
            self._check(L.cuEventSynchronize(end), "cuEventSynchronize")
            ms = ctypes.c_float()
            self._check(L.cuEventElapsedTime(ctypes.byref(ms), start, end), "cuEventElapsedTime")
        finally:
            for h, f in ((start, L.cuEventDestroy_v2), (end, L.cuEventDestroy_v2), (exec_h, L.cuGraphExecDestroy),
                         (graph_h, L.cuGraphDestroy)):
                if h.value:
                    f(h)
            L.cuStreamDestroy_v2(stream)
        return ms.value / iters, method


class CudaPlanRunner:
    """Run a CUDA build folder (plan.json + cubins + consts.npz) on the GPU."""

    def __init__(self, build_dir, drv=None):
        d = Path(build_dir)
        self.plan = json.loads((d / "plan.json").read_text())
        if self.plan.get("api") != "cuda":
            raise DeviceError(f"{d}: not a CUDA build (api {self.plan.get('api')!r})")
        self.drv = drv or CudaDriver()
        with np.load(d / self.plan["consts"]) as z:
            consts = {k: z[k] for k in z.files}
        self.bufs = {}
        for name, b in self.plan["buffers"].items():
            if name in consts:
                self.bufs[name] = self.drv.upload(np.ascontiguousarray(consts[name], b["dtype"]))
            else:
                self.bufs[name] = self.drv.alloc(int(np.prod(b["shape"], dtype=np.int64)) * np.dtype(b["dtype"]).itemsize)
        self.launches = []
        for layer in self.plan["layers"]:
            for k in layer["launches"]:
                fn = self.drv.function(d / self.plan["cubins"][k["program"]], k["kernel"])
                args = [("i32", a["i32"]) if isinstance(a, dict) else ("ptr", self.bufs[a]) for a in k["args"]]
                self.launches.append((fn, k["grid"], k["block"], args))

    def run(self, feeds, outputs=None):
        for name, value in feeds.items():
            b = self.plan["buffers"][name]
            a = np.ascontiguousarray(np.asarray(value).reshape(b["shape"]), b["dtype"])
            self.drv._check(self.drv.lib.cuMemcpyHtoD_v2(self.bufs[name], a.ctypes.data, a.nbytes), "cuMemcpyHtoD")
        for fn, grid, block, args in self.launches:
            self.drv.launch(fn, grid, block, args, sync=False)
        self.drv.synchronize()
        out = {}
        for o in outputs or self.plan["outputs"]:
            b = self.plan["buffers"][o]
            out[o] = self.drv.download(self.bufs[o], tuple(b["shape"]), np.dtype(b["dtype"]))
        return out
