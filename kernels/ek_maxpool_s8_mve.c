/* int8 max pooling for Cortex-M55 MVE: 16 channels per VMAX.S8, predicated tail. */
#include "ek_arm_mve.h"

EK_NOIPA void ek_maxpool_s8_mve(const ek_pool_s8_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t ch = p->channels;
    const int8x16_t lo = vdupq_n_s8((int8_t)p->act_min), hi = vdupq_n_s8((int8_t)p->act_max);
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
            int8_t *y = output + ((size_t)oy * p->out_w + ox) * ch;
            for (int32_t c = 0; c < ch; c += 16) {
                const mve_pred16_t pr = vctp8q((uint32_t)(ch - c));
                int8x16_t m = vdupq_n_s8(-128);
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *x = input + ((size_t)(iy0 + ky) * p->in_w + ix0) * ch + c;
                    for (int32_t kx = kx0; kx < kx1; kx++) m = vmaxq_s8(m, vldrbq_z_s8(x + (size_t)kx * ch, pr));
                }
                vstrbq_p_s8(y + c, vminq_s8(vmaxq_s8(m, lo), hi), pr);
            }
        }
    }
}
