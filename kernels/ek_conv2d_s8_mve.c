/* General int8 convolution for Cortex-M55 MVE: im2col of 4 output pixels into int8
 * columns (raw x, padding = x_zp) + a 1 channel x 4 pixel VMLADAVA matmul
 * (ek_arm_mve.h).  Scratch: ek_conv2d_s8_scratch_bytes. */
#include "ek_arm_mve.h"

static void im2col_pixel(const ek_conv_s8_params_t *p, const int8_t *input, int32_t pix, int8_t *col) {
    const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->in_c, kw = p->k_w, dw = p->dil_w;
    const int8_t pad = (int8_t)(-p->input_offset);  /* x_zp: contributes 0 */
    int32_t kx0 = 0, kx1 = kw;
    while (kx0 < kw && ix0 + kx0 * dw < 0) kx0++;
    while (kx1 > kx0 && ix0 + (kx1 - 1) * dw >= p->in_w) kx1--;
    for (int32_t ky = 0; ky < p->k_h; ky++, col += kw * ic) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h || kx1 <= kx0) {
            ek_mve_fill8(col, pad, kw * ic);
            continue;
        }
        if (kx0) ek_mve_fill8(col, pad, kx0 * ic);
        const int8_t *x = input + ((size_t)iy * p->in_w + ix0 + kx0 * dw) * ic;
        if (dw == 1) {
            ek_mve_copy8(col + kx0 * ic, x, (kx1 - kx0) * ic);
        } else {
            for (int32_t kx = kx0; kx < kx1; kx++, x += dw * ic) ek_mve_copy8(col + kx * ic, x, ic);
        }
        if (kx1 < kw) ek_mve_fill8(col + kx1 * ic, pad, (kw - kx1) * ic);
    }
}

EK_NOIPA void ek_conv2d_s8_mve(EK_S8_CONV_ARGS, void *scratch) {
    const int32_t K = p->k_h * p->k_w * p->in_c;
    const int32_t stride = (int32_t)EK_ALIGN16(K);
    int8_t *buf = (int8_t *)scratch;
    const int32_t n_pix = p->out_h * p->out_w;
    for (int32_t pix = 0; pix < n_pix; pix += 4) {
        const int32_t n = n_pix - pix < 4 ? n_pix - pix : 4;
        for (int32_t j = 0; j < n; j++) im2col_pixel(p, input, pix + j, buf + j * stride);
        const int8_t *c1 = n > 1 ? buf + stride : buf, *c2 = n > 2 ? buf + 2 * stride : buf;
        const int8_t *c3 = n > 3 ? buf + 3 * stride : buf;
        ek_mve_mat_cols(p, K, weights, bias, multiplier, shift, buf, c1, c2, c3, n,
                        output + (size_t)pix * p->out_c);
    }
}
