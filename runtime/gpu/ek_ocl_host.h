/* Minimal OpenCL host runtime of edgesdk: one device, one in-order queue, programs built
 * from the kernels/opencl sources, and launchers that use the same launch geometry as
 * the Python side (edgesdk.gpu.ocl_kernels). No allocation happens behind the caller's
 * back except OpenCL buffers the caller asks for. */
#ifndef EK_OCL_HOST_H
#define EK_OCL_HOST_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    cl_context ctx;
    cl_command_queue queue;
    char error[512];   /* the last failure, one line */
} ek_ocl_t;

/* 0 on success; on failure a one-line reason in rt->error. */
int ek_ocl_init(ek_ocl_t* rt);
void ek_ocl_release(ek_ocl_t* rt);
/* Builds the file `path` with `options` (e.g. "-I kernels/opencl"); the log goes to rt->error. */
int ek_ocl_build_file(ek_ocl_t* rt, const char* path, const char* options, cl_program* out);
cl_mem ek_ocl_buffer(ek_ocl_t* rt, size_t bytes, const void* host_or_null);
int ek_ocl_read(ek_ocl_t* rt, cl_mem buf, void* dst, size_t bytes);

/* QGemm through ek_gemm_s8_ocl: y[N, M] (row-major int8) from x [N, K], w [M, K] and the
 * host-folded bias_eff (bias - x_zp * rowsum(w)), per-channel mult/shift. */
int ek_ocl_gemm_s8(ek_ocl_t* rt, cl_program prog, cl_mem x, cl_mem w, cl_mem bias_eff,
                   cl_mem mult, cl_mem shift, cl_mem y, int N, int M, int K,
                   int y_zp, int act_min, int act_max);

#endif
