/* Block-sparse int8 fully connected (1x4 blocks) for Cortex-M55 MVE: 4 blocks per step.
 * The 4 input words are gathered (VLDRW gather, offsets = 4 * col_idx), the 16 weight
 * bytes of the 4 blocks are one contiguous load, and VMLADAVA/VADDVA do the 16 MACs and
 * the weight sum.  Word gathers need a word-aligned input; otherwise the scalar loop. */
#include "ek_arm_mve.h"

EK_NOIPA void ek_fc_sparse_s8_mve(const ek_fc_s8_params_t *p, const int8_t *input,
                                  const uint16_t *row_ptr, const uint16_t *col_idx,
                                  const int8_t *values, const int32_t *bias,
                                  const int32_t *multiplier, const int32_t *shift, int8_t *output) {
    const int32_t off = p->input_offset;
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + (size_t)b * p->in_features;
        const int aligned = ((uintptr_t)x & 3u) == 0;
        for (int32_t m = 0; m < p->out_features; m++) {
            int32_t acc = 0, ws = 0;
            const int32_t start = row_ptr[m], end = row_ptr[m + 1];
            if (aligned) {
                for (int32_t blk = start; blk < end; blk += 4) {
                    const uint32_t nb = (uint32_t)(end - blk);
                    const mve_pred16_t p32 = vctp32q(nb), p8 = vctp8q(4u * nb);
                    const uint32x4_t offs = vshlq_n_u32(vldrhq_z_u32(col_idx + blk, p32), 2);
                    const int32x4_t xw = vldrwq_gather_offset_z_s32((const int32_t *)x, offs, p32);
                    const int8x16_t wv = vldrbq_z_s8(values + 4 * blk, p8);
                    acc = vmladavaq_s8(acc, wv, vreinterpretq_s8_s32(xw));
                    ws = vaddvaq_s8(ws, wv);
                }
            } else {
                for (int32_t blk = start; blk < end; blk++) {
                    const int8_t *xv = x + 4 * (int32_t)col_idx[blk], *v = values + 4 * blk;
                    for (int32_t j = 0; j < 4; j++) {
                        acc += xv[j] * v[j];
                        ws += v[j];
                    }
                }
            }
            output[(size_t)b * p->out_features + m] = ek_output_stage(
                acc + off * ws + (bias ? bias[m] : 0), multiplier[m], shift[m], p->output_offset, p->act_min,
                p->act_max);
        }
    }
}
