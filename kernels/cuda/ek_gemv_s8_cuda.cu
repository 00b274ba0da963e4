/* Weight-only int8 GEMV (LLM-style decoding layers): activations half, weights int8
 * symmetric per output row, dequantized on the fly in registers:
 *   y[m] = scale[m] * sum_k x[k] * w[m, k] + b[m]      (float accumulation, half out)
 * Weights are the traffic (one byte per MAC) and are read once, 16 bytes per load;
 * one warp per row, a shuffle reduction at the end. K a multiple of 16 (host pads).
 * Launch: grid ceil(M/8), block 256 (8 warps = 8 rows).
 */
#include <cuda_fp16.h>
#include <stdint.h>

extern "C" __global__ void __launch_bounds__(256)
ek_gemv_s8_cuda(const __half* __restrict__ x, const int8_t* __restrict__ w, const float* __restrict__ scale,
                const float* __restrict__ b, __half* __restrict__ y, int M, int K)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int m = blockIdx.x * 8 + warp;
    if (m >= M) return;
    const int4* wr = reinterpret_cast<const int4*>(w + (size_t)m * K);
    float acc = 0.0f;
    for (int v = lane; v < K / 16; v += 32) {
        int4 q = wr[v];
        const int8_t* q8 = reinterpret_cast<const int8_t*>(&q);
        const __half* xk = x + v * 16;
#pragma unroll
        for (int e = 0; e < 16; ++e) acc = fmaf(__half2float(xk[e]), (float)q8[e], acc);
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) y[m] = __float2half(acc * scale[m] + (b ? b[m] : 0.0f));
}

/* The _ref twin: one thread per row. Launch: grid ceil(M/256), block 256. */
extern "C" __global__ void
ek_gemv_s8_cuda_ref(const __half* __restrict__ x, const int8_t* __restrict__ w, const float* __restrict__ scale,
                    const float* __restrict__ b, __half* __restrict__ y, int M, int K)
{
    const int m = blockIdx.x * blockDim.x + threadIdx.x;
    if (m >= M) return;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) acc = fmaf(__half2float(x[k]), (float)w[(size_t)m * K + k], acc);
    y[m] = __float2half(acc * scale[m] + (b ? b[m] : 0.0f));
}
