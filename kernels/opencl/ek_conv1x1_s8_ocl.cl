/* Pointwise (1x1, stride 1, no padding) int8 conv on NCHW, without im2col.
 *
 * In NCHW a 1x1 conv is y[o, p] = sum_c w[o, c] * x[c, p]: the pixels p of one channel
 * are contiguous, so each work-item takes 16 consecutive pixels x 4 output channels,
 * loads x[c, p..p+15] as one 16-byte vector, broadcasts the 4 weights w[o..o+3, c] and
 * accumulates in int16 vectors: no im2col copy (which for a 1x1 conv is a transpose of
 * the whole activation) and SIMD along the pixels.
 *   acc = bias_eff[o] + sum_c x[c, p] * w[o, c];  y = clamp(requant(acc, m[o], s[o]) + y_zp)
 * with bias_eff = bias - x_zp * rowsum(w) folded on the host (exact in int32), as in
 * ek_gemm_s8_ocl. Pixels past the end are clamped for loading and never stored.
 * Launch: global (ceil(P/16), ceil(O/4), N).
 */
#include "ek_ocl_common.h"

#define EK_PX 16
#define EK_OC 4

__kernel void ek_conv1x1_s8_ocl(__global const char* x, __global const char* w,
                                __global const int* bias_eff, __global const int* mult,
                                __global const int* shift, __global char* y,
                                int C, int P, int O, int y_zp, int act_min, int act_max)
{
    const int p0 = get_global_id(0) * EK_PX, o0 = get_global_id(1) * EK_OC, n = get_global_id(2);
    if (p0 >= P || o0 >= O) return;
    __global const char* xn = x + (size_t)n * C * P;
    const bool full = p0 + EK_PX <= P;
    int16 acc[EK_OC];
    for (int j = 0; j < EK_OC; ++j) acc[j] = (int16)(0);
    for (int c = 0; c < C; ++c) {
        int16 xv;
        if (full) {
            xv = convert_int16(vload16(0, xn + c * P + p0));
        } else {
            char xs[EK_PX];
            for (int e = 0; e < EK_PX; ++e) xs[e] = xn[c * P + min(p0 + e, P - 1)];
            xv = convert_int16(vload16(0, xs));
        }
        for (int j = 0; j < EK_OC; ++j) acc[j] += xv * (int)w[min(o0 + j, O - 1) * C + c];
    }
    for (int j = 0; j < EK_OC; ++j) {
        const int o = o0 + j;
        if (o >= O) break;
        const int b = bias_eff[o], m = mult[o], s = shift[o];
        int vals[EK_PX];
        vstore16(acc[j], 0, vals);
        __global char* yo = y + ((size_t)n * O + o) * P;
        for (int e = 0; e < EK_PX && p0 + e < P; ++e)
            yo[p0 + e] = ek_output_stage(vals[e] + b, m, s, y_zp, act_min, act_max);
    }
}

/* The _ref twin: one output per work-item (global (P, O, N)). */
__kernel void ek_conv1x1_s8_ocl_ref(__global const char* x, __global const char* w,
                                    __global const int* bias_eff, __global const int* mult,
                                    __global const int* shift, __global char* y,
                                    int C, int P, int O, int y_zp, int act_min, int act_max)
{
    const int p = get_global_id(0), o = get_global_id(1), n = get_global_id(2);
    if (p >= P || o >= O) return;
    int acc = bias_eff[o];
    for (int c = 0; c < C; ++c) acc += (int)x[((size_t)n * C + c) * P + p] * (int)w[o * C + c];
    y[((size_t)n * O + o) * P + p] = ek_output_stage(acc, mult[o], shift[o], y_zp, act_min, act_max);
}
