/* Depthwise int8 conv (QConv with group == C, one input channel per group), NCHW;
 * the CUDA twin of kernels/opencl/ek_dwconv_s8_ocl.cl (same parameters, same math):
 *
 *   acc = bias[o] + sum (x - x_zp) * w;  y = clamp(requant(acc, mult[o], shift[o]) + y_zp)
 *   o = c * (O / C) + q  (depth multiplier O / C); padded taps add (x_zp - x_zp) * w = 0.
 *
 * ek_dwconv_s8_cuda: a 16x16 block computes a 16x16 output tile of one (n, o) plane.
 * The input window of the tile (with halo) is staged once in shared memory, padding
 * written as x_zp, so the kh*kw loop has no bounds tests and each input byte is read
 * from global memory once instead of up to kh*kw times. A tile whose window does not
 * fit EK_DW_SMEM (large stride or dilation) reads global memory directly, as the _ref.
 * ek_dwconv_s8_cuda_ref: one output per thread straight from global memory.
 * Launch (both): grid (ceil(OW/16), ceil(OH/16), N*O), block (16, 16).
 *
 * The per-tile steps are __host__ __device__ functions so that a host program can run
 * the very same code block by block (tests/test_gpu_cuda_dwconv.py, no GPU needed).
 */
#include "ek_cuda_common.cuh"

#define EK_DW_B 16                /* block is EK_DW_B x EK_DW_B threads, one output each */
#define EK_DW_SMEM (48 * 48)      /* staged window bytes: stride 2, 5x5 fits (35 x 35) */

/* Rows/columns of input a tile of EK_DW_B outputs needs along one axis. */
__host__ __device__ inline int ek_dw_span(int s, int k, int d) { return (EK_DW_B - 1) * s + (k - 1) * d + 1; }

/* Thread `tid` of `nthreads` stages its share of the th x tw window whose top-left is
 * (iy0, ix0) in image coordinates; outside the image it writes x_zp. */
__host__ __device__ inline void ek_dw_stage(int8_t* tile, const int8_t* xc, int th, int tw, int iy0, int ix0,
                                            int H, int W, int x_zp, int tid, int nthreads)
{
    for (int i = tid; i < th * tw; i += nthreads) {
        const int iy = iy0 + i / tw, ix = ix0 + i % tw;
        tile[i] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? xc[iy * W + ix] : (int8_t)x_zp;
    }
}

/* The accumulator of the output at tile-local (ly, lx), from the staged window. */
__host__ __device__ inline int32_t ek_dw_acc_tile(const int8_t* tile, int tw, const int8_t* wo, int32_t bias,
                                                  int ly, int lx, int kh, int kw, int sh, int sw, int dh, int dw,
                                                  int x_zp)
{
    int32_t acc = bias;
    for (int i = 0; i < kh; ++i) {
        const int8_t* row = tile + (ly * sh + i * dh) * tw + lx * sw;
        for (int j = 0; j < kw; ++j) acc += ((int32_t)row[j * dw] - x_zp) * (int32_t)wo[i * kw + j];
    }
    return acc;
}

/* The accumulator of output (oy, ox) read from global memory, every tap tested. */
__host__ __device__ inline int32_t ek_dw_acc_global(const int8_t* xc, int H, int W, const int8_t* wo, int32_t bias,
                                                    int oy, int ox, int kh, int kw, int sh, int sw, int ph, int pw,
                                                    int dh, int dw, int x_zp)
{
    int32_t acc = bias;
    for (int i = 0; i < kh; ++i) {
        const int iy = oy * sh - ph + i * dh;
        for (int j = 0; j < kw; ++j) {
            const int ix = ox * sw - pw + j * dw;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) acc += ((int32_t)xc[iy * W + ix] - x_zp) * (int32_t)wo[i * kw + j];
        }
    }
    return acc;
}

extern "C" __global__ void __launch_bounds__(EK_DW_B * EK_DW_B)
ek_dwconv_s8_cuda(const int8_t* __restrict__ x, const int8_t* __restrict__ w, const int32_t* __restrict__ bias,
                  const int32_t* __restrict__ mult, const int32_t* __restrict__ shift, int8_t* __restrict__ y,
                  int C, int H, int W, int O, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                  int OH, int OW, int x_zp, int y_zp, int act_min, int act_max)
{
    __shared__ int8_t tile[EK_DW_SMEM];
    const int no = blockIdx.z, n = no / O, o = no % O, c = o / (O / C);
    const int oy0 = blockIdx.y * EK_DW_B, ox0 = blockIdx.x * EK_DW_B;
    const int ly = threadIdx.y, lx = threadIdx.x, oy = oy0 + ly, ox = ox0 + lx;
    const int8_t* xc = x + (size_t)(n * C + c) * H * W;
    const int8_t* wo = w + o * kh * kw;
    const int th = ek_dw_span(sh, kh, dh), tw = ek_dw_span(sw, kw, dw);
    int32_t acc;
    if (th * tw <= EK_DW_SMEM) {   /* uniform over the block: no divergent barrier */
        ek_dw_stage(tile, xc, th, tw, oy0 * sh - ph, ox0 * sw - pw, H, W, x_zp, ly * EK_DW_B + lx,
                    EK_DW_B * EK_DW_B);
        __syncthreads();
        if (oy >= OH || ox >= OW) return;
        acc = ek_dw_acc_tile(tile, tw, wo, bias[o], ly, lx, kh, kw, sh, sw, dh, dw, x_zp);
    } else {
        if (oy >= OH || ox >= OW) return;
        acc = ek_dw_acc_global(xc, H, W, wo, bias[o], oy, ox, kh, kw, sh, sw, ph, pw, dh, dw, x_zp);
    }
    y[((size_t)(n * O + o) * OH + oy) * OW + ox] = ek_output_stage(acc, mult[o], shift[o], y_zp, act_min, act_max);
}

extern "C" __global__ void __launch_bounds__(EK_DW_B * EK_DW_B)
ek_dwconv_s8_cuda_ref(const int8_t* __restrict__ x, const int8_t* __restrict__ w, const int32_t* __restrict__ bias,
                      const int32_t* __restrict__ mult, const int32_t* __restrict__ shift, int8_t* __restrict__ y,
                      int C, int H, int W, int O, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                      int OH, int OW, int x_zp, int y_zp, int act_min, int act_max)
{
    const int no = blockIdx.z, n = no / O, o = no % O, c = o / (O / C);
    const int oy = blockIdx.y * EK_DW_B + threadIdx.y, ox = blockIdx.x * EK_DW_B + threadIdx.x;
    if (oy >= OH || ox >= OW) return;
    const int32_t acc = ek_dw_acc_global(x + (size_t)(n * C + c) * H * W, H, W, w + o * kh * kw, bias[o], oy, ox,
                                         kh, kw, sh, sw, ph, pw, dh, dw, x_zp);
    y[((size_t)(n * O + o) * OH + oy) * OW + ox] = ek_output_stage(acc, mult[o], shift[o], y_zp, act_min, act_max);
}
