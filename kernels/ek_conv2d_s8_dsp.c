/* General int8 convolution for Cortex-M DSP: im2col of 2 output pixels into int16
 * columns (input offset added, padding = 0) + the 2x2-tiled SMLAD matmul
 * (ek_arm_dsp.h).  Scratch: ek_conv2d_s8_scratch_bytes. */
#include "ek_arm_dsp.h"

static void im2col_pixel(const ek_conv_s8_params_t *p, const int8_t *input, int32_t pix, int16_t *col,
                         int32_t K) {
    const int32_t oy = pix / p->out_w, ox = pix % p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->in_c, k4 = K & ~3;
    const int fast = (ic & 3) == 0;  /* each tap's channels are whole 0213 groups */
    int32_t k = 0;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = iy0 + ky * p->dil_h;
        for (int32_t kx = 0; kx < p->k_w; kx++, k += ic) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                if (fast) {
                    memset(col + k, 0, (size_t)ic * sizeof(int16_t));
                } else {
                    for (int32_t c = 0; c < ic; c++) col[ek_dsp_reorder_index(k + c, k4)] = 0;
                }
                continue;
            }
            const int8_t *x = input + ((size_t)iy * p->in_w + ix) * ic;
            if (fast) {
                ek_dsp_widen_reordered(x, col + k, ic, p->input_offset);
            } else {
                for (int32_t c = 0; c < ic; c++)
                    col[ek_dsp_reorder_index(k + c, k4)] = (int16_t)(x[c] + p->input_offset);
            }
        }
    }
}

EK_NOIPA void ek_conv2d_s8_dsp(EK_S8_CONV_ARGS, void *scratch) {
    const int32_t K = p->k_h * p->k_w * p->in_c;
    const int32_t kp = (K + 1) & ~1;  /* keeps column 1 word-aligned */
    int16_t *col0 = (int16_t *)scratch, *col1 = col0 + kp;
    const int32_t n_pix = p->out_h * p->out_w;
    int32_t pix = 0;
    for (; pix + 2 <= n_pix; pix += 2) {
        im2col_pixel(p, input, pix, col0, K);
        im2col_pixel(p, input, pix + 1, col1, K);
        ek_dsp_mat_cols(p, K, weights, bias, multiplier, shift, col0, col1,
                        output + (size_t)pix * p->out_c, output + (size_t)(pix + 1) * p->out_c);
    }
    if (pix < n_pix) {
        im2col_pixel(p, input, pix, col0, K);
        ek_dsp_mat_cols(p, K, weights, bias, multiplier, shift, col0, NULL,
                        output + (size_t)pix * p->out_c, NULL);
    }
}
