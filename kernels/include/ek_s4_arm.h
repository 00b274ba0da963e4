/* Private helpers shared by the _dsp and _mve 4-bit kernels: gathering one output
 * pixel's receptive field into a natural-order int8 column (im2col), padding = x_zp
 * (which the input offset turns into 0).  Portable C; the variants then widen or load
 * the column in the order their dot product wants. */
#ifndef EK_S4_ARM_H
#define EK_S4_ARM_H
#include "ek_s4.h"
#include "ek_im2col_s8.h"

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

/* One output pixel's receptive field, natural order (ek_im2col_s8.h). */
EK_DEFINE_IM2COL_PIXEL(static inline, ek_s4_im2col_pixel, ek_s4_fill, ek_s4_copy)

/* The input of output pixel `pix` of a 1x1 convolution (a contiguous channel vector). */
static inline const int8_t *ek_s4_1x1_pixel(const ek_conv_s8_params_t *p, const int8_t *input, int32_t pix) {
    const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
    return input + ((size_t)oy * p->stride_h * p->in_w + (size_t)ox * p->stride_w) * p->in_c;
}
#endif
