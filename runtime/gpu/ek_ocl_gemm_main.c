/* Command-line driver of the OpenCL host runtime: one QGemm from binary files.
 *
 *   ek_ocl_gemm KERNEL_DIR CASE.bin OUT.bin
 *
 * CASE.bin: int32 header N M K y_zp act_min act_max, then x int8 [N*K], w int8 [M*K],
 * bias_eff int32 [M], mult int32 [M], shift int32 [M]. OUT.bin gets y int8 [N*M].
 * Exit 0 on success; 2 with one line on stderr when the input or the device is bad.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_ocl_host.h"

static void* read_file(const char* path, size_t* n) {
    FILE* f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void* p = malloc(*n ? *n : 1);
    if (p && fread(p, 1, *n, f) != *n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s KERNEL_DIR CASE.bin OUT.bin\n", argv[0]);
        return 2;
    }
    size_t n = 0;
    char* buf = read_file(argv[2], &n);
    if (!buf || n < 24) {
        fprintf(stderr, "%s: cannot read case file (or shorter than its header)\n", argv[2]);
        return 2;
    }
    int32_t h[6];
    memcpy(h, buf, sizeof h);
    const int N = h[0], M = h[1], K = h[2];
    size_t need = 24 + (size_t)N * K + (size_t)M * K + 12 * (size_t)M;
    if (N <= 0 || M <= 0 || K <= 0 || n != need) {
        fprintf(stderr, "%s: size %zu does not match header N=%d M=%d K=%d (want %zu)\n", argv[2], n, N, M, K, need);
        return 2;
    }
    const char* x = buf + 24;
    const char* w = x + (size_t)N * K;
    const char* b = w + (size_t)M * K;

    ek_ocl_t rt;
    if (ek_ocl_init(&rt) != 0) {
        fprintf(stderr, "%s\n", rt.error);
        return 2;
    }
    char path[1024], opts[1100];
    snprintf(path, sizeof path, "%s/ek_gemm_s8_ocl.cl", argv[1]);
    snprintf(opts, sizeof opts, "-I%s", argv[1]);
    cl_program prog;
    if (ek_ocl_build_file(&rt, path, opts, &prog) != 0) {
        fprintf(stderr, "%s\n", rt.error);
        return 2;
    }
    cl_mem dx = ek_ocl_buffer(&rt, (size_t)N * K, x), dw = ek_ocl_buffer(&rt, (size_t)M * K, w);
    cl_mem db = ek_ocl_buffer(&rt, 4 * (size_t)M, b), dm = ek_ocl_buffer(&rt, 4 * (size_t)M, b + 4 * M);
    cl_mem ds = ek_ocl_buffer(&rt, 4 * (size_t)M, b + 8 * M), dy = ek_ocl_buffer(&rt, (size_t)N * M, NULL);
    char* y = malloc((size_t)N * M);
    int rc = (dx && dw && db && dm && ds && dy && y) ? 0 : -1;
    if (rc == 0) rc = ek_ocl_gemm_s8(&rt, prog, dx, dw, db, dm, ds, dy, N, M, K, h[3], h[4], h[5]);
    if (rc == 0) rc = ek_ocl_read(&rt, dy, y, (size_t)N * M);
    if (rc != 0) {
        fprintf(stderr, "%s\n", rt.error);
        return 2;
    }
    FILE* f = fopen(argv[3], "wb");
    if (!f || fwrite(y, 1, (size_t)N * M, f) != (size_t)N * M) {
        fprintf(stderr, "%s: cannot write output\n", argv[3]);
        return 2;
    }
    fclose(f);
    cl_mem all[] = {dx, dw, db, dm, ds, dy};
    for (int i = 0; i < 6; ++i) clReleaseMemObject(all[i]);
    clReleaseProgram(prog);
    ek_ocl_release(&rt);
    free(y);
    free(buf);
    return 0;
}
