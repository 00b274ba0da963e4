/* int8 GEMM with int32 accumulation and the requantizing output stage (QGemm, and the
 * GEMM half of QConv after im2col).
 *
 *   y[y_off + n*y_rs + m*y_cs] = clamp(requant(bias_eff[ch_off+m] + sum_k x[n,k]*w[m,k]) + y_zp)
 *
 * x: [N, K] rows at x[x_off + n*ldx + k]; w: [M, K] rows at w[w_off + m*K + k] (QGemm
 * stores weights transposed, like Gemm transB=1). The input zero point is folded into
 * the bias on the host: sum (x - x_zp) * w = sum x*w - x_zp * sum_k w[m,k], so
 * bias_eff[m] = bias[m] - x_zp * rowsum(w[m]). This is exact in int32 (two's complement
 * wrap-around cancels) and lets the inner loop be a plain int8 dot product. The strided
 * output lets a conv write NCHW directly (y_rs = 1, y_cs = OH*OW).
 *
 * Tiling: a 32x32 output tile per 8x8 work-group, 4x4 outputs per work-item held in
 * registers; 16-deep K slices of x and w staged in local memory.
 */
#include "ek_ocl_common.h"

#define EK_TM 32   /* output channels (m) per work-group */
#define EK_TN 32   /* rows (n) per work-group */
#define EK_TK 16   /* K slice staged in local memory */
#define EK_WG 8    /* work-group is EK_WG x EK_WG */
#define EK_R 4     /* outputs per work-item along each axis: EK_TM / EK_WG */

__kernel __attribute__((reqd_work_group_size(EK_WG, EK_WG, 1)))
void ek_gemm_s8_ocl(__global const char* x, int x_off, int ldx,
                    __global const char* w, int w_off,
                    __global const int* bias_eff, __global const int* mult,
                    __global const int* shift, int ch_off,
                    __global char* y, int y_off, int y_rs, int y_cs,
                    int N, int M, int K, int y_zp, int act_min, int act_max)
{
    const int lm = get_local_id(0), ln = get_local_id(1);
    const int m0 = get_group_id(0) * EK_TM, n0 = get_group_id(1) * EK_TN;
    const int tid = ln * EK_WG + lm;
    /* +1 column breaks bank conflicts on real GPUs; harmless on CPUs. */
    __local char xs[EK_TN][EK_TK + 1];
    __local char ws[EK_TM][EK_TK + 1];
    int acc[EK_R][EK_R];
    for (int i = 0; i < EK_R; ++i)
        for (int j = 0; j < EK_R; ++j) acc[i][j] = 0;

    for (int k0 = 0; k0 < K; k0 += EK_TK) {
        /* 64 work-items stage 32x16 bytes of x and of w: 8 bytes each. Out-of-range
         * elements are 0 so they add nothing (w = 0 kills the folded zero point too). */
        for (int i = tid; i < EK_TN * EK_TK; i += EK_WG * EK_WG) {
            int r = i / EK_TK, c = i % EK_TK;
            int n = n0 + r, k = k0 + c;
            xs[r][c] = (n < N && k < K) ? x[x_off + n * ldx + k] : (char)0;
            int m = m0 + r;
            ws[r][c] = (m < M && k < K) ? w[w_off + m * K + k] : (char)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < EK_TK; ++kk) {
            int xv[EK_R], wv[EK_R];
            for (int i = 0; i < EK_R; ++i) xv[i] = xs[ln + EK_WG * i][kk];
            for (int j = 0; j < EK_R; ++j) wv[j] = ws[lm + EK_WG * j][kk];
            for (int i = 0; i < EK_R; ++i)
                for (int j = 0; j < EK_R; ++j) acc[i][j] += xv[i] * wv[j];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < EK_R; ++i) {
        int n = n0 + ln + EK_WG * i;
        if (n >= N) continue;
        for (int j = 0; j < EK_R; ++j) {
            int m = m0 + lm + EK_WG * j;
            if (m >= M) continue;
            int ch = ch_off + m;
            y[y_off + n * y_rs + m * y_cs] =
                ek_output_stage(acc[i][j] + bias_eff[ch], mult[ch], shift[ch], y_zp, act_min, act_max);
        }
    }
}

/* The _ref twin: one output per work-item, no tiling; same signature and arithmetic. */
__kernel void ek_gemm_s8_ocl_ref(__global const char* x, int x_off, int ldx,
                                 __global const char* w, int w_off,
                                 __global const int* bias_eff, __global const int* mult,
                                 __global const int* shift, int ch_off,
                                 __global char* y, int y_off, int y_rs, int y_cs,
                                 int N, int M, int K, int y_zp, int act_min, int act_max)
{
    const int m = get_global_id(0), n = get_global_id(1);
    if (m >= M || n >= N) return;
    int acc = 0;
    for (int k = 0; k < K; ++k) acc += x[x_off + n * ldx + k] * w[w_off + m * K + k];
    int ch = ch_off + m;
    y[y_off + n * y_rs + m * y_cs] =
        ek_output_stage(acc + bias_eff[ch], mult[ch], shift[ch], y_zp, act_min, act_max);
}
