/* Weight-only int4 GEMV: like ek_gemv_s8_cuda with two signed 4-bit weights per byte,
 * low nibble first (k even), values in [-8, 7], dequantized on the fly:
 *   y[m] = scale[m] * sum_k x[k] * w4[m, k] + b[m]
 * Half the weight traffic of int8. K a multiple of 32 (16 bytes per load = 32 weights).
 * Launch: grid ceil(M/8), block 256 (one warp per row).
 */
#include <cuda_fp16.h>
#include <stdint.h>

/* sign-extend a nibble: (v ^ 8) - 8 maps 0..15 to 0..7, -8..-1 */
__device__ __forceinline__ float ek_s4(uint32_t v) { return (float)((int)(v & 15u ^ 8u) - 8); }

extern "C" __global__ void __launch_bounds__(256)
ek_gemv_s4_cuda(const __half* __restrict__ x, const uint8_t* __restrict__ w, const float* __restrict__ scale,
                const float* __restrict__ b, __half* __restrict__ y, int M, int K)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int m = blockIdx.x * 8 + warp;
    if (m >= M) return;
    const uint4* wr = reinterpret_cast<const uint4*>(w + (size_t)m * (K / 2));
    float acc = 0.0f;
    for (int v = lane; v < K / 32; v += 32) {
        uint4 q = wr[v];
        const uint32_t qs[4] = {q.x, q.y, q.z, q.w};
        const __half* xk = x + v * 32;
#pragma unroll
        for (int word = 0; word < 4; ++word)
#pragma unroll
            for (int e = 0; e < 8; ++e)
                acc = fmaf(__half2float(xk[word * 8 + e]), ek_s4(qs[word] >> (4 * e)), acc);
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) y[m] = __float2half(acc * scale[m] + (b ? b[m] : 0.0f));
}

/* The _ref twin: one thread per row, nibble by nibble. Launch: grid ceil(M/256), block 256. */
extern "C" __global__ void
ek_gemv_s4_cuda_ref(const __half* __restrict__ x, const uint8_t* __restrict__ w, const float* __restrict__ scale,
                    const float* __restrict__ b, __half* __restrict__ y, int M, int K)
{
    const int m = blockIdx.x * blockDim.x + threadIdx.x;
    if (m >= M) return;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) {
        uint32_t byte = w[(size_t)m * (K / 2) + k / 2];
        acc = fmaf(__half2float(x[k]), ek_s4(byte >> (4 * (k & 1))), acc);
    }
    y[m] = __float2half(acc * scale[m] + (b ? b[m] : 0.0f));
}
