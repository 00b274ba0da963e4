/* Direct int8 conv on NCHW (group 1), vectorized along output pixels: the kxk twin of
 * ek_conv1x1_s8_ocl for layers whose GEMM depth Cg*kh*kw is small (first layers: 9, 27),
 * where im2col + GEMM spends more on the copy and on reducing short vectors than on MACs.
 *
 * A work-item takes 16 consecutive output pixels (flattened oy*OW + ox) x 4 output
 * channels. Per tap (c, i, j) it gathers the 16 input bytes (x_zp outside the image, so
 * padding adds (x_zp - x_zp) * w = 0 after the folding below), then does 4 int16-vector
 * multiply-adds with the broadcast weights.
 *   acc = bias_eff[o] + sum x * w;  bias_eff = bias - x_zp * rowsum(w)   (host-folded)
 *   y = clamp(requant(acc, m[o], s[o]) + y_zp)
 * Launch: global (ceil(OH*OW/16), ceil(O/4), N).
 */
#include "ek_ocl_common.h"

#define EK_PX 16
#define EK_OC 4

__kernel void ek_conv_s8_ocl(__global const char* x, __global const char* w,
                             __global const int* bias_eff, __global const int* mult,
                             __global const int* shift, __global char* y,
                             int C, int H, int W, int O, int kh, int kw, int sh, int sw,
                             int ph, int pw, int dh, int dw, int OH, int OW,
                             int x_zp, int y_zp, int act_min, int act_max)
{
    const int P = OH * OW;
    const int p0 = get_global_id(0) * EK_PX, o0 = get_global_id(1) * EK_OC, n = get_global_id(2);
    if (p0 >= P || o0 >= O) return;
    int iy0[EK_PX], ix0[EK_PX];
    for (int e = 0; e < EK_PX; ++e) {
        const int p = min(p0 + e, P - 1);
        iy0[e] = (p / OW) * sh - ph;
        ix0[e] = (p % OW) * sw - pw;
    }
    __global const char* xn = x + (size_t)n * C * H * W;
    const int K = C * kh * kw;
    int16 acc[EK_OC];
    for (int j = 0; j < EK_OC; ++j) acc[j] = (int16)(0);
    for (int c = 0; c < C; ++c)
        for (int i = 0; i < kh; ++i)
            for (int j = 0; j < kw; ++j) {
                char xs[EK_PX];
                for (int e = 0; e < EK_PX; ++e) {
                    const int iy = iy0[e] + i * dh, ix = ix0[e] + j * dw;
                    xs[e] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? xn[(c * H + iy) * W + ix] : (char)x_zp;
                }
                const int16 xv = convert_int16(vload16(0, xs));
                const int k = (c * kh + i) * kw + j;
                for (int q = 0; q < EK_OC; ++q) acc[q] += xv * (int)w[min(o0 + q, O - 1) * K + k];
            }
    for (int q = 0; q < EK_OC; ++q) {
        const int o = o0 + q;
        if (o >= O) break;
        const int b = bias_eff[o], m = mult[o], s = shift[o];
        int vals[EK_PX];
        vstore16(acc[q], 0, vals);
        __global char* yo = y + ((size_t)n * O + o) * P;
        for (int e = 0; e < EK_PX && p0 + e < P; ++e)
            yo[p0 + e] = ek_output_stage(vals[e] + b, m, s, y_zp, act_min, act_max);
    }
}

/* The _ref twin: one output per work-item (global (OH*OW, O, N)). */
__kernel void ek_conv_s8_ocl_ref(__global const char* x, __global const char* w,
                                 __global const int* bias_eff, __global const int* mult,
                                 __global const int* shift, __global char* y,
                                 int C, int H, int W, int O, int kh, int kw, int sh, int sw,
                                 int ph, int pw, int dh, int dw, int OH, int OW,
                                 int x_zp, int y_zp, int act_min, int act_max)
{
    const int p = get_global_id(0), o = get_global_id(1), n = get_global_id(2);
    if (p >= OH * OW || o >= O) return;
    const int oy = p / OW, ox = p % OW;
    int acc = bias_eff[o];
    for (int c = 0; c < C; ++c)
        for (int i = 0; i < kh; ++i)
            for (int j = 0; j < kw; ++j) {
                const int iy = oy * sh - ph + i * dh, ix = ox * sw - pw + j * dw;
                const int xv = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? (int)x[(((size_t)n * C + c) * H + iy) * W + ix] : x_zp;
                acc += xv * (int)w[((o * C + c) * kh + i) * kw + j];
            }
    y[((size_t)n * O + o) * OH * OW + p] = ek_output_stage(acc, mult[o], shift[o], y_zp, act_min, act_max);
}
