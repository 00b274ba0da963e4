/* Block-sparse int8 fully connected (1x4 blocks, CSR over blocks), portable reference. */
#include "ek_s8.h"

EK_NOIPA void ek_fc_sparse_s8_ref(const ek_fc_s8_params_t *p, const int8_t *input,
                                  const uint16_t *row_ptr, const uint16_t *col_idx,
                                  const int8_t *values, const int32_t *bias,
                                  const int32_t *multiplier, const int32_t *shift, int8_t *output) {
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + (size_t)b * p->in_features;
        for (int32_t m = 0; m < p->out_features; m++) {
            int32_t acc = bias ? bias[m] : 0;
            for (int32_t blk = row_ptr[m]; blk < row_ptr[m + 1]; blk++) {
                const int8_t *xv = x + 4 * (int32_t)col_idx[blk];
                const int8_t *v = values + 4 * blk;
                for (int32_t j = 0; j < 4; j++) acc += (xv[j] + p->input_offset) * v[j];
            }
            output[(size_t)b * p->out_features + m] = ek_output_stage(
                acc, multiplier[m], shift[m], p->output_offset, p->act_min, p->act_max);
        }
    }
}
