/* See ek_ocl_host.h. Errors are reported as one line in rt->error, never printed here. */
#include "ek_ocl_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EK_GEMM_TILE 32   /* EK_TM = EK_TN in ek_gemm_s8_ocl.cl */
#define EK_GEMM_WG 8      /* EK_WG */

static int fail(ek_ocl_t* rt, const char* what, cl_int err) {
    snprintf(rt->error, sizeof rt->error, "%s failed (OpenCL error %d)", what, (int)err);
    return -1;
}

int ek_ocl_init(ek_ocl_t* rt) {
    memset(rt, 0, sizeof *rt);
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(1, &rt->platform, &np);
    if (err != CL_SUCCESS || np == 0) {
        snprintf(rt->error, sizeof rt->error, "no OpenCL platform present (error %d)", (int)err);
        return -1;
    }
    err = clGetDeviceIDs(rt->platform, CL_DEVICE_TYPE_ALL, 1, &rt->device, NULL);
    if (err != CL_SUCCESS) return fail(rt, "clGetDeviceIDs", err);
    rt->ctx = clCreateContext(NULL, 1, &rt->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) return fail(rt, "clCreateContext", err);
    rt->queue = clCreateCommandQueue(rt->ctx, rt->device, 0, &err);
    if (err != CL_SUCCESS) return fail(rt, "clCreateCommandQueue", err);
    return 0;
}

void ek_ocl_release(ek_ocl_t* rt) {
    if (rt->queue) clReleaseCommandQueue(rt->queue);
    if (rt->ctx) clReleaseContext(rt->ctx);
    rt->queue = NULL;
    rt->ctx = NULL;
}

int ek_ocl_build_file(ek_ocl_t* rt, const char* path, const char* options, cl_program* out) {
    FILE* f = fopen(path, "rb");
    if (!f) {
        snprintf(rt->error, sizeof rt->error, "%s: cannot open kernel source", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* src = malloc((size_t)n + 1);
    size_t got = src ? fread(src, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!src || got != (size_t)n) {
        free(src);
        snprintf(rt->error, sizeof rt->error, "%s: read failed", path);
        return -1;
    }
    src[n] = 0;
    cl_int err;
    const char* srcs[1] = {src};
    cl_program p = clCreateProgramWithSource(rt->ctx, 1, srcs, NULL, &err);
    free(src);
    if (err != CL_SUCCESS) return fail(rt, "clCreateProgramWithSource", err);
    err = clBuildProgram(p, 1, &rt->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[400] = {0};
        clGetProgramBuildInfo(p, rt->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        for (char* c = log; *c; ++c)
            if (*c == '\n') *c = ' ';
        snprintf(rt->error, sizeof rt->error, "%s: build failed: %s", path, log);
        clReleaseProgram(p);
        return -1;
    }
    *out = p;
    return 0;
}

cl_mem ek_ocl_buffer(ek_ocl_t* rt, size_t bytes, const void* host) {
    cl_int err;
    cl_mem_flags fl = CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0);
    cl_mem m = clCreateBuffer(rt->ctx, fl, bytes ? bytes : 1, (void*)host, &err);
    if (err != CL_SUCCESS) {
        fail(rt, "clCreateBuffer", err);
        return NULL;
    }
    return m;
}

int ek_ocl_read(ek_ocl_t* rt, cl_mem buf, void* dst, size_t bytes) {
    cl_int err = clEnqueueReadBuffer(rt->queue, buf, CL_TRUE, 0, bytes, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? 0 : fail(rt, "clEnqueueReadBuffer", err);
}

int ek_ocl_gemm_s8(ek_ocl_t* rt, cl_program prog, cl_mem x, cl_mem w, cl_mem bias_eff,
                   cl_mem mult, cl_mem shift, cl_mem y, int N, int M, int K,
                   int y_zp, int act_min, int act_max) {
    cl_int err;
    cl_kernel k = clCreateKernel(prog, "ek_gemm_s8_ocl", &err);
    if (err != CL_SUCCESS) return fail(rt, "clCreateKernel(ek_gemm_s8_ocl)", err);
    const int zero = 0, one = 1;
    /* argument order of ek_gemm_s8_ocl: x x_off ldx w w_off bias_eff mult shift ch_off
       y y_off y_rs y_cs N M K y_zp act_min act_max; row-major y: y_rs = M, y_cs = 1 */
    const void* vals[] = {&x, &zero, &K, &w, &zero, &bias_eff, &mult, &shift, &zero,
                          &y, &zero, &M, &one, &N, &M, &K, &y_zp, &act_min, &act_max};
    const size_t sizes[] = {sizeof(cl_mem), 4, 4, sizeof(cl_mem), 4, sizeof(cl_mem), sizeof(cl_mem),
                            sizeof(cl_mem), 4, sizeof(cl_mem), 4, 4, 4, 4, 4, 4, 4, 4, 4};
    for (cl_uint i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
        err = clSetKernelArg(k, i, sizes[i], vals[i]);
        if (err != CL_SUCCESS) {
            clReleaseKernel(k);
            return fail(rt, "clSetKernelArg", err);
        }
    }
    size_t gsz[2] = {(size_t)(M + EK_GEMM_TILE - 1) / EK_GEMM_TILE * EK_GEMM_WG,
                     (size_t)(N + EK_GEMM_TILE - 1) / EK_GEMM_TILE * EK_GEMM_WG};
    size_t lsz[2] = {EK_GEMM_WG, EK_GEMM_WG};
    err = clEnqueueNDRangeKernel(rt->queue, k, 2, NULL, gsz, lsz, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(rt->queue);
    clReleaseKernel(k);
    return err == CL_SUCCESS ? 0 : fail(rt, "clEnqueueNDRangeKernel(ek_gemm_s8_ocl)", err);
}
