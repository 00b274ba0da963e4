/* Binary (XNOR-popcount) convolution, portable reference: dot = K - 2 * popcount(x ^ w),
 * spatial padding = all bits 0 (-1), counted in K = k_h * k_w * in_c. */
#include "ek_b1.h"

static int32_t popcount32(uint32_t v) {
    int32_t n = 0;
    while (v) {
        v &= v - 1u;
        n++;
    }
    return n;
}

EK_NOIPA void ek_bconv2d_b1_ref(const ek_bconv_params_t *p, const uint32_t *input,
                                const uint32_t *weights, int32_t *output) {
    const int32_t words = EK_B1_WORDS(p->in_c);
    const int32_t k_total = p->k_h * p->k_w * p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                int32_t diff = 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = ix0 + kx * p->dil_w;
                        const int pad = iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w;
                        const uint32_t *w = weights + (((size_t)oc * p->k_h + ky) * p->k_w + kx) * words;
                        const uint32_t *x = input + ((size_t)iy * p->in_w + ix) * words;
                        for (int32_t i = 0; i < words; i++) diff += popcount32((pad ? 0u : x[i]) ^ w[i]);
                    }
                }
                output[((size_t)oy * p->out_w + ox) * p->out_c + oc] = k_total - 2 * diff;
            }
        }
    }
}
