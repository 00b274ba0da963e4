/* Kernel check driver (Linux user mode under qemu-riscv64): reads a stream of cases,
 * runs each on the requested kernel variant and writes the outputs, all as float32.
 * Case: int32 op, int32 variant (0 f32_ref, 1 f32_rvv, 2 f16_ref, 3 f16_rvv), int32 q[16],
 * int32 n_inputs, then per input: int32 count, count float32. Output per case: for each
 * output array, int32 count then count float32. Driven by edgesdk.kernelcheck.riscv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ek_float.h"

enum { OP_MATMUL = 1, OP_MATMUL_NT, OP_IM2COL, OP_COL2IM, OP_TO_NHWC, OP_TO_NCHW, OP_CONV,
       OP_CONV_BWW, OP_CONV_BWX, OP_PWCONV, OP_DWCONV, OP_DWCONV_BWW, OP_DWCONV_BWX, OP_LINEAR,
       OP_LINEAR_BWW, OP_LINEAR_BWX, OP_MAXPOOL, OP_AVGPOOL, OP_MAXPOOL_BW, OP_AVGPOOL_BW,
       OP_RELU, OP_RELU6, OP_HSWISH, OP_RELU_BW, OP_RELU6_BW, OP_HSWISH_BW, OP_ADD, OP_SGD,
       OP_ALL_FINITE, OP_XENT };

static FILE *fout;
static void *pool[64];
static int npool;

static void *talloc_bytes(size_t n) {
    void *p = calloc(n + 64, 1);
    if (!p || npool == 64) { fprintf(stderr, "kcheck: out of memory\n"); exit(3); }
    return pool[npool++] = p;
}
#define talloc(n) talloc_bytes((n) * sizeof(T))

static void put_f32(const void *src, size_t n, size_t esize) {
    int32_t cnt = (int32_t)n;
    fwrite(&cnt, 4, 1, fout);
    for (size_t i = 0; i < n; i++) {
        float v = esize == 4 ? ((const float *)src)[i] : (float)((const _Float16 *)src)[i];
        fwrite(&v, 4, 1, fout);
    }
}

#define T float
#define K(op) ek_##op##_f32_ref
#define KCHECK_RUN run_f32_ref
#include "kcheck_body.inc"
#undef K
#undef KCHECK_RUN
#define K(op) ek_##op##_f32_rvv
#define KCHECK_RUN run_f32_rvv
#include "kcheck_body.inc"
#undef K
#undef KCHECK_RUN
#undef T
#define T _Float16
#define K(op) ek_##op##_f16_ref
#define KCHECK_RUN run_f16_ref
#include "kcheck_body.inc"
#undef K
#undef KCHECK_RUN
#define K(op) ek_##op##_f16_rvv
#define KCHECK_RUN run_f16_rvv
#include "kcheck_body.inc"

static int rd(FILE *f, void *d, size_t n) { return fread(d, 1, n, f) == n; }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: kcheck IN OUT\n"); return 2; }
    FILE *fin = fopen(argv[1], "rb");
    fout = fopen(argv[2], "wb");
    if (!fin || !fout) { perror("kcheck"); return 2; }
    int32_t hdr[2], q[16], nin;
    while (rd(fin, hdr, 8)) {
        if (!rd(fin, q, 64) || !rd(fin, &nin, 4) || nin > 8) { fprintf(stderr, "kcheck: bad case\n"); return 3; }
        int half = hdr[1] >= 2;
        void *in[8] = {0};
        int32_t n_in[8] = {0};
        for (int i = 0; i < nin; i++) {
            if (!rd(fin, &n_in[i], 4)) return 3;
            float *tmp = malloc((size_t)n_in[i] * 4 + 4);
            if (!rd(fin, tmp, (size_t)n_in[i] * 4)) return 3;
            in[i] = talloc_bytes((size_t)n_in[i] * (half ? 2 : 4));
            for (int e = 0; e < n_in[i]; e++) {
                if (half) ((_Float16 *)in[i])[e] = (_Float16)tmp[e];
                else ((float *)in[i])[e] = tmp[e];
            }
            free(tmp);
        }
        switch (hdr[1]) {
        case 0: run_f32_ref(hdr[0], q, (float **)in, n_in); break;
        case 1: run_f32_rvv(hdr[0], q, (float **)in, n_in); break;
        case 2: run_f16_ref(hdr[0], q, (_Float16 **)in, n_in); break;
        case 3: run_f16_rvv(hdr[0], q, (_Float16 **)in, n_in); break;
        default: fprintf(stderr, "kcheck: bad variant %d\n", hdr[1]); return 3;
        }
        while (npool) free(pool[--npool]);
    }
    fclose(fout);
    return 0;
}
