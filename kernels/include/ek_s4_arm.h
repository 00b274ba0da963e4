/* Private helpers shared by the _dsp and _mve 4-bit kernels: gathering one output
 * pixel's receptive field into a natural-order int8 column (im2col), padding = x_zp
 * (which the input offset turns into 0).  Portable C; the variants then widen or load
 * the column in the order their dot product wants. */
#ifndef EK_S4_ARM_H
#define EK_S4_ARM_H
#include "ek_s4.h"

/* Copy n bytes, word-wise (unaligned LDR/STR are fine on v7-M/v8.1-M). */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static inline void ek_s4_copy(
    int8_t *dst, const int8_t *src, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t v;
        __builtin_memcpy(&v, src + i, 4);
        __builtin_memcpy(dst + i, &v, 4);
    }
    for (; i < n; i++) dst[i] = src[i];
}

/* no-tree-loop-distribute-patterns: short byte loops stay loops, not calls to
 * newlib-nano's byte-wise memset/memcpy. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static inline void ek_s4_fill(int8_t *dst, int8_t v,
                                                                                             int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = v;
}

/* One output pixel's receptive field, natural order, padding x_zp; the valid kx range
 * is found once and every row of taps is one contiguous copy when dil_w == 1. */
static inline void ek_s4_im2col_pixel(const ek_conv_s8_params_t *p, const int8_t *input, int32_t oy, int32_t ox,
                                      int8_t *col) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->in_c, kw = p->k_w, dw = p->dil_w;
    const int8_t pad = (int8_t)(-p->input_offset);
    int32_t kx0 = 0, kx1 = kw;
    while (kx0 < kw && ix0 + kx0 * dw < 0) kx0++;
    while (kx1 > kx0 && ix0 + (kx1 - 1) * dw >= p->in_w) kx1--;
    for (int32_t ky = 0; ky < p->k_h; ky++, col += kw * ic) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h || kx1 <= kx0) {
            ek_s4_fill(col, pad, kw * ic);
            continue;
        }
        if (kx0) ek_s4_fill(col, pad, kx0 * ic);
        const int8_t *x = input + ((size_t)iy * p->in_w + ix0 + kx0 * dw) * ic;
        if (dw == 1) {
            ek_s4_copy(col + kx0 * ic, x, (kx1 - kx0) * ic);
        } else {
            for (int32_t kx = kx0; kx < kx1; kx++, x += dw * ic) ek_s4_copy(col + kx * ic, x, ic);
        }
        if (kx1 < kw) ek_s4_fill(col + kx1 * ic, pad, (kw - kx1) * ic);
    }
}

/* The input of output pixel `pix` of a 1x1 convolution (a contiguous channel vector). */
static inline const int8_t *ek_s4_1x1_pixel(const ek_conv_s8_params_t *p, const int8_t *input, int32_t pix) {
    const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
    return input + ((size_t)oy * p->stride_h * p->in_w + (size_t)ox * p->stride_w) * p->in_c;
}
#endif
