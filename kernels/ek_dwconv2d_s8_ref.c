/* Depthwise int8 convolution (multiplier 1, weights [k_h][k_w][C]), portable reference. */
#include "ek_s8.h"

EK_NOIPA void ek_dwconv2d_s8_ref(EK_S8_CONV_ARGS) {
    const int32_t ch = p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t c = 0; c < ch; c++) {
                int32_t acc = bias ? bias[c] : 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h) continue;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = ix0 + kx * p->dil_w;
                        if (ix < 0 || ix >= p->in_w) continue;
                        acc += (input[((size_t)iy * p->in_w + ix) * ch + c] + p->input_offset) *
                               weights[((size_t)ky * p->k_w + kx) * ch + c];
                    }
                }
                output[((size_t)oy * p->out_w + ox) * ch + c] = ek_output_stage(
                    acc, multiplier[c], shift[c], p->output_offset, p->act_min, p->act_max);
            }
        }
    }
}
