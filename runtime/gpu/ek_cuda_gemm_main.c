/* Command-line driver of the CUDA host runtime: one QGemm through the dp4a kernel.
 *
 *   ek_cuda_gemm GEMM.cubin CASE.bin OUT.bin
 *
 * CASE.bin is the format of ek_ocl_gemm_main.c (int32 header N M K y_zp act_min act_max,
 * then x, w, bias_eff, mult, shift) with K already a multiple of 4. Exit 0 on success,
 * 2 with one line on stderr for bad input or a failing device, 3 when there is no
 * NVIDIA driver or GPU (so callers can tell "cannot run here" from "wrong").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_cuda_host.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s GEMM.cubin CASE.bin OUT.bin\n", argv[0]);
        return 2;
    }
    FILE* f = fopen(argv[2], "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open case file\n", argv[2]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char* buf = malloc(n ? n : 1);
    if (!buf || fread(buf, 1, n, f) != n || n < 24) {
        fprintf(stderr, "%s: cannot read case file (or shorter than its header)\n", argv[2]);
        return 2;
    }
    fclose(f);
    int32_t h[6];
    memcpy(h, buf, sizeof h);
    const int N = h[0], M = h[1], K = h[2];
    size_t need = 24 + (size_t)N * K + (size_t)M * K + 12 * (size_t)M;
    if (N <= 0 || M <= 0 || K <= 0 || K % 4 || n != need) {
        fprintf(stderr, "%s: bad header N=%d M=%d K=%d (K must be a multiple of 4) or size %zu != %zu\n",
                argv[2], N, M, K, n, need);
        return 2;
    }
    ek_cuda_t rt;
    int rc = ek_cuda_init(&rt);
    if (rc != 0) {
        fprintf(stderr, "%s\n", rt.error);
        return rc == -2 ? 3 : 2;
    }
    CUmodule mod;
    CUfunction fn;
    if (ek_cuda_load(&rt, argv[1], &mod) || ek_cuda_kernel(&rt, mod, "ek_gemm_s8_cuda", &fn)) {
        fprintf(stderr, "%s\n", rt.error);
        return 2;
    }
    const char* x = buf + 24;
    const char* w = x + (size_t)N * K;
    const char* b = w + (size_t)M * K;
    CUdeviceptr dx, dw, db, dm, ds, dy;
    char* y = malloc((size_t)N * M);
    rc = y ? 0 : -1;
    if (!rc) rc = ek_cuda_upload(&rt, x, (size_t)N * K, &dx);
    if (!rc) rc = ek_cuda_upload(&rt, w, (size_t)M * K, &dw);
    if (!rc) rc = ek_cuda_upload(&rt, b, 4 * (size_t)M, &db);
    if (!rc) rc = ek_cuda_upload(&rt, b + 4 * M, 4 * (size_t)M, &dm);
    if (!rc) rc = ek_cuda_upload(&rt, b + 8 * M, 4 * (size_t)M, &ds);
    if (!rc) rc = ek_cuda_upload(&rt, NULL, (size_t)N * M, &dy);
    if (!rc) rc = ek_cuda_gemm_s8(&rt, fn, dx, dw, db, dm, ds, dy, N, M, K, h[3], h[4], h[5]);
    if (!rc && rt.cuMemcpyDtoH(y, dy, (size_t)N * M) != CUDA_SUCCESS) {
        snprintf(rt.error, sizeof rt.error, "cuMemcpyDtoH failed");
        rc = -1;
    }
    if (rc) {
        fprintf(stderr, "%s\n", rt.error);
        return 2;
    }
    f = fopen(argv[3], "wb");
    if (!f || fwrite(y, 1, (size_t)N * M, f) != (size_t)N * M) {
        fprintf(stderr, "%s: cannot write output\n", argv[3]);
        return 2;
    }
    fclose(f);
    rt.cuModuleUnload(mod);
    ek_cuda_release(&rt);
    free(y);
    free(buf);
    return 0;
}
