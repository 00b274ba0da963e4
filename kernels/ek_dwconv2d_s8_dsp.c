/* Depthwise int8 convolution for Cortex-M DSP.  Channels are contiguous (NHWC), so 4
 * channels of a tap come in one 32-bit load of inputs and one of weights; SXTB16 splits
 * them into 16-bit pairs, SADD16 adds the input offset to 2 channels at once, and
 * SMLABB/SMLATT accumulate the bottom/top halves into 4 per-channel accumulators. */
#include "ek_arm_dsp.h"

EK_INLINE int32_t smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb((int32_t)a, (int32_t)b, acc); }
EK_INLINE int32_t smlatt(uint32_t a, uint32_t b, int32_t acc) { return __smlatt((int32_t)a, (int32_t)b, acc); }

/* ---- 3x3, dilation 1, small planes: one channel at a time from an int16 plane ----
 * The NHWC input puts a channel's neighbours ch bytes apart, so SMLAD (2 MACs) cannot
 * pair taps there.  Gathered into a zero-padded int16 plane (input offset added; 4
 * channels per 32-bit load), two horizontal taps are one 32-bit load and one SMLAD
 * against the packed weight pair (w0, w1) held in a register; the third tap is one
 * SMLABB: 6 instructions per 9 MACs, the 9 weights in 6 registers for a whole output
 * row, then the row is requantized in a second loop.  Planes live on the stack
 * (4 x EK_DW_PLANE_MAX int16 + a row of int32: about 2.4 KB), so larger feature maps
 * take the general loop below. */
#define EK_DW_PLANE_MAX 256

/* (h + rc) >> u, clamped to [lo, lo + span] by USAT + one compare: see EK_DSP_RQ. */
EK_INLINE int8_t dw_requant_fast(int32_t acc, int32_t m, int32_t u, int32_t rc, int32_t lo, int32_t span) {
    int32_t h;
    __asm__("smmul %0, %1, %2" : "=r"(h) : "r"(acc), "r"(m));
    int32_t v = __usat((h + rc) >> u, 8);
    if (v > span) v = span;
    return (int8_t)(v + lo);
}

/* Planes of channels [c, c + nq) (nq 1 or 4) of the padded window, H x W, origin at
 * (-pad_top, -pad_left). */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static void dw_gather(
    const ek_conv_s8_params_t *p, const int8_t *input, int32_t c, int32_t nq, int16_t *planes, int32_t H,
    int32_t W) {
    const int32_t ch = p->in_c, off = p->input_offset;
    const uint32_t off2 = ((uint32_t)(uint16_t)off << 16) | (uint16_t)off;
    int32_t px0 = p->pad_left, px1 = p->pad_left + p->in_w;  /* valid columns [px0, px1) */
    if (px1 > W) px1 = W;
    int16_t *p0 = planes, *p1 = planes + EK_DW_PLANE_MAX, *p2 = p1 + EK_DW_PLANE_MAX, *p3 = p2 + EK_DW_PLANE_MAX;
    for (int32_t py = 0; py < H; py++) {
        const int32_t iy = py - p->pad_top, row = py * W;
        if (iy < 0 || iy >= p->in_h) {
            for (int32_t px = 0; px < W; px++) {
                p0[row + px] = 0;
                if (nq == 4) p1[row + px] = p2[row + px] = p3[row + px] = 0;
            }
            continue;
        }
        for (int32_t px = 0; px < px0; px++) {
            p0[row + px] = 0;
            if (nq == 4) p1[row + px] = p2[row + px] = p3[row + px] = 0;
        }
        const int8_t *x = input + ((size_t)iy * p->in_w + (px0 - p->pad_left)) * ch + c;
        if (nq == 4) {
            for (int32_t px = px0; px < px1; px++, x += ch) {
                const uint32_t v = ek_ld32(x);
                const uint32_t a = (uint32_t)__sxtab16((int32_t)off2, (int32_t)v);  /* c0, c2 */
                const uint32_t b = ek_sxtb16_ror8(v) + 0u;                          /* c1, c3 */
                const uint32_t bb = ek_sadd16(b, off2);
                p0[row + px] = (int16_t)a;
                p2[row + px] = (int16_t)(a >> 16);
                p1[row + px] = (int16_t)bb;
                p3[row + px] = (int16_t)(bb >> 16);
            }
        } else {
            for (int32_t px = px0; px < px1; px++, x += ch) p0[row + px] = (int16_t)(*x + off);
        }
        for (int32_t px = px1; px < W; px++) {
            p0[row + px] = 0;
            if (nq == 4) p1[row + px] = p2[row + px] = p3[row + px] = 0;
        }
    }
}

