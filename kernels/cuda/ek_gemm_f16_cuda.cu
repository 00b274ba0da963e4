/* FP16 tensor-core GEMM (wmma, mma.sync underneath): y = x @ w.T + b, optional ReLU.
 *
 * x: [N, K] half row-major; w: [M, K] half, which is exactly w.T [K, M] in column-major,
 * so wmma loads it as a col_major matrix_b with ldm = K (no transpose pass).
 * N, M, K multiples of 16 (the host pads with zeros). Float accumulation, half output.
 * A block of 4 warps computes a 32x32 tile (2x2 warps, one 16x16 fragment each);
 * the accumulator goes through shared memory to add the bias and convert to half.
 * Launch: grid (M/32 rounded up, N/32 rounded up), block 128.
 */
#include <cuda_fp16.h>
#include <mma.h>

using namespace nvcuda;

#define EK_WM 16

extern "C" __global__ void __launch_bounds__(128)
ek_gemm_f16_cuda(const __half* __restrict__ x, const __half* __restrict__ w,
                 const __half* __restrict__ b, __half* __restrict__ y, int N, int M, int K, int relu)
{
    __shared__ float tile[4][EK_WM * EK_WM];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int m0 = blockIdx.x * 32 + (warp % 2) * EK_WM;
    const int n0 = blockIdx.y * 32 + (warp / 2) * EK_WM;
    if (m0 >= M || n0 >= N) return;   /* whole warps leave together: wmma needs the full warp */
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    for (int k = 0; k < K; k += 16) {
        wmma::load_matrix_sync(fa, x + (size_t)n0 * K + k, K);
        wmma::load_matrix_sync(fb, w + (size_t)m0 * K + k, K);
        wmma::mma_sync(fc, fa, fb, fc);
    }
    wmma::store_matrix_sync(tile[warp], fc, EK_WM, wmma::mem_row_major);
    __syncwarp();
    for (int e = lane; e < EK_WM * EK_WM; e += 32) {
        int r = e / EK_WM, c = e % EK_WM;
        float v = tile[warp][e] + __half2float(b[m0 + c]);
        y[(size_t)(n0 + r) * M + m0 + c] = __float2half(relu ? fmaxf(v, 0.0f) : v);
    }
}

/* The _ref twin: one output per thread, float accumulation. Launch: grid (ceil(M/16), ceil(N/16)), block (16, 16). */
extern "C" __global__ void
ek_gemm_f16_cuda_ref(const __half* __restrict__ x, const __half* __restrict__ w,
                     const __half* __restrict__ b, __half* __restrict__ y, int N, int M, int K, int relu)
{
    const int m = blockIdx.x * blockDim.x + threadIdx.x, n = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) acc = fmaf(__half2float(x[(size_t)n * K + k]), __half2float(w[(size_t)m * K + k]), acc);
    float v = acc + __half2float(b[m]);
    y[(size_t)n * M + m] = __float2half(relu ? fmaxf(v, 0.0f) : v);
}
