/* The glue around the XNOR-popcount GEMM (ek_bgemm_b1_ocl) for binarized layers.
 *
 * The IR's b1 tensors hold one bit per byte ({0,1}; bit 1 = +1, bit 0 = -1). The GEMM
 * takes uint32 words, 32 values per word LSB first, pad bits 0 in both operands
 * (docs/integer-ops.md, edgesdk.reference.binary.pack_bits). Here:
 *   ek_binarize_f32_ocl / _s8_ocl  x -> bits (x >= threshold of its channel)
 *   ek_bpack_b1_ocl                bits [R, K] -> words [R, KW]          (BGemm input)
 *   ek_bim2col_b1_ocl              bits NCHW -> words [P, KW] per pixel  (BConv input);
 *                                  spatial padding is bit 0 (-1) and counts in K
 *   ek_cast_s32_f32_ocl            the GEMM's int32 dot -> float (the exporter's Cast)
 * The _ref twins (same parameters) do one value per work-item, with no word loop.
 */

/* thr: the reference compares float x with a float64 threshold; the host passes the
 * smallest float >= that threshold, so the float compare here decides identically. */
/* global exactly (inner, N * C): one threshold per row of work-items and contiguous
 * loads along dim 0, no branch, so PoCL vectorizes (a flat range with a per-item
 * channel division ran ~10x slower). */
__kernel void ek_binarize_f32_ocl(__global const float* x, __global const float* thr, __global uchar* y,
                                  int n, int C, int inner)
{
    const int i = get_global_id(1) * inner + get_global_id(0);
    y[i] = x[i] >= thr[get_global_id(1) % C] ? 1 : 0;
}

__kernel void ek_binarize_s8_ocl(__global const char* x, __global const int* thr, __global uchar* y,
                                 int n, int C, int inner)
{
    const int i = get_global_id(1) * inner + get_global_id(0);
    y[i] = (int)x[i] >= thr[get_global_id(1) % C] ? 1 : 0;
}

/* One work-item per (row, word). */
__kernel void ek_bpack_b1_ocl(__global const uchar* bits, __global uint* words, int R, int K, int KW)
{
    const int k = get_global_id(0), r = get_global_id(1);
    if (k >= KW || r >= R) return;
    uint v = 0u;
    const int t0 = k * 32;
    const int nb = min(32, K - t0);
    for (int b = 0; b < nb; ++b) v |= (uint)(bits[r * K + t0 + b] & 1) << b;
    words[r * KW + k] = v;
}

/* The patch of output pixel p in the order (c, ky, kx), the order the host packs the
 * weight [O, C, kh, kw] in; global (P, KW): dim 0 runs over pixels, so neighbouring
 * work-items take the same taps (same loop trip, same c/ky/kx) of neighbouring pixels
 * and PoCL vectorizes them; the tap is advanced by counters, not divided out per bit. */
__kernel void ek_bim2col_b1_ocl(__global const uchar* bits, int x_off, int C, int H, int W, int kh, int kw,
                                int sh, int sw, int ph, int pw, int dh, int dw, int OH, int OW, int KW,
                                __global uint* col)
{
    const int p = get_global_id(0), k = get_global_id(1);
    if (p >= OH * OW || k >= KW) return;
    const int oy = p / OW, ox = p % OW, khw = kh * kw, K = C * khw;
    const int t0 = k * 32, nb = min(32, K - t0);
    int c = t0 / khw, ky = (t0 % khw) / kw, kx = (t0 % khw) % kw;
    const int iy0 = oy * sh - ph, ix0 = ox * sw - pw;
    uint v = 0u;
    for (int b = 0; b < nb; ++b) {
        const int iy = iy0 + ky * dh, ix = ix0 + kx * dw;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W)
            v |= (uint)(bits[x_off + (c * H + iy) * W + ix] & 1) << b;
        if (++kx == kw) {
            kx = 0;
            if (++ky == kh) {
                ky = 0;
                ++c;
            }
        }
    }
    col[p * KW + k] = v;
}

__kernel void ek_cast_s32_f32_ocl(__global const int* x, __global float* y, int n)
{
    const int i = get_global_id(0);
    if (i < n) y[i] = (float)x[i];
}

/* ---- _ref twins: one value (bit) per work-item -------------------------------------- */

__kernel void ek_binarize_f32_ocl_ref(__global const float* x, __global const float* thr, __global uchar* y,
                                      int n, int C, int inner)
{
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = x[i] >= thr[(i / inner) % C] ? 1 : 0;
}

__kernel void ek_binarize_s8_ocl_ref(__global const char* x, __global const int* thr, __global uchar* y,
                                     int n, int C, int inner)
{
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = (int)x[i] >= thr[(i / inner) % C] ? 1 : 0;
}

/* Sequential over the words of a row: the plain definition of the packing. */
__kernel void ek_bpack_b1_ocl_ref(__global const uchar* bits, __global uint* words, int R, int K, int KW)
{
    const int r = get_global_id(1);
    if (get_global_id(0) != 0 || r >= R) return;
    for (int k = 0; k < KW; ++k) words[r * KW + k] = 0u;
    for (int t = 0; t < K; ++t) words[r * KW + t / 32] |= (uint)(bits[r * K + t] & 1) << (t % 32);
}

__kernel void ek_bim2col_b1_ocl_ref(__global const uchar* bits, int x_off, int C, int H, int W, int kh, int kw,
                                    int sh, int sw, int ph, int pw, int dh, int dw, int OH, int OW, int KW,
                                    __global uint* col)
{
    const int p = get_global_id(1);
    if (get_global_id(0) != 0 || p >= OH * OW) return;
    const int oy = p / OW, ox = p % OW;
    for (int k = 0; k < KW; ++k) col[p * KW + k] = 0u;
    int t = 0;
    for (int c = 0; c < C; ++c)
        for (int ky = 0; ky < kh; ++ky)
            for (int kx = 0; kx < kw; ++kx, ++t) {
                const int iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                    col[p * KW + t / 32] |= (uint)(bits[x_off + (c * H + iy) * W + ix] & 1) << (t % 32);
            }
}

__kernel void ek_cast_s32_f32_ocl_ref(__global const int* x, __global float* y, int n)
{
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) y[i] = (float)x[i];
}
