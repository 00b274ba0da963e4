/* int8 fully connected for Cortex-M DSP: the input row is widened once to int16 (offset
 * added, 0213 order) in scratch, then 2 weight rows at a time are dotted with it by
 * SMLAD.  Scratch: ek_fc_s8_scratch_bytes. */
#include "ek_arm_dsp.h"

EK_NOIPA void ek_fc_s8_dsp(const ek_fc_s8_params_t *p, const int8_t *input, const int8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output, void *scratch) {
    const int32_t K = p->in_features, k4 = K & ~3;
    int16_t *col = (int16_t *)scratch;
    for (int32_t b = 0; b < p->batch; b++) {
        ek_dsp_widen_reordered(input + (size_t)b * K, col, K, p->input_offset, 4);
        int8_t *y = output + (size_t)b * p->out_features;
        int32_t m = 0;
        for (; m + 2 <= p->out_features; m += 2) {
            const int8_t *wa = weights + (size_t)m * K, *wb = wa + K;
            int32_t a = bias ? bias[m] : 0, c = bias ? bias[m + 1] : 0;
            const int16_t *x = col;
            for (const int8_t *end = wa + k4; wa < end; wa += 4, wb += 4, x += 4) {
                const uint32_t va = ek_ld32(wa), vb = ek_ld32(wb);
                const uint32_t x02 = ek_ld32(x), x13 = ek_ld32(x + 2);
                a = ek_smlad(ek_sxtb16(va), x02, a);
                c = ek_smlad(ek_sxtb16(vb), x02, c);
                a = ek_smlad(ek_sxtb16_ror8(va), x13, a);
                c = ek_smlad(ek_sxtb16_ror8(vb), x13, c);
            }
            for (int32_t k = k4; k < K; k++, wa++, wb++, x++) {
                a += *wa * *x;
                c += *wb * *x;
            }
            y[m] = ek_output_stage_dsp(a, multiplier[m], shift[m], p->output_offset, p->act_min, p->act_max);
            y[m + 1] = ek_output_stage_dsp(c, multiplier[m + 1], shift[m + 1], p->output_offset, p->act_min,
                                       p->act_max);
        }
        if (m < p->out_features) {
            const int32_t a = ek_dsp_dot_row(weights + (size_t)m * K, col, K, bias ? bias[m] : 0);
            y[m] = ek_output_stage_dsp(a, multiplier[m], shift[m], p->output_offset, p->act_min, p->act_max);
        }
    }
}
