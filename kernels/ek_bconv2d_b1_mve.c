/* Binary convolution for Cortex-M55 MVE: 4 output channels per vector.  For each tap
 * word, one gather loads that word of 4 channels' weights, XOR with the input word
 * broadcast, SWAR per-byte bit counts (MVE has no VCNT) summed bytewise (<= 8 per word,
 * flushed to 32-bit lanes every 31 words so bytes never overflow).  A padded tap is
 * x = 0 (all -1), which the same code handles.  Channel tail predicated. */
#include "ek_arm_mve.h"
#include "ek_b1.h"

EK_INLINE uint8x16_t bytecounts(uint32x4_t v) {
    v = vsubq_u32(v, vandq_u32(vshrq_n_u32(v, 1), vdupq_n_u32(0x55555555u)));
    v = vaddq_u32(vandq_u32(v, vdupq_n_u32(0x33333333u)), vandq_u32(vshrq_n_u32(v, 2), vdupq_n_u32(0x33333333u)));
    v = vandq_u32(vaddq_u32(v, vshrq_n_u32(v, 4)), vdupq_n_u32(0x0F0F0F0Fu));
    return vreinterpretq_u8_u32(v);
}

/* Sum of the 4 bytes (each <= 255) of each 32-bit lane. */
EK_INLINE uint32x4_t lane_sums(uint8x16_t b) {
    const uint32x4_t v = vreinterpretq_u32_u8(b), m = vdupq_n_u32(0x00FF00FFu);
    const uint32x4_t h = vaddq_u32(vandq_u32(v, m), vandq_u32(vshrq_n_u32(v, 8), m));
    return vaddq_u32(vandq_u32(h, vdupq_n_u32(0xFFFFu)), vshrq_n_u32(h, 16));
}

EK_NOIPA void ek_bconv2d_b1_mve(const ek_bconv_params_t *p, const uint32_t *input,
                                const uint32_t *weights, int32_t *output) {
    const int32_t words = EK_B1_WORDS(p->in_c);
    const int32_t per_oc = p->k_h * p->k_w * words;  /* weight words per output channel */
    const int32_t k_total = p->k_h * p->k_w * p->in_c;
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)per_oc);
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int32_t *y = output + ((size_t)oy * p->out_w + ox) * p->out_c;
            for (int32_t oc = 0; oc < p->out_c; oc += 4) {
                const mve_pred16_t pr = vctp32q((uint32_t)(p->out_c - oc));
                const uint32_t *w = weights + (size_t)oc * per_oc;
                uint32x4_t d32 = vdupq_n_u32(0);
                uint8x16_t d8 = vdupq_n_u8(0);
                int32_t pending = 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = ix0 + kx * p->dil_w;
                        const int pad = iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w;
                        const uint32_t *x = input + ((size_t)iy * p->in_w + ix) * words;
                        for (int32_t i = 0; i < words; i++, w++) {
                            const uint32x4_t wv = vldrwq_gather_shifted_offset_z_u32(w, offs, pr);
                            d8 = vaddq_u8(d8, bytecounts(veorq_u32(wv, vdupq_n_u32(pad ? 0u : x[i]))));
                            if (++pending == 31) {  /* 31 * 8 <= 255 */
                                d32 = vaddq_u32(d32, lane_sums(d8));
                                d8 = vdupq_n_u8(0);
                                pending = 0;
                            }
                        }
                    }
                }
                d32 = vaddq_u32(d32, lane_sums(d8));
                /* dot = K - 2 * popcount */
                const int32x4_t dot = vsubq_s32(vdupq_n_s32(k_total), vreinterpretq_s32_u32(vshlq_n_u32(d32, 1)));
                vstrwq_p_s32(y + oc, dot, pr);
            }
        }
    }
}
