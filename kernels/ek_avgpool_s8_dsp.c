/* int8 average pooling for Cortex-M DSP: window sums of 4 channels at once in two
 * 16-bit-pair accumulators (SXTB16 + SADD16).  The input offset is added once per
 * window as offset * valid taps (padded taps contribute 0).  16-bit sums are exact for
 * windows up to 255 taps (|sum| <= 255 * 128); bigger windows use 32-bit sums. */
#include "ek_arm_dsp.h"

EK_NOIPA void ek_avgpool_s8_dsp(const ek_pool_s8_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t ch = p->channels;
    const int32_t c4 = p->k_h * p->k_w <= 255 ? ch & ~3 : 0;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
            const int32_t taps = (ky1 > ky0 && kx1 > kx0) ? (ky1 - ky0) * (kx1 - kx0) : 0;
            const int32_t base = taps * p->input_offset;
            int8_t *y = output + ((size_t)oy * p->out_w + ox) * ch;
            int32_t c = 0;
            for (; c < c4; c += 4) {
                uint32_t s02 = 0, s13 = 0;
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *x = input + ((size_t)(iy0 + ky) * p->in_w + ix0) * ch + c;
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const uint32_t v = ek_ld32(x + (size_t)kx * ch);
                        s02 = ek_sadd16(s02, ek_sxtb16(v));
                        s13 = ek_sadd16(s13, ek_sxtb16_ror8(v));
                    }
                }
                const int32_t sums[4] = {(int16_t)s02, (int16_t)s13, (int16_t)(s02 >> 16), (int16_t)(s13 >> 16)};
                for (int32_t j = 0; j < 4; j++)
                    y[c + j] = ek_output_stage_dsp(sums[j] + base, p->multiplier, p->shift, p->output_offset,
                                               p->act_min, p->act_max);
            }
            for (; c < ch; c++) {
                int32_t acc = base;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++)
                        acc += input[((size_t)(iy0 + ky) * p->in_w + ix0 + kx) * ch + c];
                y[c] = ek_output_stage_dsp(acc, p->multiplier, p->shift, p->output_offset, p->act_min, p->act_max);
            }
        }
    }
}
