/* Depthwise int8 convolution for Cortex-M DSP.  Channels are contiguous (NHWC), so 4
 * channels of a tap come in one 32-bit load of inputs and one of weights; SXTB16 splits
 * them into 16-bit pairs, SADD16 adds the input offset to 2 channels at once, and
 * SMLABB/SMLATT accumulate the bottom/top halves into 4 per-channel accumulators. */
#include "ek_arm_dsp.h"

EK_INLINE int32_t smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb((int32_t)a, (int32_t)b, acc); }
EK_INLINE int32_t smlatt(uint32_t a, uint32_t b, int32_t acc) { return __smlatt((int32_t)a, (int32_t)b, acc); }

EK_NOIPA void ek_dwconv2d_s8_dsp(EK_S8_CONV_ARGS) {
    const int32_t ch = p->in_c, c4 = ch & ~3;
    const uint32_t off2 = ((uint32_t)(uint16_t)p->input_offset << 16) | (uint16_t)p->input_offset;
    const int32_t row_step = p->dil_h * p->in_w * ch, col_step = p->dil_w * ch, wrow = p->k_w * ch;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? (-iy0 + p->dil_h - 1) / p->dil_h : 0;
        int32_t ky1 = p->k_h;
        while (ky1 > ky0 && iy0 + (ky1 - 1) * p->dil_h >= p->in_h) ky1--;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? (-ix0 + p->dil_w - 1) / p->dil_w : 0;
            int32_t kx1 = p->k_w;
            while (kx1 > kx0 && ix0 + (kx1 - 1) * p->dil_w >= p->in_w) kx1--;
            int8_t *y = output + ((size_t)oy * p->out_w + ox) * ch;
            const int32_t ntap = kx1 - kx0;
            const int8_t *x_first = input + ((size_t)(iy0 + ky0 * p->dil_h) * p->in_w + ix0 + kx0 * p->dil_w) * ch;
            const int8_t *w_first = weights + ((size_t)ky0 * p->k_w + kx0) * ch;
            int32_t c = 0;
            for (; c < c4; c += 4) {
                int32_t a0 = bias ? bias[c] : 0, a1 = bias ? bias[c + 1] : 0;
                int32_t a2 = bias ? bias[c + 2] : 0, a3 = bias ? bias[c + 3] : 0;
                const int8_t *xr = x_first + c, *wr = w_first + c;
                for (int32_t ky = ky0; ky < ky1; ky++, xr += row_step, wr += wrow) {
                    const int8_t *x = xr, *w = wr;
                    for (int32_t t = 0; t < ntap; t++, x += col_step, w += ch) {
                        const uint32_t xv = ek_ld32(x), wv = ek_ld32(w);
                        const uint32_t x02 = ek_sadd16(ek_sxtb16(xv), off2);
                        const uint32_t x13 = ek_sadd16(ek_sxtb16_ror8(xv), off2);
                        const uint32_t w02 = ek_sxtb16(wv), w13 = ek_sxtb16_ror8(wv);
                        a0 = smlabb(x02, w02, a0);
                        a2 = smlatt(x02, w02, a2);
                        a1 = smlabb(x13, w13, a1);
                        a3 = smlatt(x13, w13, a3);
                    }
                }
                y[c] = ek_output_stage_dsp(a0, multiplier[c], shift[c], p->output_offset, p->act_min, p->act_max);
                y[c + 1] = ek_output_stage_dsp(a1, multiplier[c + 1], shift[c + 1], p->output_offset, p->act_min,
                                           p->act_max);
                y[c + 2] = ek_output_stage_dsp(a2, multiplier[c + 2], shift[c + 2], p->output_offset, p->act_min,
                                           p->act_max);
                y[c + 3] = ek_output_stage_dsp(a3, multiplier[c + 3], shift[c + 3], p->output_offset, p->act_min,
                                           p->act_max);
            }
            for (; c < ch; c++) {
                int32_t acc = bias ? bias[c] : 0;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++)
                        acc += (input[((size_t)(iy0 + ky * p->dil_h) * p->in_w + ix0 + kx * p->dil_w) * ch + c] +
                                p->input_offset) * weights[((size_t)ky * p->k_w + kx) * ch + c];
                y[c] = ek_output_stage_dsp(acc, multiplier[c], shift[c], p->output_offset, p->act_min, p->act_max);
            }
        }
    }
}
