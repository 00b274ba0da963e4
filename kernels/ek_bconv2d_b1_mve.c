/* Binary convolution for Cortex-M55 MVE: per tap, XOR + vector SWAR bit counts over the
 * tap's words (see ek_bfc_b1_mve.c); a padded tap counts popcount(w) (x = all -1). */
#include "ek_arm_mve.h"
#include "ek_b1.h"

EK_INLINE uint8x16_t bytecounts(uint32x4_t v) {
    v = vsubq_u32(v, vandq_u32(vshrq_n_u32(v, 1), vdupq_n_u32(0x55555555u)));
    v = vaddq_u32(vandq_u32(v, vdupq_n_u32(0x33333333u)), vandq_u32(vshrq_n_u32(v, 2), vdupq_n_u32(0x33333333u)));
    v = vandq_u32(vaddq_u32(v, vshrq_n_u32(v, 4)), vdupq_n_u32(0x0F0F0F0Fu));
    return vreinterpretq_u8_u32(v);
}

EK_NOIPA void ek_bconv2d_b1_mve(const ek_bconv_params_t *p, const uint32_t *input,
                                const uint32_t *weights, int32_t *output) {
    const int32_t words = EK_B1_WORDS(p->in_c);
    const int32_t k_total = p->k_h * p->k_w * p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t *y = output + ((size_t)oy * p->out_w + ox) * p->out_c;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                const uint32_t *w = weights + (size_t)oc * p->k_h * p->k_w * words;
                uint32_t d = 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    for (int32_t kx = 0; kx < p->k_w; kx++, w += words) {
                        const int32_t ix = ix0 + kx * p->dil_w;
                        const int pad = iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w;
                        const uint32_t *x = pad ? 0 : input + ((size_t)iy * p->in_w + ix) * words;
                        for (int32_t i = 0; i < words; i += 4) {
                            const mve_pred16_t pr = vctp32q((uint32_t)(words - i));
                            uint32x4_t v = vldrwq_z_u32(w + i, pr);
                            if (x) v = veorq_u32(v, vldrwq_z_u32(x + i, pr));
                            d = vaddvaq_u8(d, bytecounts(v));
                        }
                    }
                }
                y[oc] = k_total - 2 * (int32_t)d;
            }
        }
    }
}
