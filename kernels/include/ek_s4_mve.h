/* Private helpers of the _mve 4-bit kernels (Cortex-M55/M85 Helium, MVE-I).
 *
 * 16 packed bytes hold 32 weights; VSHL #4 then VSHR #4 (arithmetic) gives the low
 * nibbles (weights 0, 2, 4, ... 30) and VSHR #4 the high ones (1, 3, ... 31), both
 * sign-extended int8.  VLD2 of 32 column bytes de-interleaves the activations the same
 * way (even / odd k), so two VMLADAVA.S8 per pixel cover the 32 MACs.  As in the int8
 * MVE kernels the input offset is folded in afterwards from the weight sum (VADDVA):
 * columns hold raw x.  The last chunk of a row is a predicated load of its remaining
 * bytes (zeros after, so no over-read of the weights); the columns are 32-byte padded
 * in scratch, whatever is there meets zero weights. */
#ifndef EK_S4_MVE_H
#define EK_S4_MVE_H
#include <arm_mve.h>

#include "ek_arm_mve.h"
#include "ek_s4_arm.h"

#define EK_S4_MVE_NPIX 4
#define EK_S4_K32(k) (((k) + 31) & ~31)

/* Copy n bytes into a column slot (the VLD2 over-read past n stays inside the slot). */
EK_INLINE void ek_s4_mve_copy(int8_t *dst, const int8_t *src, int32_t n) {
    for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, pr), pr);
    }
}

/* All out_c rows against the 4 columns c0..c3 (unused ones repeat c0); outputs of
 * column q at out + q * out_stride, for q < n. */
EK_INLINE void ek_s4_mve_mat(int32_t K, int32_t out_c, const uint8_t *weights, const int32_t *bias,
                             const int32_t *multiplier, const int32_t *shift, int32_t off, const int8_t *c0,
                             const int8_t *c1, const int8_t *c2, const int8_t *c3, int32_t n, int8_t *out,
                             int32_t out_stride, int32_t zp, int32_t lo, int32_t hi) {
    const size_t row_bytes = EK_S4_ROW_BYTES(K);
    const int32_t chunks = K >> 5, tail_bytes = (int32_t)row_bytes - 16 * chunks;
    const mve_pred16_t ptail = vctp8q((uint32_t)tail_bytes), pout = vctp32q((uint32_t)n);
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)out_stride);
    for (int32_t oc = 0; oc < out_c; oc++) {
        const int8_t *w = (const int8_t *)weights + (size_t)oc * row_bytes;
        const int8_t *x0 = c0, *x1 = c1, *x2 = c2, *x3 = c3;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, ws = 0;
/* one chunk of 32 weights: unpack, weight sum (wl + wh fits int8: |.| <= 16), dots */
#define EK_S4_MVE_UNPACK(wv)                                                    \
    const int8x16_t wl = vshrq_n_s8(vshlq_n_s8(wv, 4), 4), wh = vshrq_n_s8(wv, 4); \
    ws = vaddvaq_s8(ws, vaddq_s8(wl, wh))
#define EK_S4_MVE_DOT(a, xp)                                                    \
    do {                                                                        \
        const int8x16x2_t x_ = vld2q_s8(xp);                                    \
        a = vmladavaq_s8(vmladavaq_s8(a, wl, x_.val[0]), wh, x_.val[1]);        \
    } while (0)
        if (n == 1) {  /* batch-1 FC and the last pixels: one column, no wasted MACs */
            for (int32_t i = 0; i < chunks; i++, w += 16, x0 += 32) {
                EK_S4_MVE_UNPACK(vldrbq_s8(w));
                EK_S4_MVE_DOT(a0, x0);
            }
            if (tail_bytes) {
                EK_S4_MVE_UNPACK(vldrbq_z_s8(w, ptail));
                EK_S4_MVE_DOT(a0, x0);
            }
        } else {
            for (int32_t i = 0; i < chunks; i++, w += 16, x0 += 32, x1 += 32, x2 += 32, x3 += 32) {
                EK_S4_MVE_UNPACK(vldrbq_s8(w));
                EK_S4_MVE_DOT(a0, x0);
                EK_S4_MVE_DOT(a1, x1);
                EK_S4_MVE_DOT(a2, x2);
                EK_S4_MVE_DOT(a3, x3);
            }
            if (tail_bytes) {
                EK_S4_MVE_UNPACK(vldrbq_z_s8(w, ptail));
                EK_S4_MVE_DOT(a0, x0);
                EK_S4_MVE_DOT(a1, x1);
                EK_S4_MVE_DOT(a2, x2);
                EK_S4_MVE_DOT(a3, x3);
            }
        }
#undef EK_S4_MVE_UNPACK
#undef EK_S4_MVE_DOT
        int32x4_t acc = vdupq_n_s32(a0);
        acc = vsetq_lane_s32(a1, acc, 1);
        acc = vsetq_lane_s32(a2, acc, 2);
        acc = vsetq_lane_s32(a3, acc, 3);
        acc = vaddq_n_s32(acc, (bias ? bias[oc] : 0) + off * ws);
        const int32x4_t y = ek_mve_out_stage(ek_mve_requant_n(acc, multiplier[oc], shift[oc]), zp, lo, hi);
        vstrbq_scatter_offset_p_s32(out + oc, offs, y, pout);
    }
}
#endif
