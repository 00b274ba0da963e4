/* int8 average pooling (QAvgPool: window sum requantized, window size folded into the
 * multiplier; padded taps contribute 0), portable reference. */
#include "ek_s8.h"

EK_NOIPA void ek_avgpool_s8_ref(const ek_pool_s8_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t ch = p->channels;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t c = 0; c < ch; c++) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = iy0 + ky;
                    if (iy < 0 || iy >= p->in_h) continue;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = ix0 + kx;
                        if (ix < 0 || ix >= p->in_w) continue;
                        acc += input[((size_t)iy * p->in_w + ix) * ch + c] + p->input_offset;
                    }
                }
                output[((size_t)oy * p->out_w + ox) * ch + c] = ek_output_stage(
                    acc, p->multiplier, p->shift, p->output_offset, p->act_min, p->act_max);
            }
        }
    }
}
