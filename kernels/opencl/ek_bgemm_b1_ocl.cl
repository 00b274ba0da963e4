/* XNOR-popcount GEMM for binarized layers (BGemm of docs/integer-ops.md).
 *
 *   y[n, m] = K - 2 * popcount(x[n] XOR w[m])     (int32)
 *
 * x: [N, KW] uint32 words, w: [M, KW] words, 32 {+1,-1} values per word (bit 1 = +1),
 * unused pad bits 0 in both, so they XOR to 0 and never count; K is the number of real
 * terms. Tiling as in ek_gemm_s8_ocl: 32x32 outputs per 8x8 work-group, 4x4 per item,
 * 8-word slices of x and w in local memory.
 */
#define EK_TM 32
#define EK_TN 32
#define EK_TKW 8
#define EK_WG 8
#define EK_R 4

__kernel __attribute__((reqd_work_group_size(EK_WG, EK_WG, 1)))
void ek_bgemm_b1_ocl(__global const uint* x, __global const uint* w, __global int* y,
                     int N, int M, int KW, int K)
{
    const int lm = get_local_id(0), ln = get_local_id(1);
    const int m0 = get_group_id(0) * EK_TM, n0 = get_group_id(1) * EK_TN;
    const int tid = ln * EK_WG + lm;
    __local uint xs[EK_TN][EK_TKW + 1];
    __local uint ws[EK_TM][EK_TKW + 1];
    int pop[EK_R][EK_R];
    for (int i = 0; i < EK_R; ++i)
        for (int j = 0; j < EK_R; ++j) pop[i][j] = 0;
    for (int k0 = 0; k0 < KW; k0 += EK_TKW) {
        for (int i = tid; i < EK_TN * EK_TKW; i += EK_WG * EK_WG) {
            int r = i / EK_TKW, c = i % EK_TKW, k = k0 + c;
            /* equal padding words in x and w XOR to 0: no count */
            xs[r][c] = (n0 + r < N && k < KW) ? x[(n0 + r) * KW + k] : 0u;
            ws[r][c] = (m0 + r < M && k < KW) ? w[(m0 + r) * KW + k] : 0u;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < EK_TKW; ++kk) {
            uint xv[EK_R], wv[EK_R];
            for (int i = 0; i < EK_R; ++i) xv[i] = xs[ln + EK_WG * i][kk];
            for (int j = 0; j < EK_R; ++j) wv[j] = ws[lm + EK_WG * j][kk];
            for (int i = 0; i < EK_R; ++i)
                for (int j = 0; j < EK_R; ++j) pop[i][j] += (int)popcount(xv[i] ^ wv[j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < EK_R; ++i) {
        int n = n0 + ln + EK_WG * i;
        for (int j = 0; j < EK_R; ++j) {
            int m = m0 + lm + EK_WG * j;
            if (n < N && m < M) y[n * M + m] = K - 2 * pop[i][j];
        }
    }
}

/* The _ref twin: one output per work-item. */
__kernel void ek_bgemm_b1_ocl_ref(__global const uint* x, __global const uint* w, __global int* y,
                                  int N, int M, int KW, int K)
{
    const int m = get_global_id(0), n = get_global_id(1);
    if (m >= M || n >= N) return;
    int pop = 0;
    for (int k = 0; k < KW; ++k) pop += (int)popcount(x[n * KW + k] ^ w[m * KW + k]);
    y[n * M + m] = K - 2 * pop;
}
