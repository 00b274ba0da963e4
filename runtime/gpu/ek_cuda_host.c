/* See ek_cuda_host.h. */
#include "ek_cuda_host.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define EK_GEMM_TILE 64   /* EK_T in ek_gemm_s8_cuda.cu */
#define EK_GEMM_BLOCK 16  /* EK_B */

static int check(ek_cuda_t* rt, CUresult r, const char* what) {
    if (r == CUDA_SUCCESS) return 0;
    snprintf(rt->error, sizeof rt->error, "%s failed (CUDA error %d)", what, (int)r);
    return -1;
}

/* The _v2 names are the ABI the cuda.h macros map to (64-bit sizes and pointers). */
#define EK_SYM(field, name)                                                          \
    do {                                                                             \
        *(void**)(&rt->field) = dlsym(rt->lib, name);                                \
        if (!rt->field) {                                                            \
            snprintf(rt->error, sizeof rt->error, "libcuda has no symbol %s", name); \
            return -1;                                                               \
        }                                                                            \
    } while (0)

int ek_cuda_init(ek_cuda_t* rt) {
    memset(rt, 0, sizeof *rt);
    rt->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!rt->lib) rt->lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
    if (!rt->lib) {
        snprintf(rt->error, sizeof rt->error, "no CUDA driver: libcuda.so.1 not found (no NVIDIA driver installed)");
        return -2;
    }
    EK_SYM(cuInit, "cuInit");
    EK_SYM(cuDeviceGet, "cuDeviceGet");
    EK_SYM(cuDeviceGetAttribute, "cuDeviceGetAttribute");
    EK_SYM(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    EK_SYM(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
    EK_SYM(cuCtxSetCurrent, "cuCtxSetCurrent");
    EK_SYM(cuCtxSynchronize, "cuCtxSynchronize");
    EK_SYM(cuModuleLoad, "cuModuleLoad");
    EK_SYM(cuModuleUnload, "cuModuleUnload");
    EK_SYM(cuModuleGetFunction, "cuModuleGetFunction");
    EK_SYM(cuMemAlloc, "cuMemAlloc_v2");
    EK_SYM(cuMemFree, "cuMemFree_v2");
    EK_SYM(cuMemcpyHtoD, "cuMemcpyHtoD_v2");
    EK_SYM(cuMemcpyDtoH, "cuMemcpyDtoH_v2");
    EK_SYM(cuLaunchKernel, "cuLaunchKernel");
    if (rt->cuInit(0) != CUDA_SUCCESS) {
        snprintf(rt->error, sizeof rt->error, "no CUDA device: cuInit failed (driver present, no usable GPU)");
        return -2;
    }
    if (check(rt, rt->cuDeviceGet(&rt->dev, 0), "cuDeviceGet")) return -1;
    rt->cuDeviceGetAttribute(&rt->sm_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, rt->dev);
    rt->cuDeviceGetAttribute(&rt->sm_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, rt->dev);
    if (check(rt, rt->cuDevicePrimaryCtxRetain(&rt->ctx, rt->dev), "cuDevicePrimaryCtxRetain")) return -1;
    return check(rt, rt->cuCtxSetCurrent(rt->ctx), "cuCtxSetCurrent");
}

void ek_cuda_release(ek_cuda_t* rt) {
    if (rt->ctx) rt->cuDevicePrimaryCtxRelease(rt->dev);
    if (rt->lib) dlclose(rt->lib);
    rt->ctx = NULL;
    rt->lib = NULL;
}

int ek_cuda_load(ek_cuda_t* rt, const char* path, CUmodule* mod) {
    CUresult r = rt->cuModuleLoad(mod, path);
    if (r == CUDA_SUCCESS) return 0;
    snprintf(rt->error, sizeof rt->error, "%s: cuModuleLoad failed (CUDA error %d; cubin for sm_%d%d?)",
             path, (int)r, rt->sm_major, rt->sm_minor);
    return -1;
}

int ek_cuda_kernel(ek_cuda_t* rt, CUmodule mod, const char* name, CUfunction* fn) {
    CUresult r = rt->cuModuleGetFunction(fn, mod, name);
    if (r == CUDA_SUCCESS) return 0;
    snprintf(rt->error, sizeof rt->error, "kernel %s not in module (CUDA error %d)", name, (int)r);
    return -1;
}

int ek_cuda_upload(ek_cuda_t* rt, const void* src, size_t bytes, CUdeviceptr* dst) {
    if (check(rt, rt->cuMemAlloc(dst, bytes ? bytes : 1), "cuMemAlloc")) return -1;
    return src ? check(rt, rt->cuMemcpyHtoD(*dst, src, bytes), "cuMemcpyHtoD") : 0;
}

int ek_cuda_launch(ek_cuda_t* rt, CUfunction fn, const unsigned grid[3], const unsigned block[3],
                   unsigned smem, void** args) {
    if (check(rt, rt->cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                                     smem, NULL, args, NULL), "cuLaunchKernel"))
        return -1;
    return check(rt, rt->cuCtxSynchronize(), "cuCtxSynchronize");
}

int ek_cuda_gemm_s8(ek_cuda_t* rt, CUfunction fn, CUdeviceptr x, CUdeviceptr w, CUdeviceptr bias_eff,
                    CUdeviceptr mult, CUdeviceptr shift, CUdeviceptr y, int N, int M, int Kp,
                    int y_zp, int act_min, int act_max) {
    if (Kp % 4) {
        snprintf(rt->error, sizeof rt->error, "ek_gemm_s8_cuda needs K padded to a multiple of 4, got %d", Kp);
        return -1;
    }
    int y_rs = M, y_cs = 1;
    void* args[] = {&x, &w, &bias_eff, &mult, &shift, &y, &N, &M, &Kp, &y_rs, &y_cs, &y_zp, &act_min, &act_max};
    unsigned grid[3] = {(unsigned)((M + EK_GEMM_TILE - 1) / EK_GEMM_TILE), (unsigned)((N + EK_GEMM_TILE - 1) / EK_GEMM_TILE), 1};
    unsigned block[3] = {EK_GEMM_BLOCK, EK_GEMM_BLOCK, 1};
    return ek_cuda_launch(rt, fn, grid, block, 0, args);
}
