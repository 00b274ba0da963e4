/* One output pixel's receptive field gathered into a natural-order int8 column
 * (k_h x k_w x in_c, NHWC input, padding = x_zp so the input offset turns it into 0).
 * The valid kx range is found once, and with dil_w == 1 each row of taps is one
 * contiguous copy.
 *
 * A macro, not a function: each kernel instantiates it with its own fill/copy
 * primitives (tail-predicated MVE loops, word-wise copies, ...), so the code each
 * variant compiles is exactly the code it had when these were written out by hand. */
#ifndef EK_IM2COL_S8_H
#define EK_IM2COL_S8_H
#include "ek_s8.h"

#define EK_DEFINE_IM2COL_PIXEL(QUALIFIERS, NAME, FILL, COPY)                                          \
    QUALIFIERS void NAME(const ek_conv_s8_params_t *p, const int8_t *input, int32_t oy, int32_t ox,   \
                         int8_t *col) {                                                                \
        const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;      \
        const int32_t ic = p->in_c, kw = p->k_w, dw = p->dil_w;                                        \
        const int8_t pad = (int8_t)(-p->input_offset); /* x_zp: contributes 0 */                      \
        int32_t kx0 = 0, kx1 = kw;                                                                     \
        while (kx0 < kw && ix0 + kx0 * dw < 0) kx0++;                                                  \
        while (kx1 > kx0 && ix0 + (kx1 - 1) * dw >= p->in_w) kx1--;                                    \
        for (int32_t ky = 0; ky < p->k_h; ky++, col += kw * ic) {                                      \
            const int32_t iy = iy0 + ky * p->dil_h;                                                    \
            if (iy < 0 || iy >= p->in_h || kx1 <= kx0) {                                               \
                FILL(col, pad, kw * ic);                                                               \
                continue;                                                                              \
            }                                                                                          \
            if (kx0) FILL(col, pad, kx0 * ic);                                                         \
            const int8_t *x = input + ((size_t)iy * p->in_w + ix0 + kx0 * dw) * ic;                    \
            if (dw == 1) {                                                                             \
                COPY(col + kx0 * ic, x, (kx1 - kx0) * ic);                                             \
            } else {                                                                                   \
                for (int32_t kx = kx0; kx < kx1; kx++, x += dw * ic) COPY(col + kx * ic, x, ic);       \
            }                                                                                          \
            if (kx1 < kw) FILL(col + kx1 * ic, pad, (kw - kx1) * ic);                                  \
        }                                                                                              \
    }

#endif
