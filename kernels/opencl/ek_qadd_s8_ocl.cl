/* QAdd (docs/integer-ops.md, edgesdk.reference.quantized.qadd) of two same-shape int8
 * tensors (the residual add; broadcasting QAdds stay on TVM's kernels):
 *
 *   a' = requant((a - a_zp) << 20, a_mult, a_shift);  b' likewise
 *   y  = clamp(requant(a' + b', mult, shift) + y_zp, act_min, act_max)
 *
 * The 20-bit left shift keeps the operands' precision before their rescale (both end
 * up at half the larger scale). ek_qadd_s8_ocl: one output per work-item, flat index,
 * no branch, so PoCL vectorizes across work-items (measured: a per-element stride
 * decomposition for broadcasting, or any branch in the body, made it 10-30x slower).
 * The _ref twin, same parameters: any range, a grid-stride loop.
 */
#include "ek_ocl_common.h"

#define EK_QADD_SHIFT 20

inline char ek_qadd_one(char a, char b, int a_zp, int b_zp, int y_zp, int a_mult, int a_shift,
                        int b_mult, int b_shift, int mult, int shift, int lo, int hi)
{
    const int a1 = ek_requant(((int)a - a_zp) << EK_QADD_SHIFT, a_mult, a_shift);
    const int b1 = ek_requant(((int)b - b_zp) << EK_QADD_SHIFT, b_mult, b_shift);
    return ek_output_stage(a1 + b1, mult, shift, y_zp, lo, hi);
}

/* global: exactly n work-items (the host launches n, no tail test) */
__kernel void ek_qadd_s8_ocl(__global const char* a, __global const char* b, __global char* y, int n,
                             int a_zp, int b_zp, int y_zp, int a_mult, int a_shift, int b_mult, int b_shift,
                             int mult, int shift, int lo, int hi)
{
    const int i = get_global_id(0);
    y[i] = ek_qadd_one(a[i], b[i], a_zp, b_zp, y_zp, a_mult, a_shift, b_mult, b_shift, mult, shift, lo, hi);
}

__kernel void ek_qadd_s8_ocl_ref(__global const char* a, __global const char* b, __global char* y, int n,
                                 int a_zp, int b_zp, int y_zp, int a_mult, int a_shift, int b_mult, int b_shift,
                                 int mult, int shift, int lo, int hi)
{
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = ek_qadd_one(a[i], b[i], a_zp, b_zp, y_zp, a_mult, a_shift, b_mult, b_shift, mult, shift, lo, hi);
}
