/* int8 max pooling for Cortex-M DSP: 4 channels per 32-bit word; SSUB8 sets the GE
 * flags per byte and SEL picks the larger bytes (a 4-lane max in 2 instructions). */
#include "ek_arm_dsp.h"

EK_INLINE uint32_t max4(uint32_t a, uint32_t b) {
    (void)__ssub8((int32_t)a, (int32_t)b);
    return (uint32_t)__sel((int32_t)a, (int32_t)b);
}
EK_INLINE uint32_t min4(uint32_t a, uint32_t b) {
    (void)__ssub8((int32_t)a, (int32_t)b);
    return (uint32_t)__sel((int32_t)b, (int32_t)a);
}

EK_NOIPA void ek_maxpool_s8_dsp(const ek_pool_s8_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t ch = p->channels, c4 = ch & ~3;
    const uint32_t lo4 = 0x01010101u * (uint8_t)p->act_min, hi4 = 0x01010101u * (uint8_t)p->act_max;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
            int8_t *y = output + ((size_t)oy * p->out_w + ox) * ch;
            int32_t c = 0;
            for (; c < c4; c += 4) {
                uint32_t m = 0x80808080u;
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *x = input + ((size_t)(iy0 + ky) * p->in_w + ix0) * ch + c;
                    for (int32_t kx = kx0; kx < kx1; kx++) m = max4(m, ek_ld32(x + (size_t)kx * ch));
                }
                ek_st32(y + c, min4(max4(m, lo4), hi4));
            }
            for (; c < ch; c++) {
                int32_t m = -128;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const int32_t v = input[((size_t)(iy0 + ky) * p->in_w + ix0 + kx) * ch + c];
                        m = v > m ? v : m;
                    }
                y[c] = (int8_t)ek_clamp(m, p->act_min, p->act_max);
            }
        }
    }
}
