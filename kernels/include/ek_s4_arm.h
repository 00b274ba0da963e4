/* Private helpers shared by the _dsp and _mve 4-bit kernels: gathering one output
 * pixel's receptive field into a natural-order int8 column (im2col), padding = x_zp
 * (which the input offset turns into 0).  Portable C; the variants then widen or load
 * the column in the order their dot product wants. */
#ifndef EK_S4_ARM_H
#define EK_S4_ARM_H
#include "ek_s4.h"

/* no-tree-loop-distribute-patterns: short byte loops stay loops, not calls to
 * newlib-nano's byte-wise memset/memcpy. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static inline void ek_s4_im2col_pixel(
    const ek_conv_s8_params_t *p, const int8_t *input, int32_t oy, int32_t ox, int8_t *col) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->in_c, kw = p->k_w, dw = p->dil_w;
    const int8_t pad = (int8_t)(-p->input_offset);
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = iy0 + ky * p->dil_h;
        for (int32_t kx = 0; kx < kw; kx++, col += ic) {
            const int32_t ix = ix0 + kx * dw;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (int32_t c = 0; c < ic; c++) col[c] = pad;
            } else {
                const int8_t *x = input + ((size_t)iy * p->in_w + ix) * ic;
                for (int32_t c = 0; c < ic; c++) col[c] = x[c];
            }
        }
    }
}

/* The input of output pixel `pix` of a 1x1 convolution (a contiguous channel vector). */
static inline const int8_t *ek_s4_1x1_pixel(const ek_conv_s8_params_t *p, const int8_t *input, int32_t pix) {
    const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
    return input + ((size_t)oy * p->stride_h * p->in_w + (size_t)ox * p->stride_w) * p->in_c;
}
#endif
