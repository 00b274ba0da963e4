/* Depthwise int8 conv (QConv with group == C, one input channel per group), NCHW.
 *
 * Direct: one output per work-item (dim0 = ox, dim1 = oy, dim2 = n*O + o), the
 * kh*kw window read straight from global memory (the reuse is in the cache; an
 * im2col would multiply traffic by kh*kw for a GEMM with K = 9). Padded taps are
 * skipped, which is the same as padding with x_zp: (x_zp - x_zp) * w = 0.
 *   acc = bias[o] + sum (x - x_zp) * w;  y = clamp(requant(acc, m[o], s[o]) + y_zp)
 * o = c * mult_ch + q for a depth multiplier mult_ch = O / C.
 */
#include "ek_ocl_common.h"

__kernel void ek_dwconv_s8_ocl(__global const char* x, __global const char* w,
                               __global const int* bias, __global const int* mult,
                               __global const int* shift, __global char* y,
                               int C, int H, int W, int O, int kh, int kw, int sh, int sw,
                               int ph, int pw, int dh, int dw, int OH, int OW,
                               int x_zp, int y_zp, int act_min, int act_max)
{
    const int ox = get_global_id(0), oy = get_global_id(1), no = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    const int n = no / O, o = no % O;
    const int c = o / (O / C);
    __global const char* xc = x + (n * C + c) * H * W;
    __global const char* wo = w + o * kh * kw;
    int acc = bias[o];
    for (int i = 0; i < kh; ++i) {
        int iy = oy * sh - ph + i * dh;
        if (iy < 0 || iy >= H) continue;
        for (int j = 0; j < kw; ++j) {
            int ix = ox * sw - pw + j * dw;
            if (ix < 0 || ix >= W) continue;
            acc += ((int)xc[iy * W + ix] - x_zp) * (int)wo[i * kw + j];
        }
    }
    y[((n * O + o) * OH + oy) * OW + ox] = ek_output_stage(acc, mult[o], shift[o], y_zp, act_min, act_max);
}

/* The _ref twin: the same arithmetic written the slow obvious way (every tap tested). */
__kernel void ek_dwconv_s8_ocl_ref(__global const char* x, __global const char* w,
                                   __global const int* bias, __global const int* mult,
                                   __global const int* shift, __global char* y,
                                   int C, int H, int W, int O, int kh, int kw, int sh, int sw,
                                   int ph, int pw, int dh, int dw, int OH, int OW,
                                   int x_zp, int y_zp, int act_min, int act_max)
{
    const int ox = get_global_id(0), oy = get_global_id(1), no = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    const int n = no / O, o = no % O, c = o / (O / C);
    int acc = bias[o];
    for (int i = 0; i < kh; ++i)
        for (int j = 0; j < kw; ++j) {
            int iy = oy * sh - ph + i * dh, ix = ox * sw - pw + j * dw;
            int xv = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? (int)x[((n * C + c) * H + iy) * W + ix] : x_zp;
            acc += (xv - x_zp) * (int)w[(o * kh + i) * kw + j];
        }
    y[((n * O + o) * OH + oy) * OW + ox] = ek_output_stage(acc, mult[o], shift[o], y_zp, act_min, act_max);
}
