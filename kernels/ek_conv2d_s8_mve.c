/* General int8 convolution for Cortex-M55 MVE: im2col of 4 output pixels into int8
 * columns (raw x, padding = x_zp) + a 1 channel x 4 pixel VMLADAVA matmul
 * (ek_arm_mve.h).  Scratch: ek_conv2d_s8_scratch_bytes. */
#include "ek_arm_mve.h"
#include "ek_im2col_s8.h"

/* Out of line on purpose: inlined, GCC hoists the set-up of every tail-predicated loop
 * of every call site into the pixel prologue (~100 instructions per pixel). */
__attribute__((noinline)) static void copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
    ek_mve_copy8(dst, src, n);
}
__attribute__((noinline)) static void fill_bytes(int8_t *dst, int8_t v, int32_t n) { ek_mve_fill8(dst, v, n); }

EK_DEFINE_IM2COL_PIXEL(static, im2col_pixel, fill_bytes, copy_bytes)

/* Interior pixel (every tap inside the input, dil_w == 1): each kernel row is kw * ic
 * contiguous input bytes; copied with unpredicated 16-byte moves and one predicated
 * tail.  Most pixels of a padded conv take this path (the bounds logic of im2col_pixel
 * costs more than the copy itself for small rows). */
static inline void im2col_interior(const ek_conv_s8_params_t *p, const int8_t *x, int8_t *col) {
    const int32_t row = p->k_w * p->in_c, step = p->dil_h * p->in_w * p->in_c;
    const int32_t n16 = row & ~15, tail = row & 15;
    const mve_pred16_t pt = vctp8q((uint32_t)tail);
    for (int32_t ky = 0; ky < p->k_h; ky++, x += step, col += row) {
        int32_t i = 0;
        for (; i < n16; i += 16) vstrbq_s8(col + i, vldrbq_s8(x + i));
        if (tail) vstrbq_p_s8(col + i, vldrbq_z_s8(x + i, pt), pt);
    }
}

EK_NOIPA void ek_conv2d_s8_mve(EK_S8_CONV_ARGS, void *scratch) {
    const int32_t K = p->k_h * p->k_w * p->in_c;
    const int32_t stride = (int32_t)EK_ALIGN16(K);
    int8_t *buf = (int8_t *)scratch;
    const int32_t n_pix = p->out_h * p->out_w;
    int32_t oy = 0, ox = 0;  /* the next pixel to gather, kept incrementally (no division) */
    for (int32_t pix = 0; pix < n_pix; pix += 4) {
        const int32_t n = n_pix - pix < 4 ? n_pix - pix : 4;
        for (int32_t j = 0; j < n; j++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
            if (p->dil_w == 1 && iy0 >= 0 && ix0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h &&
                ix0 + p->k_w <= p->in_w)
                im2col_interior(p, input + ((size_t)iy0 * p->in_w + ix0) * p->in_c, buf + j * stride);
            else
                im2col_pixel(p, input, oy, ox, buf + j * stride);
            if (++ox == p->out_w) {
                ox = 0;
                oy++;
            }
        }
        const int8_t *c1 = n > 1 ? buf + stride : buf, *c2 = n > 2 ? buf + 2 * stride : buf;
        const int8_t *c3 = n > 3 ? buf + 3 * stride : buf;
        ek_mve_mat_cols(p, K, weights, bias, multiplier, shift, buf, c1, c2, c3, n,
                        output + (size_t)pix * p->out_c);
    }
}
