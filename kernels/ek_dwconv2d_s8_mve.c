/* Depthwise int8 convolution for Cortex-M55 MVE: 16 channels per step.  One 16-byte
 * load of inputs and one of weights per tap; VMOVLB/VMOVLT widen the even/odd channels
 * to int16, the input offset is added in int16 (|x + off| <= 255), and VMULLB/VMULLT
 * form int32 products of channels = 0, 2, 1, 3 (mod 4) into four int32x4 accumulators.
 * The output stage is the vector requantization (ek_mve_requant) with per-lane constants
 * gathered and the bytes scattered back in channel order.  Tails are predicated. */
#include "ek_arm_mve.h"

/* Lanes of accumulator r hold channels c + r_base[r] + 4 * lane. */
EK_INLINE void store_group(const ek_conv_s8_params_t *p, int32x4_t acc, uint32x4_t idx, int32_t n,
                        const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *y) {
    const mve_pred16_t pr = vcmpltq_n_s32(vreinterpretq_s32_u32(idx), n);
    if (bias) acc = vaddq_s32(acc, vldrwq_gather_shifted_offset_z_s32(bias, idx, pr));
    const int32x4_t m = vldrwq_gather_shifted_offset_z_s32(multiplier, idx, pr);
    const int32x4_t s = vldrwq_gather_shifted_offset_z_s32(shift, idx, pr);
    vstrbq_scatter_offset_p_s32(y, idx, ek_mve_out_stage(ek_mve_requant(acc, m, s), p->output_offset,
                                                         p->act_min, p->act_max), pr);
}

EK_NOIPA void ek_dwconv2d_s8_mve(EK_S8_CONV_ARGS) {
    const int32_t ch = p->in_c;
    const int16_t off = (int16_t)p->input_offset;
    const uint32x4_t i0 = vidupq_n_u32(0, 4), i1 = vaddq_n_u32(i0, 1), i2 = vaddq_n_u32(i0, 2),
                     i3 = vaddq_n_u32(i0, 3);
    const int32_t row_step = p->dil_h * p->in_w * ch, col_step = p->dil_w * ch, wrow = p->k_w * ch;
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
            const int32_t ntap = kx1 - kx0;
            const int8_t *x_first = input + ((size_t)(iy0 + ky0 * p->dil_h) * p->in_w + ix0 + kx0 * p->dil_w) * ch;
            const int8_t *w_first = weights + ((size_t)ky0 * p->k_w + kx0) * ch;
            for (int32_t c = 0; c < ch; c += 16) {
                const mve_pred16_t pr = vctp8q((uint32_t)(ch - c));
                int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
                const int8_t *xr = x_first + c, *wr = w_first + c;
                for (int32_t ky = ky0; ky < ky1; ky++, xr += row_step, wr += wrow) {
                    const int8_t *x = xr, *w = wr;
                    for (int32_t t = 0; t < ntap; t++, x += col_step, w += ch) {
                        const int8x16_t xv = vldrbq_z_s8(x, pr), wv = vldrbq_z_s8(w, pr);
                        const int16x8_t xe = vaddq_n_s16(vmovlbq_s8(xv), off), xo = vaddq_n_s16(vmovltq_s8(xv), off);
                        const int16x8_t we = vmovlbq_s8(wv), wo = vmovltq_s8(wv);
                        a0 = vaddq_s32(a0, vmullbq_int_s16(xe, we));  /* channels 0 mod 4 */
                        a2 = vaddq_s32(a2, vmulltq_int_s16(xe, we));  /* 2 mod 4 */
                        a1 = vaddq_s32(a1, vmullbq_int_s16(xo, wo));  /* 1 mod 4 */
                        a3 = vaddq_s32(a3, vmulltq_int_s16(xo, wo));  /* 3 mod 4 */
                    }
                }
                const int32_t n = ch - c;
                const int32_t *b = bias ? bias + c : 0;
                store_group(p, a0, i0, n, b, multiplier + c, shift + c, y + c);
                store_group(p, a1, i1, n, b, multiplier + c, shift + c, y + c);
                store_group(p, a2, i2, n, b, multiplier + c, shift + c, y + c);
                store_group(p, a3, i3, n, b, multiplier + c, shift + c, y + c);
            }
        }
    }
}
