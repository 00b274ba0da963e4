"""GPU support: OpenCL launching (pyopencl), the nvcc/ptxas driver and device queries.

Modules:
- opencl: find an OpenCL device, build programs from kernels/opencl, query fp16.
- ocl_kernels: launchers of the hand-written OpenCL kernels (numpy in, numpy out).
- nvcc: compile kernels/cuda with nvcc to cubin and parse ptxas resource usage.
"""
