/* int8 fully connected for Cortex-M55 MVE: 4 weight rows per input vector load,
 * VMLADAVA for the dot products and VADDVA for the weight sums (the input offset is
 * applied once per row as offset * sum w).  No scratch. */
#include "ek_arm_mve.h"

EK_NOIPA void ek_fc_s8_mve(const ek_fc_s8_params_t *p, const int8_t *input, const int8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t K = p->in_features, off = p->input_offset;
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + (size_t)b * K;
        int8_t *y = output + (size_t)b * p->out_features;
        int32_t m = 0;
        for (; m + 4 <= p->out_features; m += 4) {
            const int8_t *w0 = weights + (size_t)m * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int32_t k = 0; k < K; k += 16) {
                const mve_pred16_t pr = vctp8q((uint32_t)(K - k));
                const int8x16_t xv = vldrbq_z_s8(x + k, pr);
                const int8x16_t v0 = vldrbq_z_s8(w0 + k, pr), v1 = vldrbq_z_s8(w1 + k, pr);
                const int8x16_t v2 = vldrbq_z_s8(w2 + k, pr), v3 = vldrbq_z_s8(w3 + k, pr);
                a0 = vmladavaq_s8(a0, v0, xv);
                s0 = vaddvaq_s8(s0, v0);
                a1 = vmladavaq_s8(a1, v1, xv);
                s1 = vaddvaq_s8(s1, v1);
                a2 = vmladavaq_s8(a2, v2, xv);
                s2 = vaddvaq_s8(s2, v2);
                a3 = vmladavaq_s8(a3, v3, xv);
                s3 = vaddvaq_s8(s3, v3);
            }
            const int32_t acc[4] = {a0 + off * s0, a1 + off * s1, a2 + off * s2, a3 + off * s3};
            for (int32_t j = 0; j < 4; j++)
                y[m + j] = ek_output_stage(acc[j] + (bias ? bias[m + j] : 0), multiplier[m + j], shift[m + j],
                                           p->output_offset, p->act_min, p->act_max);
        }
        for (; m < p->out_features; m++) {
            int32_t ws = 0;
            const int32_t a = ek_mve_dot(weights + (size_t)m * K, x, K, 0, &ws);
            y[m] = ek_output_stage(a + off * ws + (bias ? bias[m] : 0), multiplier[m], shift[m],
                                   p->output_offset, p->act_min, p->act_max);
        }
    }
}
