/* Depthwise int8 convolution for Cortex-M55 MVE: 8 channels per vector, widened to
 * int16 on load (VLDRB.S16), input offset added in int16 (|x + off| <= 255), products
 * of the even/odd lanes to int32 (VMULLB/VMULLT) accumulated in two int32x4 vectors.
 * The channel tail is predicated. */
#include "ek_arm_mve.h"

EK_NOIPA void ek_dwconv2d_s8_mve(EK_S8_CONV_ARGS) {
    const int32_t ch = p->in_c;
    const int16_t off = (int16_t)p->input_offset;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t ky0 = 0, ky1 = p->k_h;
        while (ky0 < p->k_h && iy0 + ky0 * p->dil_h < 0) ky0++;
        while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dil_h >= p->in_h) ky1--;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t kx0 = 0, kx1 = p->k_w;
            while (kx0 < p->k_w && ix0 + kx0 * p->dil_w < 0) kx0++;
            while (kx1 > kx0 && ix0 + (kx1 - 1) * p->dil_w >= p->in_w) kx1--;
            int8_t *y = output + ((size_t)oy * p->out_w + ox) * ch;
            for (int32_t c = 0; c < ch; c += 8) {
                const mve_pred16_t pr = vctp16q((uint32_t)(ch - c));
                int32x4_t ev = vdupq_n_s32(0), od = vdupq_n_s32(0);
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *xr = input + ((size_t)(iy0 + ky * p->dil_h) * p->in_w + ix0) * ch + c;
                    const int8_t *wr = weights + (size_t)ky * p->k_w * ch + c;
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const int16x8_t xv = vaddq_n_s16(vldrbq_z_s16(xr + (size_t)kx * p->dil_w * ch, pr), off);
                        const int16x8_t wv = vldrbq_z_s16(wr + (size_t)kx * ch, pr);
                        ev = vaddq_s32(ev, vmullbq_int_s16(xv, wv));
                        od = vaddq_s32(od, vmulltq_int_s16(xv, wv));
                    }
                }
                int32_t acc[8];
                int32x4x2_t pair;
                pair.val[0] = ev;
                pair.val[1] = od;
                vst2q_s32(acc, pair);  /* interleave back to channel order */
                const int32_t n = ch - c < 8 ? ch - c : 8;
                for (int32_t j = 0; j < n; j++)
                    y[c + j] = ek_output_stage(acc[j] + (bias ? bias[c + j] : 0), multiplier[c + j], shift[c + j],
                                               p->output_offset, p->act_min, p->act_max);
            }
        }
    }
}
