/* int8 average pooling for Cortex-M55 MVE: window sums of 8 channels in int16 lanes
 * (exact for windows up to 255 taps; larger windows sum in int32, 4 lanes), offset added
 * once as offset * valid taps, scalar single-rounding output stage. */
#include "ek_arm_mve.h"

EK_NOIPA void ek_avgpool_s8_mve(const ek_pool_s8_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t ch = p->channels;
    const int small = p->k_h * p->k_w <= 255;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
            const int32_t taps = (ky1 > ky0 && kx1 > kx0) ? (ky1 - ky0) * (kx1 - kx0) : 0;
            const int32_t base = taps * p->input_offset;
            int8_t *y = output + ((size_t)oy * p->out_w + ox) * ch;
            const int32_t lanes = small ? 8 : 4;
            for (int32_t c = 0; c < ch; c += lanes) {
                int32_t sums[8];
                if (small) {
                    const mve_pred16_t pr = vctp16q((uint32_t)(ch - c));
                    int16x8_t s = vdupq_n_s16(0);
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *x = input + ((size_t)(iy0 + ky) * p->in_w + ix0) * ch + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) s = vaddq_s16(s, vldrbq_z_s16(x + (size_t)kx * ch, pr));
                    }
                    vstrwq_s32(sums, vmovlbq_s16(s));
                    vstrwq_s32(sums + 4, vmovltq_s16(s));
                    /* even lanes in sums[0..3], odd lanes in sums[4..7] */
                    const int32_t n = ch - c < 8 ? ch - c : 8;
                    for (int32_t j = 0; j < n; j++) {
                        const int32_t v = (j & 1) ? sums[4 + (j >> 1)] : sums[j >> 1];
                        y[c + j] = ek_output_stage(v + base, p->multiplier, p->shift, p->output_offset,
                                                   p->act_min, p->act_max);
                    }
                } else {
                    const mve_pred16_t pr = vctp32q((uint32_t)(ch - c));
                    int32x4_t s = vdupq_n_s32(0);
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *x = input + ((size_t)(iy0 + ky) * p->in_w + ix0) * ch + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) s = vaddq_s32(s, vldrbq_z_s32(x + (size_t)kx * ch, pr));
                    }
                    vstrwq_s32(sums, s);
                    const int32_t n = ch - c < 4 ? ch - c : 4;
                    for (int32_t j = 0; j < n; j++)
                        y[c + j] = ek_output_stage(sums[j] + base, p->multiplier, p->shift, p->output_offset,
                                                   p->act_min, p->act_max);
                }
            }
        }
    }
}
