/* 1x1 int8 convolution (no padding, any stride), portable reference. */
#include "ek_s8.h"

EK_NOIPA void ek_conv1x1_s8_ref(EK_S8_CONV_ARGS, void *scratch) {
    (void)scratch;
    const int32_t ic = p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int8_t *x = input + ((size_t)oy * p->stride_h * p->in_w + (size_t)ox * p->stride_w) * ic;
            int8_t *y = output + ((size_t)oy * p->out_w + ox) * p->out_c;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                const int8_t *w = weights + (size_t)oc * ic;
                int32_t acc = bias ? bias[oc] : 0;
                for (int32_t c = 0; c < ic; c++) acc += (x[c] + p->input_offset) * w[c];
                y[oc] = ek_output_stage(acc, multiplier[oc], shift[oc], p->output_offset, p->act_min,
                                        p->act_max);
            }
        }
    }
}
