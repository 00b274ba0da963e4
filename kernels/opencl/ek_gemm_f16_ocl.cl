/* FP16 GEMM: y[n, m] = sum_k x[n,k] * w[m,k] + b[m], half in and out, float accumulation.
 *
 * Only built where the device reports cl_khr_fp16 (edgesdk.gpu checks and refuses
 * otherwise). Accumulating in float keeps long K sums from losing the low bits that a
 * half accumulator drops after ~2^11 terms of similar size; storage stays half, which
 * is where the bandwidth saving is. EK_FP16_AS_FLOAT builds the same tiling with float
 * storage so the kernel logic can be tested on devices without half (PoCL on CPU).
 * Tiling as in ek_gemm_s8_ocl: 32x32 tile per 8x8 work-group, 4x4 per work-item.
 */
#ifdef EK_FP16_AS_FLOAT
typedef float ek_half;
#else
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
typedef half ek_half;
#endif

#define EK_TM 32
#define EK_TN 32
#define EK_TK 16
#define EK_WG 8
#define EK_R 4

__kernel __attribute__((reqd_work_group_size(EK_WG, EK_WG, 1)))
void ek_gemm_f16_ocl(__global const ek_half* x, __global const ek_half* w, __global const ek_half* b,
                     __global ek_half* y, int N, int M, int K, int relu)
{
    const int lm = get_local_id(0), ln = get_local_id(1);
    const int m0 = get_group_id(0) * EK_TM, n0 = get_group_id(1) * EK_TN;
    const int tid = ln * EK_WG + lm;
    __local ek_half xs[EK_TN][EK_TK + 1];
    __local ek_half ws[EK_TM][EK_TK + 1];
    float acc[EK_R][EK_R];
    for (int i = 0; i < EK_R; ++i)
        for (int j = 0; j < EK_R; ++j) acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += EK_TK) {
        for (int i = tid; i < EK_TN * EK_TK; i += EK_WG * EK_WG) {
            int r = i / EK_TK, c = i % EK_TK, k = k0 + c;
            xs[r][c] = (n0 + r < N && k < K) ? x[(n0 + r) * K + k] : (ek_half)0;
            ws[r][c] = (m0 + r < M && k < K) ? w[(m0 + r) * K + k] : (ek_half)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < EK_TK; ++kk) {
            float xv[EK_R], wv[EK_R];
            for (int i = 0; i < EK_R; ++i) xv[i] = (float)xs[ln + EK_WG * i][kk];
            for (int j = 0; j < EK_R; ++j) wv[j] = (float)ws[lm + EK_WG * j][kk];
            for (int i = 0; i < EK_R; ++i)
                for (int j = 0; j < EK_R; ++j) acc[i][j] = fma(xv[i], wv[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < EK_R; ++i) {
        int n = n0 + ln + EK_WG * i;
        for (int j = 0; j < EK_R; ++j) {
            int m = m0 + lm + EK_WG * j;
            if (n < N && m < M) {
                float v = acc[i][j] + (float)b[m];
                y[n * M + m] = (ek_half)(relu ? fmax(v, 0.0f) : v);
            }
        }
    }
}

/* The _ref twin: one output per work-item. */
__kernel void ek_gemm_f16_ocl_ref(__global const ek_half* x, __global const ek_half* w, __global const ek_half* b,
                                  __global ek_half* y, int N, int M, int K, int relu)
{
    const int m = get_global_id(0), n = get_global_id(1);
    if (m >= M || n >= N) return;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) acc = fma((float)x[n * K + k], (float)w[m * K + k], acc);
    float v = acc + (float)b[m];
    y[n * M + m] = (ek_half)(relu ? fmax(v, 0.0f) : v);
}
