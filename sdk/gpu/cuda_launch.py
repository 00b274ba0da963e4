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
        holders = []
        for kind, v in args:
            holders.append({"ptr": ctypes.c_uint64, "i32": ctypes.c_int32, "f32": ctypes.c_float}[kind](v))
        params = (ctypes.c_void_p * len(holders))(*[ctypes.cast(ctypes.byref(h), ctypes.c_void_p) for h in holders])
        g = list(grid) + [1] * (3 - len(grid))
        b = list(block) + [1] * (3 - len(block))
        self._check(self.lib.cuLaunchKernel(fn, *[int(v) for v in g], *[int(v) for v in b], int(smem), None,
                                            params, None), "cuLaunchKernel")
        if sync:
            self.synchronize()

    def synchronize(self):
        self._check(self.lib.cuCtxSynchronize(), "cuCtxSynchronize")


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
