/* Block-sparse int8 fully connected (1x4 blocks) for Cortex-M DSP: each block is one
 * 32-bit weight load dotted with 4 inputs by 2 SMLADs.  The input is widened on the fly
 * (no scratch): x (+offset) is SXTB16-split the same way as the weights. */
#include "ek_arm_dsp.h"

EK_NOIPA void ek_fc_sparse_s8_dsp(const ek_fc_s8_params_t *p, const int8_t *input,
                                  const uint16_t *row_ptr, const uint16_t *col_idx,
                                  const int8_t *values, const int32_t *bias,
                                  const int32_t *multiplier, const int32_t *shift, int8_t *output) {
    const uint32_t off2 = ((uint32_t)(uint16_t)p->input_offset << 16) | (uint16_t)p->input_offset;
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + (size_t)b * p->in_features;
        for (int32_t m = 0; m < p->out_features; m++) {
            int32_t acc = bias ? bias[m] : 0;
            for (int32_t blk = row_ptr[m], end = row_ptr[m + 1]; blk < end; blk++) {
                const uint32_t xv = ek_ld32(x + 4 * (int32_t)col_idx[blk]);
                const uint32_t wv = ek_ld32(values + 4 * blk);
                acc = ek_smlad(ek_sxtb16(wv), ek_sadd16(ek_sxtb16(xv), off2), acc);
                acc = ek_smlad(ek_sxtb16_ror8(wv), ek_sadd16(ek_sxtb16_ror8(xv), off2), acc);
            }
            output[(size_t)b * p->out_features + m] = ek_output_stage_dsp(
                acc, multiplier[m], shift[m], p->output_offset, p->act_min, p->act_max);
        }
    }
}
