/* Fully connected with 4-bit packed weights for Cortex-M DSP: up to 4 batch rows are
 * widened to int16 columns and go through the packed-weight SMLAD matmul together
 * (ek_s4_dsp.h); batch 1 is the one-column loop.  Scratch: ek_fc_s4_scratch_bytes. */
#include "ek_s4_dsp.h"

EK_NOIPA void ek_fc_s4_dsp(const ek_fc_s8_params_t *p, const int8_t *input, const uint8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output, void *scratch) {
    const int32_t K = p->in_features, M = p->out_features;
    int16_t *col = (int16_t *)scratch;
    for (int32_t b = 0; b < p->batch; b += EK_S4_DSP_NPIX) {
        const int32_t n = p->batch - b < EK_S4_DSP_NPIX ? p->batch - b : EK_S4_DSP_NPIX;
        for (int32_t q = 0; q < n; q++) ek_s4_dsp_widen(input + (size_t)(b + q) * K, col + 8 * q, K, p->input_offset);
        ek_s4_dsp_mat(K, M, weights, bias, multiplier, shift, col, n, output + (size_t)b * M, M, p->output_offset,
                      p->act_min, p->act_max);
    }
}
