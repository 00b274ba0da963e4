/* QAdd (docs/integer-ops.md, edgesdk.reference.quantized.qadd) with numpy broadcasting:
 *
 *   a' = requant((a - a_zp) << 20, a_mult, a_shift);  b' likewise
 *   y  = clamp(requant(a' + b', mult, shift) + y_zp, act_min, act_max)
 *
 * Shapes are the output's 4 axes (d0 implied by n); a and b are read through element
 * strides per output axis, 0 on a broadcast axis, so one kernel serves the residual add
 * (equal shapes) and a per-channel or scalar operand. The 20-bit left shift keeps the
 * operands' precision before their rescale (both end up at half the larger scale).
 * ek_qadd_s8_ocl does EK_QADD_V consecutive outputs per work-item (one index
 * decomposition, then a stride step along the last axis); the _ref twin one output.
 */
#include "ek_ocl_common.h"

#define EK_QADD_SHIFT 20
#define EK_QADD_V 4

inline char ek_qadd_one(char a, char b, int a_zp, int b_zp, int y_zp, int a_mult, int a_shift,
                        int b_mult, int b_shift, int mult, int shift, int lo, int hi)
{
    const int a1 = ek_requant(((int)a - a_zp) << EK_QADD_SHIFT, a_mult, a_shift);
    const int b1 = ek_requant(((int)b - b_zp) << EK_QADD_SHIFT, b_mult, b_shift);
    return ek_output_stage(a1 + b1, mult, shift, y_zp, lo, hi);
}

__kernel void ek_qadd_s8_ocl(__global const char* a, __global const char* b, __global char* y, int n,
                             int d1, int d2, int d3,
                             int as0, int as1, int as2, int as3, int bs0, int bs1, int bs2, int bs3,
                             int a_zp, int b_zp, int y_zp, int a_mult, int a_shift, int b_mult, int b_shift,
                             int mult, int shift, int lo, int hi)
{
    const int i0 = get_global_id(0) * EK_QADD_V;
    if (i0 >= n) return;
    int i3 = i0 % d3, r = i0 / d3;
    int i2 = r % d2;
    r /= d2;
    int i1 = r % d1, i0_ = r / d1;
    int ai = i0_ * as0 + i1 * as1 + i2 * as2 + i3 * as3;
    int bi = i0_ * bs0 + i1 * bs1 + i2 * bs2 + i3 * bs3;
    for (int v = 0; v < EK_QADD_V && i0 + v < n; ++v) {
        y[i0 + v] = ek_qadd_one(a[ai], b[bi], a_zp, b_zp, y_zp, a_mult, a_shift, b_mult, b_shift, mult, shift, lo, hi);
        if (++i3 < d3) {           /* next element along the last axis */
            ai += as3;
            bi += bs3;
        } else {                   /* wrapped: decompose the next index afresh */
            const int j = i0 + v + 1;
            i3 = j % d3;
            r = j / d3;
            i2 = r % d2;
            r /= d2;
            i1 = r % d1;
            i0_ = r / d1;
            ai = i0_ * as0 + i1 * as1 + i2 * as2 + i3 * as3;
            bi = i0_ * bs0 + i1 * bs1 + i2 * bs2 + i3 * bs3;
        }
    }
}

__kernel void ek_qadd_s8_ocl_ref(__global const char* a, __global const char* b, __global char* y, int n,
                                 int d1, int d2, int d3,
                                 int as0, int as1, int as2, int as3, int bs0, int bs1, int bs2, int bs3,
                                 int a_zp, int b_zp, int y_zp, int a_mult, int a_shift, int b_mult, int b_shift,
                                 int mult, int shift, int lo, int hi)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int i3 = i % d3, i2 = (i / d3) % d2, i1 = (i / (d3 * d2)) % d1, i0 = i / (d3 * d2 * d1);
    y[i] = ek_qadd_one(a[i0 * as0 + i1 * as1 + i2 * as2 + i3 * as3], b[i0 * bs0 + i1 * bs1 + i2 * bs2 + i3 * bs3],
                       a_zp, b_zp, y_zp, a_mult, a_shift, b_mult, b_shift, mult, shift, lo, hi);
}