/* One output row's sums (bias included) for a stride known at compile time (1 or 2), so
 * the loop needs no stride register: 3 row pointers, the 6 weight registers, the bias,
 * and the output cursor fit the 14 registers without spills. */
EK_INLINE void dw_row_sums(const int16_t *r0, int32_t W, int32_t n, int32_t sw, const uint32_t *wk, int32_t b,
                           int32_t *acc) {
    const int16_t *r1 = r0 + W, *r2 = r1 + W;
    const uint32_t w01a = wk[0], w2a = wk[1], w01b = wk[2], w2b = wk[3], w01c = wk[4], w2c = wk[5];
    for (int32_t *end = acc + n; acc < end; acc++, r0 += sw, r1 += sw, r2 += sw) {
        int32_t a = ek_smlad(ek_ld32(r0), w01a, b);
        a = __smlabb((int32_t)r0[2], (int32_t)w2a, a);
        a = ek_smlad(ek_ld32(r1), w01b, a);
        a = __smlabb((int32_t)r1[2], (int32_t)w2b, a);
        a = ek_smlad(ek_ld32(r2), w01c, a);
        *acc = __smlabb((int32_t)r2[2], (int32_t)w2c, a);
    }
}

__attribute__((noinline)) static void dw_plane_3x3(const ek_conv_s8_params_t *p, const int16_t *P, int32_t W,
                                                   const int8_t *weights, int32_t c, int32_t b, int32_t m,
                                                   int32_t s, int8_t *output, int32_t *acc) {
    const int32_t ch = p->in_c, sh = p->stride_h, sw = p->stride_w, ow = p->out_w;
    const int8_t *w = weights + c;
    uint32_t wk[6];
    for (int32_t ky = 0; ky < 3; ky++) {
        wk[2 * ky] = (uint16_t)w[3 * ky * ch] | ((uint32_t)(uint16_t)w[(3 * ky + 1) * ch] << 16);
        wk[2 * ky + 1] = (uint32_t)(int32_t)w[(3 * ky + 2) * ch];
    }
    const int32_t fast = s <= -2 && s >= -22;
    const int32_t u = -1 - s, lo = p->act_min, span = p->act_max - p->act_min;
    const int32_t rc = fast ? (2 * (p->output_offset - lo) + 1) << (u - 1) : 0;
    int8_t *y = output + c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int16_t *r0 = P + oy * sh * W;
        if (sw == 1) dw_row_sums(r0, W, ow, 1, wk, b, acc);
        else if (sw == 2) dw_row_sums(r0, W, ow, 2, wk, b, acc);
        else dw_row_sums(r0, W, ow, sw, wk, b, acc);
        if (fast) {
            for (int32_t ox = 0; ox < ow; ox++, y += ch) *y = dw_requant_fast(acc[ox], m, u, rc, lo, span);
        } else {
            for (int32_t ox = 0; ox < ow; ox++, y += ch)
                *y = ek_output_stage_dsp(acc[ox], m, s, p->output_offset, lo, p->act_max);
        }
    }
}

/* 1 if handled (3x3, dilation 1, the padded window fits a plane). */
static int dw_planes(const ek_conv_s8_params_t *p, const int8_t *input, const int8_t *weights, const int32_t *bias,
                     const int32_t *multiplier, const int32_t *shift, int8_t *output) {
    if (p->k_h != 3 || p->k_w != 3 || p->dil_h != 1 || p->dil_w != 1) return 0;
    const int32_t H = (p->out_h - 1) * p->stride_h + 3, W = (p->out_w - 1) * p->stride_w + 3;
    if (H * W > EK_DW_PLANE_MAX) return 0;
    int16_t planes[4 * EK_DW_PLANE_MAX];
    int32_t acc[EK_DW_PLANE_MAX / 3];  /* one output row: out_w < W <= EK_DW_PLANE_MAX / H, H >= 3 */
    const int32_t ch = p->in_c;
    for (int32_t c = 0; c < ch;) {
        const int32_t nq = ch - c >= 4 ? 4 : 1;
        dw_gather(p, input, c, nq, planes, H, W);
        for (int32_t q = 0; q < nq; q++, c++)
            dw_plane_3x3(p, planes + q * EK_DW_PLANE_MAX, W, weights, c, bias ? bias[c] : 0, multiplier[c],
                         shift[c], output, acc);
    }
    return 1;
}

EK_NOIPA void ek_dwconv2d_s8_dsp(EK_S8_CONV_ARGS) {
    if (dw_planes(p, input, weights, bias, multiplier, shift, output)) return;
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
