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

/* The CPU-shaped variant (same signature and arithmetic): no local memory and no
 * barriers, which a CPU OpenCL (PoCL) turns into work-item loops; instead each
 * work-item holds a 2-row x 4-channel register tile and walks K 16 bytes at a time
 * with int16 vectors, so the inner loop is plain SIMD multiply-add (AVX2/AVX-512 or
 * NEON). Rows/channels past the edge are clamped for loading and never stored.
 * Launch: global (ceil(N/2), ceil(M/4)), any local size (rows on dim 0: PoCL sizes its
 * work-groups along dim 0, and there are far more rows than channel groups). */
#define EK_VR 2    /* rows per work-item */
#define EK_VC 4    /* channels per work-item */

__kernel void ek_gemm_s8_ocl_vec(__global const char* x, int x_off, int ldx,
                                 __global const char* w, int w_off,
                                 __global const int* bias_eff, __global const int* mult,
                                 __global const int* shift, int ch_off,
                                 __global char* y, int y_off, int y_rs, int y_cs,
                                 int N, int M, int K, int y_zp, int act_min, int act_max)
{
    const int n0 = get_global_id(0) * EK_VR, m0 = get_global_id(1) * EK_VC;
    if (m0 >= M || n0 >= N) return;
    __global const char* xr[EK_VR];
    __global const char* wr[EK_VC];
    for (int i = 0; i < EK_VR; ++i) xr[i] = x + x_off + min(n0 + i, N - 1) * ldx;
    for (int j = 0; j < EK_VC; ++j) wr[j] = w + w_off + min(m0 + j, M - 1) * K;
    int16 acc[EK_VR][EK_VC];
    for (int i = 0; i < EK_VR; ++i)
        for (int j = 0; j < EK_VC; ++j) acc[i][j] = (int16)(0);
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        int16 xv[EK_VR], wv[EK_VC];
        for (int i = 0; i < EK_VR; ++i) xv[i] = convert_int16(vload16(0, xr[i] + k));
        for (int j = 0; j < EK_VC; ++j) wv[j] = convert_int16(vload16(0, wr[j] + k));
        for (int i = 0; i < EK_VR; ++i)
            for (int j = 0; j < EK_VC; ++j) acc[i][j] += xv[i] * wv[j];
    }
    /* K tails (small convs have K = 9, 27, ...): one 8-wide step, then scalars */
    int8 acc8[EK_VR][EK_VC];
    for (int i = 0; i < EK_VR; ++i)
        for (int j = 0; j < EK_VC; ++j) acc8[i][j] = (int8)(0);
    if (k + 8 <= K) {
        int8 xv[EK_VR], wv[EK_VC];
        for (int i = 0; i < EK_VR; ++i) xv[i] = convert_int8(vload8(0, xr[i] + k));
        for (int j = 0; j < EK_VC; ++j) wv[j] = convert_int8(vload8(0, wr[j] + k));
        for (int i = 0; i < EK_VR; ++i)
            for (int j = 0; j < EK_VC; ++j) acc8[i][j] = xv[i] * wv[j];
        k += 8;
    }
    for (int i = 0; i < EK_VR; ++i) {
        int n = n0 + i;
        for (int j = 0; j < EK_VC; ++j) {
            int16 a = acc[i][j];
            int8 s8 = a.lo + a.hi + acc8[i][j];
            int4 s4 = s8.lo + s8.hi;
            int2 s2 = s4.lo + s4.hi;
            int s = s2.x + s2.y;
            for (int kk = k; kk < K; ++kk) s += xr[i][kk] * wr[j][kk];
            int m = m0 + j;
            if (n < N && m < M) {
                int ch = ch_off + m;
                y[y_off + n * y_rs + m * y_cs] =
                    ek_output_stage(s + bias_eff[ch], mult[ch], shift[ch], y_zp, act_min, act_max);
            }
        }
    }
}
