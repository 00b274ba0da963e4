/* 1x1 int8 convolution for Cortex-M55 MVE: each pixel's channel vector is already a
 * column, so no im2col and no scratch; 1 channel x 4 pixel VMLADAVA tile. */
#include "ek_arm_mve.h"

EK_NOIPA void ek_conv1x1_s8_mve(EK_S8_CONV_ARGS, void *scratch) {
    (void)scratch;
    const int32_t K = p->in_c;
    const int32_t n_pix = p->out_h * p->out_w;
    for (int32_t pix = 0; pix < n_pix; pix += 4) {
        const int32_t n = n_pix - pix < 4 ? n_pix - pix : 4;
        const int8_t *cols[4];
        int8_t *outs[4];
        for (int32_t j = 0; j < n; j++) {
            const int32_t q = pix + j, oy = q / p->out_w, ox = q - oy * p->out_w;
            cols[j] = input + ((size_t)oy * p->stride_h * p->in_w + (size_t)ox * p->stride_w) * K;
            outs[j] = output + (size_t)q * p->out_c;
        }
        ek_mve_mat_cols(p, K, weights, bias, multiplier, shift, cols, n, outs);
    }
}
