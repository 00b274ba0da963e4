/* General convolution with 4-bit packed weights, portable reference (direct loops,
 * nibbles unpacked one at a time; scratch unused). */
#include "ek_s4.h"

EK_NOIPA void ek_conv2d_s4_ref(EK_S4_CONV_ARGS, void *scratch) {
    (void)scratch;
    const int32_t ic = p->in_c, kw_ic = p->k_w * p->in_c;
    const size_t row_bytes = EK_S4_ROW_BYTES(p->k_h * kw_ic);
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                const uint8_t *w = weights + (size_t)oc * row_bytes;
                int32_t acc = bias ? bias[oc] : 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h) continue;  /* x_zp padding contributes 0 */
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = ix0 + kx * p->dil_w;
                        if (ix < 0 || ix >= p->in_w) continue;
                        const int8_t *x = input + ((size_t)iy * p->in_w + ix) * ic;
                        const int32_t k0 = ky * kw_ic + kx * ic;
                        for (int32_t c = 0; c < ic; c++) acc += (x[c] + p->input_offset) * ek_s4_get(w, k0 + c);
                    }
                }
                output[((size_t)oy * p->out_w + ox) * p->out_c + oc] = ek_output_stage(
                    acc, multiplier[oc], shift[oc], p->output_offset, p->act_min, p->act_max);
            }
        }
    }
}
