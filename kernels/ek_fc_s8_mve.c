/* int8 fully connected for Cortex-M55 MVE: 4 weight rows per input vector load,
 * VMLADAVA for the dot products and VADDVA for the weight sums (the input offset is
 * applied once per row as offset * sum w), unpredicated but for the K % 16 tail; the 4
 * outputs are requantized as one vector (ek_mve_requant).  No scratch. */
#include "ek_arm_mve.h"

EK_NOIPA void ek_fc_s8_mve(const ek_fc_s8_params_t *p, const int8_t *input, const int8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t K = p->in_features, off = p->input_offset;
    const int32_t n16 = K >> 4, tail = K & 15;
    const mve_pred16_t pt = vctp8q((uint32_t)tail);
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + (size_t)b * K;
        int8_t *y = output + (size_t)b * p->out_features;
        int32_t m = 0;
        for (; m + 4 <= p->out_features; m += 4) {
            const int8_t *w0 = weights + (size_t)m * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            const int8_t *xp = x;
            for (int32_t i = 0; i < n16; i++, xp += 16, w0 += 16, w1 += 16, w2 += 16, w3 += 16) {
                const int8x16_t xv = vldrbq_s8(xp);
                const int8x16_t v0 = vldrbq_s8(w0), v1 = vldrbq_s8(w1);
                a0 = vmladavaq_s8(a0, v0, xv);
                s0 = vaddvaq_s8(s0, v0);
                a1 = vmladavaq_s8(a1, v1, xv);
                s1 = vaddvaq_s8(s1, v1);
                const int8x16_t v2 = vldrbq_s8(w2), v3 = vldrbq_s8(w3);
                a2 = vmladavaq_s8(a2, v2, xv);
                s2 = vaddvaq_s8(s2, v2);
                a3 = vmladavaq_s8(a3, v3, xv);
                s3 = vaddvaq_s8(s3, v3);
            }
            if (tail) {  /* the K % 16 tail, predicated */
                const int8x16_t xv = vldrbq_z_s8(xp, pt);
                const int8x16_t v0 = vldrbq_z_s8(w0, pt), v1 = vldrbq_z_s8(w1, pt);
                const int8x16_t v2 = vldrbq_z_s8(w2, pt), v3 = vldrbq_z_s8(w3, pt);
                a0 = vmladavaq_s8(a0, v0, xv);
                s0 = vaddvaq_s8(s0, v0);
                a1 = vmladavaq_s8(a1, v1, xv);
                s1 = vaddvaq_s8(s1, v1);
                a2 = vmladavaq_s8(a2, v2, xv);
                s2 = vaddvaq_s8(s2, v2);
                a3 = vmladavaq_s8(a3, v3, xv);
                s3 = vaddvaq_s8(s3, v3);
            }
            /* the 4 outputs as one vector: offset * weight sums, bias, exact vector requant */
            int32x4_t acc = vdupq_n_s32(a0 + off * s0);
            acc = vsetq_lane_s32(a1 + off * s1, acc, 1);
            acc = vsetq_lane_s32(a2 + off * s2, acc, 2);
            acc = vsetq_lane_s32(a3 + off * s3, acc, 3);
            if (bias) acc = vaddq_s32(acc, vldrwq_s32(bias + m));
            const int32x4_t r = ek_mve_requant(acc, vldrwq_s32(multiplier + m), vldrwq_s32(shift + m));
            vstrbq_s32(y + m, ek_mve_out_stage(r, p->output_offset, p->act_min, p->act_max));
        }
        for (; m < p->out_features; m++) {
            int32_t ws = 0;
            const int32_t a = ek_mve_dot(weights + (size_t)m * K, x, K, 0, &ws);
            y[m] = ek_output_stage(a + off * ws + (bias ? bias[m] : 0), multiplier[m], shift[m],
                                   p->output_offset, p->act_min, p->act_max);
        }
    }
}
