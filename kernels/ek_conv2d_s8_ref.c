/* General int8 convolution, portable reference (direct loops; scratch unused). */
#include "ek_s8.h"

EK_NOIPA void ek_conv2d_s8_ref(EK_S8_CONV_ARGS, void *scratch) {
    (void)scratch;
    const int32_t ic = p->in_c, kw_ic = p->k_w * p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                const int8_t *w = weights + (size_t)oc * p->k_h * kw_ic;
                int32_t acc = bias ? bias[oc] : 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h) continue;  /* x_zp padding contributes 0 */
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = ix0 + kx * p->dil_w;
                        if (ix < 0 || ix >= p->in_w) continue;
                        const int8_t *x = input + ((size_t)iy * p->in_w + ix) * ic;
                        const int8_t *wk = w + ky * kw_ic + kx * ic;
                        for (int32_t c = 0; c < ic; c++) acc += (x[c] + p->input_offset) * wk[c];
                    }
                }
                output[((size_t)oy * p->out_w + ox) * p->out_c + oc] = ek_output_stage(
                    acc, multiplier[oc], shift[oc], p->output_offset, p->act_min, p->act_max);
            }
        }
    }
}
