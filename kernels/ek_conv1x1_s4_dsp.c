/* 1x1 convolution with 4-bit packed weights for Cortex-M DSP: each pixel's channel
 * vector is widened straight into an int16 column (no im2col), 4 pixels per pass of
 * the packed-weight SMLAD matmul (ek_s4_dsp.h).  Scratch: ek_conv1x1_s4_scratch_bytes. */
#include "ek_s4_dsp.h"

EK_NOIPA void ek_conv1x1_s4_dsp(EK_S4_CONV_ARGS, void *scratch) {
    const int32_t K = p->in_c;
    int16_t *col = (int16_t *)scratch;
    const int32_t n_pix = p->out_h * p->out_w;
    for (int32_t pix = 0; pix < n_pix; pix += EK_S4_DSP_NPIX) {
        const int32_t n = n_pix - pix < EK_S4_DSP_NPIX ? n_pix - pix : EK_S4_DSP_NPIX;
        for (int32_t q = 0; q < n; q++)
            ek_s4_dsp_widen(ek_s4_1x1_pixel(p, input, pix + q), col + 8 * q, K, p->input_offset);
        ek_s4_dsp_mat(K, p->out_c, weights, bias, multiplier, shift, col, n, output + (size_t)pix * p->out_c,
                      p->out_c, p->output_offset, p->act_min, p->act_max);
    }
}
