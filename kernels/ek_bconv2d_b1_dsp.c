/* Binary convolution for Cortex-M4/M7: XOR + SWAR byte counts summed with USADA8
 * (DSP extension).  Padded taps are handled by the tap range, plus the popcount of the
 * weights alone for each padded tap (x = all zero bits there). */
#include <arm_acle.h>

#include "ek_b1.h"

EK_INLINE uint32_t bytecounts(uint32_t v) {
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return (v + (v >> 4)) & 0x0F0F0F0Fu;
}

EK_NOIPA void ek_bconv2d_b1_dsp(const ek_bconv_params_t *p, const uint32_t *input,
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
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                            for (int32_t i = 0; i < words; i++) d = __usada8(bytecounts(w[i]), 0u, d);
                            continue;
                        }
                        const uint32_t *x = input + ((size_t)iy * p->in_w + ix) * words;
                        for (int32_t i = 0; i < words; i++) d = __usada8(bytecounts(x[i] ^ w[i]), 0u, d);
                    }
                }
                y[oc] = k_total - 2 * (int32_t)d;
            }
        }
    }
}
