/* 1x1 convolution with 4-bit packed weights (no padding, any stride), portable reference. */
#include "ek_s4.h"

EK_NOIPA void ek_conv1x1_s4_ref(EK_S4_CONV_ARGS, void *scratch) {
    (void)scratch;
    const int32_t ic = p->in_c;
    const size_t row_bytes = EK_S4_ROW_BYTES(ic);
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int8_t *x = input + ((size_t)oy * p->stride_h * p->in_w + (size_t)ox * p->stride_w) * ic;
            int8_t *y = output + ((size_t)oy * p->out_w + ox) * p->out_c;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                const uint8_t *w = weights + (size_t)oc * row_bytes;
                int32_t acc = bias ? bias[oc] : 0;
                for (int32_t c = 0; c < ic; c++) acc += (x[c] + p->input_offset) * ek_s4_get(w, c);
                y[oc] = ek_output_stage(acc, multiplier[oc], shift[oc], p->output_offset, p->act_min,
                                        p->act_max);
            }
        }
    }
}
