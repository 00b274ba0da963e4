"""OpenCL devices and programs through pyopencl.

`device()` picks the first OpenCL device (PoCL in CI) or raises a one-line EdgeError
when there is none; `program(ctx, "ek_gemm_s8_ocl.cl")` builds a kernel file of
kernels/opencl (found through edgesdk.paths) once per context and options.
"""
from functools import lru_cache

from ..errors import DeviceError, ToolMissingError
from ..paths import kernels_dir


def ocl_dir():
    return kernels_dir() / "opencl"


def _cl():
    try:
        import pyopencl as cl
    except ImportError:
        raise ToolMissingError("pyopencl is not installed (pip install pyopencl; "
                               "it is in requirements.lock)") from None
    return cl


@lru_cache(maxsize=None)
def _first_device():
    cl = _cl()
    try:
        platforms = cl.get_platforms()
    except cl.Error as e:  # ocl-icd raises PLATFORM_NOT_FOUND_KHR when no ICD is installed
        raise DeviceError(f"no OpenCL platform present ({e}); install pocl-opencl-icd or a GPU driver") from None
    for p in platforms:
        devs = p.get_devices()
        if devs:
            return devs[0]
    raise DeviceError("no OpenCL platform present: no platform has a device "
                      "(install pocl-opencl-icd or a GPU driver)")


def device():
    """The OpenCL device edgesdk runs on (the first one found)."""
    return _first_device()


def has_fp16(dev=None):
    dev = dev or device()
    return "cl_khr_fp16" in dev.extensions.split()


def device_facts(dev=None):
    """What a build summary reports about the device."""
    dev = dev or device()
    return {"name": dev.name.strip(), "platform": dev.platform.name.strip(),
            "version": dev.version.strip(), "compute_units": int(dev.max_compute_units),
            "max_work_group_size": int(dev.max_work_group_size),
            "local_mem_bytes": int(dev.local_mem_size), "fp16": has_fp16(dev)}


class Runtime:
    """One context + in-order queue, with a cache of built programs."""

    def __init__(self, dev=None, profiling=False):
        cl = _cl()
        self.cl = cl
        self.device = dev or device()
        self.ctx = cl.Context([self.device])
        props = cl.command_queue_properties.PROFILING_ENABLE if profiling else 0
        self.queue = cl.CommandQueue(self.ctx, properties=props)
        self._programs = {}
        self._kernels = {}

    def program_from_source(self, source, options=(), key=None):
        key = key or (source, tuple(options))
        prog = self._programs.get(key)
        if prog is None:
            try:
                prog = self.cl.Program(self.ctx, source).build(options=list(options))
            except self.cl.RuntimeError as e:
                raise RuntimeError(f"OpenCL build failed: {e}") from None
            self._programs[key] = prog
        return prog

    def program(self, filename, options=()):
        """Build kernels/opencl/<filename> (with -I that folder for the shared header)."""
        path = ocl_dir() / filename
        opts = [f"-I{ocl_dir()}", *options]
        return self.program_from_source(path.read_text(), opts, key=(filename, tuple(opts)))

    def kernel(self, filename, name, options=()):
        """A cached cl.Kernel (pyopencl warns, rightly, that each lookup makes a new one)."""
        key = (filename, name, tuple(options))
        k = self._kernels.get(key)
        if k is None:
            k = self._kernels[key] = self.cl.Kernel(self.program(filename, options), name)
        return k

    def to_device(self, array):
        import numpy as np
        mf = self.cl.mem_flags
        a = np.ascontiguousarray(array)
        if a.nbytes == 0:
            a = np.zeros(1, a.dtype)
        return self.cl.Buffer(self.ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=a)

    def empty(self, nbytes):
        return self.cl.Buffer(self.ctx, self.cl.mem_flags.READ_WRITE, size=max(int(nbytes), 1))

    def to_host(self, buf, shape, dtype):
        import numpy as np
        out = np.empty(shape, dtype)
        self.cl.enqueue_copy(self.queue, out, buf)
        return out

    def finish(self):
        self.queue.finish()


@lru_cache(maxsize=None)
def default_runtime():
    return Runtime()
