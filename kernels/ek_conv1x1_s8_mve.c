/* 1x1 int8 convolution for Cortex-M55 MVE: each pixel's channel vector is already a
 * column, so no im2col and no scratch; 1 channel x 4 pixel VMLADAVA tile. */
#include "ek_arm_mve.h"

EK_NOIPA void ek_conv1x1_s8_mve(EK_S8_CONV_ARGS, void *scratch) {
    (void)scratch;
    const int32_t K = p->in_c;
    const int32_t n_pix = p->out_h * p->out_w;
#define PIX_IN(q) (input + ((size_t)((q) / p->out_w) * p->stride_h * p->in_w + \
                            (size_t)((q) % p->out_w) * p->stride_w) * K)
    for (int32_t pix = 0; pix < n_pix; pix += 4) {
        const int32_t n = n_pix - pix < 4 ? n_pix - pix : 4;
        const int8_t *c0 = PIX_IN(pix);
        ek_mve_mat_cols(p, K, weights, bias, multiplier, shift, c0, n > 1 ? PIX_IN(pix + 1) : c0,
                        n > 2 ? PIX_IN(pix + 2) : c0, n > 3 ? PIX_IN(pix + 3) : c0, n,
                        output + (size_t)pix * p->out_c);
    }
#undef PIX_IN
}
