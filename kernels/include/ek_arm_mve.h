/* Private helpers of the _mve kernels (Cortex-M55/M85 Helium, MVE-I).
 *
 * int8 dot products use VMLADAVA.S8 (16 MACs per instruction into a scalar int32).
 * The input offset is not added lane by lane: sum (x + off) * w = sum x * w + off * sum w,
 * and sum w comes from VADDVA.S8 on the weight vectors already loaded.  im2col columns
 * therefore hold raw x with padding = x_zp (= -off), which contributes exactly 0.
 * Tails use tail predication (VCTP), so no kernel reads past a buffer's end.
 */
#ifndef EK_ARM_MVE_H
#define EK_ARM_MVE_H
#include <arm_mve.h>
#include <string.h>

#include "ek_s8.h"

/* Copy n bytes (any n) with 16-byte vector moves (one predicated move when n <= 16). */
EK_INLINE void ek_mve_copy8(int8_t *dst, const int8_t *src, int32_t n) {
    if (n <= 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
        return;
    }
    for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, pr), pr);
    }
}

EK_INLINE void ek_mve_fill8(int8_t *dst, int8_t v, int32_t n) {
    const int8x16_t d = vdupq_n_s8(v);
    if (n <= 16) {
        vstrbq_p_s8(dst, d, vctp8q((uint32_t)n));
        return;
    }
    for (int32_t i = 0; i < n; i += 16) vstrbq_p_s8(dst + i, d, vctp8q((uint32_t)(n - i)));
}

/* acc + sum_k w[k] * x[k] and wsum + sum_k w[k], K any (predicated last chunk). */
EK_INLINE int32_t ek_mve_dot(const int8_t *w, const int8_t *x, int32_t K, int32_t acc, int32_t *wsum) {
    int32_t ws = *wsum;
    for (int32_t k = 0; k < K; k += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(K - k));
        const int8x16_t wv = vldrbq_z_s8(w + k, pr);
        acc = vmladavaq_s8(acc, wv, vldrbq_z_s8(x + k, pr));
        ws = vaddvaq_s8(ws, wv);
    }
    *wsum = ws;
    return acc;
}

/* Exact single-rounding requantization of 4 lanes (== ek_requant, bit for bit, with
 * saturation where the scalar result would not fit int32 - such lanes clamp anyway).
 * With t = 31 - shift and P = acc * mult:
 *   shift >= -1 (t <= 32): acc << (shift + 1) saturating, then VRMULH = (P' + 2^31) >> 32;
 *   shift <= -2 (t >= 33): VMULH = floor(P / 2^32), then VRSHL by -(t - 32) adds 2^(t-33)
 *   and shifts: floor((floor(P / 2^32) + 2^(u-1)) / 2^u) == floor((P + 2^(t-1)) / 2^t).
 * A saturated left shift means |P'| >= 2^61, i.e. |result| >= 2^29: clamped either way. */
EK_INLINE int32x4_t ek_mve_requant(int32x4_t acc, int32x4_t mult, int32x4_t shift) {
    const int32x4_t s1 = vaddq_n_s32(shift, 1);
    const mve_pred16_t left = vcmpgeq_n_s32(s1, 0);
    const int32x4_t up = vrmulhq_s32(vqshlq_s32(acc, vmaxq_s32(s1, vdupq_n_s32(0))), mult);
    const int32x4_t down = vrshlq_s32(vmulhq_s32(acc, mult), vminq_s32(s1, vdupq_n_s32(0)));
    return vpselq_s32(up, down, left);
}

/* The same with one multiplier/shift for all lanes. */
EK_INLINE int32x4_t ek_mve_requant_n(int32x4_t acc, int32_t mult, int32_t shift) {
    if (shift >= -1) return vrmulhq_s32(vqshlq_r_s32(acc, shift + 1), vdupq_n_s32(mult));
    return vrshlq_n_s32(vmulhq_s32(acc, vdupq_n_s32(mult)), shift + 1);
}

/* + output offset (saturating), clamp to [act_min, act_max]. */
EK_INLINE int32x4_t ek_mve_out_stage(int32x4_t r, int32_t out_offset, int32_t act_min, int32_t act_max) {
    r = vqaddq_n_s32(r, out_offset);
    return vminq_s32(vmaxq_s32(r, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

/* All out_c channels for n (1..4) consecutive pixels whose columns are c[0..n) (unused
 * columns repeat c[0]); outputs at out + j * out_c.  1 channel x 4 pixels per pass:
 * per 16 k one weight load, 4 column loads, 4 VMLADAVA and 1 VADDVA, unpredicated
 * except the K % 16 tail; the 4 results are requantized as one vector and scattered. */
EK_INLINE void ek_mve_mat_cols(const ek_conv_s8_params_t *p, int32_t K, const int8_t *weights,
                               const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                               const int8_t *c0, const int8_t *c1, const int8_t *c2, const int8_t *c3,
                               int32_t n, int8_t *out) {
    const int32_t n16 = K >> 4, tail = K & 15;
    const mve_pred16_t ptail = vctp8q((uint32_t)tail), pout = vctp32q((uint32_t)n);
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)p->out_c);
    const int32_t off = p->input_offset;
    const int8_t *w = weights;
    for (int32_t oc = 0; oc < p->out_c; oc++) {
        const int8_t *x0 = c0, *x1 = c1, *x2 = c2, *x3 = c3;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, ws = 0;
        for (int32_t i = 0; i < n16; i++) {
            const int8x16_t wv = vldrbq_s8(w);
            w += 16;
            ws = vaddvaq_s8(ws, wv);
            a0 = vmladavaq_s8(a0, wv, vldrbq_s8(x0));
            a1 = vmladavaq_s8(a1, wv, vldrbq_s8(x1));
            a2 = vmladavaq_s8(a2, wv, vldrbq_s8(x2));
            a3 = vmladavaq_s8(a3, wv, vldrbq_s8(x3));
            x0 += 16;
            x1 += 16;
            x2 += 16;
            x3 += 16;
        }
        if (tail) {
            const int8x16_t wv = vldrbq_z_s8(w, ptail);
            w += tail;
            ws = vaddvaq_s8(ws, wv);
            a0 = vmladavaq_s8(a0, wv, vldrbq_z_s8(x0, ptail));
            a1 = vmladavaq_s8(a1, wv, vldrbq_z_s8(x1, ptail));
            a2 = vmladavaq_s8(a2, wv, vldrbq_z_s8(x2, ptail));
            a3 = vmladavaq_s8(a3, wv, vldrbq_z_s8(x3, ptail));
        }
        int32x4_t acc = vdupq_n_s32(a0);
        acc = vsetq_lane_s32(a1, acc, 1);
        acc = vsetq_lane_s32(a2, acc, 2);
        acc = vsetq_lane_s32(a3, acc, 3);
        acc = vaddq_n_s32(acc, (bias ? bias[oc] : 0) + off * ws);
        const int32x4_t y = ek_mve_out_stage(ek_mve_requant_n(acc, multiplier[oc], shift[oc]), p->output_offset,
                                             p->act_min, p->act_max);
        vstrbq_scatter_offset_p_s32(out + oc, offs, y, pout);
    }
}
#endif
