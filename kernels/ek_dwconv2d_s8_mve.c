/* Depthwise int8 convolution for Cortex-M55 MVE: 8 channels per step, widened to int16
 * by the load (VLDRB.S16), the input offset added in int16 (|x + off| <= 255), even/odd
 * lane products to int32 (VMULLB/VMULLT) into two accumulators: 5 Q registers, no
 * spills, 9 instructions per tap for 8 MACs.  The output stage is the vector
 * requantization (ek_mve_requant) with per-lane constants gathered and the bytes
 * scattered back in channel order.  Only the channel tail (< 8) is predicated. */
#include "ek_arm_mve.h"

/* Lanes of accumulator `acc` hold channels idx (0,2,4,6 or 1,3,5,7) of the group. */
EK_INLINE void store_group(const ek_conv_s8_params_t *p, int32x4_t acc, uint32x4_t idx, int32_t n,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *y) {
    const mve_pred16_t pr = vcmpltq_n_s32(vreinterpretq_s32_u32(idx), n);
    if (bias) acc = vaddq_s32(acc, vldrwq_gather_shifted_offset_z_s32(bias, idx, pr));
    const int32x4_t m = vldrwq_gather_shifted_offset_z_s32(multiplier, idx, pr);
    const int32x4_t s = vldrwq_gather_shifted_offset_z_s32(shift, idx, pr);
    vstrbq_scatter_offset_p_s32(y, idx, ek_mve_out_stage(ek_mve_requant(acc, m, s), p->output_offset,
                                                         p->act_min, p->act_max), pr);
}

/* The usual case, every shift <= -2 and a whole group of 8: requant = VRSHL(VMULH(acc, m),
 * shift + 1) (see ek_mve_requant), no predicates. */
EK_INLINE void store_group_fast(int32x4_t acc, uint32x4_t idx, const int32_t *bias, const int32_t *multiplier,
                                const int32_t *shift, int32_t zp, int32x4_t lo, int32x4_t hi, int8_t *y) {
    if (bias) acc = vaddq_s32(acc, vldrwq_gather_shifted_offset_s32(bias, idx));
    const int32x4_t m = vldrwq_gather_shifted_offset_s32(multiplier, idx);
    const int32x4_t s1 = vaddq_n_s32(vldrwq_gather_shifted_offset_s32(shift, idx), 1);
    const int32x4_t r = vqaddq_n_s32(vrshlq_s32(vmulhq_s32(acc, m), s1), zp);
    vstrbq_scatter_offset_s32(y, idx, vminq_s32(vmaxq_s32(r, lo), hi));
}

EK_NOIPA void ek_dwconv2d_s8_mve(EK_S8_CONV_ARGS) {
    const int32_t ch = p->in_c;
    int fast = 1;
    for (int32_t c = 0; c < ch; c++) fast &= shift[c] <= -2;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int16_t off = (int16_t)p->input_offset;
    const uint32x4_t ie = vidupq_n_u32(0, 2), io = vaddq_n_u32(ie, 1);
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
            const int32_t ntap = kx1 - kx0, nrow = ky1 - ky0;
            const int8_t *x_first = input + ((size_t)(iy0 + ky0 * p->dil_h) * p->in_w + ix0 + kx0 * p->dil_w) * ch;
            const int8_t *w_first = weights + ((size_t)ky0 * p->k_w + kx0) * ch;
            for (int32_t c = 0; c < ch; c += 8) {
                int32x4_t ev = vdupq_n_s32(0), od = ev;
                const int8_t *xr = x_first + c, *wr = w_first + c;
                if (ch - c >= 8) {
                    for (int32_t r = 0; r < nrow; r++, xr += row_step, wr += wrow) {
                        const int8_t *x = xr, *w = wr;
                        for (int32_t t = 0; t < ntap; t++, x += col_step, w += ch) {
                            const int16x8_t xv = vaddq_n_s16(vldrbq_s16(x), off), wv = vldrbq_s16(w);
                            ev = vaddq_s32(ev, vmullbq_int_s16(xv, wv));
                            od = vaddq_s32(od, vmulltq_int_s16(xv, wv));
                        }
                    }
                } else {
                    const mve_pred16_t pr = vctp16q((uint32_t)(ch - c));
                    for (int32_t r = 0; r < nrow; r++, xr += row_step, wr += wrow) {
                        const int8_t *x = xr, *w = wr;
                        for (int32_t t = 0; t < ntap; t++, x += col_step, w += ch) {
                            const int16x8_t xv = vaddq_n_s16(vldrbq_z_s16(x, pr), off), wv = vldrbq_z_s16(w, pr);
                            ev = vaddq_s32(ev, vmullbq_int_s16(xv, wv));
                            od = vaddq_s32(od, vmulltq_int_s16(xv, wv));
                        }
                    }
                }
                const int32_t n = ch - c;
                const int32_t *b = bias ? bias + c : 0;
                if (fast && n >= 8) {
                    store_group_fast(ev, ie, b, multiplier + c, shift + c, p->output_offset, lo, hi, y + c);
                    store_group_fast(od, io, b, multiplier + c, shift + c, p->output_offset, lo, hi, y + c);
                } else {
                    store_group(p, ev, ie, n, b, multiplier + c, shift + c, y + c);
                    store_group(p, od, io, n, b, multiplier + c, shift + c, y + c);
                }
            }
        }
    }
}
