/* int8 pooling on NCHW planes (planes = N * C; the channel of plane p is p % C):
 *
 *   ek_maxpool_s8_ocl   MaxPool on s8: max over the window; padding (and the ceil_mode
 *                       overhang) never wins (it is -128, the reference's fill)
 *   ek_avgpool_s8_ocl   QAvgPool / QGlobalAvgPool: acc = sum (x - x_zp) over the window,
 *                       padding adds 0 (1/window is folded into mult on the host, padding
 *                       included), y = clamp(requant(acc, mult[c], shift[c]) + y_zp)
 *
 * One output per work-item, global (OW, OH, planes). The optimized kernels take the
 * window's in-bounds row/column range once (no test per tap); the _ref twins, same
 * parameters, test every tap, as the reference's padded windows do.
 */
#include "ek_ocl_common.h"

__kernel void ek_maxpool_s8_ocl(__global const char* x, __global char* y, int H, int W, int kh, int kw,
                                int sh, int sw, int ph, int pw, int dh, int dw, int OH, int OW)
{
    const int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    const int y0 = oy * sh - ph, x0 = ox * sw - pw;
    /* first/last taps inside the map: ky in [ky0, ky1), kx in [kx0, kx1) */
    const int ky0 = y0 < 0 ? (-y0 + dh - 1) / dh : 0, kx0 = x0 < 0 ? (-x0 + dw - 1) / dw : 0;
    const int ky1 = min(kh, (H - y0 + dh - 1) / dh), kx1 = min(kw, (W - x0 + dw - 1) / dw);
    __global const char* xp = x + p * H * W;
    int m = -128;
    for (int ky = ky0; ky < ky1; ++ky) {
        __global const char* row = xp + (y0 + ky * dh) * W + x0;
        for (int kx = kx0; kx < kx1; ++kx) m = max(m, (int)row[kx * dw]);
    }
    y[(p * OH + oy) * OW + ox] = (char)m;
}

__kernel void ek_avgpool_s8_ocl(__global const char* x, __global const int* mult, __global const int* shift,
                                __global char* y, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                                int pw, int OH, int OW, int x_zp, int y_zp, int lo, int hi)
{
    const int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    const int y0 = oy * sh - ph, x0 = ox * sw - pw;
    const int ys = max(y0, 0), ye = min(y0 + kh, H), xs = max(x0, 0), xe = min(x0 + kw, W);
    __global const char* xp = x + p * H * W;
    int acc = 0;
    for (int iy = ys; iy < ye; ++iy)
        for (int ix = xs; ix < xe; ++ix) acc += xp[iy * W + ix];
    acc -= x_zp * max(ye - ys, 0) * max(xe - xs, 0);   /* sum (x - x_zp) over the real taps */
    const int c = p % C;
    y[(p * OH + oy) * OW + ox] = ek_output_stage(acc, mult[c], shift[c], y_zp, lo, hi);
}

__kernel void ek_maxpool_s8_ocl_ref(__global const char* x, __global char* y, int H, int W, int kh, int kw,
                                    int sh, int sw, int ph, int pw, int dh, int dw, int OH, int OW)
{
    const int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    int m = -128;
    for (int ky = 0; ky < kh; ++ky)
        for (int kx = 0; kx < kw; ++kx) {
            const int iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) m = max(m, (int)x[(p * H + iy) * W + ix]);
        }
    y[(p * OH + oy) * OW + ox] = (char)m;
}

__kernel void ek_avgpool_s8_ocl_ref(__global const char* x, __global const int* mult, __global const int* shift,
                                    __global char* y, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                                    int pw, int OH, int OW, int x_zp, int y_zp, int lo, int hi)
{
    const int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    int acc = 0;
    for (int ky = 0; ky < kh; ++ky)
        for (int kx = 0; kx < kw; ++kx) {
            const int iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) acc += (int)x[(p * H + iy) * W + ix] - x_zp;
        }
    y[(p * OH + oy) * OW + ox] = ek_output_stage(acc, mult[p % C], shift[p % C], y_zp, lo, hi);
}
