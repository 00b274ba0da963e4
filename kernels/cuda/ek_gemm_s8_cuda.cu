/* dp4a int8 GEMM with int32 accumulation and the requantizing output stage (QGemm, and
 * QConv after ek_im2col_s8_cuda).
 *
 *   y[n*y_rs + m*y_cs] = clamp(requant(bias_eff[m] + sum_k x[n,k]*w[m,k], mult[m], shift[m]) + y_zp)
 *
 * x: [N, Kp], w: [M, Kp], int8, Kp a multiple of 4 (the host pads K with zeros in both,
 * which adds nothing), rows 4-byte aligned so four int8 load as one int for __dp4a.
 * The input zero point is folded into bias_eff = bias - x_zp * rowsum(w) on the host
 * (exact in int32), as in the OpenCL kernel.
 *
 * Tiling: 64x64 outputs per 16x16-thread block, 4x4 per thread in registers; 32-byte
 * K slices (8 packed words) of x and w staged in shared memory.
 * Launch: grid (ceil(M/64), ceil(N/64)), block (16, 16).
 */
#include "ek_cuda_common.cuh"

#define EK_T 64    /* outputs per block along m and n */
#define EK_KW 8    /* packed 4xint8 words per K slice */
#define EK_B 16    /* block is EK_B x EK_B threads */
#define EK_R 4     /* EK_T / EK_B */

extern "C" __global__ void __launch_bounds__(EK_B * EK_B)
ek_gemm_s8_cuda(const int8_t* __restrict__ x, const int8_t* __restrict__ w,
                const int32_t* __restrict__ bias_eff, const int32_t* __restrict__ mult,
                const int32_t* __restrict__ shift, int8_t* __restrict__ y,
                int N, int M, int Kp, int y_rs, int y_cs, int y_zp, int act_min, int act_max)
{
    __shared__ int xs[EK_T][EK_KW + 1];
    __shared__ int ws[EK_T][EK_KW + 1];
    const int tm = threadIdx.x, tn = threadIdx.y, tid = tn * EK_B + tm;
    const int m0 = blockIdx.x * EK_T, n0 = blockIdx.y * EK_T;
    const int KW = Kp / 4;
    const int* xw = reinterpret_cast<const int*>(x);
    const int* ww = reinterpret_cast<const int*>(w);
    int acc[EK_R][EK_R];
#pragma unroll
    for (int i = 0; i < EK_R; ++i)
#pragma unroll
        for (int j = 0; j < EK_R; ++j) acc[i][j] = 0;

    for (int k0 = 0; k0 < KW; k0 += EK_KW) {
        /* 256 threads stage 64x8 words of x and of w: 2 each. */
#pragma unroll
        for (int i = tid; i < EK_T * EK_KW; i += EK_B * EK_B) {
            int r = i / EK_KW, c = i % EK_KW, k = k0 + c;
            xs[r][c] = (n0 + r < N && k < KW) ? xw[(size_t)(n0 + r) * KW + k] : 0;
            ws[r][c] = (m0 + r < M && k < KW) ? ww[(size_t)(m0 + r) * KW + k] : 0;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < EK_KW; ++kk) {
            int xv[EK_R], wv[EK_R];
#pragma unroll
            for (int i = 0; i < EK_R; ++i) xv[i] = xs[tn + EK_B * i][kk];
#pragma unroll
            for (int j = 0; j < EK_R; ++j) wv[j] = ws[tm + EK_B * j][kk];
#pragma unroll
            for (int i = 0; i < EK_R; ++i)
#pragma unroll
                for (int j = 0; j < EK_R; ++j) acc[i][j] = __dp4a(xv[i], wv[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < EK_R; ++i) {
        int n = n0 + tn + EK_B * i;
#pragma unroll
        for (int j = 0; j < EK_R; ++j) {
            int m = m0 + tm + EK_B * j;
            if (n < N && m < M)
                y[(size_t)n * y_rs + (size_t)m * y_cs] =
                    ek_output_stage(acc[i][j] + bias_eff[m], mult[m], shift[m], y_zp, act_min, act_max);
        }
    }
}

/* The _ref twin: one output per thread, byte by byte. Launch: grid (ceil(M/16), ceil(N/16)), block (16, 16). */
extern "C" __global__ void
ek_gemm_s8_cuda_ref(const int8_t* __restrict__ x, const int8_t* __restrict__ w,
                    const int32_t* __restrict__ bias_eff, const int32_t* __restrict__ mult,
                    const int32_t* __restrict__ shift, int8_t* __restrict__ y,
                    int N, int M, int Kp, int y_rs, int y_cs, int y_zp, int act_min, int act_max)
{
    const int m = blockIdx.x * blockDim.x + threadIdx.x, n = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    int acc = 0;
    for (int k = 0; k < Kp; ++k) acc += (int)x[(size_t)n * Kp + k] * (int)w[(size_t)m * Kp + k];
    y[(size_t)n * y_rs + (size_t)m * y_cs] =
        ek_output_stage(acc + bias_eff[m], mult[m], shift[m], y_zp, act_min, act_max);
}

/* im2col of one image/group for the dp4a conv: col[p, kidx] (row length Kp >= Cg*kh*kw,
 * the tail zero), input zero point outside the image so padding adds exactly 0.
 * Launch: grid (ceil(P/256), Kp), block 256. */
extern "C" __global__ void
ek_im2col_s8_cuda(const int8_t* __restrict__ x, int Cg, int H, int W, int kh, int kw,
                  int sh, int sw, int ph, int pw, int dh, int dw, int OH, int OW, int Kp,
                  int x_zp, int8_t* __restrict__ col)
{
    const int p = blockIdx.x * blockDim.x + threadIdx.x, kidx = blockIdx.y;
    if (p >= OH * OW) return;
    const int Kg = Cg * kh * kw;
    int8_t v = 0;
    if (kidx < Kg) {
        const int j = kidx % kw, i = (kidx / kw) % kh, c = kidx / (kw * kh);
        const int iy = (p / OW) * sh - ph + i * dh, ix = (p % OW) * sw - pw + j * dw;
        v = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[((size_t)c * H + iy) * W + ix] : (int8_t)x_zp;
    }
    col[(size_t)p * Kp + kidx] = v;
}
