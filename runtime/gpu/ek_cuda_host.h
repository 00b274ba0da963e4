/* Minimal CUDA host runtime of edgesdk on the CUDA driver API: load a cubin made by
 * nvcc (edgesdk.gpu.nvcc), launch its kernels with cuLaunchKernel.
 *
 * libcuda is opened with dlopen, so the runtime links (and a build machine without an
 * NVIDIA driver, like CI, can build and test it); without a driver ek_cuda_init
 * fails with a one-line reason instead of the loader refusing to start. */
#ifndef EK_CUDA_HOST_H
#define EK_CUDA_HOST_H

#include <cuda.h>
#include <stddef.h>

typedef struct {
    void* lib;
    CUdevice dev;
    CUcontext ctx;
    int sm_major, sm_minor;
    char error[512];
    /* driver entry points, resolved by name */
    CUresult (*cuInit)(unsigned int);
    CUresult (*cuDeviceGet)(CUdevice*, int);
    CUresult (*cuDeviceGetAttribute)(int*, CUdevice_attribute, CUdevice);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
    CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
    CUresult (*cuCtxSetCurrent)(CUcontext);
    CUresult (*cuCtxSynchronize)(void);
    CUresult (*cuModuleLoad)(CUmodule*, const char*);
    CUresult (*cuModuleUnload)(CUmodule);
    CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
    CUresult (*cuMemAlloc)(CUdeviceptr*, size_t);
    CUresult (*cuMemFree)(CUdeviceptr);
    CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void*, size_t);
    CUresult (*cuMemcpyDtoH)(void*, CUdeviceptr, size_t);
    CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                               unsigned, CUstream, void**, void**);
} ek_cuda_t;

/* 0 on success; -1 with rt->error set. ek_cuda_init returns -2 when there is no driver. */
int ek_cuda_init(ek_cuda_t* rt);
void ek_cuda_release(ek_cuda_t* rt);
int ek_cuda_load(ek_cuda_t* rt, const char* cubin_path, CUmodule* mod);
int ek_cuda_kernel(ek_cuda_t* rt, CUmodule mod, const char* name, CUfunction* fn);
int ek_cuda_upload(ek_cuda_t* rt, const void* src, size_t bytes, CUdeviceptr* dst);
int ek_cuda_launch(ek_cuda_t* rt, CUfunction fn, const unsigned grid[3], const unsigned block[3],
                   unsigned smem, void** args);

/* QGemm through ek_gemm_s8_cuda (dp4a): x [N, Kp], w [M, Kp] int8 (Kp % 4 == 0), folded
 * bias, per-channel mult/shift; y [N, M] row-major. Synchronizes. */
int ek_cuda_gemm_s8(ek_cuda_t* rt, CUfunction fn, CUdeviceptr x, CUdeviceptr w, CUdeviceptr bias_eff,
                    CUdeviceptr mult, CUdeviceptr shift, CUdeviceptr y, int N, int M, int Kp,
                    int y_zp, int act_min, int act_max);

#endif
