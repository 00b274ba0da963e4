/* Fully connected with 4-bit packed weights (rows of in_features), portable reference. */
#include "ek_s4.h"

EK_NOIPA void ek_fc_s4_ref(const ek_fc_s8_params_t *p, const int8_t *input, const uint8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t k = p->in_features;
    const size_t row_bytes = EK_S4_ROW_BYTES(k);
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + (size_t)b * k;
        for (int32_t m = 0; m < p->out_features; m++) {
            const uint8_t *w = weights + (size_t)m * row_bytes;
            int32_t acc = bias ? bias[m] : 0;
            for (int32_t i = 0; i < k; i++) acc += (x[i] + p->input_offset) * ek_s4_get(w, i);
            output[(size_t)b * p->out_features + m] = ek_output_stage(
                acc, multiplier[m], shift[m], p->output_offset, p->act_min, p->act_max);
        }
    }
}
