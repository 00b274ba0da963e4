/* XNOR-popcount GEMM for binarized layers (BGemm, docs/integer-ops.md):
 *   y[n, m] = K - 2 * popc(x[n] XOR w[m])   (int32)
 * x: [N, KW], w: [M, KW] uint32 words, bit 1 = +1, pad bits 0 in both (never count).
 * Tiling: 64x64 outputs per 16x16 block, 4x4 per thread; 8-word K slices in shared memory.
 * Launch: grid (ceil(M/64), ceil(N/64)), block (16, 16).
 */
#include <stdint.h>

#define EK_T 64
#define EK_KW 8
#define EK_B 16
#define EK_R 4

extern "C" __global__ void __launch_bounds__(EK_B * EK_B)
ek_bgemm_b1_cuda(const uint32_t* __restrict__ x, const uint32_t* __restrict__ w, int32_t* __restrict__ y,
                 int N, int M, int KW, int K)
{
    __shared__ uint32_t xs[EK_T][EK_KW + 1];
    __shared__ uint32_t ws[EK_T][EK_KW + 1];
    const int tm = threadIdx.x, tn = threadIdx.y, tid = tn * EK_B + tm;
    const int m0 = blockIdx.x * EK_T, n0 = blockIdx.y * EK_T;
    int pop[EK_R][EK_R];
#pragma unroll
    for (int i = 0; i < EK_R; ++i)
#pragma unroll
        for (int j = 0; j < EK_R; ++j) pop[i][j] = 0;
    for (int k0 = 0; k0 < KW; k0 += EK_KW) {
#pragma unroll
        for (int i = tid; i < EK_T * EK_KW; i += EK_B * EK_B) {
            int r = i / EK_KW, c = i % EK_KW, k = k0 + c;
            xs[r][c] = (n0 + r < N && k < KW) ? x[(size_t)(n0 + r) * KW + k] : 0u;
            ws[r][c] = (m0 + r < M && k < KW) ? w[(size_t)(m0 + r) * KW + k] : 0u;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < EK_KW; ++kk) {
            uint32_t xv[EK_R], wv[EK_R];
#pragma unroll
            for (int i = 0; i < EK_R; ++i) xv[i] = xs[tn + EK_B * i][kk];
#pragma unroll
            for (int j = 0; j < EK_R; ++j) wv[j] = ws[tm + EK_B * j][kk];
#pragma unroll
            for (int i = 0; i < EK_R; ++i)
#pragma unroll
                for (int j = 0; j < EK_R; ++j) pop[i][j] += __popc(xv[i] ^ wv[j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < EK_R; ++i)
#pragma unroll
        for (int j = 0; j < EK_R; ++j) {
            int n = n0 + tn + EK_B * i, m = m0 + tm + EK_B * j;
            if (n < N && m < M) y[(size_t)n * M + m] = K - 2 * pop[i][j];
        }
}

/* The _ref twin. Launch: grid (ceil(M/16), ceil(N/16)), block (16, 16). */
extern "C" __global__ void
ek_bgemm_b1_cuda_ref(const uint32_t* __restrict__ x, const uint32_t* __restrict__ w, int32_t* __restrict__ y,
                     int N, int M, int KW, int K)
{
    const int m = blockIdx.x * blockDim.x + threadIdx.x, n = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    int pop = 0;
    for (int k = 0; k < KW; ++k) pop += __popc(x[(size_t)n * KW + k] ^ w[(size_t)m * KW + k]);
    y[(size_t)n * M + m] = K - 2 * pop;
}
